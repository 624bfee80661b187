/* doppler.h — the one public header of the Doppler inference engine.
 *
 * Conventions (kept everywhere in the library):
 *   - names are dp_<object>_<verb>; enum values carry their enum's prefix;
 *   - functions that can fail return dp_status and, when given a dp_error*, fill it with a
 *     one-line reason; outputs are written only on success; each function says what state a
 *     failure leaves behind ("unchanged" when it says nothing else);
 *   - every dp_*_free(NULL) is a no-op; the caller owns what a *_new / *_load returns;
 *   - the library never exits or aborts. Process-wide state: the allocator hook (set it
 *     before creating anything); the CPU kernel tables, chosen once from the CPU's features
 *     and read-only afterwards; in the WebAssembly build the wasm API's last error
 *     (web/wasm/api.c) and which WebGPU device holds the host's one command encoder. Two
 *     models in one process otherwise never see each other;
 *   - results delivered through a pointer (logits, a sampled token) are written before the
 *     call returns, except on the WebGPU backend (the WebAssembly build): there the bytes land
 *     when the JavaScript host has settled (web/engine.mjs awaits it after each call), so the
 *     pointer must stay valid until then; a status is always final at return.
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


/* ---- readers and shard sources ---- */

/* Bytes read through callbacks (files, memory, browser storage). */
typedef struct dp_reader {
    void *ctx;
    uint64_t size;                                                       /* total bytes */
    dp_status (*read_at)(void *ctx, uint64_t off, void *dst, size_t n); /* all n bytes or fail */
    void (*close)(void *ctx);                                            /* may be NULL */
    /* may be NULL: all size bytes as private copy-on-write memory (writes reach neither the
     * source nor anyone else), valid until close; NULL when this reader cannot */
    void *(*map)(void *ctx, uint64_t size);
} dp_reader;

/* Where a model's shards come from. hex is the shard's SHA-256 as 64 lowercase hex digits (its
 * name). The library verifies every shard's SHA-256 before it uses a byte, so a source need not
 * be trusted. Callbacks are called from the thread that loads. */
typedef struct dp_shard_source {
    void *ud;
    /* DP_OK and *size when the source holds the shard; DP_ERR_NOT_FOUND when it does not;
     * another status (with e) when it cannot tell or holds something unusable */
    dp_status (*has)(void *ud, const char *hex, uint64_t *size, dp_error *e);
    /* open the shard's bytes; the reader is closed by the library */
    dp_status (*open)(void *ud, const char *hex, dp_reader *r, dp_error *e);
    /* may be NULL (a read-only source): keep n bytes already verified to hash to hex (a cache
     * tier filled from a slower one); on failure the source holds no partial shard */
    dp_status (*put_verified)(void *ud, const char *hex, const void *data, size_t n, dp_error *e);
} dp_shard_source;

/* The shards/ folder of a model directory (shards/<hex>.bin) as a source: has is a stat of a
 * regular file, open a file reader that can map, put_verified a temporary file renamed into
 * place. On success the caller frees it with dp_shard_source_dir_free; on failure *out is
 * untouched. */
dp_status dp_shard_source_dir(const char *model_dir, dp_shard_source *out, dp_error *e);
void dp_shard_source_dir_free(dp_shard_source *s);

/* ---- backends ----
 *
 * A backend is one compute device (the CPU with its thread pool, or the WebGPU device of the
 * host). Several models (a draft and a target for speculative decoding, adapters) and several
 * contexts (a server's slots) can live on one backend: create it with dp_backend_new and pass it
 * in dp_load_params.be. A model loaded without one creates (and frees) its own.
 *
 * Threads: a backend and every model and context on it are used from one thread at a time
 * (calls on objects that share a backend must not overlap; a server serialises its slots'
 * steps). Objects on different backends are independent. Each context has its own scratch
 * memory and its own error state on the backend, so interleaving contexts (and models) on one
 * backend gives exactly the results each gives alone. Tokenizers may be used from any thread. */

typedef struct dp_backend dp_backend;

typedef struct dp_backend_params {
    int32_t n_threads;    /* CPU threads; <= 0: all cores (ignored by webgpu) */
} dp_backend_params;

