/* lora.h — LoRA adapters as data: the projections an adapter may hold, its canonical tensor
 * names and the manifest's "model" object (docs/RDRR.md, "LoRA adapters").
 *
 * An adapted projection W [rows, cols] (y = x W^T in the runtime's convention) carries
 *   blk.L.<role>.lora_a  f32 [rank, cols]   (PEFT lora_A.weight)
 *   blk.L.<role>.lora_b  f32 [rows, rank]   (PEFT lora_B.weight)
 * and y = x W^T + s (x A^T) B^T with s = user scale * alpha / rank (alpha / sqrt(rank) rsLoRA). */
#ifndef DP_MODEL_LORA_H
#define DP_MODEL_LORA_H

#include "model/model.h"

#define DP_LORA_MAX_RANK 1024

/* The adapter's description ("model" object of its manifest). */
typedef struct dp_lora_desc {
    char base[72];          /* "sha256:<64 hex>": the base model's id */
    dp_family family;
    int rank;
    double alpha;
    bool rslora;
    uint32_t targets;       /* bit (1 << role) per adapted role */
} dp_lora_desc;

/* Whether an adapter may hold role r of model d: q, k, v, o and the dense FFN's gate, up, down
 * (MoE experts and the router are not adapted). */
bool dp_lora_role_ok(const dp_model_desc *d, int r);
/* "blk.<layer>.<role>.lora_a" (or lora_b) into buf. */
void dp_lora_tensor_name(char *buf, size_t n, int layer, dp_wrole r, bool is_b);
/* The inverse: false when name is not of that form with a role dp_lora_role_ok knows by name. */
bool dp_lora_parse_name(const char *name, int *layer, dp_wrole *r, bool *is_b);
/* alpha / rank, or alpha / sqrt(rank) for rsLoRA. */
float dp_lora_scale(const dp_lora_desc *a);
/* rank in [1, min(DP_LORA_MAX_RANK, hidden)], alpha finite and a finite scale, family and
 * targets allowed for d; DP_ERR_FORMAT (or DP_ERR_UNSUPPORTED for a role) naming the problem. */
dp_status dp_lora_validate(const dp_lora_desc *a, const dp_model_desc *d, dp_error *e);
/* The manifest's "model" object: {"adapter": "lora", "base", "family", "rank", "alpha",
 * "use_rslora", "scale", "targets", "source"}. */
void dp_lora_to_json(const dp_lora_desc *a, const char *source, dp_buf *out);
/* Parse that object (DP_ERR_FORMAT naming a missing or bad field). */
dp_status dp_lora_from_json(const dp_json *obj, dp_lora_desc *a, dp_error *e);
/* Whether a manifest's "model" object describes an adapter rather than a model. */
bool dp_lora_is_adapter(const dp_json *model_obj);

/* The B matrix [rows, rank] of role r, its q / k rows in GGML's rope order when interleaved (as
 * llama.cpp's converter permutes llama and Mixtral models), put into the base's order
 * (d->rope_interleaved); other roles and matching orders are left as they are. */
dp_status dp_lora_rope_rows(const dp_model_desc *d, dp_wrole r, bool interleaved, float *b, int rank, dp_error *e);

/* A LoRA adapter in GGUF as llama.cpp's convert_lora_to_gguf.py writes it (lora_gguf.c), read for
 * the base d: open checks the metadata, the architecture, every tensor's name, type and shape, and
 * fills a (base id left empty); has / values feed the adapter writer (f32 values in Doppler's
 * layout, B rows in the base's rope order). d must outlive it; free takes NULL. */
typedef struct dp_lora_gguf dp_lora_gguf;
dp_status dp_lora_gguf_open(const char *path, const dp_model_desc *d, dp_lora_desc *a, dp_lora_gguf **out,
                            dp_error *e);
bool dp_lora_gguf_has(void *ud, int layer, dp_wrole r);
dp_status dp_lora_gguf_values(void *ud, int layer, dp_wrole r, bool is_b, float *dst, dp_error *e);
void dp_lora_gguf_free(dp_lora_gguf *x);

#endif
