/* generate.c — the token loop (dp_gen, include/doppler.h): prompt, then sample -> queue the
 * evaluation of the sampled id -> read it -> decide, with streaming detokenization and stop
 * strings. The one loop behind `doppler run` / `chat`, the WebAssembly exports and the server.
 *
 * A step is two halves so that a host whose reads complete asynchronously (WebGPU in
 * WebAssembly) can await the device between them:
 *   begin: dp_ctx_sample (the id lands in g->tok; on WebGPU when the host settles), then, when
 *          another token is wanted and the context has room, dp_ctx_eval_sampled — the id goes
 *          from the sampler into the forward pass on the device, so step N+1 is queued before
 *          step N's id has reached the host;
 *   end:   the id is read and judged: end of generation, text (UTF-8 held back until whole,
 *          text that may start a stop string held back until decided), n_max, full context.
 * The queued evaluation is never wasted: an end token is evaluated (a conversation continues
 * after it), and the n_max-th token is not queued at all.
 *
 * Speculative (params.spec): when no token of the last speculative step is left, begin begins a
 * new one (dp_spec_step_begin: the proposals, the target's pass and the verdict are queued with
 * the step's one readback) and end ends it (dp_spec_step_end) once the host settled; end then
 * takes the next of the step's tokens. g->hist is the whole sequence (the spec needs it), grown
 * by each token shown. A stop part-way through a step's tokens truncates the context to the
 * sequence shown.
 *
 * Text: g->held collects the stream's bytes not yet shown; g->out is what a step shows. Both are
 * sized at dp_gen_new for the longest token plus the longest stop string, so a step allocates
 * nothing (dp_detok_push copies pieces over 256 bytes through a temporary). */
#include <string.h>

#include "runtime/runtime.h"
#include "tokenizer/tokenizer.h"

struct dp_gen {
    dp_ctx *c;
    const dp_tokenizer *t;
    dp_sampling sampling;
    int32_t n_max;
    bool ignore_eos;
    char **stop;              /* n_stop copies */
    int32_t n_stop;
    size_t stop_max;          /* longest stop string */
    dp_detok dt;
    dp_buf held, out;
    int32_t n_gen;            /* tokens sampled since the prompt */
    int32_t tok;              /* the id begun (lands here on asynchronous backends) */
    bool active;              /* a generation is in progress */
    bool begun;               /* begin done, end not yet */
    bool has_tok;             /* the begun step sampled a token (not so past n_max) */
    bool queued;              /* the begun token's evaluation is queued */
    dp_spec *spec;            /* speculative steps, or NULL */
    int32_t *hist;            /* [n_ctx + 1]: the sequence so far (speculative only) */
    int32_t n_hist;
    int32_t pend[64];         /* a speculative step's tokens, pend[i_pend, n_pend) not yet shown */
    int32_t n_pend, i_pend;
    bool spec_open;           /* a speculative step is begun and not ended */
    bool spec_take;           /* end takes the next of the step's tokens */
};

const char *dp_gen_stop_str(dp_gen_stop s) {
    switch (s) {
    case DP_GEN_RUNNING: return "running";
    case DP_GEN_STOP_MAX: return "max tokens";
    case DP_GEN_STOP_EOG: return "end of generation";
    case DP_GEN_STOP_CTX_FULL: return "context full";
    case DP_GEN_STOP_STRING: return "stop string";
    }
    return "unknown";
}

void dp_gen_params_default(dp_gen_params *p) {
    memset(p, 0, sizeof *p);
    p->sampling.top_p = 1.0f;
    p->n_max = 16;
}

void dp_gen_free(dp_gen *g) {
    if (!g) return;
    if (g->spec_open) dp_spec_step_cancel(g->spec);
    for (int32_t i = 0; i < g->n_stop; i++) dp_free(g->stop[i]);
    dp_free(g->stop);
    dp_buf_free(&g->held);
    dp_buf_free(&g->out);
    dp_free(g->hist);
    dp_free(g);
}