void dp_backend_params_default(dp_backend_params *p);
/* kind: "cpu" or "webgpu" (WebAssembly builds with a GPU host only; DP_ERR_UNSUPPORTED
 * elsewhere). p NULL: defaults. On failure *out is untouched. */
dp_status dp_backend_new(const char *kind, const dp_backend_params *p, dp_backend **out,
                         dp_error *e);
/* Free a backend from dp_backend_new after every model and context on it has been freed. */
void dp_backend_free(dp_backend *b);
const char *dp_backend_name(const dp_backend *b); /* "cpu", "webgpu" */

/* ---- models ---- */

typedef struct dp_model dp_model; /* weights on a backend + description; read-only once loaded */
typedef struct dp_ctx dp_ctx;     /* one sequence: KV cache, scratch, sampler state. The contexts
                                     of one model share its backend's working memory: evaluate
                                     and sample them from one thread at a time */

typedef struct dp_load_params {
    int32_t n_threads;    /* CPU threads; <= 0: all cores (only when be is NULL) */
    const char *backend;  /* "cpu" (default) or "webgpu" (only when be is NULL) */
    dp_backend *be;       /* NULL: the model creates its own backend from backend/n_threads;
                             else a backend from dp_backend_new, borrowed: it must outlive the
                             model and its contexts */
    const dp_shard_source *shards; /* NULL: the model directory's shards/ folder; else where
                             the manifest's shards are read from (copied: its ud must outlive
                             the model, whose CPU weights may stay mapped from its readers) */
    void (*progress)(void *ud, uint64_t done_bytes, uint64_t total_bytes); /* may be NULL */
    void *progress_ud;
    /* Expert paging (MoE models; docs/PAGING.md). Both 0 (default): every expert is loaded like
     * any tensor. ram_cache > 0: the experts stay in their shards and are paged in on demand
     * into ram_cache bytes of RAM slots (one expert each; a budget below one slot is an error
     * that names the minimum), read through `shards` (the disk, or any source), each page-in
     * checked with SHA-256. gpu_mem is the weight budget on a GPU backend (WebGPU): 0 or at
     * least the model's size, every weight on the device; below it (MoE models), the dense
     * tensors go to the device first and the rest is a pool of expert slots paged from the
     * RAM tier (ram_cache bytes; 0: one staging slot) and the shards, exactly; a gpu_mem below
     * the dense tensors is DP_ERR_LIMIT, below a dense model's size too; ram_cache without a
     * gpu_mem below the model's size is refused there. The CPU backend has no device tier and
     * ignores gpu_mem. A dense model ignores ram_cache. */
    uint64_t gpu_mem, ram_cache;
    const char *expert_policy; /* eviction: "lfu" (frequency with aging, default) or "lru" */
    int32_t expert_in_place;   /* 1: a missed expert is computed from its shard's mapping without
                                  a copy into a slot, and cached only when used more than the
                                  expert it would evict (the Fiddler approach; CPU) */
    int32_t expert_predict;    /* k > 0: at each MoE layer the next layer's FFN norm and router
                                  are applied to the layer's FFN input and each token's k most
                                  likely experts (at most the experts it uses) start paging in
                                  a layer ahead; 0 (default): no prediction (measured: it reads
                                  more than it saves on synthesized models, docs/PAGING.md).
                                  Native CPU builds; ignored elsewhere */
} dp_load_params;

void dp_load_params_default(dp_load_params *p);
/* Load an RDRR model directory. Every shard is verified against its SHA-256 before use.
 * On failure *out is untouched, everything allocated is freed, a shared backend (p->be) is
 * left as it was, and e says why. */
dp_status dp_model_load(const char *dir, const dp_load_params *p, dp_model **out, dp_error *e);
void dp_model_free(dp_model *m);

/* Counters of a paged model's expert cache since load (all 0 and paged 0 when it is not
 * paged). Per-token figures: divide by the tokens evaluated in between two reads. */
