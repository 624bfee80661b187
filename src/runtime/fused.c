/* fused.c — the one fallback path of the fused shapes (fused.h): a backend without the method
 * gets the op sequence the method is defined as. */
#include "runtime/fused.h"

void dp_fused_norm_matmul(dp_backend *be, dp_tensor *h, const dp_tensor *x, const dp_tensor *w,
                          int n, int d, float eps, bool plus_one, dp_tensor *const *outs,
                          const dp_tensor *const *ws, int count, const dp_act *glu, bool keep_h) {
    if (be->i->norm_matmul) {
        be->i->norm_matmul(be, h, x, w, n, d, eps, plus_one, outs, ws, count, glu, keep_h);
        return;
    }
    be->i->rms_norm(be, h, x, w, n, d, eps, plus_one);
    if (count > 1 && be->i->matmul_multi) { /* one activation conversion for the products */
        be->i->matmul_multi(be, outs, h, ws, count, n);
    } else {
        for (int i = 0; i < count; i++) be->i->matmul(be, outs[i], h, ws[i], n, false);
    }
    if (glu && count == 2) be->i->glu(be, outs[0], outs[0], outs[1], n, (int)ws[0]->ne[1], *glu);
}

void dp_fused_norm_add(dp_backend *be, dp_tensor *y, dp_tensor *h, const dp_tensor *w, int n,
                       int d, float eps, bool plus_one, const dp_norm_next *next) {
    if (be->i->norm_add) {
        be->i->norm_add(be, y, h, w, n, d, eps, plus_one, next);
        return;
    }
    be->i->rms_norm(be, h, h, w, n, d, eps, plus_one);
    be->i->add(be, y, y, h, (int64_t)n * d);
}

void dp_fused_rope_qk_kv(dp_backend *be, const dp_qkv_args *a) {
    if (be->i->rope_qk_kv) {
        be->i->rope_qk_kv(be, a);
        return;
    }
    const int hd = a->rq.head_dim;
    if (a->q_norm && a->k_norm) {
        be->i->rms_norm(be, a->q, a->q, a->q_norm, a->n * a->rq.n_head, hd, a->eps, a->plus_one);
        be->i->rms_norm(be, a->k, a->k, a->k_norm, a->n * a->rk.n_head, hd, a->eps, a->plus_one);
    }
    be->i->rope(be, a->q, a->pos, a->inv_freq, a->n, &a->rq);
    be->i->rope(be, a->k, a->pos, a->inv_freq, a->n, &a->rk);
    const int64_t count = (int64_t)a->n * a->rk.n_head * hd;
    be->i->copy(be, a->k_cache, a->cache_off, a->k, count);
    be->i->copy(be, a->v_cache, a->cache_off, a->v, count);
}

void dp_fused_norm_qkv_rope(dp_backend *be, dp_tensor *h, const dp_tensor *x, const dp_tensor *w, int n,
                            int d, float eps, bool plus_one, const dp_tensor *const *ws,
                            const dp_qkv_args *a, bool keep_h) {
    if (be->i->norm_qkv_rope) {
        be->i->norm_qkv_rope(be, h, x, w, n, d, eps, plus_one, ws, a, keep_h);
        return;
    }
    dp_tensor *outs[3] = {a->q, a->k, a->v};
    dp_fused_norm_matmul(be, h, x, w, n, d, eps, plus_one, outs, ws, 3, NULL, keep_h);
    dp_fused_rope_qk_kv(be, a);
}

void dp_fused_lora_linear(dp_backend *be, const dp_lora_linear *a) {
    if (be->i->lora_linear && be->i->lora_linear(be, a)) return;
    const dp_tensor *in = a->x;
    if (a->norm_w) {
        dp_fused_norm_matmul(be, a->h, a->x, a->norm_w, a->n, a->d, a->eps, a->plus_one, a->outs, a->ws,
                             a->count, NULL, true); /* the deltas read h */
        in = a->h;
    } else {
        for (int i = 0; i < a->count; i++) be->i->matmul(be, a->outs[i], a->x, a->ws[i], a->n, a->accumulate);
    }
    for (int i = 0; i < a->count; i++)
        if (a->a[i]) be->i->lora(be, a->outs[i], in, a->a[i], a->b[i], a->tmp, a->n, a->scale);
    if (a->glu && a->count == 2) be->i->glu(be, a->outs[0], a->outs[0], a->outs[1], a->n, (int)a->ws[0]->ne[1], *a->glu);
}
