/* ops_sample.c — token sampling from one row of logits on the CPU, deterministic given rand01:
 * the transform of backend/sampler.c (its opening comment is the definition every backend
 * follows), with scratch of 3 * vocab words (verify_sample: 4) that lives in the backend and
 * grows only. verify / verify_sample: a speculative step's verdict (backend.h). */
#include "backend/cpu/cpu_internal.h"
#include "backend/sampler.h"

void dp_cpu_op_sample(dp_backend *b, dp_tensor *out, const dp_tensor *logits, int row, int vocab,
                      const dp_sample_args *a) {
    dp_cpu_ctx *c = dp_cpu_ctx_of(b);
    if (!a || row < 0 || vocab <= 0) {
        dp_cpu_fail(c, DP_ERR_INVALID_ARG, "sample: bad args row=%d vocab=%d", row, vocab);
        return;
    }
    if (!dp_cpu_check_f32(c, logits, ((int64_t)row + 1) * vocab, "sample", "logits") ||
        !dp_cpu_check_i32(c, out, 1, "sample", "out"))
        return;
    const float *l = (const float *)logits->data + (int64_t)row * vocab;
    int32_t *res = out->data;
    if (dp_sample_is_greedy(a)) {
        *res = dp_sample_argmax(l, vocab);
        return;
    }
    if (!dp_cpu_scratch_reserve(c, &c->sample, (size_t)vocab * (sizeof(dp_sample_cand) + sizeof(float)),
                                "sample"))
        return;
    dp_sample_cand *cd = c->sample.data;
    float *pr = (float *)(cd + vocab);
    const double sum = dp_sample_weights(l, vocab, a, pr, cd);
    *res = dp_sample_pick(pr, vocab, sum, a->rand01);
}

void dp_cpu_op_verify(dp_backend *b, dp_tensor *out, const dp_tensor *logits, const dp_tensor *ids, int k,
                      int vocab) {
    dp_cpu_ctx *c = dp_cpu_ctx_of(b);
    if (k < 0 || vocab <= 0) {
        dp_cpu_fail(c, DP_ERR_INVALID_ARG, "verify: bad args k=%d vocab=%d", k, vocab);
        return;
    }
    if (!dp_cpu_check_f32(c, logits, ((int64_t)k + 1) * vocab, "verify", "logits") ||
        !dp_cpu_check_i32(c, ids, (int64_t)k + 1, "verify", "ids") ||
        !dp_cpu_check_i32(c, out, (int64_t)k + 2, "verify", "out"))
        return;
    const int32_t *prop = ids->data;
    int32_t *res = out->data, r = 0;
    for (;; r++) {
        res[1 + r] = dp_sample_argmax((const float *)logits->data + (int64_t)r * vocab, vocab);
        if (r == k || res[1 + r] != prop[1 + r]) break;
    }
    res[0] = r + 1;
}

void dp_cpu_op_verify_sample(dp_backend *b, dp_tensor *out, const dp_tensor *logits, const dp_tensor *ids,
                             const dp_tensor *rnd, int k, int vocab, int d_vocab, const dp_sample_args *a) {
    dp_cpu_ctx *c = dp_cpu_ctx_of(b);
    if (!a || k < 0 || vocab <= 0 || d_vocab < 0 || d_vocab > vocab || dp_sample_is_greedy(a)) {
        dp_cpu_fail(c, DP_ERR_INVALID_ARG, "verify_sample: bad args k=%d vocab=%d d_vocab=%d%s", k, vocab, d_vocab,
                    a && dp_sample_is_greedy(a) ? " (greedy settings: use verify)" : "");
        return;
    }
    const int64_t rows = (int64_t)k + 1 + (d_vocab ? k : 0);
    if (!dp_cpu_check_f32(c, logits, rows * vocab - (d_vocab ? vocab - d_vocab : 0), "verify_sample", "logits") ||
        !dp_cpu_check_i32(c, ids, (int64_t)k + 1, "verify_sample", "ids") ||
        !dp_cpu_check_f32(c, rnd, (int64_t)k + 1, "verify_sample", "rnd") ||
        !dp_cpu_check_i32(c, out, (int64_t)k + 2, "verify_sample", "out"))
        return;
    if (!dp_cpu_scratch_reserve(c, &c->sample, (size_t)vocab * (sizeof(dp_sample_cand) + 2 * sizeof(float)),
                                "verify_sample"))
        return;
    dp_sample_cand *cd = c->sample.data;
    float *p = (float *)(cd + vocab), *q = p + vocab;
    const float *tl = logits->data;
    dp_sample_verify(tl, d_vocab ? tl + ((size_t)k + 1) * (size_t)vocab : NULL, ids->data, rnd->data, k, vocab,
                     d_vocab, a, p, q, cd, out->data);
}