typedef struct dp_paging_stats {
    int32_t paged;            /* 1 when the model pages its experts */
    const char *policy;       /* "lfu" or "lru" (static string) */
    uint64_t ram_slots, slot_bytes, device_slots; /* device_slots 0: no device tier */
    uint64_t uses;            /* experts used (a layer's selected expert, once per pass) */
    uint64_t device_hits, ram_hits, source_reads; /* where each use was found */
    uint64_t device_bytes;    /* bytes paged into the device tier */
    uint64_t source_bytes;    /* bytes read from the shard source */
    double wait_s;            /* seconds spent waiting for page-ins (reading and verifying) */
    uint64_t unused_bytes;    /* bytes read ahead (a layer's selection or a prediction) and
                                 evicted before any use */
    uint64_t predicted;       /* experts predicted a layer ahead (expert_predict) */
    uint64_t predict_total, predict_hits; /* selections in layers that had a prediction, and how
                                 many of them were predicted (accuracy: hits / total) */
    double top2_share;        /* share of uses that went to each layer's 2 most used experts,
                                 averaged over layers: how skewed routing is (2/n_expert: even) */
} dp_paging_stats;
void dp_model_paging_stats(const dp_model *m, dp_paging_stats *out);

int32_t dp_model_n_vocab(const dp_model *m);
int32_t dp_model_n_layers(const dp_model *m);
int64_t dp_model_n_params(const dp_model *m);
uint64_t dp_model_weight_bytes(const dp_model *m);
int32_t dp_model_bos(const dp_model *m);          /* -1 when the model has none */
/* 1 when id is one of the model's EOS ids (config.json eos_token_id), else 0. With a tokenizer,
 * generation also ends at its end markers: see dp_tokenizer_is_eog (dp_gen tests both). */
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
 * large is allocated. On failure *out is untouched and nothing stays allocated. */
dp_status dp_ctx_new(dp_model *m, const dp_ctx_params *p, dp_ctx **out, dp_error *e);
void dp_ctx_free(dp_ctx *c);
int32_t dp_ctx_pos(const dp_ctx *c);  /* tokens in the KV cache */
int32_t dp_ctx_n_ctx(const dp_ctx *c);
/* Positions evaluated since the context was made (every dp_ctx_eval / dp_ctx_eval_sampled
 * token, chunks that failed excluded): for statistics, and for tests that a chat turn evaluates
 * only what the cache lacks. */
int64_t dp_ctx_n_evaluated(const dp_ctx *c);
/* Forget the sequence: position 0, nothing to sample from, and the sampler's generator back to
 * its start (the next dp_sampling.seed seeds it again), as a new context would be. Cannot fail. */
void dp_ctx_reset(dp_ctx *c);
/* Keep the first pos positions of the sequence and drop the rest (rejected speculative tokens,
 * a chat turn to re-render): the next eval continues at pos. 0 <= pos <= dp_ctx_pos(c), else
 * DP_ERR_INVALID_ARG and the context is unchanged. Nothing is left to sample from afterwards
 * (evaluate at least one token first); the cache's remaining positions are untouched. */
dp_status dp_ctx_truncate(dp_ctx *c, int32_t pos, dp_error *e);

/* Run n tokens at the current position through the model, extending the KV cache (the
 * position advances by n). logits: NULL, or [n, vocab] floats (requires logits_all).
 * Refused before anything runs, the context unchanged: no tokens, an id outside the
 * vocabulary, logits without logits_all (DP_ERR_INVALID_ARG), a sequence that would pass
 * n_ctx (DP_ERR_LIMIT). A failure while running (out of memory in a backend, a device error)
 * leaves the position where it was before the call and nothing to sample (dp_ctx_sample and
 * dp_ctx_eval_sampled refuse until the next eval); the cache entries past the position and
 * the contents of logits are undefined, so evaluating the same tokens again gives the result
 * an unfailed call would have given. */
dp_status dp_ctx_eval(dp_ctx *c, const int32_t *ids, int32_t n, float *logits, dp_error *e);

/* ---- batches: the next token of several sequences in one forward pass ---- */

typedef struct dp_batch dp_batch; /* scratch for evaluating up to max_seqs sequences together */

/* Allocates the batch's scratch once (max_seqs rows of activations and logits). On failure *out
 * is untouched. The model must outlive the batch. */
