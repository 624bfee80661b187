/* doppler.h — the one public header of the Doppler inference engine.
 *
 * Conventions (kept everywhere in the library):
 *   - names are dp_<object>_<verb>; enum values carry their enum's prefix;
 *   - functions that can fail return dp_status and, when given a dp_error*, fill it with a
 *     one-line reason; outputs are written only on success;
 *   - every dp_*_free(NULL) is a no-op; the caller owns what a *_new / *_load returns;
 *   - the library never exits or aborts, and keeps no global mutable state except the
 *     allocator hook.
 */
#ifndef DOPPLER_H
#define DOPPLER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum dp_status {
    DP_OK = 0,
    DP_ERR_INVALID_ARG,   /* the caller passed something unusable */
    DP_ERR_NOMEM,         /* an allocation failed (or was refused by the hook) */
    DP_ERR_IO,            /* a read or write failed */
    DP_ERR_FORMAT,        /* input bytes break their format's rules */
    DP_ERR_UNSUPPORTED,   /* well-formed but not something Doppler handles */
    DP_ERR_HASH,          /* content does not match its SHA-256 */
    DP_ERR_NOT_FOUND,     /* a named file, tensor, key or shard is missing */
    DP_ERR_LIMIT,         /* a size or count is over a documented bound */
    DP_ERR_INTERNAL       /* a bug in Doppler */
} dp_status;

/* Static string naming a status ("ok", "out of memory", ...). */
const char *dp_status_str(dp_status status);

/* A one-line error reason filled by failing calls. */
typedef struct dp_error {
    dp_status status;
    char msg[256];
} dp_error;

/* Allocator hook, Lua style: fn(ud, ptr, size) allocates when ptr is NULL, resizes when both are
 * set, frees when size is 0 (returning NULL). Returning NULL for a non-zero size is an
 * out-of-memory failure that the library reports as DP_ERR_NOMEM. Pass fn = NULL to restore the
 * default (realloc/free). Set it before creating any object. */
typedef void *(*dp_alloc_fn)(void *ud, void *ptr, size_t size);
void dp_set_allocator(dp_alloc_fn fn, void *ud);


/* ---- models ---- */

typedef struct dp_model dp_model; /* weights on a backend + description; read-only once loaded */
typedef struct dp_ctx dp_ctx;     /* one sequence: KV cache, scratch, sampler state */

typedef struct dp_load_params {
    int32_t n_threads;    /* CPU threads; <= 0: all cores */
    const char *backend;  /* "cpu" (default) */
    void (*progress)(void *ud, uint64_t done_bytes, uint64_t total_bytes); /* may be NULL */
    void *progress_ud;
} dp_load_params;

void dp_load_params_default(dp_load_params *p);
/* Load an RDRR model directory. Every shard is verified against its SHA-256 before use.
 * On failure *out is untouched and e says why. */
dp_status dp_model_load(const char *dir, const dp_load_params *p, dp_model **out, dp_error *e);
void dp_model_free(dp_model *m);

int32_t dp_model_n_vocab(const dp_model *m);
int32_t dp_model_n_layers(const dp_model *m);
int64_t dp_model_n_params(const dp_model *m);
uint64_t dp_model_weight_bytes(const dp_model *m);
int32_t dp_model_bos(const dp_model *m);          /* -1 when the model has none */
int dp_model_is_eos(const dp_model *m, int32_t id);
const char *dp_model_family(const dp_model *m);   /* "llama", "gemma3", ... */
const char *dp_model_dtype(const dp_model *m);    /* dtype of the largest matrices, e.g. "q4_k" */
const char *dp_model_dir(const dp_model *m);

/* ---- contexts (one sequence each) ---- */

typedef struct dp_ctx_params {
    int32_t n_ctx;        /* maximum sequence length; <= 0: min(model max, 4096) */
    int32_t n_batch;      /* tokens per forward chunk; <= 0: 512 */
    int logits_all;       /* keep logits for every evaluated row (needed by dp_ctx_eval's out) */
} dp_ctx_params;

void dp_ctx_params_default(dp_ctx_params *p);
/* n_ctx above the model's maximum positions (max_position_embeddings), or a KV cache larger than
 * the machine's physical memory, fails with DP_ERR_LIMIT naming the numbers, before anything
 * large is allocated. */
dp_status dp_ctx_new(dp_model *m, const dp_ctx_params *p, dp_ctx **out, dp_error *e);
void dp_ctx_free(dp_ctx *c);
int32_t dp_ctx_pos(const dp_ctx *c);  /* tokens in the KV cache */
int32_t dp_ctx_n_ctx(const dp_ctx *c);
void dp_ctx_reset(dp_ctx *c);          /* forget the sequence */
/* Keep the first pos positions of the sequence and drop the rest (rejected speculative tokens,
 * a chat turn to re-render): the next eval continues at pos. 0 <= pos <= dp_ctx_pos(c), else
 * DP_ERR_INVALID_ARG and the context is unchanged. Nothing is left to sample from afterwards
 * (evaluate at least one token first); the cache's remaining positions are untouched. */
dp_status dp_ctx_truncate(dp_ctx *c, int32_t pos, dp_error *e);

/* Run n tokens at the current position through the model, extending the KV cache.
 * logits: NULL, or [n, vocab] floats (requires logits_all). Fails with DP_ERR_LIMIT when the
 * sequence would pass n_ctx; the cache is then unchanged. */
dp_status dp_ctx_eval(dp_ctx *c, const int32_t *ids, int32_t n, float *logits, dp_error *e);

