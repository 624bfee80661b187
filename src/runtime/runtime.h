/* runtime.h — loaded models and contexts (internal layout behind the public handles). */
#ifndef DP_RUNTIME_H
#define DP_RUNTIME_H

#include "backend/backend.h"
#include "format/rdrr.h"
#include "model/lora.h"
#include "model/model.h"
#include "runtime/experts.h"

typedef struct dp_layer_w {
    dp_tensor w[DP_W_LAYER_COUNT];   /* dense tensors (unused roles have dtype-size 0) */
    dp_tensor *experts[3];           /* gate, up, down: n_expert tensors each (MoE only; shapes
                                        only, no data, when the model is paged) */
} dp_layer_w;

struct dp_model {
    dp_model_desc d;
    dp_backend *be;       /* where the weights live: the model's own or a caller's */
    bool owns_be;         /* made by dp_model_load (freed with the model) */
    dp_rdrr *rdrr;
    char *dir;
    dp_tensor embd, out_norm, output; /* output aliases embd when tied */
    dp_layer_w *layers;
    int64_t n_params;
    uint64_t weight_bytes;
    dp_dtype main_dtype;
    dp_experts *experts;  /* a paged MoE model's expert cache (its experts' tensors then hold
                             shapes only), else NULL */
};

/* One adapted projection: a f32 [rank, cols], b f32 [rows, rank] on the model's backend. */
typedef struct dp_lora_w {
    dp_tensor a, b;
} dp_lora_w;

struct dp_adapter {
    dp_model *m;              /* the base it was loaded on */
    dp_lora_desc desc;
    float scale;              /* alpha / rank (rsLoRA: alpha / sqrt(rank)) */
    dp_lora_w *w;             /* [n_layers][DP_W_LAYER_COUNT]; a.nbytes 0 where not adapted;
                                 views into pool (each at a 256-byte boundary of its layer's) */
    dp_tensor *pool;          /* [n_layers]: every A and B of a layer in one tensor (nbytes 0
                                 where the layer has none), so that a backend can bind a layer's
                                 adapter at once (one binding for a fused shape's deltas) */
};

/* The adapter's matrices for (layer, role), NULL when a is NULL or does not adapt it. */
const dp_lora_w *dp_adapter_w(const dp_adapter *a, int layer, dp_wrole r);

/* Allocate t on be for the manifest tensor rt and read its verified bytes into it; with map, a
 * backend that can wrap memory gets the bytes in place in r's mapped shard (r must then outlive t).
 * A device tensor (no host data: WebGPU) is written in pieces of at most 4 MiB read straight from
 * its shards (dp_rdrr_read_tensor_range), so no shard or whole tensor is held in memory. */
dp_status dp_tensor_upload(dp_backend *be, dp_rdrr *r, const dp_rdrr_tensor *rt, dp_tensor *t, bool map,
                           dp_error *e);
/* Read the verified bytes of rt into t, already allocated on be with rt's size (a view inside a
 * larger tensor included), as dp_tensor_upload does. */
dp_status dp_tensor_fill(dp_backend *be, dp_rdrr *r, const dp_rdrr_tensor *rt, dp_tensor *t, dp_error *e);
/* Grow the (x A) scratch *tmp to at least [3 * rank, rows]: the (x A) of up to three products
 * sharing an input, dp_lora_linear (kept when already as large). */
dp_status dp_lora_scratch_grow(dp_backend *be, dp_tensor *tmp, int rank, int rows, dp_error *e);

/* scratch activations of one context, sized for n_batch rows */
typedef struct dp_scratch {
    dp_tensor x, h, q, k, v, att, gate, up, ffn_out, router, logits, ids, pos, token;
    dp_tensor router_next;    /* the next layer's router logits (layer-ahead expert prediction),
                                 allocated only when the model's expert cache predicts */
    dp_tensor inv_freq, inv_freq_local;
    dp_tensor lora;           /* (x A) of adapted projections: [n_batch, 3 * rank], grown by
                                 dp_ctx_set_adapter, unallocated until an adapter is set */
} dp_scratch;