dp_status dp_batch_new(dp_model *m, int32_t max_seqs, dp_batch **out, dp_error *e);
void dp_batch_free(dp_batch *b);
/* Evaluates ids[i] at the current position of ctxs[i], for i < n, in one forward pass: each
 * matrix product reads its weights once for all n rows; cache writes and attention run per
 * sequence on its own cache. Afterwards every context is as after dp_ctx_eval(ctxs[i], &ids[i],
 * 1, NULL, e): one position further, dp_ctx_sample samples its next token. The contexts must be
 * distinct, of the batch's model, of the same n_ctx, without logits_all, with the same adapter
 * and scale (dp_ctx_set_adapter; one pass applies one adapter, or none), each with room for one
 * more position, and 1 <= n <= max_seqs; else DP_ERR_INVALID_ARG / DP_ERR_LIMIT and nothing
 * changes. The first batch with an adapter of a larger rank grows the batch's [max_seqs, rank]
 * scratch (DP_ERR_NOMEM when it cannot; nothing changes then). On a backend failure the contexts' caches may hold the new rows but no position has
 * moved. */
dp_status dp_batch_eval(dp_batch *b, dp_ctx *const *ctxs, const int32_t *ids, int32_t n, dp_error *e);

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
 * settings (dp_sampling_check) or nothing evaluated since the last eval failure, truncate or
 * reset fail with DP_ERR_INVALID_ARG; the context is then unchanged. A backend failure leaves
 * the position and logits unchanged and nothing sampled (dp_ctx_eval_sampled refuses); the
 * random generator may have advanced. On WebGPU *token is written when the host settles (see
 * the conventions above): a success means the sample is queued, not yet read. */
dp_status dp_ctx_sample(dp_ctx *c, const dp_sampling *s, int32_t *token, dp_error *e);

/* Evaluate one more position whose token is the one dp_ctx_sample returned last, without it
 * passing through the caller: on a GPU backend the id stays on the device, so the next step can
 * be queued before the sampled id has been read back (pipelined decode). Same as
 * dp_ctx_eval(c, &token, 1, NULL, e). DP_ERR_INVALID_ARG when nothing was sampled since the
 * last eval, DP_ERR_LIMIT at n_ctx (both: the context unchanged). A backend failure leaves
 * the position unchanged and nothing to sample or feed back (evaluate again). */
dp_status dp_ctx_eval_sampled(dp_ctx *c, dp_error *e);

/* ---- speculative decoding ----
 * A draft (a second, smaller model with the same vocabulary, or n-gram lookup in the sequence
 * itself) proposes up to K tokens; the target evaluates them in one forward pass and keeps the
 * longest prefix it agrees with plus one token of its own. Greedy: accepted while the target's
 * arg max is the proposal, so the output is exactly the target's greedy decode. Sampling: the
 * rejection rule (accept with min(1, p/q), else draw from norm(max(0, p - q)); after K accepted,
 * the next token from p), with the same temperature / top-k / top-p transform applied to p and
 * q, so every emitted token is distributed exactly as a plain dp_ctx_sample of the target. */

typedef struct dp_spec dp_spec; /* a target context and its draft (a context or lookup) */

typedef struct dp_spec_params {
    int32_t draft_max;   /* K: tokens proposed per step at most, 1..32; <= 0: 8 */
    int32_t lookup;      /* without a draft context: n-gram length for prompt lookup, 1..16 (the
                            longest trailing match of at most this many tokens); <= 0: 3 */
    int adaptive;        /* nonzero: each step's K (1..draft_max) is the one with the most
                            expected tokens per unit of cost at the acceptance measured so far
                            (recent steps weigh most; a proposal costs 0.2 of a target pass, as
                            on memory-bound targets; deterministic, no clock); zero: K stays
                            draft_max */
} dp_spec_params;

/* draft_max 8, lookup 3, adaptive on */
void dp_spec_params_default(dp_spec_params *p);

