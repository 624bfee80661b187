/* speculative.c — speculative decoding: a draft context or prompt lookup proposes up to K tokens,
 * the target checks them in one forward pass, and the longest agreeing prefix plus one token of
 * the target's is kept (doppler.h states the contract).
 *
 * One step after the sequence hist[0, n), the target holding hist[0, n - 1):
 *   propose  draft: catch up on hist (the part of its cache that still matches is kept), then
 *            d[0, K) one token at a time, each drawn on the device by the sample op (greedy:
 *            its arg max; sampling: a draw from its transformed distribution q_i with a
 *            number from the target's generator) and copied there into the target's ids
 *            (prop_dev) and the draft's next input, never read back during the step; when
 *            sampling, the draft's logits row of each proposal is copied beside the target's
 *            rows (logits row K + 1 + i) for the rule.
 *            lookup: the latest earlier occurrence of the longest trailing n-gram of hist; d is
 *            what followed it (q is one-hot).
 *   verify   one target pass over prop_dev = [hist[n - 1], d[0, K)] with the logits of every row
 *            written to a tensor of the spec's: row i is p(. | hist, d[0, i)).
 *   accept   on the device, the step's one readback being its result (the accepted count and
 *            the tokens to keep, K + 2 ids at most). greedy: the backend's verify op keeps d_i
 *            while it equals row i's arg max, then row j's own. sampling: its verify_sample op
 *            with K + 1 numbers from the target's generator: keep d_i with probability
 *            min(1, p_i(d_i) / q_i(d_i)) (p, q after the same temperature / top-k / top-p
 *            as dp_ctx_sample); the first rejected one is replaced by a draw from
 *            norm(max(0, p_i - q_i)); when all K are kept the next token is drawn from p_K.
 *            That rule emits each token with exactly the distribution p (Leviathan et al.
 *            2023, Chen et al. 2023).
 *   keep     the target truncated to hist + the emitted tokens but the last; the draft to the
 *            proposals that were kept.
 * Every draw uses the target context's generator (dp_ctx_rand01), so a seed fixes the run.
 * A step is two halves (dp_spec_step_begin / _end, runtime.h): begin records everything up to the
 * readback, end reads it. On a backend whose reads land only after the host settles (WebGPU) the
 * host awaits between them (dp_gen does); there the draft and the target must share one backend
 * (the proposals and the draft's rows move between their buffers on the device). */
#include <string.h>

#include "backend/sampler.h"
#include "runtime/runtime.h"

#define SPEC_K_MAX 32
#define SPEC_LOOKUP_MAX 16

struct dp_spec {
    dp_ctx *t, *d;          /* target; draft, or NULL for prompt lookup */
    int32_t kmax, k, lookup;
    bool adaptive;
    int32_t vocab, d_vocab; /* target's, draft's (<= vocab) */
    dp_tensor logits;       /* [2 kmax + 1, vocab] f32 on the target's backend: the target's K + 1
                               rows, then (sampling) the draft's K rows */
    dp_tensor prop_dev;     /* i32 [kmax + 1]: hist[n - 1], then the proposals: the target's ids */
    dp_tensor rnd_dev;      /* f32 [kmax + 1]: the sampling rule's uniforms */
    dp_tensor verdict;      /* i32 [kmax + 2]: the verify op's result */
    int32_t *got;           /* [kmax + 2]: host copy of verdict */
    float *rnd;             /* [kmax + 1] */
    int32_t *prop;          /* [kmax + 1]: hist[n - 1], then the proposals (when on the host) */
    int32_t *dcache;        /* [draft n_ctx]: the ids in the draft's cache */
    int32_t dn;             /* valid entries of dcache (== the draft's pos unless someone else
                               evaluated into it) */
    /* the step begun and not yet ended */
    bool begun, dev_props;  /* dev_props: the proposals are known only on the device */
    int32_t n, np;          /* its hist length, proposals checked by the target */
    dp_spec_stats st;
    double acc_w, chk_w;    /* the adaptive K's decayed counts of proposals kept / compared */
};

