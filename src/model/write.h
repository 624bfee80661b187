/* write.h — writing a model to RDRR from any tensor source (HF checkpoint, GGUF, synthetic).
 *
 * dp_model_write walks the canonical tensors of a description in a fixed order (embedding,
 * then each layer's tensors with each expert's gate/up/down kept together, then output norm and
 * output), picks each tensor's stored dtype from the recipe (or the source's own dtype when the
 * source says so), and streams rows from the source through the RDRR writer. */
#ifndef DP_MODEL_WRITE_H
#define DP_MODEL_WRITE_H

#include "format/rdrr.h"
#include "model/model.h"

typedef enum dp_recipe {
    DP_RECIPE_F32 = 0, DP_RECIPE_F16, DP_RECIPE_BF16, DP_RECIPE_Q8_0, DP_RECIPE_Q4_K_M,
    DP_RECIPE_Q6_K, DP_RECIPE_KEEP /* keep the source's dtype (GGUF import) */
} dp_recipe;

bool dp_recipe_parse(const char *name, dp_recipe *r);
const char *dp_recipe_name(dp_recipe r);

/* One canonical tensor being written. */
typedef struct dp_wtensor {
    const char *name;
    int layer, expert;
    int role;            /* dp_wrole, or DP_HF_EMBED / DP_HF_OUTPUT_NORM / DP_HF_OUTPUT */
    int64_t rows, cols;
    dp_dtype dtype;      /* stored dtype chosen */
} dp_wtensor;

typedef struct dp_wsource {
    void *ud;
    /* Rows [row0, row0+n) as f32 into dst (n * cols floats). */
    dp_status (*rows_f32)(void *ud, const dp_wtensor *t, int64_t row0, int64_t n, float *dst, dp_error *e);
    /* Optional: the source's stored dtype for t (used by DP_RECIPE_KEEP) and raw rows in it. */
    bool (*native)(void *ud, const dp_wtensor *t, dp_dtype *dtype);
    dp_status (*rows_raw)(void *ud, const dp_wtensor *t, int64_t row0, int64_t n, void *dst, dp_error *e);
    bool thread_safe;    /* rows_f32 may be called from several threads at once */
    bool raw_any_recipe; /* rows_raw also under a recipe, for the tensors whose native dtype is the
                            one the recipe picks (t->dtype when native is called): synth writes
                            quantized blocks straight from its generator */
} dp_wsource;

typedef struct dp_write_opts {
    dp_recipe recipe;
    uint64_t shard_max;            /* 0: 64 MiB */
    int n_threads;                 /* threads converting rows; <= 0: all cores */
    const char *source;            /* recorded in the manifest (e.g. the HF dir or GGUF file) */
    const char *tokenizer_json;    /* manifest "tokenizer" object text, or NULL */
    const char *tokenizer_file;    /* synth: a tokenizer.json / tiktoken / GGUF file to copy in */
    bool expert_shards;            /* each MoE expert in shards of its own (nothing else in them;
                                      shard_max raised to hold an expert when it is smaller, up
                                      to DP_RDRR_MAX_SHARD): an expert page-in is one whole-shard
                                      read checked against the manifest's hash */
    double router_skew;            /* synth, MoE: how unevenly routers prefer experts (0: the
                                      default, DP_SYNTH_ROUTER_SKEW; < 0: no preference) */
    void (*progress)(void *ud, int64_t done, int64_t total); /* tensors written */
    void *progress_ud;
} dp_write_opts;

dp_status dp_model_write(const dp_model_desc *d, const char *dir, const dp_write_opts *o,
                         const dp_wsource *src, dp_error *e);

/* The manifest's "tokenizer" object for the files names[0..n) that exist in dir:
 * {"files": [names], "hashes": {"<name>": "sha256:<hex>"}} (docs/RDRR.md), appended to out. */
dp_status dp_tokenizer_files_json(const char *dir, const char *const *names, size_t n, dp_buf *out, dp_error *e);

/* Library entry points behind `doppler convert` and `doppler synth`. */
dp_status dp_convert_hf(const char *hf_dir, const char *out_dir, const dp_write_opts *o, dp_error *e);
dp_status dp_synth(const char *family, const char *shape, const char *config_path, const char *out_dir,
                   const dp_write_opts *o, dp_error *e);
/* A GGUF file (llama, gemma2, gemma3, phi3, qwen3, mixtral as llama.cpp writes them) to RDRR;
 * DP_RECIPE_KEEP copies quantized tensors without requantizing. */
dp_status dp_convert_gguf(const char *gguf_path, const char *out_dir, const dp_write_opts *o, dp_error *e);
/* A PEFT LoRA adapter directory (adapter_config.json + adapter_model.safetensors), or a GGUF
 * LoRA file as llama.cpp's convert_lora_to_gguf.py writes it (a path ending in .gguf), to an RDRR
 * adapter for the RDRR model in base_dir (docs/RDRR.md): refused with a one-line reason when its
 * base class, targets or shapes do not fit that model. o may be NULL (shard_max, source used). */
dp_status dp_convert_lora(const char *peft_dir, const char *out_dir, const char *base_dir, const dp_write_opts *o,
                          dp_error *e);
/* A random LoRA adapter of the given rank on every projection an adapter can change (q, k, v,
 * o, and the dense gate, up, down) of the RDRR model in base_dir, alpha = 2 rank (benchmarks). */
dp_status dp_synth_lora(const char *base_dir, const char *out_dir, int rank, const dp_write_opts *o, dp_error *e);
/* The default router skew of synthesized MoE models (docs/PAGING.md says where it comes from). */
#define DP_SYNTH_ROUTER_SKEW 0.5
/* Names of the built-in synth shapes, NULL-terminated. */
const char *const *dp_synth_shapes(void);

#endif