/* Room for len bytes without growing later (dp_buf has no reserve). */
static bool reserve(dp_buf *b, size_t len) {
    char *z = dp_calloc(1, len);
    if (!z) return false;
    dp_buf_append(b, z, len);
    dp_free(z);
    b->len = 0;
    if (b->data) b->data[0] = '\0';
    return !b->oom;
}

static dp_status check_params(const dp_gen_params *p, const dp_tokenizer *t, dp_error *e) {
    dp_status st = dp_sampling_check(&p->sampling, e);
    if (st != DP_OK) return st;
    if (p->n_max < 0) return dp_err_set(e, DP_ERR_INVALID_ARG, "generation: n_max %d is negative", (int)p->n_max);
    if (p->n_stop < 0 || (p->n_stop > 0 && !p->stop))
        return dp_err_set(e, DP_ERR_INVALID_ARG, "generation: %d stop strings and no list", (int)p->n_stop);
    if (p->n_stop > 0 && !t)
        return dp_err_set(e, DP_ERR_INVALID_ARG, "generation: stop strings need a tokenizer (there is no text without one)");
    for (int32_t i = 0; i < p->n_stop; i++)
        if (!p->stop[i] || !p->stop[i][0])
            return dp_err_set(e, DP_ERR_INVALID_ARG, "generation: stop string %d is empty", (int)i);
    return DP_OK;
}

dp_status dp_gen_new(dp_ctx *c, const dp_tokenizer *t, const dp_gen_params *p, dp_gen **out, dp_error *e) {
    dp_gen_params defaults;
    if (!p) {
        dp_gen_params_default(&defaults);
        p = &defaults;
    }
    if (!c || !out) return dp_err_set(e, DP_ERR_INVALID_ARG, "dp_gen_new: NULL argument");
    dp_status st = check_params(p, t, e);
    if (st != DP_OK) return st;
    dp_gen *g = dp_calloc(1, sizeof *g);
    if (!g) return dp_err_set(e, DP_ERR_NOMEM, "generation: out of memory");
    g->c = c;
    g->t = t;
    g->sampling = p->sampling;
    g->n_max = p->n_max;
    g->ignore_eos = p->ignore_eos != 0;
    g->spec = p->spec;
    bool ok = true;
    if (g->spec && dp_spec_target(g->spec) != c) {
        dp_gen_free(g);
        return dp_err_set(e, DP_ERR_INVALID_ARG, "generation: the speculative decoder's target is another context");
    }
    if (g->spec) ok = (g->hist = dp_calloc((size_t)dp_ctx_n_ctx(c) + 1, sizeof *g->hist)) != NULL;
    if (p->n_stop > 0) {
        ok = (g->stop = dp_calloc((size_t)p->n_stop, sizeof *g->stop)) != NULL;
        for (int32_t i = 0; ok && i < p->n_stop; i++) {
            size_t n = strlen(p->stop[i]);
            ok = (g->stop[i] = dp_malloc(n + 1)) != NULL;
            if (ok) memcpy(g->stop[i], p->stop[i], n + 1);
            g->n_stop = i + 1;
            if (n > g->stop_max) g->stop_max = n;
        }
    }
    size_t tok_max = 0;
    for (int32_t id = 0; t && id < dp_tokenizer_n_vocab(t); id++) {
        size_t n = 0;
        if (dp_tokenizer_text(t, id, &n) && n > tok_max) tok_max = n;
    }
    /* a step shows at most: the held tail (< stop_max), a token's bytes, 3 bytes for U+FFFD of
     * a held UTF-8 lead byte and 3 for an incomplete tail at the end */
    size_t room = tok_max + g->stop_max + 16;
    ok = ok && reserve(&g->held, room) && reserve(&g->out, room);
    if (!ok) {
        dp_gen_free(g);
        return dp_err_set(e, DP_ERR_NOMEM, "generation: out of memory");
    }
    *out = g;
    return DP_OK;
}

int32_t dp_gen_n_tokens(const dp_gen *g) { return g->n_gen; }

