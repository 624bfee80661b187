/* forward.c — the one generic decoder forward pass, written against the backend op vtable.
 *
 * Per layer:  h = norm(x); q,k,v = h W; [q/k head norms]; rope; append k,v to the cache;
 *             a = attention(q, cache); o = a Wo; [post-norm]; x += o;
 *             h = norm(x); f = FFN or MoE (h); [post-norm]; x += f.
 * Output:     logits = norm(x) Wout, [final soft-cap].  Options come from dp_model_desc.
 *
 * A pass runs the rows of one or more sequences (dp_pass): every product, norm and FFN over all
 * rows at once; the cache writes and attention per sequence, on its rows against its own cache
 * (a context's eval is one sequence; dp_batch_eval one row for each of several). Norms with the
 * products that read them, head norms + ropes + cache writes (one sequence), and a sandwich norm
 * with its residual add go through the fused shapes of fused.h, which a backend may record as
 * single dispatches. */
#include "runtime/fused.h"
#include "runtime/runtime.h"

#define OP(name, ...) be->i->name(be, __VA_ARGS__)

/* t from row `row` on (an f32 matrix of rows of `cols` values): the same buffer at a later offset. */
static dp_tensor from_row(const dp_tensor *t, int row, int64_t cols) {
    dp_tensor v = *t;
    uint64_t off = (uint64_t)row * (uint64_t)cols * sizeof(float);
    v.offset += off;
    if (v.data) v.data = (char *)v.data + off;
    return v;
}

static void attention_block(const dp_pass *p, int l) {
    dp_model *m = p->m;
    const dp_model_desc *d = &m->d;
    dp_backend *be = p->be;
    dp_scratch *s = p->s;
    const dp_ctx *c = p->seqs[0]; /* rope tables: every sequence of a pass has the same ones */
    int n = p->n;
    dp_layer_w *lw = &m->layers[l];
    int kv_dim = d->n_kv_head * d->head_dim;
    bool local = d->layer_local[l] != 0;

    dp_tensor *qkv[3] = {&s->q, &s->k, &s->v};
    const dp_tensor *wqkv[3] = {&lw->w[DP_W_Q], &lw->w[DP_W_K], &lw->w[DP_W_V]};
    dp_fused_norm_matmul(be, &s->h, &s->x, &lw->w[DP_W_ATTN_NORM], n, d->hidden, d->norm_eps,
                         d->norm_plus_one, qkv, wqkv, 3, NULL);
    bool use_local_rope = local && d->has_rope_local;
    const dp_tensor *freqs = use_local_rope ? &c->s.inv_freq_local : &c->s.inv_freq;
    dp_rope_args ra = {d->n_head, d->head_dim, d->rot_dim, d->rope_interleaved,
                       use_local_rope ? c->mscale_local : c->mscale};
    if (p->n_seqs == 1) { /* head norms, ropes and cache writes as one fused shape */
        dp_ctx *sc = p->seqs[0];
        dp_qkv_args qa = {&s->q, &s->k, &s->v,
                          d->qk_norm ? &lw->w[DP_W_Q_NORM] : NULL, d->qk_norm ? &lw->w[DP_W_K_NORM] : NULL,
                          d->norm_eps, d->norm_plus_one, &s->pos, freqs, n, ra, ra,
                          &sc->k_cache[l], &sc->v_cache[l], (int64_t)sc->pos * kv_dim};
        qa.rk.n_head = d->n_kv_head;
        dp_fused_rope_qk_kv(be, &qa);
        dp_attn_args aa = {d->n_head, d->n_kv_head, d->head_dim, sc->pos, n,
                           local ? d->sliding_window : 0, d->attn_scale, d->attn_softcap};
        OP(attention, &s->att, &s->q, &sc->k_cache[l], &sc->v_cache[l], &aa);
    } else { /* one row per sequence: ropes over all rows, cache writes and attention per sequence */
        if (d->qk_norm) {
            OP(rms_norm, &s->q, &s->q, &lw->w[DP_W_Q_NORM], n * d->n_head, d->head_dim, d->norm_eps, d->norm_plus_one);
            OP(rms_norm, &s->k, &s->k, &lw->w[DP_W_K_NORM], n * d->n_kv_head, d->head_dim, d->norm_eps, d->norm_plus_one);
        }
        OP(rope, &s->q, &s->pos, freqs, n, &ra);
        ra.n_head = d->n_kv_head;
        OP(rope, &s->k, &s->pos, freqs, n, &ra);
        int q_dim = d->n_head * d->head_dim;
        for (int i = 0; i < p->n_seqs; i++) {
            dp_ctx *sc = p->seqs[i];
            dp_tensor k = from_row(&s->k, i, kv_dim), v = from_row(&s->v, i, kv_dim);
            dp_tensor q = from_row(&s->q, i, q_dim), att = from_row(&s->att, i, q_dim);
            OP(copy, &sc->k_cache[l], (int64_t)sc->pos * kv_dim, &k, kv_dim);
            OP(copy, &sc->v_cache[l], (int64_t)sc->pos * kv_dim, &v, kv_dim);
            dp_attn_args aa = {d->n_head, d->n_kv_head, d->head_dim, sc->pos, 1,
                               local ? d->sliding_window : 0, d->attn_scale, d->attn_softcap};
            OP(attention, &att, &q, &sc->k_cache[l], &sc->v_cache[l], &aa);
        }
    }
    if (d->sandwich_norm) {
        OP(matmul, &s->h, &s->att, &lw->w[DP_W_O], n, false);
        dp_fused_norm_add(be, &s->x, &s->h, &lw->w[DP_W_POST_ATTN_NORM], n, d->hidden, d->norm_eps,
                          d->norm_plus_one);
    } else {
        OP(matmul, &s->x, &s->att, &lw->w[DP_W_O], n, true); /* residual fused into the product */
    }
}

static void ffn_block(const dp_pass *p, int l) {
    dp_model *m = p->m;
    const dp_model_desc *d = &m->d;
    dp_backend *be = p->be;
    dp_scratch *s = p->s;
    int n = p->n;
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

void dp_forward_pass(const dp_pass *p) {
    dp_model *m = p->m;
    const dp_model_desc *d = &m->d;
    dp_backend *be = p->be;
    dp_scratch *s = p->s;
    int n = p->n;

    OP(get_rows, &s->x, &m->embd, &s->ids, n, d->embed_scale);
    for (int l = 0; l < d->n_layers; l++) {
        attention_block(p, l);
        ffn_block(p, l);
    }
    /* only the rows whose logits are wanted go through the output norm and projection */
    int rows = p->all_logits ? n : 1;
    dp_tensor last = from_row(&s->x, p->all_logits ? 0 : n - 1, d->hidden);
    dp_tensor *outs[1] = {p->logits ? p->logits : &s->logits};
    const dp_tensor *ws[1] = {&m->output};
    dp_fused_norm_matmul(be, &s->h, &last, &m->out_norm, rows, d->hidden, d->norm_eps, d->norm_plus_one,
                         outs, ws, 1, NULL);
    if (d->final_softcap > 0) OP(softcap, outs[0], (int64_t)rows * d->vocab, d->final_softcap);
}

void dp_forward(dp_ctx *c, int n, bool all_logits, dp_tensor *logits) {
    dp_pass p = {c->m, c->be, &c->s, n, &c, 1, all_logits, logits};
    dp_forward_pass(&p);
    c->last_rows = logits ? 0 : all_logits ? n : 1;
}