/* Speculation for target with draft (a context of another model whose vocabulary is no larger
 * than the target's) or, when draft is NULL, prompt lookup. The contexts stay the caller's, must
 * outlive the dp_spec and are driven by dp_spec_step while it is used (evaluating into the draft
 * yourself only makes it catch up again). Allocates everything a step needs (logits of 2K + 1
 * rows on the target's backend: the target's and, when sampling, the draft's). The comparison
 * (greedy) or the rejection rule (sampling) runs on the target's backend and a step reads back
 * only its verdict (the tokens it keeps); the rule's random numbers, and the draft's, come from
 * the target context's generator, so the seed fixes the run. On a backend whose readback is
 * asynchronous (WebGPU in WebAssembly) the draft's model must be on the target's backend
 * (dp_load_params.be; else DP_ERR_UNSUPPORTED) and steps are driven through dp_gen
 * (dp_spec_step itself is refused there: the verdict lands only after the host settles). On
 * failure *out is untouched. */
dp_status dp_spec_new(dp_ctx *target, dp_ctx *draft, const dp_spec_params *p, dp_spec **out, dp_error *e);
void dp_spec_free(dp_spec *s);

/* One speculative step after the sequence hist[0, n) (n >= 1). The target context must hold a
 * prefix of it (positions 0..dp_ctx_pos; not checked: it cannot see ids): normally n - 1 (all
 * but the last token, which this step evaluates), fewer to evaluate the rest first (a prompt),
 * or n (it is re-evaluated). Writes 1..cap tokens to out (*n_out of them): the accepted
 * proposals and the target's own next token, stopping after a token the target calls an end of
 * sequence. Afterwards the target holds hist + out[0, *n_out - 1): the last token is not yet
 * evaluated (pass the extended sequence to the next step; a caller keeping only out[0, i) calls
 * dp_ctx_truncate(target, n + i - 1)). K is bounded by cap - 1, the target's n_batch - 1 and the
 * room left in both contexts, so a full context degrades to one plain step. Invalid sampling
 * settings (dp_sampling_check), n < 1, cap < 1 or a target holding more than n positions:
 * DP_ERR_INVALID_ARG; n above the target's n_ctx: DP_ERR_LIMIT; nothing changed then. Any other
 * failure leaves the contexts at unspecified positions (truncate or reset them). */
dp_status dp_spec_step(dp_spec *s, const int32_t *hist, int32_t n, const dp_sampling *sp, int32_t *out,
                       int32_t cap, int32_t *n_out, dp_error *e);

typedef struct dp_spec_stats {
    int64_t steps;       /* target forward passes (one per step) */
    int64_t proposed;    /* draft tokens the target checked (none after an end of sequence) */
    int64_t accepted;    /* of those, the ones kept */
    int64_t emitted;     /* tokens returned: accepted + one per step (none after an accepted
                            proposal that ends the sequence) */
    int32_t k;           /* the K the next step will try */
} dp_spec_stats;

/* Counters since dp_spec_new or the last reset. */
void dp_spec_stats_get(const dp_spec *s, dp_spec_stats *out);
void dp_spec_stats_reset(dp_spec *s);
/* ---- perplexity and KL divergence (llama.cpp's llama-perplexity method) ----
 *
 * The ids are cut into chunks of n_ctx tokens (whole chunks; the rest is dropped). Each chunk is
 * evaluated from an empty cache, its first token replaced by bos (when bos >= 0), and the logits
 * of positions n_ctx/2 .. n_ctx-2 are scored against the token that follows:
 * NLL = -log softmax(logits)[next]. PPL = exp(mean NLL), with error
 * PPL * sqrt((mean(NLL^2) - mean(NLL)^2) / (count - 1)).
 *
 * KL divergence against a base model takes two runs. The base run (kld_base_out) writes the
 * base model's log-probabilities at every scored position, with the tokens, to a file (layout:
 * the top of src/runtime/perplexity.c; it is llama.cpp's --kl-divergence-base layout, so files
 * are exchangeable with llama-perplexity). The compared run (kld_base_in) evaluates the same
 * tokens, read from that file, and reports the mean KL(base || model) and how often both
 * models' most likely token agree. */