static void adapt_reset(dp_spec *s);

dp_ctx *dp_spec_target(const dp_spec *s) { return s->t; }

void dp_spec_params_default(dp_spec_params *p) {
    memset(p, 0, sizeof *p);
    p->draft_max = 8;
    p->lookup = 3;
    p->adaptive = 1;
}

void dp_spec_free(dp_spec *s) {
    if (!s) return;
    dp_backend *be = s->t->be;
    be->i->tensor_free(be, &s->logits);
    be->i->tensor_free(be, &s->prop_dev);
    be->i->tensor_free(be, &s->rnd_dev);
    be->i->tensor_free(be, &s->verdict);
    dp_free(s->got);
    dp_free(s->rnd);
    dp_free(s->prop);
    dp_free(s->dcache);
    dp_free(s);
}

static dp_status spec_alloc(dp_spec *s, dp_error *e) {
    dp_backend *be = s->t->be;
    size_t kr = (size_t)s->kmax + 1;
    dp_status st;
    if ((st = dp_tensor_alloc4(be, &s->logits, DP_DTYPE_F32, 2 * (int64_t)s->kmax + 1, s->vocab, e)) ||
        (st = dp_tensor_alloc4(be, &s->prop_dev, DP_DTYPE_I32, 1, (int64_t)kr, e)) ||
        (st = dp_tensor_alloc4(be, &s->rnd_dev, DP_DTYPE_F32, 1, (int64_t)kr, e)) ||
        (st = dp_tensor_alloc4(be, &s->verdict, DP_DTYPE_I32, 1, (int64_t)kr + 1, e)))
        return st;
    s->got = dp_calloc(kr + 1, sizeof(int32_t));
    s->rnd = dp_calloc(kr, sizeof(float));
    s->prop = dp_calloc(kr, sizeof(int32_t));
    s->dcache = dp_calloc(s->d ? (size_t)s->d->n_ctx : 1, sizeof(int32_t));
    if (!s->got || !s->rnd || !s->prop || !s->dcache) return dp_err_set(e, DP_ERR_NOMEM, "speculative: out of memory");
    return DP_OK;
}

dp_status dp_spec_new(dp_ctx *target, dp_ctx *draft, const dp_spec_params *p, dp_spec **out, dp_error *e) {
    dp_spec_params def;
    if (!p) {
        dp_spec_params_default(&def);
        p = &def;
    }
    if (!target || !out) return dp_err_set(e, DP_ERR_INVALID_ARG, "dp_spec_new: NULL argument");
    if (draft == target) return dp_err_set(e, DP_ERR_INVALID_ARG, "speculative: the draft context is the target context");
    int32_t kmax = p->draft_max <= 0 ? 8 : p->draft_max, lookup = p->lookup <= 0 ? 3 : p->lookup;
    if (kmax > SPEC_K_MAX)
        return dp_err_set(e, DP_ERR_INVALID_ARG, "speculative: draft_max %d is over %d", kmax, SPEC_K_MAX);
    if (!draft && lookup > SPEC_LOOKUP_MAX)
        return dp_err_set(e, DP_ERR_INVALID_ARG, "speculative: lookup n-gram length %d is over %d", lookup, SPEC_LOOKUP_MAX);
    if (!target->be->i->verify || !target->be->i->verify_sample)
        return dp_err_set(e, DP_ERR_UNSUPPORTED, "speculative: the %s backend has no verify op", target->be->i->name);
    /* the greedy proposals move from the draft's buffers to the target's on the device */
    if (draft && draft->m->be != target->m->be && (target->be->i->reads_deferred || draft->be->i->reads_deferred))
        return dp_err_set(e, DP_ERR_UNSUPPORTED, "speculative: on the %s backend the draft and the target must share one "
                          "backend (load both models with the same dp_load_params.be)",
                          (target->be->i->reads_deferred ? target : draft)->be->i->name);
    if (draft && draft->m->d.vocab > target->m->d.vocab)
        return dp_err_set(e, DP_ERR_INVALID_ARG, "speculative: the draft's vocabulary (%d tokens) is larger than the target's (%d)",
                          draft->m->d.vocab, target->m->d.vocab);
    dp_spec *s = dp_calloc(1, sizeof *s);
    if (!s) return dp_err_set(e, DP_ERR_NOMEM, "speculative: out of memory");
    s->t = target;
    s->d = draft;
    s->kmax = kmax;
    s->lookup = lookup;
    s->adaptive = p->adaptive != 0;
    s->vocab = target->m->d.vocab;
    s->d_vocab = draft ? draft->m->d.vocab : 0;
    dp_status st = spec_alloc(s, e);
    if (st != DP_OK) {
        dp_spec_free(s);
        return st;
    }
    adapt_reset(s);
    s->st.k = s->k;
    *out = s;
    return DP_OK;
}