dp_status dp_gen_prompt(dp_gen *g, const int32_t *ids, int32_t n, dp_error *e) {
    if (!g) return dp_err_set(e, DP_ERR_INVALID_ARG, "dp_gen_prompt: NULL generation");
    g->active = g->begun = g->queued = false;
    g->n_gen = 0;
    g->held.len = 0;
    if (g->t) dp_detok_init(&g->dt, g->t, DP_DECODE_STRIP_PREFIX);
    if (n <= 0 || !ids) return dp_err_set(e, DP_ERR_INVALID_ARG, "generation: the prompt has no tokens");
    if (g->spec) { /* the sequence is kept here; all but its last token is evaluated */
        if (dp_ctx_pos(g->c) != 0)
            return dp_err_set(e, DP_ERR_INVALID_ARG, "generation: speculative decoding starts from an empty context");
        if (n > dp_ctx_n_ctx(g->c))
            return dp_err_set(e, DP_ERR_LIMIT, "generation: %d prompt tokens pass the context length %d", (int)n,
                              (int)dp_ctx_n_ctx(g->c));
        memcpy(g->hist, ids, (size_t)n * sizeof *ids);
        g->n_hist = n;
        g->n_pend = g->i_pend = 0;
        if (g->spec_open) dp_spec_step_cancel(g->spec);
        g->spec_open = g->spec_take = false;
        dp_status st = n > 1 ? dp_ctx_eval(g->c, ids, n - 1, NULL, e) : DP_OK;
        g->active = st == DP_OK;
        return st;
    }
    dp_status st = dp_ctx_eval(g->c, ids, n, NULL, e);
    g->active = st == DP_OK;
    return st;
}

/* speculative begin: a new step when none of the last one's tokens is left */
static dp_status spec_begin(dp_gen *g, dp_error *e) {
    if (g->i_pend == g->n_pend) {
        int32_t cap = g->n_max - g->n_gen, room = (int32_t)(sizeof g->pend / sizeof g->pend[0]);
        g->n_pend = g->i_pend = 0;
        dp_status st = dp_spec_step_begin(g->spec, g->hist, g->n_hist, &g->sampling, cap < room ? cap : room, e);
        if (st != DP_OK) return st;
        g->spec_open = true;
    }
    g->spec_take = true;
    return DP_OK;
}

/* speculative end (the host settled): the step's tokens, then the next of them */
static dp_status spec_end(dp_gen *g, dp_error *e) {
    g->spec_take = false;
    if (g->spec_open) {
        g->spec_open = false;
        dp_status st = dp_spec_step_end(g->spec, g->pend, &g->n_pend, e);
        if (st != DP_OK) return st;
    }
    g->tok = g->pend[g->i_pend++];
    g->hist[g->n_hist++] = g->tok;
    g->n_gen++;
    g->has_tok = true;
    g->queued = g->n_gen < g->n_max && g->n_hist <= dp_ctx_n_ctx(g->c); /* another step has room */
    return DP_OK;
}

dp_status dp_gen_step_begin(dp_gen *g, dp_error *e) {
    if (!g || !g->active)
        return dp_err_set(e, DP_ERR_INVALID_ARG, "generation: none in progress (give a prompt first; the last one ended)");
    if (g->begun) return dp_err_set(e, DP_ERR_INVALID_ARG, "generation: a step is begun and not ended");
    g->queued = g->has_tok = false;
    if (g->spec && g->n_gen < g->n_max) {
        dp_status st = spec_begin(g, e);
        if (st != DP_OK) {
            g->active = false;
            return st;
        }
    } else if (g->n_gen < g->n_max) {
        dp_status st = dp_ctx_sample(g->c, &g->sampling, &g->tok, e);
        if (st == DP_OK) {
            g->n_gen++;
            g->has_tok = true;
            if (g->n_gen < g->n_max && dp_ctx_pos(g->c) < dp_ctx_n_ctx(g->c)) {
                st = dp_ctx_eval_sampled(g->c, e);
                g->queued = st == DP_OK;
            }
        }
        if (st != DP_OK) {
            g->active = false;
            return st;
        }
    }
    g->begun = true;
    return DP_OK;
}

static bool is_eog(const dp_gen *g, int32_t id) {
    return dp_model_is_eos(g->c->m, id) || dp_tokenizer_is_eog(g->t, id);
}

