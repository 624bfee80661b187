/* runtime.h — loaded models and contexts (internal layout behind the public handles). */
#ifndef DP_RUNTIME_H
#define DP_RUNTIME_H

#include "backend/backend.h"
#include "format/rdrr.h"
#include "model/lora.h"
#include "model/model.h"

typedef struct dp_layer_w {
    dp_tensor w[DP_W_LAYER_COUNT];   /* dense tensors (unused roles have dtype-size 0) */
    dp_tensor *experts[3];           /* gate, up, down: n_expert tensors each (MoE only) */
} dp_layer_w;

struct dp_model {
    dp_model_desc d;
    dp_backend *be;
    dp_rdrr *rdrr;
    char *dir;
    dp_tensor embd, out_norm, output; /* output aliases embd when tied */
    dp_layer_w *layers;
    int64_t n_params;
    uint64_t weight_bytes;
    dp_dtype main_dtype;
};

/* One adapted projection: a f32 [rank, cols], b f32 [rows, rank] on the model's backend. */
typedef struct dp_lora_w {
    dp_tensor a, b;
} dp_lora_w;

struct dp_adapter {
    dp_model *m;              /* the base it was loaded on */
    dp_lora_desc desc;
    float scale;              /* alpha / rank (rsLoRA: alpha / sqrt(rank)) */
    dp_lora_w *w;             /* [n_layers][DP_W_LAYER_COUNT]; a.nbytes 0 where not adapted */
};

/* The adapter's matrices for (layer, role), NULL when a is NULL or does not adapt it. */
const dp_lora_w *dp_adapter_w(const dp_adapter *a, int layer, dp_wrole r);

/* Allocate t on be for the manifest tensor rt and read its verified bytes into it. */
dp_status dp_tensor_upload(dp_backend *be, dp_rdrr *r, const dp_rdrr_tensor *rt, dp_tensor *t, dp_error *e);

/* scratch activations of one context, sized for n_batch rows */
typedef struct dp_scratch {
    dp_tensor x, h, q, k, v, att, gate, up, ffn_out, router, logits, ids, pos, token;
    dp_tensor inv_freq, inv_freq_local;
    dp_tensor lora;           /* (x A) of an adapted projection: [n_batch, rank], grown by
                                 dp_ctx_set_adapter, unallocated until an adapter is set */
} dp_scratch;

struct dp_ctx {
    dp_model *m;
    int n_ctx, n_batch, pos;
    bool logits_all;
    int last_rows;            /* rows held in s.logits by the last eval */
    float mscale, mscale_local;
    dp_tensor *k_cache, *v_cache; /* [n_layers], each [n_ctx, n_kv*hd] f32 */
    dp_scratch s;
    uint64_t rng;
    bool seeded;              /* the caller's seed has replaced the default state */
    bool sampled;             /* s.token holds a token sampled since the last eval */
    const dp_adapter *adapter; /* applied to every projection it holds, or NULL */
    float lora_scale;         /* the caller's scale times the adapter's own */
    float user_scale;         /* the caller's scale, as given */
};

/* forward n (<= n_batch) tokens already uploaded to s.ids / s.pos at position c->pos;
 * logits for all rows (logits_all) or only the last one. */
void dp_forward(dp_ctx *c, int n, bool all_logits);

#endif
