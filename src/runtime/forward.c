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

/* An rms_norm ahead of a group of projections: h = norm(x; w) feeds them; keep: the pass reads h
 * afterwards too (else it is scratch, and a backend may fold the norm into the products). */
typedef struct {
    dp_tensor *h;
    const dp_tensor *x, *w;
    bool keep;
} norm_in;

/* Every projection of the pass goes through here: [h = norm(x)], outs[i] = h W_i (+ outs[i] when
 * accumulate), W_i the layer's weight of role roles[i] (layer -1: the output head), [glu(outs[0],
 * outs[1])]; the pass's adapter (dp_ctx_set_adapter; every sequence of a pass has the same one,
 * batch.c) adds s (h A_i) B_i to each projection it holds. Each group is one fused shape
 * (fused.h): norm_matmul where the adapter touches none of its projections, so the dispatches
 * without an adapter are those of the fused pass; else lora_linear, the same products with the
 * deltas (which writes h: the deltas read it). */
/* The weights of a group (ws) and the adapter's deltas for them (dw); whether it has any. */
static bool group_weights(const dp_pass *p, int l, const dp_wrole *roles, int count, const dp_tensor **ws,
                          const dp_lora_w **dw) {
    bool adapted = false;
    for (int i = 0; i < count; i++) {
        ws[i] = l < 0 ? &p->m->output : &p->m->layers[l].w[roles[i]];
        dw[i] = l >= 0 ? dp_adapter_w(p->seqs[0]->adapter, l, roles[i]) : NULL;
        adapted = adapted || dw[i];
    }
    return adapted;
}

static void linear(const dp_pass *p, int l, const dp_wrole *roles, dp_tensor *const *outs,
                   const dp_tensor *x, int count, bool accumulate, const norm_in *nm, const dp_act *glu) {
    dp_model *m = p->m;
    const dp_model_desc *d = &m->d;
    dp_backend *be = p->be;
    const dp_ctx *c = p->seqs[0];
    const dp_tensor *ws[3];
    const dp_lora_w *dw[3];
    if (!group_weights(p, l, roles, count, ws, dw)) {
        if (nm)
            dp_fused_norm_matmul(be, nm->h, nm->x, nm->w, p->n, d->hidden, d->norm_eps, d->norm_plus_one, outs, ws,
                                 count, glu, nm->keep);
        else
            for (int i = 0; i < count; i++) OP(matmul, outs[i], x, ws[i], p->n, accumulate);
        return;
    }
    dp_lora_linear la = {0};
    for (int i = 0; i < count; i++)
        if (dw[i]) {
            la.a[i] = &dw[i]->a;
            la.b[i] = &dw[i]->b;
        }
    la.h = nm ? nm->h : NULL;
    la.x = nm ? nm->x : x;
    la.norm_w = nm ? nm->w : NULL;
    la.n = p->n;
    la.d = nm ? d->hidden : (int)ws[0]->ne[0];
    la.eps = d->norm_eps;
    la.plus_one = d->norm_plus_one;
    la.outs = outs;
    la.ws = ws;
    la.count = count;
    la.accumulate = accumulate;
    la.glu = glu;
    la.tmp = &p->s->lora;
    la.scale = c->lora_scale;
    dp_fused_lora_linear(be, &la);
}

