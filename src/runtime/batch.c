/* batch.c — one token for each of several sequences in one forward pass (dp_batch_eval).
 *
 * Decoding n sequences one after another reads every weight n times; here the n next tokens are
 * the n rows of one pass (forward.c, dp_pass): each matrix product reads its weight once for all
 * of them, while the cache writes and attention run per sequence against its own cache. The
 * batch owns scratch for max_seqs rows, allocated once; the logits of row i are copied into
 * sequence i's context, which then samples as after its own one-token eval. */
#include "runtime/runtime.h"

struct dp_batch {
    dp_model *m;
    int max_seqs;
    dp_scratch s;
};

dp_status dp_batch_new(dp_model *m, int32_t max_seqs, dp_batch **out, dp_error *e) {
    if (!m || !out || max_seqs < 1 || max_seqs > 4096)
        return dp_err_set(e, DP_ERR_INVALID_ARG, "batch: max_seqs %d outside [1, 4096]", (int)max_seqs);
    dp_batch *b = dp_calloc(1, sizeof *b);
    if (!b) return dp_err_set(e, DP_ERR_NOMEM, "batch: out of memory");
    b->m = m;
    b->max_seqs = max_seqs;
    dp_status st = dp_scratch_alloc(m->be, m, &b->s, max_seqs, max_seqs, e);
    if (st != DP_OK) {
        dp_batch_free(b);
        return st;
    }
    *out = b;
    return DP_OK;
}

void dp_batch_free(dp_batch *b) {
    if (!b) return;
    dp_scratch_free(b->m->be, &b->s);
    dp_free(b);
}

dp_status dp_batch_eval(dp_batch *b, dp_ctx *const *ctxs, const int32_t *ids, int32_t n, dp_error *e) {
    if (!b || !ctxs || !ids || n < 1 || n > b->max_seqs)
        return dp_err_set(e, DP_ERR_INVALID_ARG, "batch_eval: %d sequences for a batch of %d", (int)n, b ? b->max_seqs : 0);
    dp_model *m = b->m;
    dp_backend *be = m->be;
    int32_t pos[64];
    for (int32_t i = 0; i < n; i++) {
        const dp_ctx *c = ctxs[i];
        if (!c || c->m != m) return dp_err_set(e, DP_ERR_INVALID_ARG, "batch_eval: sequence %d is not a context of the batch's model", (int)i);
        if (c->logits_all) return dp_err_set(e, DP_ERR_INVALID_ARG, "batch_eval: sequence %d keeps logits_all", (int)i);
        if (c->n_ctx != ctxs[0]->n_ctx)
            return dp_err_set(e, DP_ERR_INVALID_ARG, "batch_eval: sequences of different n_ctx (%d, %d)", c->n_ctx, ctxs[0]->n_ctx);
        if (c->pos + 1 > c->n_ctx)
            return dp_err_set(e, DP_ERR_LIMIT, "batch_eval: sequence %d is full (%d positions)", (int)i, c->n_ctx);
        if (ids[i] < 0 || ids[i] >= m->d.vocab)
            return dp_err_set(e, DP_ERR_INVALID_ARG, "batch_eval: token id %d outside the vocabulary (%d)", ids[i], m->d.vocab);
        for (int32_t j = 0; j < i; j++)
            if (ctxs[j] == c) return dp_err_set(e, DP_ERR_INVALID_ARG, "batch_eval: sequence %d appears twice", (int)i);
        if (c->adapter != ctxs[0]->adapter || c->lora_scale != ctxs[0]->lora_scale)
            return dp_err_set(e, DP_ERR_INVALID_ARG,
                              "batch_eval: sequence %d has another adapter or scale than sequence 0 (one pass applies one)", (int)i);
    }
    const dp_adapter *ad = ctxs[0]->adapter; /* the (x A) scratch for max_seqs rows, once per rank */
    dp_status st = ad ? dp_lora_scratch_grow(be, &b->s.lora, dp_adapter_rank(ad), b->max_seqs, e) : DP_OK;
    if (st != DP_OK) return st;
    st = be->i->tensor_set(be, &b->s.ids, 0, ids, (uint64_t)n * 4u, e);
    for (int32_t i = 0; i < n && st == DP_OK; i += 64) {
        int32_t k = n - i < 64 ? n - i : 64;
        for (int32_t j = 0; j < k; j++) pos[j] = ctxs[i + j]->pos;
        st = be->i->tensor_set(be, &b->s.pos, (uint64_t)i * 4u, pos, (uint64_t)k * 4u, e);
    }
    if (st != DP_OK) return st;
    dp_pass p = {m, m->be, &b->s, n, ctxs, n, true, NULL, NULL};
    dp_forward_pass(&p);
    for (int32_t i = 0; i < n; i++) {
        /* row i's logits become the context's only row */
        dp_tensor row = b->s.logits;
        uint64_t off = (uint64_t)i * (uint64_t)m->d.vocab * sizeof(float);
        row.offset += off;
        if (row.data) row.data = (char *)row.data + off;
        be->i->copy(be, &ctxs[i]->s.logits, 0, &row, m->d.vocab);
    }
    if ((st = be->i->flush(be, e)) != DP_OK) return st;
    for (int32_t i = 0; i < n; i++) {
        ctxs[i]->pos += 1;
        ctxs[i]->last_rows = 1;
        ctxs[i]->sampled = false;
    }
    return DP_OK;
}
