/* rdrr.h — RDRR v1 model directories: manifest.json + shards/<sha256>.bin (docs/RDRR.md).
 *
 * Writer: tensors are appended in order; each is placed at a 256-byte aligned offset in the
 * current shard; a tensor that does not fit in the room left starts a new shard, and a tensor
 * larger than a shard is split into spans at row boundaries. Shards are hashed while written and
 * renamed to their SHA-256 when closed. Data arrives through a row callback so multi-GB models
 * stream through one shard-sized buffer.
 *
 * Reader: the manifest is parsed and validated (every span inside its shard, spans covering the
 * tensor exactly, sizes matching dtype x shape, hashes well formed). A shard's bytes are handed
 * out only after its SHA-256 matches the manifest. */
#ifndef DP_RDRR_H
#define DP_RDRR_H

#include "base/base.h"
#include "base/json.h"
#include "format/dtype.h"

#define DP_RDRR_ALIGN 256u
#define DP_RDRR_DEFAULT_SHARD (64u * 1024u * 1024u)

/* ---- writer ---- */
typedef struct dp_rdrr_writer dp_rdrr_writer;

/* Produce rows [row0, row0 + n_rows) of the tensor into dst (n_rows * row_bytes bytes). */
typedef dp_status (*dp_rdrr_rows_fn)(void *ud, uint64_t row0, uint64_t n_rows, void *dst,
                                     dp_error *e);

typedef struct dp_rdrr_tensor_desc {
    const char *name;
    dp_dtype dtype;
    uint64_t ne[2];        /* ne[0] row length (values), ne[1] rows (1 for vectors) */
    const char *role;      /* "embed", "attn_q", "norm", ... (informative) */
    int layer;             /* -1 when not in a layer */
    int expert;            /* -1 when not an expert tensor */
} dp_rdrr_tensor_desc;

/* shard_max 0 means DP_RDRR_DEFAULT_SHARD; it must be at least 4096. */
dp_status dp_rdrr_writer_new(const char *dir, uint64_t shard_max, dp_rdrr_writer **out, dp_error *e);
dp_status dp_rdrr_writer_add(dp_rdrr_writer *w, const dp_rdrr_tensor_desc *d, dp_rdrr_rows_fn rows,
                             void *ud, dp_error *e);
/* Convenience: tensor data from memory. */
dp_status dp_rdrr_writer_add_mem(dp_rdrr_writer *w, const dp_rdrr_tensor_desc *d, const void *data,
                                 dp_error *e);
/* Start a new shard now (used to keep one MoE expert's tensors together). */
dp_status dp_rdrr_writer_break(dp_rdrr_writer *w, uint64_t need_bytes, dp_error *e);
/* Close the last shard and write manifest.json. model_json and tokenizer_json are JSON object
 * texts placed verbatim under "model" and "tokenizer" (tokenizer_json may be NULL). */
dp_status dp_rdrr_writer_finish(dp_rdrr_writer *w, const char *model_json, const char *tokenizer_json,
                                dp_error *e);
void dp_rdrr_writer_free(dp_rdrr_writer *w); /* removes a half-written shard if not finished */

/* ---- reader ---- */
typedef struct dp_rdrr_span { uint32_t shard; uint64_t offset, size; } dp_rdrr_span;

typedef struct dp_rdrr_tensor {
    const char *name;
    dp_dtype dtype;
    uint64_t ne[2];
    uint64_t size;         /* bytes */
    int layer, expert;
    uint32_t n_spans;
    const dp_rdrr_span *spans;
} dp_rdrr_tensor;

typedef struct dp_rdrr dp_rdrr;

dp_status dp_rdrr_open(const char *dir, dp_rdrr **out, dp_error *e);
/* Parse a manifest from memory (fuzz target / remote stores); shards are then unreadable. */
dp_status dp_rdrr_parse_manifest(const char *text, size_t n, dp_rdrr **out, dp_error *e);
void dp_rdrr_free(dp_rdrr *m);

const char *dp_rdrr_dir(const dp_rdrr *m);
const dp_json *dp_rdrr_model(const dp_rdrr *m);      /* the "model" object */
const dp_json *dp_rdrr_tokenizer(const dp_rdrr *m);  /* the "tokenizer" object or NULL */
size_t dp_rdrr_n_tensors(const dp_rdrr *m);
const dp_rdrr_tensor *dp_rdrr_tensor_at(const dp_rdrr *m, size_t i);
const dp_rdrr_tensor *dp_rdrr_find(const dp_rdrr *m, const char *name);
size_t dp_rdrr_n_shards(const dp_rdrr *m);
uint64_t dp_rdrr_shard_size(const dp_rdrr *m, uint32_t shard);

/* Read a whole tensor into dst (t->size bytes); each shard it touches is verified (SHA-256)
 * the first time it is used and the verification is remembered. */
dp_status dp_rdrr_read_tensor(dp_rdrr *m, const dp_rdrr_tensor *t, void *dst, dp_error *e);
/* Verify every shard; returns the first mismatch as DP_ERR_HASH. */
dp_status dp_rdrr_verify(dp_rdrr *m, dp_error *e);

#endif /* DP_RDRR_H */