static const dp_wrole QKV[3] = {DP_W_Q, DP_W_K, DP_W_V}, GATE_UP[2] = {DP_W_GATE, DP_W_UP},
                      ROLE_O = DP_W_O, ROLE_DOWN = DP_W_DOWN, ROLE_ROUTER = DP_W_ROUTER;

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
    norm_in nq = {&s->h, &s->x, &lw->w[DP_W_ATTN_NORM], false};
    bool use_local_rope = local && d->has_rope_local;
    const dp_tensor *freqs = use_local_rope ? &c->s.inv_freq_local : &c->s.inv_freq;
    dp_rope_args ra = {d->n_head, d->head_dim, d->rot_dim, d->rope_interleaved,
                       use_local_rope ? c->mscale_local : c->mscale};
    const dp_tensor *ws[3];
    const dp_lora_w *dw[3];
    const bool adapted = group_weights(p, l, QKV, 3, ws, dw);
    if (p->n_seqs == 1) { /* [norm and products,] head norms, ropes and cache writes as fused shapes */
        dp_ctx *sc = p->seqs[0];
        dp_qkv_args qa = {&s->q, &s->k, &s->v,
                          d->qk_norm ? &lw->w[DP_W_Q_NORM] : NULL, d->qk_norm ? &lw->w[DP_W_K_NORM] : NULL,
                          d->norm_eps, d->norm_plus_one, &s->pos, freqs, n, ra, ra,
                          &sc->k_cache[l], &sc->v_cache[l], (int64_t)sc->pos * kv_dim};
        qa.rk.n_head = d->n_kv_head;
        if (adapted) { /* lora_linear, then the ropes and cache writes apart */
            linear(p, l, QKV, qkv, &s->h, 3, false, &nq, NULL);
            dp_fused_rope_qk_kv(be, &qa);
        } else {
            dp_fused_norm_qkv_rope(be, nq.h, nq.x, nq.w, n, d->hidden, d->norm_eps, d->norm_plus_one, ws, &qa, nq.keep);
        }
        dp_attn_args aa = {d->n_head, d->n_kv_head, d->head_dim, sc->pos, n,
                           local ? d->sliding_window : 0, d->attn_scale, d->attn_softcap, &lw->w[DP_W_O]};
        OP(attention, &s->att, &s->q, &sc->k_cache[l], &sc->v_cache[l], &aa);
    } else { /* one row per sequence: ropes over all rows, cache writes and attention per sequence */
        linear(p, l, QKV, qkv, &s->h, 3, false, &nq, NULL);
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
                               local ? d->sliding_window : 0, d->attn_scale, d->attn_softcap, NULL};
            OP(attention, &att, &q, &sc->k_cache[l], &sc->v_cache[l], &aa);
        }
    }
    if (d->sandwich_norm) {
        dp_tensor *h = &s->h;
        linear(p, l, &ROLE_O, &h, &s->att, 1, false, NULL, NULL);
        /* the FFN norm after it (dense FFNs: its products are gate and up) */
        const dp_tensor *gu[2] = {&lw->w[DP_W_GATE], &lw->w[DP_W_UP]};
        const dp_norm_next nx = {&s->h, &lw->w[DP_W_FFN_NORM], gu, 2};
        dp_fused_norm_add(be, &s->x, &s->h, &lw->w[DP_W_POST_ATTN_NORM], n, d->hidden, d->norm_eps,
                          d->norm_plus_one, d->n_expert == 0 ? &nx : NULL);
    } else {
        dp_tensor *x = &s->x;
        linear(p, l, &ROLE_O, &x, &s->att, 1, true, NULL, NULL); /* residual fused into the product */
    }
}

/* The moe op, in a function of its own: on WebGPU a paged model's moe suspends the module while
 * the host reads back the selected experts (web/build.sh makes the callers of this function
 * resumable with Binaryen's asyncify; its name is listed there). */