void dp_spec_stats_get(const dp_spec *s, dp_spec_stats *out) {
    *out = s->st;
    out->k = s->k;
}

void dp_spec_stats_reset(dp_spec *s) {
    memset(&s->st, 0, sizeof s->st);
    adapt_reset(s);
}

/* ---- proposals ---- */

/* The latest earlier occurrence of the longest trailing n-gram (length lookup down to 1) of
 * hist[0, n): up to K of the tokens that followed it into prop. Returns how many. */
static int32_t lookup_propose(const dp_spec *s, const int32_t *hist, int32_t n, int32_t K, int32_t *prop) {
    for (int32_t len = s->lookup < n - 1 ? s->lookup : n - 1; len >= 1; len--) {
        const int32_t *suffix = hist + n - len;
        for (int32_t i = n - len - 1; i >= 0; i--) {
            if (memcmp(hist + i, suffix, (size_t)len * sizeof *hist) != 0) continue;
            int32_t avail = n - (i + len), k = K < avail ? K : avail;
            memcpy(prop, hist + i + len, (size_t)k * sizeof *prop);
            return k;
        }
    }
    return 0;
}

/* Bring the draft's cache to hist[0, n) with logits for its last row, keeping what matches. */
static dp_status draft_sync(dp_spec *s, const int32_t *hist, int32_t n, dp_error *e) {
    dp_ctx *d = s->d;
    int32_t keep = d->pos == s->dn ? s->dn : 0, same = 0;
    if (keep > n - 1) keep = n - 1; /* at least one row evaluated: its logits propose d_0 */
    while (same < keep && s->dcache[same] == hist[same]) same++;
    dp_status st = dp_ctx_truncate(d, same, e);
    s->dn = same;
    if (st == DP_OK) st = dp_ctx_eval(d, hist + same, n - same, NULL, e);
    if (st != DP_OK) return st;
    memcpy(s->dcache + same, hist + same, (size_t)(n - same) * sizeof *hist);
    s->dn = n;
    return DP_OK;
}

/* K draft tokens after hist, each drawn on the device by the sample op (greedy: its arg max) and
 * copied there to prop_dev[1 + i] (the target's ids) and into the draft's next pass; nothing read
 * back. With a (sampling), the draft's logits row of proposal i is copied to logits row
 * K + 1 + i, and each draw takes its number from the target's generator. The draft's cache then
 * holds hist and d[0, K - 1), which dcache learns at the end of the step. */