/* Moves held[0..n) to out and keeps the rest held. */
static void show(dp_gen *g, size_t n) {
    dp_buf_append(&g->out, g->held.data, n);
    memmove(g->held.data, g->held.data + n, g->held.len - n);
    g->held.len -= n;
}

/* After new bytes in held: shows what cannot be part of a stop string; true when one matched
 * (the text before it is shown, the rest dropped). */
static bool stop_strings(dp_gen *g) {
    const char *h = g->held.data;
    size_t len = g->held.len, at = len, keep = 0;
    for (int32_t i = 0; i < g->n_stop; i++) {
        size_t n = strlen(g->stop[i]);
        for (size_t p = 0; p < at && p < len; p++) {
            size_t k = len - p < n ? len - p : n;
            if (memcmp(h + p, g->stop[i], k)) continue;
            if (k == n) at = p;               /* a whole match: the earliest wins */
            else if (len - p > keep) keep = len - p; /* the tail may grow into one */
            break;
        }
    }
    if (at < len) {
        show(g, at);
        g->held.len = 0;
        return true;
    }
    show(g, len - keep);
    return false;
}

dp_status dp_gen_step_end(dp_gen *g, dp_gen_token *out, dp_error *e) {
    if (!g || !out || !g->begun) return dp_err_set(e, DP_ERR_INVALID_ARG, "generation: no step begun");
    g->begun = false;
    g->out.len = 0;
    dp_gen_stop stop = DP_GEN_RUNNING;
    int32_t id = -1;
    dp_status st = g->spec_take ? spec_end(g, e) : DP_OK;
    if (st != DP_OK) {
        g->active = false;
        return st;
    }
    if (!g->has_tok) {
        stop = DP_GEN_STOP_MAX; /* n_max 0: nothing to produce */
    } else {
        id = g->tok;
        if (id < 0 || id >= dp_model_n_vocab(g->c->m))
            st = dp_err_set(e, DP_ERR_INTERNAL, "generation: the sampler returned id %d outside the vocabulary", (int)id);
        else if (!g->ignore_eos && is_eog(g, id))
            stop = DP_GEN_STOP_EOG;
        else if (g->t && id < dp_tokenizer_n_vocab(g->t) && (st = dp_detok_push(&g->dt, id, &g->held, e)) == DP_OK &&
                 stop_strings(g))
            stop = DP_GEN_STOP_STRING;
        if (st == DP_OK && stop == DP_GEN_RUNNING && g->n_gen >= g->n_max) stop = DP_GEN_STOP_MAX;
        if (st == DP_OK && stop == DP_GEN_RUNNING && !g->queued) stop = DP_GEN_STOP_CTX_FULL;
    }
    if (st == DP_OK && stop != DP_GEN_RUNNING && stop != DP_GEN_STOP_STRING && g->t) {
        dp_detok_flush(&g->dt, &g->held); /* an incomplete UTF-8 tail becomes U+FFFD */
        show(g, g->held.len);
    }
    if (st == DP_OK && (g->out.oom || g->held.oom)) st = dp_err_set(e, DP_ERR_NOMEM, "generation: out of memory");
    if (st != DP_OK) {
        g->active = false;
        return st;
    }
    if (stop != DP_GEN_RUNNING) g->active = false;
    if (stop != DP_GEN_RUNNING && g->spec && dp_ctx_pos(g->c) > g->n_hist) /* tokens past the one shown */
        st = dp_ctx_truncate(g->c, g->n_hist, e);
    if (st != DP_OK) return st;
    if (g->out.data) g->out.data[g->out.len] = '\0';
    out->id = id;
    out->text = g->out.data ? g->out.data : "";
    out->len = g->out.len;
    out->stop = stop;
    return DP_OK;
}

dp_status dp_gen_step(dp_gen *g, dp_gen_token *out, dp_error *e) {
    if (!out) return dp_err_set(e, DP_ERR_INVALID_ARG, "dp_gen_step: NULL output");
    dp_status st = dp_gen_step_begin(g, e);
    return st == DP_OK ? dp_gen_step_end(g, out, e) : st;
}