struct dp_ctx {
    dp_model *m;
    dp_backend *be;           /* this context's stream on m->be (its scratch and sticky error),
                                 or m->be itself when the backend has no streams */
    int n_ctx, n_batch, pos;
    int64_t n_evaluated;      /* positions evaluated since creation (dp_ctx_n_evaluated) */
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

/* forward n (<= n_batch) tokens already uploaded to s.ids (or in ids, an i32 device tensor,
 * when that is not NULL) / s.pos at position c->pos; logits for all rows (all_logits) or only
 * the last one, into s.logits, or into logits ([rows, vocab] on the model's backend) when that
 * is not NULL (then nothing is left in s.logits to sample from). */
void dp_forward(dp_ctx *c, int n, bool all_logits, dp_tensor *logits, const dp_tensor *ids);

/* Evaluate the n ids in the device tensor ids (i32, on the model's backend; 1 <= n <= n_batch,
 * pos + n <= n_ctx; the ids are the caller's to check: they never reach the host) in one forward
 * pass with the logits of every row written to logits ([>= n, vocab] f32 on the model's
 * backend), where they stay: speculative verification. Nothing is left to dp_ctx_sample. */
dp_status dp_ctx_eval_rows(dp_ctx *c, const dp_tensor *ids, int32_t n, dp_tensor *logits, dp_error *e);

/* dp_ctx_sample without the readback: the id stays in c->s.token on the device, where
 * dp_ctx_eval_sampled and copies read it (speculative proposals on WebGPU). */
dp_status dp_ctx_sample_queue(dp_ctx *c, const dp_sampling *sp, dp_error *e);
/* The same with the random number from gen's generator (a draft's proposals draw from the
 * target's, so that no two draws of a speculative step share a stream). */
dp_status dp_ctx_sample_queue_from(dp_ctx *c, const dp_sampling *sp, dp_ctx *gen, dp_error *e);

/* The next uniform number in [0, 1) of the context's generator, seeded from sp->seed on first
 * use as dp_ctx_sample does (sp may be NULL). */
float dp_ctx_rand01(dp_ctx *c, const dp_sampling *sp);

/* the target context a dp_spec drives (speculative.c) */
dp_ctx *dp_spec_target(const dp_spec *s);

/* dp_spec_step in two halves for hosts whose reads complete only after they settle (WebGPU;
 * dp_gen calls these): begin records the whole step (proposals, the target's pass, the verdict)
 * and its one readback; end, after the host settled, emits the tokens into out (cap >= the cap
 * given to begin) and truncates the contexts. Same arguments, results and failures as
 * dp_spec_step, which is begin then end. A begun step must be ended before the next begins. */
dp_status dp_spec_step_begin(dp_spec *s, const int32_t *hist, int32_t n, const dp_sampling *sp, int32_t cap,
                             dp_error *e);
dp_status dp_spec_step_end(dp_spec *s, int32_t *out, int32_t *n_out, dp_error *e);
/* Forget a begun step (its readback is dropped; the contexts stay where it left them). */
void dp_spec_step_cancel(dp_spec *s);

/* dp_ctx_eval keeping only the logits of rows first_out..n-1, written to logits[0 .. n-first_out)
 * (needs logits_all when logits is not NULL); batches that end before first_out compute only
 * their last row's logits. 0 <= first_out < n. dp_ctx_eval is this with first_out 0. */
dp_status dp_ctx_eval_from(dp_ctx *c, const int32_t *ids, int32_t n, float *logits, int32_t first_out, dp_error *e);

/* One forward pass over n rows held in s (ids and positions uploaded): with one sequence, all n
 * rows are seqs[0]'s at its position; with n_seqs == n, row i is one token of seqs[i] (batch.c).
 * Sequences share the model and their rope tables (the same n_ctx). Caches are written at each
 * sequence's pos; positions are not advanced here. */
typedef struct dp_pass {
    dp_model *m;
    dp_backend *be;        /* the handle the ops go through (a context's stream, or the model's) */
    dp_scratch *s;
    int n;
    dp_ctx *const *seqs;
    int n_seqs;
    bool all_logits;       /* logits for every row, else only the last */
    dp_tensor *logits;     /* where the logits go; NULL: the scratch's */
    const dp_tensor *ids;  /* the token ids (i32 [n]); NULL: the scratch's */
} dp_pass;
void dp_forward_pass(const dp_pass *p);
/* The moe op of one layer (forward.c; a function of its own for web/build.sh's asyncify). */
void dp_forward_moe(dp_backend *be, dp_tensor *out, const dp_tensor *h, const dp_tensor *router,
                    const dp_layer_w *lw, const dp_expert_src *src, int n, const dp_model_desc *d);

/* A [rows, cols] tensor of a 4-byte dtype (f32, i32) allocated on be. */
dp_status dp_tensor_alloc4(dp_backend *be, dp_tensor *t, dp_dtype dtype, int64_t rows, int64_t cols, dp_error *e);

/* Scratch activations for `rows` rows (logits for logits_rows of them); dp_scratch_free undoes
 * it (also after a partial failure). */
dp_status dp_scratch_alloc(dp_backend *be, const dp_model *m, dp_scratch *s, int64_t rows, int64_t logits_rows, dp_error *e);
void dp_scratch_free(dp_backend *be, dp_scratch *s);

#endif