typedef struct dp_ppl_stats {
    int32_t n_ctx;          /* tokens per chunk */
    int32_t n_chunks;       /* chunks in the run */
    int32_t chunks_done;
    int64_t n_tokens;       /* tokens given (or in the base file) */
    int64_t count;          /* positions scored so far */
    double ppl, ppl_err;    /* exp(mean NLL) and its error (0 while count < 2) */
    double seconds;         /* evaluation time so far */
    /* kld_base_in runs only (else 0). Errors as llama.cpp's: 0 while count <= 10. */
    int32_t has_base;
    double ppl_base, ppl_base_err;    /* the base model's PPL on the same positions */
    double ln_ratio, ln_ratio_err;    /* mean ln(PPL / PPL_base), covariance included */
    double kld, kld_err;              /* mean KL(base || model), nats */
    double kld_median, kld_p99, kld_max; /* over every scored position (complete after the run) */
    double same_top, same_top_err;    /* fraction of positions where the arg max agrees */
    double rms_dp, rms_dp_err;        /* RMS of p(next) - p_base(next) */
} dp_ppl_stats;

typedef struct dp_adapter dp_adapter; /* below: LoRA adapters */

typedef struct dp_ppl_params {
    int32_t n_ctx;          /* tokens per chunk, >= 4 (0 with kld_base_in: the file's) */
    int32_t n_batch;        /* tokens per forward pass; <= 0: min(n_ctx, 512) */
    int32_t n_chunks;       /* <= 0: every whole chunk */
    int32_t bos;            /* put first in every chunk; -1: keep the text's own token */
    const char *kld_base_out;  /* write the base log-probabilities here; NULL: no */
    const char *kld_base_in;   /* compare against this base file; NULL: no */
    const char *logits_out;    /* raw little-endian f32 [count, vocab]: the logits of every scored
                                  position in order; NULL: no */
    dp_adapter *adapter;       /* a LoRA adapter loaded on the model, applied to every chunk at
                                  adapter_scale (dp_ctx_set_adapter); NULL: the base model */
    float adapter_scale;       /* default 1 */
    /* called after every chunk with the running figures; may be NULL */
    void (*progress)(void *ud, const dp_ppl_stats *s);
    void *progress_ud;
} dp_ppl_params;

void dp_ppl_params_default(dp_ppl_params *p); /* zeroes; bos -1, adapter_scale 1 */

/* Runs the model over ids[0..n_ids) (NULL with kld_base_in: the file's tokens; given, they must
 * be the file's) and fills *out. Fewer than 2 * n_ctx tokens, n_ctx < 4, both kld_base_in and
 * kld_base_out, or a base file for another vocabulary or other tokens: DP_ERR_INVALID_ARG; n_ctx
 * past the model's positions: DP_ERR_LIMIT; a malformed base file: DP_ERR_FORMAT. Everything is
 * allocated before the first chunk. On failure *out is untouched and an output file may be left
 * partly written. */
dp_status dp_perplexity(dp_model *m, const int32_t *ids, int64_t n_ids, const dp_ppl_params *p,
                        dp_ppl_stats *out, dp_error *e);

/* ---- LoRA adapters ---- */

/* dp_adapter (declared above): A/B matrices of one LoRA adapter on a model's backend */

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
 * tiktoken file or a GGUF file. On failure *out is untouched and nothing stays allocated. */
dp_status dp_tokenizer_load(const char *path, dp_tokenizer **out, dp_error *e);
void dp_tokenizer_free(dp_tokenizer *t);
int32_t dp_tokenizer_n_vocab(const dp_tokenizer *t);
int32_t dp_tokenizer_bos(const dp_tokenizer *t); /* -1 when the model has none */
int32_t dp_tokenizer_eos(const dp_tokenizer *t); /* -1 when none */
/* 1 when id ends generation by the tokenizer's rules: EOS, end of turn (<|eot_id|>, <|im_end|>,
 * <end_of_turn>, <|end|>) and the model's other end markers; else 0 (t NULL: 0). */
int dp_tokenizer_is_eog(const dp_tokenizer *t, int32_t id);

/* The ids of text[0..len) (any bytes, NUL included) into ids[0..cap); *n_ids = how many there
 * are. add_special: BOS/EOS as the model's rules say; parse_special: control-token text such as
 * "<|eot_id|>" becomes that token. When cap is too small: DP_ERR_LIMIT, nothing written to ids,
 * *n_ids = the count needed (ids may be NULL with cap 0 to ask for it). Any other failure
 * writes neither ids nor *n_ids. The tokenizer is never changed. */