static dp_status draft_propose(dp_spec *s, const int32_t *hist, int32_t n, int32_t K, const dp_sampling *sp,
                               bool sampled, dp_error *e) {
    dp_ctx *d = s->d;
    dp_backend *be = d->be;
    dp_status st = draft_sync(s, hist, n, e);
    s->dn = -1; /* unknown until the step ends */
    for (int32_t i = 0; i < K && st == DP_OK; i++) {
        st = dp_ctx_sample_queue_from(d, sp, sampled ? s->t : d, e);
        if (st != DP_OK) break;
        be->i->copy(be, &s->prop_dev, 1 + i, &d->s.token, 1);
        if (sampled) { /* the last row of the draft's logits */
            dp_tensor row = d->s.logits;
            const uint64_t off = (uint64_t)(d->last_rows - 1) * (uint64_t)s->d_vocab * sizeof(float);
            row.offset += off;
            if (row.data) row.data = (char *)row.data + off;
            be->i->copy(be, &s->logits, ((int64_t)K + 1 + i) * s->vocab, &row, s->d_vocab);
        }
        st = i + 1 < K ? dp_ctx_eval_sampled(d, e) : be->i->flush(be, e);
    }
    return st;
}

/* ---- acceptance ---- */

typedef struct emitter {
    int32_t *out, m;
    int32_t checked, accepted; /* proposals compared, kept */
    bool stop;
    const dp_model *model;
} emitter;

static void emit(emitter *em, int32_t tok) {
    em->out[em->m++] = tok;
    em->stop = dp_model_is_eos(em->model, tok) != 0;
}

/* after the verdict landed in got: rows 0 .. got[0] - 1 kept their proposals but the last (or it
 * was row K); got[1 ..] are the tokens */
static dp_status accept_verdict(dp_spec *s, int32_t K, emitter *em, dp_error *e) {
    const int32_t rows = s->got[0];
    if (rows < 1 || rows > K + 1)
        return dp_err_set(e, DP_ERR_INTERNAL, "speculative: the verdict has %d rows of %d", rows, K + 1);
    for (int32_t j = 0; !em->stop; j++) {
        const int32_t want = s->got[1 + j];
        if (want < 0 || want >= s->vocab)
            return dp_err_set(e, DP_ERR_INTERNAL, "speculative: the verdict holds id %d outside the vocabulary", want);
        emit(em, want);
        if (j == K) break;
        em->checked++;
        if (j + 1 == rows) break; /* row j disagreed with its proposal */
        em->accepted++;
    }
    return DP_OK;
}

/* ---- the step ---- */

/* The adaptive K: the acceptance α of one proposal, estimated from the proposals compared so far
 * (each a trial: kept, or the first rejected), older steps' weight decaying by SPEC_DECAY per
 * step, from a prior of SPEC_PRIOR_A over SPEC_PRIOR_N trials; then the K in 1..kmax with the
 * most tokens per unit of a step's cost, E(K) / (1 + SPEC_COST K), where E(K) = (1 - α^(K+1)) /
 * (1 - α) is a step's expected tokens and SPEC_COST one proposal's cost relative to a one-row
 * target pass (its draft pass plus its row of the verification). 0.2 fits the memory-bound
 * targets measured (docs/BENCHMARKS.md: a verification pass of K + 1 rows costs 1 + 0.13..0.17 K
 * one-row passes, a draft pass 0.01..0.1 of one), which were fastest at K = 3..4 with α ≈ 0.75.
 * No clock: the same sequence gives the same K, so a seed still fixes a sampled run. */
#define SPEC_DECAY 0.9
#define SPEC_PRIOR_A 1.4
#define SPEC_PRIOR_N 2.0
#define SPEC_COST 0.2

static int32_t best_k(double alpha, int32_t kmax) {
    int32_t best = 1;
    double best_score = 0.0, pw = alpha; /* alpha^(K + 1) at K, from K = 0 */
    for (int32_t k = 1; k <= kmax; k++) {
        pw *= alpha;
        const double score = (1.0 - pw) / (1.0 - alpha) / (1.0 + SPEC_COST * k);
        if (score > best_score) {
            best_score = score;
            best = k;
        }
    }
    return best;
}

