/* ops_rope.c — rotary position embedding, in place on x[n, n_head * head_dim].
 *
 * For each head, the first rot_dim dims are rotated in rot_dim/2 pairs, pair i by the angle
 * pos * inv_freq[i]:
 *   NeoX / HF rotate-half: pair (i, i + rot_dim/2)  (HF splits q into q_rot = q[:rot_dim] and
 *                          q_pass, and rotate_half works inside q_rot)
 *   interleaved (GGML "normal"): pair (2i, 2i + 1)
 * The rotated dims are multiplied by mscale (HF folds attention_scaling into cos and sin); dims
 * past rot_dim pass through unchanged. An mscale of 0 (a zero-initialised args struct) means 1. The angle is the f32 product pos * inv_freq[i] and cos /
 * sin are taken in f32, as HF computes them. */
#include "backend/cpu/cpu_internal.h"

#include <math.h>

typedef struct rope_job {
    float *x;
    const int32_t *pos;
    const float *inv_freq;
    int n, n_head, hd, half;
    bool interleaved;
    float mscale;
} rope_job;

#define DP_ROPE_BLOCK 64

/* pairs (i, i + half) for i in a block: two contiguous runs, vectorisable */
static void rotate_half(float *restrict x0, float *restrict x1, const float *cs, const float *sn,
                        int cnt) {
    for (int i = 0; i < cnt; i++) {
        const float a = x0[i], b = x1[i];
        x0[i] = a * cs[i] - b * sn[i];
        x1[i] = b * cs[i] + a * sn[i];
    }
}

static void rotate_interleaved(float *x, const float *cs, const float *sn, int cnt) {
    for (int i = 0; i < cnt; i++) {
        const float a = x[2 * i], b = x[2 * i + 1];
        x[2 * i] = a * cs[i] - b * sn[i];
        x[2 * i + 1] = b * cs[i] + a * sn[i];
    }
}

static void rope_run(void *arg, int ith, int nth) {
    const rope_job *j = arg;
    int64_t lo, hi;
    dp_cpu_split(j->n, ith, nth, &lo, &hi);
    const int half = j->half;
    float cs[DP_ROPE_BLOCK], sn[DP_ROPE_BLOCK];
    for (int64_t r = lo; r < hi; r++) {
        const float p = (float)j->pos[r];
        float *row = j->x + r * (int64_t)j->n_head * j->hd;
        for (int i0 = 0; i0 < half; i0 += DP_ROPE_BLOCK) {
            const int cnt = half - i0 < DP_ROPE_BLOCK ? half - i0 : DP_ROPE_BLOCK;
            for (int i = 0; i < cnt; i++) {
                const float ang = p * j->inv_freq[i0 + i];
                cs[i] = cosf(ang) * j->mscale;
                sn[i] = sinf(ang) * j->mscale;
            }
            for (int h = 0; h < j->n_head; h++) {
                float *v = row + (int64_t)h * j->hd;
                if (j->interleaved)
                    rotate_interleaved(v + 2 * i0, cs, sn, cnt);
                else
                    rotate_half(v + i0, v + half + i0, cs, sn, cnt);
            }
        }
    }
}

void dp_cpu_op_rope(dp_backend *b, dp_tensor *x, const dp_tensor *pos, const dp_tensor *inv_freq,
                    int n, const dp_rope_args *a) {
    dp_cpu_ctx *c = dp_cpu_ctx_of(b);
    if (!a || n < 0 || a->n_head <= 0 || a->head_dim <= 0 || a->rot_dim < 0 ||
        a->rot_dim > a->head_dim || a->rot_dim % 2) {
        dp_cpu_fail(c, DP_ERR_INVALID_ARG, "rope: bad args");
        return;
    }
    const int half = a->rot_dim / 2;
    if (!dp_cpu_check_f32(c, x, (int64_t)n * a->n_head * a->head_dim, "rope", "x") ||
        !dp_cpu_check_i32(c, pos, n, "rope", "pos") ||
        !dp_cpu_check_f32(c, inv_freq, half, "rope", "inv_freq"))
        return;
    rope_job j = {x->data, pos->data, inv_freq->data, n, a->n_head, a->head_dim, half,
                  a->interleaved, a->mscale == 0.0f ? 1.0f : a->mscale};
    dp_cpu_run(c, rope_run, &j, (int64_t)n * half * (a->n_head + 16));
}
