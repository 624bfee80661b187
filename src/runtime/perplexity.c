/* perplexity.c — dp_perplexity: llama.cpp's llama-perplexity (tools/perplexity/perplexity.cpp:
 * chunks of n_ctx tokens from an empty cache, the first token BOS, the logits of positions
 * n_ctx/2 .. n_ctx-2 scored against the next token) and its KL divergence against a base run.
 *
 * Base file: llama.cpp's --kl-divergence-base layout, little-endian.
 *   char[8]  "_logits_"
 *   int32    n_ctx
 *   int32    n_vocab
 *   int32    n_chunk
 *   int32    tokens[n_chunk * n_ctx]    the evaluated tokens, before the BOS replacement
 *   then, chunk after chunk, one row per scored position (n_ctx - 1 - n_ctx/2 a chunk) of
 *   nv = 2 * ((n_vocab + 1) / 2) + 4 uint16:
 *     f32 scale, f32 min_lp (the row's first 4 uint16), then q[0 .. n_vocab) (and one 0 when
 *     n_vocab is odd): log p_i = scale * q_i + min_lp. With lo = max(min logit, max logit - 16):
 *     min_lp = lo - log sum exp(logits), scale = (max logit - lo) / 65535, q_i = round((logit_i
 *     - lo) / scale) for logits above lo, else 0.
 *   Why this layout: 2 bytes per vocabulary entry (half of f32) at a resolution of at most
 *   16/65535 = 2.4e-4 nats, keeping every token within a factor e^16 of the most likely one (a
 *   top-k form would drop the tail of flat distributions and bias the KL low); and llama-perplexity
 *   reads and writes the same file, so a Doppler model can be scored against a llama.cpp base
 *   and back. Size: n_chunk * (n_ctx - 1 - n_ctx/2) * nv * 2 bytes (a 4096-token vocabulary at
 *   n_ctx 512: 2 MiB a chunk; Llama 3's 128 256 tokens: 62 MiB a chunk).
 *
 * KL per position (as llama.cpp): sum over i with log p_i > -16 of p_i (log p_i - log q_i),
 * p the base, q the model; "same top" compares the base row's arg max (first of equal q_i) with
 * the model's (first of equal logits). Everything is allocated before the first chunk. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/runtime.h"

#define BASE_MAGIC "_logits_"
#define BASE_HEADER 20u /* magic + n_ctx + n_vocab + n_chunk */
#define LP_FLOOR 16.0f  /* log-probabilities kept: within 16 nats of the top */

void dp_ppl_params_default(dp_ppl_params *p) {
    memset(p, 0, sizeof *p);
    p->bos = -1;
    p->adapter_scale = 1.0f;
}

typedef struct sums {
    double nll, nll2, nll_base, nll_base2, nll_nll_base, kld, kld2, dp, dp2, dp4;
    int64_t same_top, count;
} sums;

typedef struct run {
    dp_model *m;
    dp_ctx *c;
    const dp_ppl_params *p;
    const int32_t *ids;   /* the tokens of every chunk */
    int32_t *file_ids;    /* the base file's tokens (kld_base_in), owned */
    int32_t n_ctx, first, n_scored, vocab, nv, n_chunks;
    int64_t n_tokens;
    int32_t *chunk;       /* [n_ctx]: one chunk, first token replaced */
    float *logits;        /* [n_ctx - first, vocab] */
    uint16_t *rows;       /* [n_scored, nv]: base rows, written or read */
    float *kld_values;    /* [n_chunks * n_scored] (kld_base_in) */
    FILE *base_out, *logits_out;
    dp_reader base_in;
    bool base_in_open;
    sums s;
    double seconds;
} run;

/* ---- one position ---- */

static float row_max(const float *x, int32_t n, int32_t *arg) {
    float mx = x[0];
    int32_t im = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > mx) { mx = x[i]; im = i; }
    if (arg) *arg = im;
    return mx;
}

/* log sum exp(x - mx), the sum in double as llama.cpp */
static double log_sum_exp(const float *x, int32_t n, float mx) {
    double sum = 0.0;
    for (int32_t i = 0; i < n; i++) sum += expf(x[i] - mx);
    return log(sum);
}

