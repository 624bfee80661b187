/* forward.c — the one generic decoder forward pass, written against the backend op vtable.
 *
 * Per layer:  h = norm(x); q,k,v = h W; [q/k head norms]; rope; append k,v to the cache;
 *             a = attention(q, cache); o = a Wo; [post-norm]; x += o;
 *             h = norm(x); f = FFN or MoE (h); [post-norm]; x += f.
 * Output:     logits = norm(x) Wout, [final soft-cap].  Options come from dp_model_desc.
 * Norms with the products that read them, head norms + ropes + cache writes, and a sandwich
 * norm with its residual add go through the fused shapes of fused.h, which a backend may record
 * as single dispatches. */
#include "runtime/fused.h"
#include "runtime/runtime.h"

#define OP(name, ...) be->i->name(be, __VA_ARGS__)

static void attention_block(dp_ctx *c, int l, int n) {
    dp_model *m = c->m;
    const dp_model_desc *d = &m->d;
    dp_backend *be = c->be;
    dp_scratch *s = &c->s;
    dp_layer_w *lw = &m->layers[l];
    int kv_dim = d->n_kv_head * d->head_dim;
    bool local = d->layer_local[l] != 0;

    dp_tensor *qkv[3] = {&s->q, &s->k, &s->v};
    const dp_tensor *wqkv[3] = {&lw->w[DP_W_Q], &lw->w[DP_W_K], &lw->w[DP_W_V]};
    dp_fused_norm_matmul(be, &s->h, &s->x, &lw->w[DP_W_ATTN_NORM], n, d->hidden, d->norm_eps,
                         d->norm_plus_one, qkv, wqkv, 3, NULL);
    bool use_local_rope = local && d->has_rope_local;
    dp_rope_args ra = {d->n_head, d->head_dim, d->rot_dim, d->rope_interleaved,
                       use_local_rope ? c->mscale_local : c->mscale};
    dp_qkv_args qa = {&s->q, &s->k, &s->v,
                      d->qk_norm ? &lw->w[DP_W_Q_NORM] : NULL, d->qk_norm ? &lw->w[DP_W_K_NORM] : NULL,
                      d->norm_eps, d->norm_plus_one, &s->pos,
                      use_local_rope ? &s->inv_freq_local : &s->inv_freq, n, ra, ra,
                      &c->k_cache[l], &c->v_cache[l], (int64_t)c->pos * kv_dim};
    qa.rk.n_head = d->n_kv_head;
    dp_fused_rope_qk_kv(be, &qa);
    dp_attn_args aa = {d->n_head, d->n_kv_head, d->head_dim, c->pos, n,
                       local ? d->sliding_window : 0, d->attn_scale, d->attn_softcap};
    OP(attention, &s->att, &s->q, &c->k_cache[l], &c->v_cache[l], &aa);
    if (d->sandwich_norm) {
        OP(matmul, &s->h, &s->att, &lw->w[DP_W_O], n, false);
        dp_fused_norm_add(be, &s->x, &s->h, &lw->w[DP_W_POST_ATTN_NORM], n, d->hidden, d->norm_eps,
                          d->norm_plus_one);
    } else {
        OP(matmul, &s->x, &s->att, &lw->w[DP_W_O], n, true); /* residual fused into the product */
    }
}

static void ffn_block(dp_ctx *c, int l, int n) {
    dp_model *m = c->m;
    const dp_model_desc *d = &m->d;
    dp_backend *be = c->be;
    dp_scratch *s = &c->s;
    dp_layer_w *lw = &m->layers[l];

    bool fuse_residual = !d->sandwich_norm && d->n_expert == 0;
    if (d->n_expert > 0) {
        dp_tensor *outs[1] = {&s->router};
        const dp_tensor *ws[1] = {&lw->w[DP_W_ROUTER]};
        dp_fused_norm_matmul(be, &s->h, &s->x, &lw->w[DP_W_FFN_NORM], n, d->hidden, d->norm_eps,
                             d->norm_plus_one, outs, ws, 1, NULL);
        OP(moe, &s->ffn_out, &s->h, &s->router, lw->experts[0], lw->experts[1], lw->experts[2], n,
           d->n_expert, d->n_expert_used, d->act);
    } else {
        dp_tensor *outs[2] = {&s->gate, &s->up};
        const dp_tensor *ws[2] = {&lw->w[DP_W_GATE], &lw->w[DP_W_UP]};
        dp_fused_norm_matmul(be, &s->h, &s->x, &lw->w[DP_W_FFN_NORM], n, d->hidden, d->norm_eps,
                             d->norm_plus_one, outs, ws, 2, &d->act);
        OP(matmul, fuse_residual ? &s->x : &s->ffn_out, &s->gate, &lw->w[DP_W_DOWN], n, fuse_residual);
    }
    if (fuse_residual) return;
    if (d->sandwich_norm)
        dp_fused_norm_add(be, &s->x, &s->ffn_out, &lw->w[DP_W_POST_FFN_NORM], n, d->hidden, d->norm_eps,
                          d->norm_plus_one);
    else
        OP(add, &s->x, &s->x, &s->ffn_out, (int64_t)n * d->hidden);
}

void dp_forward(dp_ctx *c, int n, bool all_logits, dp_tensor *logits) {
    dp_model *m = c->m;
    const dp_model_desc *d = &m->d;
    dp_backend *be = c->be;
    dp_scratch *s = &c->s;

    OP(get_rows, &s->x, &m->embd, &s->ids, n, d->embed_scale);
    for (int l = 0; l < d->n_layers; l++) {
        attention_block(c, l, n);
        ffn_block(c, l, n);
    }
    /* only the rows whose logits are wanted go through the output norm and projection */
    int rows = all_logits ? n : 1;
    dp_tensor last = s->x;
    if (!all_logits) {
        last.offset += (uint64_t)(n - 1) * (uint64_t)d->hidden * sizeof(float);
        if (last.data) last.data = (float *)s->x.data + (size_t)(n - 1) * (size_t)d->hidden;
    }
    dp_tensor *outs[1] = {logits ? logits : &s->logits};
    const dp_tensor *ws[1] = {&m->output};
    dp_fused_norm_matmul(be, &s->h, &last, &m->out_norm, rows, d->hidden, d->norm_eps, d->norm_plus_one,
                         outs, ws, 1, NULL);
    if (d->final_softcap > 0) OP(softcap, outs[0], (int64_t)rows * d->vocab, d->final_softcap);
    c->last_rows = logits ? 0 : rows;
}