static void adapt_reset(dp_spec *s) {
    s->acc_w = s->chk_w = 0.0;
    s->k = s->adaptive ? best_k(SPEC_PRIOR_A / SPEC_PRIOR_N, s->kmax) : s->kmax;
}

static void adapt(dp_spec *s, int32_t checked, int32_t accepted) {
    if (!s->adaptive || checked <= 0) return;
    s->acc_w = SPEC_DECAY * s->acc_w + accepted;
    s->chk_w = SPEC_DECAY * s->chk_w + checked;
    s->k = best_k((s->acc_w + SPEC_PRIOR_A) / (s->chk_w + SPEC_PRIOR_N), s->kmax);
}

static dp_status check_ids(const dp_spec *s, const int32_t *ids, int32_t n, dp_error *e) {
    for (int32_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= s->vocab)
            return dp_err_set(e, DP_ERR_INVALID_ARG, "speculative step: token id %d outside the vocabulary (%d)", ids[i],
                              s->vocab);
    return DP_OK;
}

dp_status dp_spec_step_begin(dp_spec *s, const int32_t *hist, int32_t n, const dp_sampling *sp, int32_t cap,
                             dp_error *e) {
    if (!s || !hist) return dp_err_set(e, DP_ERR_INVALID_ARG, "speculative step: NULL argument");
    if (s->begun) return dp_err_set(e, DP_ERR_INVALID_ARG, "speculative step: one is begun and not ended");
    dp_status st = dp_sampling_check(sp, e);
    if (st != DP_OK) return st;
    dp_ctx *t = s->t;
    if (n < 1 || cap < 1)
        return dp_err_set(e, DP_ERR_INVALID_ARG, "speculative step: %d tokens of history and room for %d (both must be >= 1)",
                          n, cap);
    if (t->pos > n)
        return dp_err_set(e, DP_ERR_INVALID_ARG, "speculative step: the target holds %d positions, more than the %d tokens given",
                          t->pos, n);
    if (n > t->n_ctx)
        return dp_err_set(e, DP_ERR_LIMIT, "speculative step: %d tokens pass the context length %d", n, t->n_ctx);
    if ((st = check_ids(s, hist + n - 1, 1, e)) != DP_OK) return st;
    dp_sample_args a = {0.0f, 0, 1.0f, 0.0f};
    if (sp) {
        a.temperature = sp->temperature;
        a.top_k = sp->top_k;
        a.top_p = sp->top_p;
    }
    const bool greedy = dp_sample_is_greedy(&a);
    /* the target holds hist[0, n - 1) before the pass */
    if (t->pos == n) st = dp_ctx_truncate(t, n - 1, e);
    else if (t->pos < n - 1) st = dp_ctx_eval(t, hist + t->pos, n - 1 - t->pos, NULL, e);
    if (st != DP_OK) return st;

    int32_t K = s->k;
    if (K > cap - 1) K = cap - 1;
    if (K > t->n_ctx - n) K = t->n_ctx - n;       /* the pass fills positions n - 1 .. n - 1 + K */
    if (K > t->n_batch - 1) K = t->n_batch - 1;   /* one pass */
    if (s->d && K > s->d->n_ctx - n + 1) K = s->d->n_ctx - n + 1; /* the draft evaluates hist, d[0, K - 1) */
    if (K < 0) K = 0;
    int32_t np = 0;
    dp_backend *be = t->be;
    /* the host waits on the whole step: let the device start on it while the rest is recorded */
    if (be->i->pace) be->i->pace(be, true);
    s->prop[0] = hist[n - 1];
    s->dev_props = s->d && K > 0;
    if (s->dev_props) {
        np = K;
        st = be->i->tensor_set(be, &s->prop_dev, 0, s->prop, 4, e);
        if (st == DP_OK) st = draft_propose(s, hist, n, K, sp, !greedy, e);
    } else {
        if (K > 0) np = lookup_propose(s, hist, n, K, s->prop + 1);
        st = check_ids(s, s->prop + 1, np, e);
        if (st == DP_OK) st = be->i->tensor_set(be, &s->prop_dev, 0, s->prop, (uint64_t)(np + 1) * 4u, e);
    }
    if (st == DP_OK) st = dp_ctx_eval_rows(t, &s->prop_dev, np + 1, &s->logits, e);

    if (st == DP_OK && greedy) {
        be->i->verify(be, &s->verdict, &s->logits, &s->prop_dev, np, s->vocab);
    } else if (st == DP_OK) {
        for (int32_t i = 0; i <= np; i++) s->rnd[i] = dp_ctx_rand01(t, sp);
        st = be->i->tensor_set(be, &s->rnd_dev, 0, s->rnd, (uint64_t)(np + 1) * 4u, e);
        if (st == DP_OK)
            be->i->verify_sample(be, &s->verdict, &s->logits, &s->prop_dev, &s->rnd_dev, np, s->vocab,
                                 s->dev_props ? s->d_vocab : 0, &a);
    }
    if (st == DP_OK) st = be->i->flush(be, e);
    if (st == DP_OK) st = be->i->tensor_read(be, &s->verdict, 0, s->got, (uint64_t)(np + 2) * 4u, e);
    if (be->i->pace) be->i->pace(be, false);
    if (st != DP_OK) return st;
    s->begun = true;
    s->n = n;
    s->np = np;
    return DP_OK;
}

