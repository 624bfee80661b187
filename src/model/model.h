/* model.h — the normalised model description every supported family maps onto, and the
 * canonical tensor names the runtime reads.
 *
 * One generic decoder block covers every family; per-family code (hf_config.c: config fields
 * and tensor names) only maps config fields and tensor names onto this description. */
#ifndef DP_MODEL_H
#define DP_MODEL_H

#include "backend/backend.h"
#include "base/base.h"
#include "base/json.h"

#define DP_MAX_LAYERS 512
#define DP_MAX_ROPE_FACTORS 512
#define DP_MAX_EOS 8

typedef enum dp_family {
    DP_FAMILY_LLAMA = 0, DP_FAMILY_GEMMA2, DP_FAMILY_GEMMA3, DP_FAMILY_PHI3, DP_FAMILY_MIXTRAL,
    DP_FAMILY_QWEN3, DP_FAMILY_COUNT
} dp_family;

typedef enum dp_rope_scaling {
    DP_ROPE_SCALING_NONE = 0, DP_ROPE_SCALING_LINEAR, DP_ROPE_SCALING_LLAMA3,
    DP_ROPE_SCALING_LONGROPE,
    DP_ROPE_SCALING_FACTORS  /* explicit per-pair divisors: inv_freq[i] = base^(-2i/rot) / short_factor[i]
                                (GGUF rope_freqs.weight, GGML's freq_factors); long_factor == short_factor */
} dp_rope_scaling;

typedef struct dp_rope_desc {
    double theta;
    dp_rope_scaling scaling;
    double factor;             /* linear, llama3 */
    double low_freq_factor, high_freq_factor; /* llama3 */
    int64_t original_max_pos;  /* llama3, longrope */
    double attention_factor;   /* longrope; 0 = derive from factor */
    int n_factors;             /* longrope, factors: rot_dim / 2 */
    float short_factor[DP_MAX_ROPE_FACTORS], long_factor[DP_MAX_ROPE_FACTORS];
} dp_rope_desc;

typedef struct dp_model_desc {
    dp_family family;
    int vocab, hidden, n_layers, n_head, n_kv_head, head_dim, ffn, rot_dim;
    int64_t max_pos;
    float norm_eps;
    bool norm_plus_one;     /* Gemma: x * (1 + w) */
    bool sandwich_norm;     /* Gemma 2/3: norms after attention and FFN outputs too */
    bool qk_norm;           /* Gemma 3, Qwen 3: RMSNorm over each q/k head */
    dp_act act;
    float embed_scale;      /* 1, or sqrt(hidden) for Gemma */
    float attn_scale;       /* multiplies q.k */
    float attn_softcap, final_softcap; /* 0 = off */
    int sliding_window;     /* 0 = none */
    uint8_t layer_local[DP_MAX_LAYERS]; /* 1: sliding-window layer using rope_local */
    bool has_rope_local;
    dp_rope_desc rope, rope_local;
    bool rope_interleaved;  /* GGML "normal" rope on permuted q/k (GGUF llama) */
    int n_expert, n_expert_used;
    bool tied_embeddings;
    int bos_id;
    int n_eos, eos_ids[DP_MAX_EOS];
} dp_model_desc;

const char *dp_family_name(dp_family f);
bool dp_family_parse(const char *name, dp_family *f);

/* Fill d from a Hugging Face config.json (hub field names); errors name the missing field. */
dp_status dp_model_from_hf_config(const dp_json *cfg, dp_model_desc *d, dp_error *e);
/* Check every field is in range and consistent. */
dp_status dp_model_validate(const dp_model_desc *d, dp_error *e);
/* The manifest's "model" object: every field explicit. */
void dp_model_to_json(const dp_model_desc *d, dp_buf *out);
dp_status dp_model_from_json(const dp_json *obj, dp_model_desc *d, dp_error *e);

/* inv_freq[rot_dim/2] and mscale for the rope of a layer (local or global) given the context
 * length the model runs with (longrope picks short/long factors from it). */
void dp_model_rope_freqs(const dp_model_desc *d, bool local, int64_t n_ctx, float *inv_freq,
                         float *mscale);

/* ---- canonical tensor names (GGUF-style) ----
 *   token_embd.weight [vocab, hidden]   output_norm.weight   output.weight (absent when tied)
 *   blk.L.attn_norm  attn_q  attn_k  attn_v  attn_output  attn_q_norm  attn_k_norm
 *   blk.L.post_attention_norm  ffn_norm  post_ffw_norm  ffn_gate  ffn_up  ffn_down
 *   blk.L.ffn_gate_inp (router)  blk.L.ffn_{gate,up,down}.E (expert E)       (all ".weight") */
typedef enum dp_wrole {
    DP_W_ATTN_NORM = 0, DP_W_Q, DP_W_K, DP_W_V, DP_W_O, DP_W_Q_NORM, DP_W_K_NORM,
    DP_W_POST_ATTN_NORM, DP_W_FFN_NORM, DP_W_POST_FFN_NORM, DP_W_GATE, DP_W_UP, DP_W_DOWN,
    DP_W_ROUTER, DP_W_LAYER_COUNT
} dp_wrole;
const char *dp_wrole_name(dp_wrole r); /* "attn_q", ... */
/* "blk.<layer>.<role>[.<expert>].weight" into buf; expert < 0 for non-expert tensors. */
void dp_tensor_name(char *buf, size_t n, int layer, dp_wrole r, int expert);
/* For a MoE model, the slot of a per-expert role: 0 gate, 1 up, 2 down; -1 for every other role
 * and for dense models (whose gate/up/down are ordinary layer tensors). */
int dp_model_expert_slot(const dp_model_desc *d, int role);
/* Whether the described model has this per-layer tensor. */
bool dp_model_has(const dp_model_desc *d, dp_wrole r);
/* [rows, row_len] of a per-layer tensor (expert tensors: one expert). */
void dp_model_wshape(const dp_model_desc *d, dp_wrole r, int64_t *rows, int64_t *cols);

#endif /* DP_MODEL_H */