typedef struct dp_sampling {
    float temperature;    /* 0: greedy (the arg max); else a positive finite number whose inverse
                             is finite too */
    int32_t top_k;        /* 0: off; else keep the k most likely tokens (>= 0) */
    float top_p;          /* in (0, 1]; 1: off; else the smallest set holding this much mass */
    uint64_t seed;        /* 0: the default sequence; else seeds the context's generator once */
} dp_sampling;

/* DP_ERR_INVALID_ARG, with the allowed values, when s holds a setting a sampler cannot use
 * (NaN or infinite temperature, a negative temperature, top_p outside (0, 1] or NaN, a negative
 * top_k). s NULL (the defaults: greedy) is valid. dp_ctx_sample calls it first. */
dp_status dp_sampling_check(const dp_sampling *s, dp_error *e);

/* Sample the next token from the logits of the last evaluated row. s NULL: greedy. Invalid
 * settings (dp_sampling_check) fail with DP_ERR_INVALID_ARG; the context is then unchanged. */
dp_status dp_ctx_sample(dp_ctx *c, const dp_sampling *s, int32_t *token, dp_error *e);

/* Evaluate one more position whose token is the one dp_ctx_sample returned last, without it
 * passing through the caller: on a GPU backend the id stays on the device, so the next step can
 * be queued before the sampled id has been read back (pipelined decode). Same as
 * dp_ctx_eval(c, &token, 1, NULL, e). DP_ERR_INVALID_ARG when nothing was sampled since the
 * last eval. */
dp_status dp_ctx_eval_sampled(dp_ctx *c, dp_error *e);

/* ---- LoRA adapters ---- */

typedef struct dp_adapter dp_adapter; /* A/B matrices of one LoRA adapter on a model's backend */

/* Load the RDRR adapter directory dir (`doppler convert <peft-dir> <out> --base <model-dir>`)
 * onto m's backend. The adapter names its base by model id (the SHA-256 of the base's
 * manifest.json); another base, a shape that does not fit m, a missing A or B, a projection an
 * adapter cannot target, a rank outside [1, min(1024, hidden)] or a non-finite scale fail with a
 * one-line reason, *out untouched and m unchanged. Several adapters may be loaded on one model.
 * Nothing is compiled: the weights are data for the backend's lora op. */
dp_status dp_adapter_load(dp_model *m, const char *dir, dp_adapter **out, dp_error *e);
/* Free an adapter. Every context using it must have switched away (dp_ctx_set_adapter) or
 * been freed first, and the adapter must be freed before its model. */
void dp_adapter_free(dp_adapter *a);
int32_t dp_adapter_rank(const dp_adapter *a);
/* The adapter's own scale: lora_alpha / r (lora_alpha / sqrt(r) with use_rslora). */
float dp_adapter_scale(const dp_adapter *a);

/* dp_ctx_set_adapter flag: keep the KV cache across the switch (the caller knows the cached
 * positions are still what it wants, e.g. a prompt shared by both adapters). */
#define DP_ADAPTER_KEEP_CACHE 1u

/* Apply adapter a (NULL: none) to every following evaluation of c, unmerged:
 * y = x W + scale * dp_adapter_scale(a) * (x A) B on each projection the adapter holds. scale 1
 * is the adapter as trained. Several contexts of one model may use different adapters (or the
 * same one with different scales) at once. A change of adapter or scale resets the sequence
 * (position 0, as dp_ctx_reset: cached keys and values were computed with the other weights)
 * unless flags has DP_ADAPTER_KEEP_CACHE; setting the adapter and scale the context already
 * has changes nothing. Fails with DP_ERR_INVALID_ARG (NaN or infinite scale, an adapter loaded
 * on another model) or DP_ERR_NOMEM (the context's rank-sized scratch cannot grow); the context
 * is then unchanged. */
dp_status dp_ctx_set_adapter(dp_ctx *c, dp_adapter *a, float scale, uint32_t flags, dp_error *e);

/* ---- tokenizers ---- */

typedef struct dp_tokenizer dp_tokenizer; /* read-only once loaded; usable from several threads */

/* path: a model directory (its tokenizer.json, tokenizer.model or GGUF), a tokenizer.json, a
 * tiktoken file or a GGUF file. */
dp_status dp_tokenizer_load(const char *path, dp_tokenizer **out, dp_error *e);
void dp_tokenizer_free(dp_tokenizer *t);
int32_t dp_tokenizer_n_vocab(const dp_tokenizer *t);
int32_t dp_tokenizer_bos(const dp_tokenizer *t); /* -1 when the model has none */
int32_t dp_tokenizer_eos(const dp_tokenizer *t); /* -1 when none */

/* The ids of text[0..len) (any bytes, NUL included) into ids[0..cap); *n_ids = how many there
 * are. add_special: BOS/EOS as the model's rules say; parse_special: control-token text such as
 * "<|eot_id|>" becomes that token. When cap is too small: DP_ERR_LIMIT, nothing written to ids,
 * *n_ids = the count needed (ids may be NULL with cap 0 to ask for it). */
dp_status dp_tokenize(const dp_tokenizer *t, const char *text, size_t len, int add_special,
                      int parse_special, int32_t *ids, size_t cap, size_t *n_ids, dp_error *e);

/* The bytes of ids[0..n) into text[0..cap), NUL-terminated; *len = the byte count without the
 * NUL (raw bytes: detokenize(tokenize(x)) == x for lossless tokenizers). special: render
 * control tokens' text (otherwise they vanish). When cap <= the length: DP_ERR_LIMIT, nothing
 * written to text, *len = the length (ask with text NULL, cap 0). An id out of range is
 * DP_ERR_INVALID_ARG. */
dp_status dp_detokenize(const dp_tokenizer *t, const int32_t *ids, size_t n, int special,
                        char *text, size_t cap, size_t *len, dp_error *e);

#ifdef __cplusplus
}
#endif
#endif /* DOPPLER_H */
