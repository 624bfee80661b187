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

static void rope_run(void *arg, int ith, int nth) {
    const rope_job *j = arg;
    int64_t lo, hi;
    dp_cpu_split(j->n, ith, nth, &lo, &hi);
    const int half = j->half;
    for (int64_t r = lo; r < hi; r++) {
        const float p = (float)j->pos[r];
        float *row = j->x + r * (int64_t)j->n_head * j->hd;
        for (int i = 0; i < half; i++) {
            const float ang = p * j->inv_freq[i];
            const float cs = cosf(ang) * j->mscale, sn = sinf(ang) * j->mscale;
            const int i0 = j->interleaved ? 2 * i : i;
            const int i1 = j->interleaved ? 2 * i + 1 : i + half;
            for (int h = 0; h < j->n_head; h++) {
                float *v = row + (int64_t)h * j->hd;
                const float a = v[i0], bb = v[i1];
                v[i0] = a * cs - bb * sn;
                v[i1] = bb * cs + a * sn;
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