/* NLL of tok; with q != NULL also the row's base-file form */
static double score_row(const float *x, int32_t n, int32_t tok, uint16_t *q) {
    float mx = row_max(x, n, NULL);
    double lse = log_sum_exp(x, n, mx);
    if (q) {
        float lo = mx;
        for (int32_t i = 0; i < n; i++) lo = x[i] < lo ? x[i] : lo;
        if (lo < mx - LP_FLOOR) lo = mx - LP_FLOOR;
        float scale = (mx - lo) / 65535.0f, min_lp = lo - mx - (float)lse;
        memcpy(q, &scale, 4);
        memcpy(q + 2, &min_lp, 4);
        uint16_t *v = q + 4;
        float inv = scale > 0.0f ? 1.0f / scale : 0.0f;
        for (int32_t i = 0; i < n; i++) v[i] = x[i] > lo ? (uint16_t)lrintf(inv * (x[i] - lo)) : 0;
        if (n & 1) v[n] = 0;
    }
    return (double)mx + lse - (double)x[tok];
}

/* KL(base || model) at one position, accumulated into s; returns the position's KL */
static double kl_row(const float *x, int32_t n, int32_t tok, const uint16_t *q, sums *s) {
    int32_t imax;
    float mx = row_max(x, n, &imax);
    double lse = log_sum_exp(x, n, mx);
    float scale, min_lp;
    memcpy(&scale, q, 4);
    memcpy(&min_lp, q + 2, 4);
    const uint16_t *v = q + 4;
    double nll = (double)mx + lse - (double)x[tok];
    double nll_base = -((double)scale * v[tok] + (double)min_lp);
    double log_z = (double)mx + lse, kl = 0.0;
    int32_t imax_base = 0;
    for (int32_t i = 0; i < n; i++) {
        float lp = scale * (float)v[i] + min_lp;
        if (v[i] > v[imax_base]) imax_base = i;
        if (lp > -LP_FLOOR) kl += exp((double)lp) * ((double)lp - (double)x[i] + log_z);
    }
    double dp = exp(-nll) - exp(-nll_base);
    s->nll_base += nll_base;
    s->nll_base2 += nll_base * nll_base;
    s->nll_nll_base += nll * nll_base;
    s->kld += kl;
    s->kld2 += kl * kl;
    s->dp += dp;
    s->dp2 += dp * dp;
    s->dp4 += dp * dp * dp * dp;
    s->same_top += imax == imax_base;
    return kl;
}

/* ---- figures ---- */

