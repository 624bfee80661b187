/* ops_sample.c — token sampling on the GPU: one workgroup of kernels/sample.wgsl (greedy or
 * sample), same definition as the CPU sampler; the only thing the host reads back per token is
 * the 4-byte id in out. verify: a speculative step's greedy comparison (backend.h), the same
 * kernel file, so the step reads back only its few result ids; verify_sample: the same with
 * sampling (the rejection rule). */
#if defined(__wasm__)

#include <math.h>

#include "backend/webgpu/wg_internal.h"

/* matches `Params` in sample.wgsl */
typedef struct sample_params {
    uint32_t vocab, row;
    float inv_temp;
    uint32_t top_k;
    float top_p, rand01;
    uint32_t dvocab, pad1;
} sample_params;

void wg_rec_sample(dp_backend *b, dp_tensor *out, const dp_tensor *logits, int row, int vocab,
                  const dp_sample_args *a) {
    wg_ctx *c = wg_ctx_of(b);
    if (!a || row < 0 || vocab <= 0) {
        wg_fail(c, DP_ERR_INVALID_ARG, "sample: bad args row=%d vocab=%d", row, vocab);
        return;
    }
    dp_gpu_binding ob, lb;
    if (!wg_out(c, out, 1, 1, "sample", "out", &ob) ||
        !wg_in(c, logits, ((int64_t)row + 1) * vocab, 2, "sample", "logits", &lb))
        return;
    if (out->dtype != DP_DTYPE_I32) {
        wg_fail(c, DP_ERR_INVALID_ARG, "sample: out must be i32");
        return;
    }
    float r01 = a->rand01;
    if (isnan(r01) || r01 < 0.0f) r01 = 0.0f;
    if (r01 >= 1.0f) r01 = nextafterf(1.0f, 0.0f);
    sample_params p = {(uint32_t)vocab, (uint32_t)row, 0.0f, 0, 1.0f, r01, 0, 0};
    if (!wg_unalias(c, &lb, ob)) return;
    /* one workgroup: as wide as the device allows (it walks the whole row) */
    const char *wg = c->dev->max_invocations >= 1024 ? "WG=1024" : "";
    if (!(a->temperature > 0.0f) || a->top_k == 1) {
        dp_gpu_binding bs[2] = {ob, lb};
        wg_dispatch(c, "sample", "greedy", wg, &p, sizeof p, bs, 2, 1, 1, 1);
        return;
    }
    p.inv_temp = 1.0f / a->temperature;
    p.top_k = a->top_k > 0 ? (uint32_t)a->top_k : 0;
    p.top_p = a->top_p;
    uint32_t prob = wg_scratch(c, WG_SCR_SAMPLE, (uint64_t)vocab * 4);
    if (!prob) return;
    dp_gpu_binding bs[3] = {ob, lb, wg_at(3, wg_bind_buf(prob, 0, (uint32_t)vocab * 4))};
    wg_dispatch(c, "sample", "sample", wg, &p, sizeof p, bs, 3, 1, 1, 1);
}

void wg_rec_verify(dp_backend *b, dp_tensor *out, const dp_tensor *logits, const dp_tensor *ids, int k,
                   int vocab) {
    wg_ctx *c = wg_ctx_of(b);
    if (k < 0 || vocab <= 0) {
        wg_fail(c, DP_ERR_INVALID_ARG, "verify: bad args k=%d vocab=%d", k, vocab);
        return;
    }
    dp_gpu_binding ob, lb, ib;
    if (!wg_out(c, out, (int64_t)k + 2, 1, "verify", "out", &ob) ||
        !wg_in(c, logits, ((int64_t)k + 1) * vocab, 2, "verify", "logits", &lb) ||
        !wg_in(c, ids, (int64_t)k + 1, 4, "verify", "ids", &ib))
        return;
    if (out->dtype != DP_DTYPE_I32 || ids->dtype != DP_DTYPE_I32) {
        wg_fail(c, DP_ERR_INVALID_ARG, "verify: out and ids must be i32");
        return;
    }
    sample_params p = {(uint32_t)vocab, (uint32_t)k, 0.0f, 0, 1.0f, 0.0f, 0, 0};
    if (!wg_unalias(c, &lb, ob) || !wg_unalias(c, &ib, ob)) return;
    const char *wg = c->dev->max_invocations >= 1024 ? "WG=1024" : "";
    dp_gpu_binding bs[3] = {ob, lb, ib};
    wg_dispatch(c, "sample", "verify", wg, &p, sizeof p, bs, 3, 1, 1, 1);
}

void wg_rec_verify_sample(dp_backend *b, dp_tensor *out, const dp_tensor *logits, const dp_tensor *ids,
                          const dp_tensor *rnd, int k, int vocab, int d_vocab, const dp_sample_args *a) {
    wg_ctx *c = wg_ctx_of(b);
    if (!a || k < 0 || vocab <= 0 || d_vocab < 0 || d_vocab > vocab || !(a->temperature > 0.0f) || a->top_k == 1) {
        wg_fail(c, DP_ERR_INVALID_ARG, "verify_sample: bad args k=%d vocab=%d d_vocab=%d (greedy settings: use verify)",
                k, vocab, d_vocab);
        return;
    }
    const int64_t rows = (int64_t)k + 1 + (d_vocab ? k : 0);
    dp_gpu_binding ob, lb, ib, rb;
    if (!wg_out(c, out, (int64_t)k + 2, 1, "verify_sample", "out", &ob) ||
        !wg_in(c, logits, rows * vocab - (d_vocab ? vocab - d_vocab : 0), 2, "verify_sample", "logits", &lb) ||
        !wg_in(c, ids, (int64_t)k + 1, 4, "verify_sample", "ids", &ib) ||
        !wg_in(c, rnd, (int64_t)k + 1, 5, "verify_sample", "rnd", &rb))
        return;
    if (out->dtype != DP_DTYPE_I32 || ids->dtype != DP_DTYPE_I32 || logits->dtype != DP_DTYPE_F32 ||
        rnd->dtype != DP_DTYPE_F32) {
        wg_fail(c, DP_ERR_INVALID_ARG, "verify_sample: out and ids must be i32, logits and rnd f32");
        return;
    }
    sample_params p = {(uint32_t)vocab, (uint32_t)k, 1.0f / a->temperature, a->top_k > 0 ? (uint32_t)a->top_k : 0,
                       a->top_p, 0.0f, (uint32_t)d_vocab, 0};
    if (!wg_unalias(c, &lb, ob) || !wg_unalias(c, &ib, ob) || !wg_unalias(c, &rb, ob)) return;
    uint32_t prob = wg_scratch(c, WG_SCR_SAMPLE, (uint64_t)vocab * 8);
    if (!prob) return;
    const char *wg = c->dev->max_invocations >= 1024 ? "WG=1024" : "";
    dp_gpu_binding bs[5] = {ob, lb, wg_at(3, wg_bind_buf(prob, 0, (uint32_t)vocab * 8)), ib, rb};
    wg_dispatch(c, "sample", "verify_sample", wg, &p, sizeof p, bs, 5, 1, 1, 1);
}

#else
typedef int dp_wg_ops_sample_unused;
#endif /* __wasm__ */