dp_status dp_spec_step_end(dp_spec *s, int32_t *out, int32_t *n_out, dp_error *e) {
    if (!s || !out || !n_out) return dp_err_set(e, DP_ERR_INVALID_ARG, "speculative step: NULL argument");
    if (!s->begun) return dp_err_set(e, DP_ERR_INVALID_ARG, "speculative step: none begun");
    s->begun = false;
    dp_ctx *t = s->t;
    const int32_t n = s->n, np = s->np;
    emitter em = {out, 0, 0, 0, false, t->m};
    dp_status st = accept_verdict(s, np, &em, e);
    if (st == DP_OK) st = dp_ctx_truncate(t, n + em.m - 1, e);
    if (st == DP_OK && s->dev_props) {
        /* the draft holds hist and d[0, np - 1); the kept proposals are out[0, accepted) */
        int32_t keep = em.accepted < np - 1 ? em.accepted : np - 1;
        if (s->d->pos >= n + keep) {
            memcpy(s->dcache + n, out, (size_t)keep * sizeof *out);
            st = dp_ctx_truncate(s->d, n + keep, e);
            if (st == DP_OK) s->dn = n + keep;
        }
    }
    if (st != DP_OK) return st;
    s->st.steps++;
    s->st.proposed += em.checked;
    s->st.accepted += em.accepted;
    s->st.emitted += em.m;
    adapt(s, em.checked, em.accepted);
    *n_out = em.m;
    return DP_OK;
}

void dp_spec_step_cancel(dp_spec *s) {
    if (!s || !s->begun) return;
    s->begun = false;
    if (s->dev_props) s->dn = -1; /* the draft's cache holds proposals never learnt */
}

dp_status dp_spec_step(dp_spec *s, const int32_t *hist, int32_t n, const dp_sampling *sp, int32_t *out,
                       int32_t cap, int32_t *n_out, dp_error *e) {
    if (!s || !hist || !out || !n_out) return dp_err_set(e, DP_ERR_INVALID_ARG, "speculative step: NULL argument");
    if (s->t->be->i->reads_deferred)
        return dp_err_set(e, DP_ERR_UNSUPPORTED, "speculative step: the %s backend's reads land after the host settles; "
                          "drive the steps through dp_gen", s->t->be->i->name);
    dp_status st = dp_spec_step_begin(s, hist, n, sp, cap, e);
    return st == DP_OK ? dp_spec_step_end(s, out, n_out, e) : st;
}