/* llama.cpp's mean_and_uncertainty: the mean and its standard error (0 while n <= 10) */
static double mean_err(double sum, double sum2, int64_t n, double *err) {
    double f = n > 0 ? sum / (double)n : 0.0, v = n > 0 ? sum2 / (double)n - f * f : 0.0;
    *err = v > 0 && n > 10 ? sqrt(v / (double)(n - 1)) : 0.0;
    return f;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* llama.cpp's percentile: linear between the two nearest of the sorted values */
static double percentile(const float *v, int64_t n, double fraction) {
    if (n <= 0) return 0.0;
    double p = fraction * (double)(n - 1);
    int64_t i = (int64_t)p;
    if (i >= n - 1) return v[n - 1];
    p -= (double)i;
    return (1.0 - p) * v[i] + p * v[i + 1];
}

static void fill_stats(const run *r, int32_t done, bool final, dp_ppl_stats *o) {
    const sums *s = &r->s;
    int64_t n = s->count;
    memset(o, 0, sizeof *o);
    o->n_ctx = r->n_ctx;
    o->n_chunks = r->n_chunks;
    o->chunks_done = done;
    o->n_tokens = r->n_tokens;
    o->count = n;
    o->seconds = r->seconds;
    double mean = n > 0 ? s->nll / (double)n : 0.0, var = n > 0 ? s->nll2 / (double)n - mean * mean : 0.0;
    o->ppl = exp(mean);
    o->ppl_err = var > 0 && n > 1 ? o->ppl * sqrt(var / (double)(n - 1)) : 0.0; /* llama.cpp's perplexity() */
    if (!r->base_in_open) return;
    o->has_base = 1;
    double e_log, e_base, e;
    double log_ppl = mean_err(s->nll, s->nll2, n, &e_log);
    double log_base = mean_err(s->nll_base, s->nll_base2, n, &e_base);
    o->ppl_base = exp(log_base);
    o->ppl_base_err = o->ppl_base * e_base;
    double cov = n >= 10 ? (s->nll_nll_base / (double)n - (s->nll / (double)n) * (s->nll_base / (double)n)) / (double)(n - 1) : 0.0;
    o->ln_ratio = log_ppl - log_base;
    double v = e_log * e_log + e_base * e_base - 2.0 * cov;
    o->ln_ratio_err = v > 0 ? sqrt(v) : 0.0;
    o->kld = mean_err(s->kld, s->kld2, n, &o->kld_err);
    double mse = mean_err(s->dp2, s->dp4, n, &e);
    o->rms_dp = sqrt(mse);
    o->rms_dp_err = o->rms_dp > 0 ? 0.5 / o->rms_dp * e : 0.0;
    o->same_top = n > 0 ? (double)s->same_top / (double)n : 0.0;
    o->same_top_err = n > 1 ? sqrt(o->same_top * (1.0 - o->same_top) / (double)(n - 1)) : 0.0;
    if (final && n > 0) {
        qsort(r->kld_values, (size_t)n, sizeof(float), cmp_float);
        o->kld_median = percentile(r->kld_values, n, 0.5);
        o->kld_p99 = percentile(r->kld_values, n, 0.99);
        o->kld_max = r->kld_values[n - 1];
    }
}

/* ---- setup ---- */

static dp_status write_out(FILE *f, const char *path, const void *data, size_t n, dp_error *e) {
    if (n && fwrite(data, 1, n, f) != n) return dp_err_set(e, DP_ERR_IO, "writing %s failed", path);
    return DP_OK;
}

/* reads and checks the base file's header and tokens; sets n_ctx, n_chunks, file_ids */
static dp_status open_base(run *r, dp_error *e) {
    const dp_ppl_params *p = r->p;
    const char *path = p->kld_base_in;
    dp_status st = dp_reader_open_file(&r->base_in, path, e);
    if (st != DP_OK) {
        dp_err_prefix(e, "KL base");
        return st;
    }
    r->base_in_open = true;
    char magic[8];
    int32_t h[3];
    if ((st = dp_reader_read(&r->base_in, 0, magic, 8, e)) || (st = dp_reader_read(&r->base_in, 8, h, 12, e)) ||
        memcmp(magic, BASE_MAGIC, 8))
        return dp_err_set(e, DP_ERR_FORMAT, "%s is not a KL base file (no \"" BASE_MAGIC "\" header)", path);
    int32_t n_ctx = h[0], vocab = h[1], n_chunk = h[2];
    if (vocab != r->vocab)
        return dp_err_set(e, DP_ERR_INVALID_ARG, "%s holds a %d-token vocabulary, the model has %d", path, vocab, r->vocab);
    if (n_ctx < 4 || n_ctx > (1 << 24) || n_chunk < 1)
        return dp_err_set(e, DP_ERR_FORMAT, "%s: bad header (n_ctx %d, %d chunks)", path, n_ctx, n_chunk);
    if (p->n_ctx > 0 && p->n_ctx != n_ctx)
        return dp_err_set(e, DP_ERR_INVALID_ARG, "%s was written with a context of %d, not %d", path, n_ctx, p->n_ctx);
    int32_t n_scored = n_ctx - 1 - n_ctx / 2, nv = 2 * ((vocab + 1) / 2) + 4;
    uint64_t n_ids = (uint64_t)n_chunk * (uint64_t)n_ctx, rows = 0, want = 0;
    bool ok = dp_mul_u64((uint64_t)n_chunk * (uint64_t)n_scored, (uint64_t)nv * 2u, &rows) &&
              dp_add_u64(BASE_HEADER + n_ids * 4u, rows, &want);
    if (!ok || want != r->base_in.size || n_ids > SIZE_MAX / 4u)
        return dp_err_set(e, DP_ERR_FORMAT, "%s is %llu bytes; its header (n_ctx %d, vocabulary %d, %d chunks) says %llu",
                          path, (unsigned long long)r->base_in.size, n_ctx, vocab, n_chunk, (unsigned long long)want);
    r->file_ids = dp_malloc((size_t)n_ids * sizeof(int32_t));
    if (!r->file_ids) return dp_err_set(e, DP_ERR_NOMEM, "out of memory for %llu tokens", (unsigned long long)n_ids);
    if ((st = dp_reader_read(&r->base_in, BASE_HEADER, r->file_ids, (size_t)n_ids * 4u, e))) return st;
    for (uint64_t i = 0; i < n_ids; i++)
        if (r->file_ids[i] < 0 || r->file_ids[i] >= vocab)
            return dp_err_set(e, DP_ERR_FORMAT, "%s: token %d outside the vocabulary", path, r->file_ids[i]);
    r->n_ctx = n_ctx;
    r->n_chunks = p->n_chunks > 0 && p->n_chunks < n_chunk ? p->n_chunks : n_chunk;
    uint64_t used = (uint64_t)r->n_chunks * (uint64_t)n_ctx;
    if (r->ids && (r->n_tokens < (int64_t)used || memcmp(r->ids, r->file_ids, (size_t)used * 4u)))
        return dp_err_set(e, DP_ERR_INVALID_ARG, "the text's tokens are not the ones %s was computed on", path);
    r->ids = r->file_ids;
    r->n_tokens = (int64_t)n_ids;
    return DP_OK;
}

static dp_status check_ctx(const run *r, dp_error *e) {
    if (r->n_ctx <= r->m->d.max_pos) return DP_OK;
    return dp_err_set(e, DP_ERR_LIMIT, "a context of %d is past the model's maximum of %lld positions", r->n_ctx,
                      (long long)r->m->d.max_pos);
}

static dp_status setup(run *r, dp_error *e) {
    const dp_ppl_params *p = r->p;
    dp_status st;
    if (p->kld_base_in && p->kld_base_out)
        return dp_err_set(e, DP_ERR_INVALID_ARG, "a run either writes a KL base or compares against one, not both");
    if (p->bos < -1 || p->bos >= r->vocab)
        return dp_err_set(e, DP_ERR_INVALID_ARG, "BOS id %d outside the vocabulary (%d)", p->bos, r->vocab);
    if (p->kld_base_in) {
        if ((st = open_base(r, e)) || (st = check_ctx(r, e))) return st;
    } else {
        if (!r->ids || r->n_tokens <= 0) return dp_err_set(e, DP_ERR_INVALID_ARG, "no tokens");
        r->n_ctx = p->n_ctx;
        if (r->n_ctx < 4) return dp_err_set(e, DP_ERR_INVALID_ARG, "a context of %d tokens is too short (at least 4)", r->n_ctx);
        if ((st = check_ctx(r, e))) return st;
        if (r->n_tokens < 2 * (int64_t)r->n_ctx)
            return dp_err_set(e, DP_ERR_INVALID_ARG,
                              "the text is %lld tokens; a context of %d needs at least %lld (2 x context)",
                              (long long)r->n_tokens, r->n_ctx, 2 * (long long)r->n_ctx);
        int64_t whole = r->n_tokens / r->n_ctx;
        r->n_chunks = (int32_t)(p->n_chunks > 0 && p->n_chunks < whole ? p->n_chunks : whole);
    }
    r->first = r->n_ctx / 2;
    r->n_scored = r->n_ctx - 1 - r->first;
    r->nv = 2 * ((r->vocab + 1) / 2) + 4;
    dp_ctx_params cp;
    dp_ctx_params_default(&cp);
    cp.n_ctx = r->n_ctx;
    cp.n_batch = p->n_batch > 0 ? p->n_batch : 512;
    cp.logits_all = 1;
    if ((st = dp_ctx_new(r->m, &cp, &r->c, e))) return st;
    if (p->adapter && (st = dp_ctx_set_adapter(r->c, p->adapter, p->adapter_scale, 0, e))) return st;
    size_t rows = (size_t)(r->n_ctx - r->first) * (size_t)r->vocab;
    r->chunk = dp_malloc((size_t)r->n_ctx * sizeof(int32_t));
    r->logits = dp_malloc(rows * sizeof(float));
    if (p->kld_base_in || p->kld_base_out) r->rows = dp_malloc((size_t)r->n_scored * (size_t)r->nv * sizeof(uint16_t));
    if (p->kld_base_in) r->kld_values = dp_malloc((size_t)r->n_chunks * (size_t)r->n_scored * sizeof(float));
    if (!r->chunk || !r->logits || ((p->kld_base_in || p->kld_base_out) && !r->rows) || (p->kld_base_in && !r->kld_values))
        return dp_err_set(e, DP_ERR_NOMEM, "out of memory for %zu logits", rows);
    if (p->logits_out && !(r->logits_out = fopen(p->logits_out, "wb")))
        return dp_err_set(e, DP_ERR_IO, "cannot create %s: %s", p->logits_out, strerror(errno));
    if (p->kld_base_out) {
        if (!(r->base_out = fopen(p->kld_base_out, "wb")))
            return dp_err_set(e, DP_ERR_IO, "cannot create %s: %s", p->kld_base_out, strerror(errno));
        int32_t h[3] = {r->n_ctx, r->vocab, r->n_chunks};
        if ((st = write_out(r->base_out, p->kld_base_out, BASE_MAGIC, 8, e)) ||
            (st = write_out(r->base_out, p->kld_base_out, h, sizeof h, e)) ||
            (st = write_out(r->base_out, p->kld_base_out, r->ids, (size_t)r->n_chunks * (size_t)r->n_ctx * 4u, e)))
            return st;
    }
    return DP_OK;
}

/* ---- the run ---- */

static dp_status run_chunk(run *r, int32_t k, dp_error *e) {
    const dp_ppl_params *p = r->p;
    const int32_t *ids = r->ids + (size_t)k * (size_t)r->n_ctx;
    size_t row_bytes = (size_t)r->nv * sizeof(uint16_t);
    memcpy(r->chunk, ids, (size_t)r->n_ctx * sizeof(int32_t));
    if (p->bos >= 0) r->chunk[0] = p->bos;
    dp_ctx_reset(r->c);
    double t0 = dp_time_now();
    dp_status st = dp_ctx_eval_from(r->c, r->chunk, r->n_ctx, r->logits, r->first, e);
    if (st != DP_OK) return st;
    r->seconds += dp_time_now() - t0;
    if (p->kld_base_in) {
        uint64_t off = BASE_HEADER + (uint64_t)r->n_tokens * 4u + (uint64_t)k * (uint64_t)r->n_scored * row_bytes;
        if ((st = dp_reader_read(&r->base_in, off, r->rows, (size_t)r->n_scored * row_bytes, e))) {
            dp_err_prefix(e, "%s", p->kld_base_in);
            return st;
        }
    }
    for (int32_t i = 0; i < r->n_scored; i++) {
        const float *x = r->logits + (size_t)i * (size_t)r->vocab;
        int32_t tok = ids[r->first + i + 1];
        uint16_t *q = r->rows ? r->rows + (size_t)i * (size_t)r->nv : NULL;
        double nll = score_row(x, r->vocab, tok, p->kld_base_out ? q : NULL);
        if (p->kld_base_in) r->kld_values[r->s.count] = (float)kl_row(x, r->vocab, tok, q, &r->s);
        r->s.nll += nll;
        r->s.nll2 += nll * nll;
        r->s.count++;
    }
    if (p->kld_base_out && (st = write_out(r->base_out, p->kld_base_out, r->rows, (size_t)r->n_scored * row_bytes, e))) return st;
    if (p->logits_out &&
        (st = write_out(r->logits_out, p->logits_out, r->logits, (size_t)r->n_scored * (size_t)r->vocab * sizeof(float), e)))
        return st;
    return DP_OK;
}

static dp_status close_out(FILE **f, const char *path, dp_status st, dp_error *e) {
    if (!*f) return st;
    bool bad = fclose(*f) != 0;
    *f = NULL;
    if (bad && st == DP_OK) return dp_err_set(e, DP_ERR_IO, "writing %s failed", path);
    return st;
}

dp_status dp_perplexity(dp_model *m, const int32_t *ids, int64_t n_ids, const dp_ppl_params *p, dp_ppl_stats *out, dp_error *e) {
    if (!m || !p || !out) return dp_err_set(e, DP_ERR_INVALID_ARG, "dp_perplexity: NULL argument");
    run r;
    memset(&r, 0, sizeof r);
    r.m = m;
    r.p = p;
    r.ids = ids;
    r.n_tokens = n_ids;
    r.vocab = m->d.vocab;
    dp_status st = setup(&r, e);
    for (int32_t k = 0; st == DP_OK && k < r.n_chunks; k++) {
        st = run_chunk(&r, k, e);
        if (st == DP_OK && p->progress) {
            dp_ppl_stats s;
            fill_stats(&r, k + 1, false, &s);
            p->progress(p->progress_ud, &s);
        }
    }
    st = close_out(&r.base_out, p->kld_base_out, st, e);
    st = close_out(&r.logits_out, p->logits_out, st, e);
    if (st == DP_OK) fill_stats(&r, r.n_chunks, true, out);
    if (r.base_in_open) dp_reader_close(&r.base_in);
    dp_ctx_free(r.c);
    dp_free(r.file_ids);
    dp_free(r.chunk);
    dp_free(r.logits);
    dp_free(r.rows);
    dp_free(r.kld_values);
    return st;
}
