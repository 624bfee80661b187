/* forward.c — the one generic decoder forward pass, written against the backend op vtable.
 *
 * Per layer:  h = norm(x); q,k,v = h W; [q/k head norms]; rope; append k,v to the cache;
 *             a = attention(q, cache); o = a Wo; [post-norm]; x += o;
 *             h = norm(x); f = FFN or MoE (h); [post-norm]; x += f.
 * Output:     logits = norm(x) Wout, [final soft-cap].  Options come from dp_model_desc. */
#include "runtime/runtime.h"

#define OP(name, ...) be->i->name(be, __VA_ARGS__)

/* Every projection of the pass goes through here: outs[i] = x W_i (+ outs[i] when accumulate),
 * W_i the layer's weight of role roles[i] (layer -1: the output head), products of one x in one
 * matmul_multi when the backend has one; then the context's adapter (dp_ctx_set_adapter) adds
 * s (x A_i) B_i to each projection it holds. The base products are all issued before any delta,
 * so whatever a backend fuses across them is the same with or without an adapter. */
static void linear(dp_ctx *c, int l, const dp_wrole *roles, dp_tensor *const *outs, const dp_tensor *x,
                   int count, int n, bool accumulate) {
    dp_model *m = c->m;
    dp_backend *be = m->be;
    const dp_tensor *ws[3];
    for (int i = 0; i < count; i++) ws[i] = l < 0 ? &m->output : &m->layers[l].w[roles[i]];
    if (count > 1 && !accumulate && be->i->matmul_multi) {
        OP(matmul_multi, outs, x, ws, count, n);
    } else {
        for (int i = 0; i < count; i++) OP(matmul, outs[i], x, ws[i], n, accumulate);
    }
    for (int i = 0; i < count && l >= 0; i++) {
        const dp_lora_w *d = dp_adapter_w(c->adapter, l, roles[i]);
        if (d) OP(lora, outs[i], x, &d->a, &d->b, &c->s.lora, n, c->lora_scale);
    }
}

static const dp_wrole QKV[3] = {DP_W_Q, DP_W_K, DP_W_V}, GATE_UP[2] = {DP_W_GATE, DP_W_UP},
                      ROLE_O = DP_W_O, ROLE_DOWN = DP_W_DOWN, ROLE_ROUTER = DP_W_ROUTER;

static void attention_block(dp_ctx *c, int l, int n) {
    dp_model *m = c->m;
    const dp_model_desc *d = &m->d;
    dp_backend *be = m->be;
    dp_scratch *s = &c->s;
    dp_layer_w *lw = &m->layers[l];
    int kv_dim = d->n_kv_head * d->head_dim;
    bool local = d->layer_local[l] != 0;

    OP(rms_norm, &s->h, &s->x, &lw->w[DP_W_ATTN_NORM], n, d->hidden, d->norm_eps, d->norm_plus_one);
    dp_tensor *qkv[3] = {&s->q, &s->k, &s->v};
    linear(c, l, QKV, qkv, &s->h, 3, n, false);
    if (d->qk_norm) {
        OP(rms_norm, &s->q, &s->q, &lw->w[DP_W_Q_NORM], n * d->n_head, d->head_dim, d->norm_eps, d->norm_plus_one);
        OP(rms_norm, &s->k, &s->k, &lw->w[DP_W_K_NORM], n * d->n_kv_head, d->head_dim, d->norm_eps, d->norm_plus_one);
    }
    bool use_local_rope = local && d->has_rope_local;
    const dp_tensor *freqs = use_local_rope ? &s->inv_freq_local : &s->inv_freq;
    dp_rope_args ra = {d->n_head, d->head_dim, d->rot_dim, d->rope_interleaved,
                       use_local_rope ? c->mscale_local : c->mscale};
    OP(rope, &s->q, &s->pos, freqs, n, &ra);
    ra.n_head = d->n_kv_head;
    OP(rope, &s->k, &s->pos, freqs, n, &ra);
    OP(copy, &c->k_cache[l], (int64_t)c->pos * kv_dim, &s->k, (int64_t)n * kv_dim);
    OP(copy, &c->v_cache[l], (int64_t)c->pos * kv_dim, &s->v, (int64_t)n * kv_dim);
    dp_attn_args aa = {d->n_head, d->n_kv_head, d->head_dim, c->pos, n,
                       local ? d->sliding_window : 0, d->attn_scale, d->attn_softcap};
    OP(attention, &s->att, &s->q, &c->k_cache[l], &c->v_cache[l], &aa);
    if (d->sandwich_norm) {
        dp_tensor *h = &s->h;
        linear(c, l, &ROLE_O, &h, &s->att, 1, n, false);
        OP(rms_norm, &s->h, &s->h, &lw->w[DP_W_POST_ATTN_NORM], n, d->hidden, d->norm_eps, d->norm_plus_one);
        OP(add, &s->x, &s->x, &s->h, (int64_t)n * d->hidden);
    } else {
        dp_tensor *x = &s->x;
        linear(c, l, &ROLE_O, &x, &s->att, 1, n, true); /* residual fused into the product */
    }
}

static void ffn_block(dp_ctx *c, int l, int n) {
    dp_model *m = c->m;
    const dp_model_desc *d = &m->d;
    dp_backend *be = m->be;
    dp_scratch *s = &c->s;
    dp_layer_w *lw = &m->layers[l];

    OP(rms_norm, &s->h, &s->x, &lw->w[DP_W_FFN_NORM], n, d->hidden, d->norm_eps, d->norm_plus_one);
    bool fuse_residual = !d->sandwich_norm && d->n_expert == 0;
    if (d->n_expert > 0) {
        dp_tensor *router = &s->router;
        linear(c, l, &ROLE_ROUTER, &router, &s->h, 1, n, false);
        OP(moe, &s->ffn_out, &s->h, &s->router, lw->experts[0], lw->experts[1], lw->experts[2], n,
           d->n_expert, d->n_expert_used, d->act);
    } else {
        dp_tensor *gate_up[2] = {&s->gate, &s->up}, *down = fuse_residual ? &s->x : &s->ffn_out;
        linear(c, l, GATE_UP, gate_up, &s->h, 2, n, false);
        OP(glu, &s->gate, &s->gate, &s->up, n, d->ffn, d->act);
        linear(c, l, &ROLE_DOWN, &down, &s->gate, 1, n, fuse_residual);
    }
    if (fuse_residual) return;
    if (d->sandwich_norm)
        OP(rms_norm, &s->ffn_out, &s->ffn_out, &lw->w[DP_W_POST_FFN_NORM], n, d->hidden, d->norm_eps, d->norm_plus_one);
    OP(add, &s->x, &s->x, &s->ffn_out, (int64_t)n * d->hidden);
}

void dp_forward(dp_ctx *c, int n, bool all_logits) {
    dp_model *m = c->m;
    const dp_model_desc *d = &m->d;
    dp_backend *be = m->be;
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
    OP(rms_norm, &s->h, &last, &m->out_norm, rows, d->hidden, d->norm_eps, d->norm_plus_one);
    dp_tensor *logits = &s->logits;
    linear(c, -1, NULL, &logits, &s->h, 1, rows, false);
    if (d->final_softcap > 0) OP(softcap, &s->logits, (int64_t)rows * d->vocab, d->final_softcap);
    c->last_rows = rows;
}