dp_status dp_tokenize(const dp_tokenizer *t, const char *text, size_t len, int add_special,
                      int parse_special, int32_t *ids, size_t cap, size_t *n_ids, dp_error *e);

/* The bytes of ids[0..n) into text[0..cap), NUL-terminated; *len = the byte count without the
 * NUL (raw bytes: detokenize(tokenize(x)) == x for lossless tokenizers). special: render
 * control tokens' text (otherwise they vanish). When cap <= the length: DP_ERR_LIMIT, nothing
 * written to text, *len = the length (ask with text NULL, cap 0). An id out of range is
 * DP_ERR_INVALID_ARG. Any other failure writes neither text nor *len. */
dp_status dp_detokenize(const dp_tokenizer *t, const int32_t *ids, size_t n, int special,
                        char *text, size_t cap, size_t *len, dp_error *e);

/* ---- chat templates ---- */

typedef struct dp_chat_msg {
    const char *role;     /* "system", "user", "assistant" */
    const char *content;  /* NUL-terminated */
} dp_chat_msg;

/* Renders msgs[0..n) as prompt text with a chat template into text[0..cap), NUL-terminated;
 * *len = the byte count without the NUL. tmpl NULL: the template the tokenizer carries (its
 * Jinja text, recognised by its markers), else the one of the model family `family`
 * (dp_model_family; may be NULL); tmpl set: a template name (chatml, llama3, gemma, phi3,
 * mistral, mistral-v1, mistral-v3, mistral-v3-tekken, mistral-v7, llama2-sys, llama2-sys-bos,
 * llama2-sys-strip; aliases qwen, llama2) or Jinja template text. add_generation_prompt: end
 * with the assistant's header. BOS is not rendered: tokenize the text with add_special and
 * parse_special. n 0 renders nothing and checks that the template is known. Unknown template:
 * DP_ERR_UNSUPPORTED; a message without role or content: DP_ERR_INVALID_ARG. When cap <= the
 * length: DP_ERR_LIMIT, nothing written, *len = the length (ask with text NULL, cap 0). */
dp_status dp_chat_render(const dp_tokenizer *t, const char *family, const char *tmpl, const dp_chat_msg *msgs,
                         size_t n, int add_generation_prompt, char *text, size_t cap, size_t *len, dp_error *e);
/* The name of the template dp_chat_render would use for the same t, family and tmpl ("chatml",
 * "llama3", ...: a static string, valid for the process) into *name, without rendering: a server
 * checks the model has a chat format once at start and reports which. Unknown or absent
 * template: DP_ERR_UNSUPPORTED with the reason, *name untouched. */
dp_status dp_chat_template_name(const dp_tokenizer *t, const char *family, const char *tmpl, const char **name,
                                dp_error *e);

/* ---- generation: the token loop ----
 *
 * A dp_gen drives one context through prompt -> sample -> evaluate -> sample ... and says why it
 * stopped. Each step yields one token and the text to show for it: streaming detokenization
 * that holds back an incomplete UTF-8 sequence (and any text that may be the start of a stop
 * string) until it is decided. On a GPU backend the evaluation of the sampled token is queued
 * before its id is read back (dp_ctx_eval_sampled), so the device always has the next step.
 *
 *     dp_gen_prompt(g, ids, n, e);
 *     do { dp_gen_step(g, &t, e); fwrite(t.text, 1, t.len, stdout); } while (t.stop == DP_GEN_RUNNING);
 *
 * Where reads complete asynchronously (WebGPU in WebAssembly: the host awaits the device between
 * calls), call dp_gen_step_begin, let the host settle, then dp_gen_step_end; dp_gen_step is the
 * two in one call and would read the id before it has landed there.
 *
 * What the cache holds after a stop: the prompt and every produced token (an end-of-generation
 * token too, so a conversation can go on from it), except the n_max-th token and a token that
 * had no room: those were never evaluated. */

typedef struct dp_gen dp_gen;