__attribute__((noinline)) void dp_forward_moe(dp_backend *be, dp_tensor *out, const dp_tensor *h,
                                              const dp_tensor *router, const dp_layer_w *lw,
                                              const dp_expert_src *src, int n, const dp_model_desc *d) {
    OP(moe, out, h, router, lw->experts[0], lw->experts[1], lw->experts[2], src, n, d->n_expert,
       d->n_expert_used, d->act);
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
        dp_expert_src src = {.ud = m->experts, .layer = l, .fetch = dp_experts_fetch, .want = dp_experts_want,
                             .device_slots = dp_experts_device_slots(m->experts),
                             .fetch_device = dp_experts_fetch_device, .group = dp_experts_group,
                             .next_layer = l + 1, .next_k = dp_experts_predict_k(m->experts),
                             .predict = dp_experts_predict};
        if (l + 1 < d->n_layers && src.next_k > 0) {
            /* layer-ahead prediction: layer l+1's norm and router on this layer's FFN input (the
               residual before this layer's experts and the next layer's attention are added) */
            dp_tensor *next = &s->router_next;
            norm_in np = {&s->h, &s->x, &m->layers[l + 1].w[DP_W_FFN_NORM], false};
            linear(p, l + 1, &ROLE_ROUTER, &next, &s->h, 1, false, &np, NULL);
            src.next_logits = next;
        }
        dp_tensor *router = &s->router;
        norm_in nf = {&s->h, &s->x, &lw->w[DP_W_FFN_NORM], true}; /* the experts read h */
        linear(p, l, &ROLE_ROUTER, &router, &s->h, 1, false, &nf, NULL);
        dp_forward_moe(be, &s->ffn_out, &s->h, &s->router, lw, m->experts ? &src : NULL, n, d);
    } else {
        dp_tensor *gate_up[2] = {&s->gate, &s->up}, *down = fuse_residual ? &s->x : &s->ffn_out;
        norm_in nf = {&s->h, &s->x, &lw->w[DP_W_FFN_NORM], false};
        linear(p, l, GATE_UP, gate_up, &s->h, 2, false, &nf, &d->act);
        linear(p, l, &ROLE_DOWN, &down, &s->gate, 1, fuse_residual, NULL, NULL);
    }
    if (fuse_residual) return;
    if (d->sandwich_norm) {
        /* the norm after it: layer l + 1's attention norm over its q/k/v, or the output norm over
           the head */
        const dp_tensor *ws[3];
        dp_norm_next nx = {&s->h, &m->out_norm, ws, 1};
        if (l + 1 < d->n_layers) {
            for (int i = 0; i < 3; i++) ws[i] = &m->layers[l + 1].w[QKV[i]];
            nx.w = &m->layers[l + 1].w[DP_W_ATTN_NORM];
            nx.count = 3;
        } else {
            ws[0] = &m->output;
        }
        dp_fused_norm_add(be, &s->x, &s->ffn_out, &lw->w[DP_W_POST_FFN_NORM], n, d->hidden, d->norm_eps,
                          d->norm_plus_one, &nx);
    } else
        OP(add, &s->x, &s->x, &s->ffn_out, (int64_t)n * d->hidden);
}

void dp_forward_pass(const dp_pass *p) {
    dp_model *m = p->m;
    const dp_model_desc *d = &m->d;
    dp_backend *be = p->be;
    dp_scratch *s = p->s;
    int n = p->n;

    OP(get_rows, &s->x, &m->embd, p->ids ? p->ids : &s->ids, n, d->embed_scale);
    for (int l = 0; l < d->n_layers; l++) {
        attention_block(p, l);
        ffn_block(p, l);
    }
    /* only the rows whose logits are wanted go through the output norm and projection */
    int rows = p->all_logits ? n : 1;
    dp_tensor last = from_row(&s->x, p->all_logits ? 0 : n - 1, d->hidden);
    dp_tensor *outs[1] = {p->logits ? p->logits : &s->logits};
    norm_in no = {&s->h, &last, &m->out_norm, false};
    dp_pass head = *p; /* the head's rows only */
    head.n = rows;
    linear(&head, -1, NULL, outs, &s->h, 1, false, &no, NULL);
    if (d->final_softcap > 0) OP(softcap, outs[0], (int64_t)rows * d->vocab, d->final_softcap);
}

void dp_forward(dp_ctx *c, int n, bool all_logits, dp_tensor *logits, const dp_tensor *ids) {
    dp_pass p = {c->m, c->be, &c->s, n, &c, 1, all_logits, logits, ids};
    dp_forward_pass(&p);
    c->last_rows = logits ? 0 : all_logits ? n : 1;
}