typedef enum dp_gen_stop {
    DP_GEN_RUNNING = 0,       /* not stopped: step again */
    DP_GEN_STOP_MAX,          /* n_max tokens were produced */
    DP_GEN_STOP_EOG,          /* this token ends generation (EOS, end of turn); its text is not shown */
    DP_GEN_STOP_CTX_FULL,     /* the context has no room to evaluate this token: fewer than n_max
                                 tokens came out (callers that asked for n_max should say so) */
    DP_GEN_STOP_STRING        /* the text reached a stop string; neither it nor what follows is shown */
} dp_gen_stop;

/* Static string naming a stop reason ("running", "max tokens", ...). */
const char *dp_gen_stop_str(dp_gen_stop s);

typedef struct dp_gen_params {
    dp_sampling sampling;     /* checked with dp_sampling_check */
    int32_t n_max;            /* tokens to produce at most per prompt (>= 0) */
    int ignore_eos;           /* do not stop at end-of-generation tokens */
    const char *const *stop;  /* n_stop non-empty stop strings (copied by dp_gen_new); they need a tokenizer */
    int32_t n_stop;
    dp_spec *spec;            /* NULL: plain decode. Else speculative steps through this dp_spec,
                                 whose target must be the dp_gen's context (borrowed; it must
                                 outlive the dp_gen). Each step still yields one token; a
                                 speculative step's extra tokens wait for the next steps. The
                                 context must be empty at dp_gen_prompt. */
} dp_gen_params;

/* Greedy, n_max 16, no stop strings. */
void dp_gen_params_default(dp_gen_params *p);

/* A generation loop over c. t: the tokenizer for text and its end markers, or NULL (ids only:
 * every step's text is empty, and only dp_model_is_eos ends generation). c and t are borrowed
 * and must outlive the dp_gen; c must not be used by others while a generation runs. Tokens the
 * tokenizer does not know (a model vocabulary padded past it) produce no text. Everything the
 * loop needs is allocated here. Invalid params: DP_ERR_INVALID_ARG with the reason. On failure
 * *out is untouched. */
dp_status dp_gen_new(dp_ctx *c, const dp_tokenizer *t, const dp_gen_params *p, dp_gen **out, dp_error *e);
void dp_gen_free(dp_gen *g);

/* Starts a generation: evaluates ids[0..n) (n >= 1) at the context's position (after what the
 * cache holds: dp_ctx_truncate first to reuse a prefix) and resets the token count, the text
 * stream and the stop state. On a GPU backend this queues the work and returns. On failure
 * (dp_ctx_eval's: DP_ERR_LIMIT when the ids pass n_ctx, the cache then unchanged) no generation
 * is in progress. */
dp_status dp_gen_prompt(dp_gen *g, const int32_t *ids, int32_t n, dp_error *e);

typedef struct dp_gen_token {
    int32_t id;               /* the token this step produced; -1 when none (n_max 0) */
    const char *text;         /* the bytes to show now: whole UTF-8 sequences, NUL-terminated;
                                 owned by the dp_gen, valid until its next call; "" without text */
    size_t len;
    dp_gen_stop stop;         /* DP_GEN_RUNNING, or why the generation ended with this step */
} dp_gen_token;

/* One step: sample a token, queue its evaluation, then read it and decide. *out is filled on
 * success. Without a generation in progress (no prompt yet, or the last one stopped or failed):
 * DP_ERR_INVALID_ARG. Any other failure (the backend's) ends the generation: no step is taken
 * until the next dp_gen_prompt; dp_ctx_pos says what the cache holds. */
dp_status dp_gen_step(dp_gen *g, dp_gen_token *out, dp_error *e);
/* The first half of dp_gen_step: sample and queue (on WebGPU the id lands when the host settles).
 * A second begin without an end: DP_ERR_INVALID_ARG, nothing changed. */
dp_status dp_gen_step_begin(dp_gen *g, dp_error *e);
/* The second half: read the id begun and decide. Without a begun step: DP_ERR_INVALID_ARG. */
dp_status dp_gen_step_end(dp_gen *g, dp_gen_token *out, dp_error *e);

/* Tokens produced since the last dp_gen_prompt. */
int32_t dp_gen_n_tokens(const dp_gen *g);

#ifdef __cplusplus
}
#endif
#endif /* DOPPLER_H */
