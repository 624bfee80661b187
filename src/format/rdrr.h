/* rdrr.h — RDRR v1 model directories: manifest.json + shards/<sha256>.bin (docs/RDRR.md).
 *
 * Directory layout:
 *   <dir>/manifest.json            UTF-8 JSON, written last (temp file + rename)
 *   <dir>/shards/<hex>.bin         <hex> = lowercase SHA-256 of the file's bytes
 *   The model id is the lowercase hex SHA-256 of manifest.json's bytes.
 *
 * manifest.json (one object; unknown top-level keys are ignored by readers):
 *   "format":    "rdrr"
 *   "version":   1
 *   "model":     object, written verbatim from the converter (family, normalised description, ...)
 *   "tokenizer": object, verbatim (optional); its "hashes" member, when there, is checked:
 *                {"<file beside the manifest>": "sha256:<64 lowercase hex>", ...}
 *   "shards":    [{"hash": "sha256:<64 lowercase hex>", "size": bytes}, ...]
 *                a span's "shard" is the position in this list; 1 <= size <= DP_RDRR_MAX_SHARD
 *   "tensors":   {"<name>": {"dtype": "f32"|"f16"|"bf16"|"q8_0"|"q4_k"|... (docs/RDRR.md)|"i32",
 *                            "shape": [rows, row_len]   (outer first, like HF; [n] = one row),
 *                            "role": string, "layer": int >= -1, "expert": int >= 0 (optional),
 *                            "spans": [{"shard": i, "offset": bytes, "size": bytes}, ...]}}
 *   Tensor bytes are rows in order, row_len values per row, GGML block layouts for quantized
 *   types (row_len a multiple of the block), little-endian; the spans concatenated in order are
 *   exactly those bytes.
 *
 * Writer rules: shards are at most shard_max bytes (default 64 MiB); every span starts on a
 * 256-byte boundary of its shard (gaps are zero bytes); a tensor that does not fit in the room
 * left in the current shard starts a new shard unless it is larger than a whole shard, in which
 * case it is split into spans at row boundaries (filling the room left first, when one row fits);
 * a single row larger than a shard is an error. Data arrives through a row callback in chunks of
 * about 4 MiB, so a model of any size streams through a small buffer; each shard is written to
 * shards/.tmp-<n>.part, hashed while written and renamed to shards/<sha256>.bin when closed.
 * One writer per directory at a time.
 *
 * Reader rules: the manifest is hostile until validated: sizes and counts bounded (below), hashes
 * well formed, names unique and non-empty, dtype known, shape x dtype a whole number of rows and
 * blocks, every span inside its shard, 256-aligned, a whole number of rows, spans summing to the
 * tensor's size. A shard's bytes are handed out only after the whole file's size and SHA-256
 * match the manifest (DP_ERR_HASH otherwise; a missing file is DP_ERR_NOT_FOUND naming the hash).
 * Verification is remembered per open handle: a verified shard's later reads go straight to the
 * source (a shard is assumed not to change while the handle is open; a mapped one must not
 * shrink). Shards come from a dp_shard_source (doppler.h): <dir>/shards/ unless
 * dp_rdrr_set_source says otherwise. The most recently verified shard is kept in memory until
 * dp_rdrr_drop_cache, so reading tensors in manifest order reads each shard once. A dp_rdrr
 * handle is not safe to read from two threads at once (the shard cache is shared). */
#ifndef DP_RDRR_H
#define DP_RDRR_H

#include "base/base.h"
#include "base/json.h"
#include "format/dtype.h"

#define DP_RDRR_ALIGN 256u
#define DP_RDRR_DEFAULT_SHARD (64u * 1024u * 1024u)
#define DP_RDRR_MIN_SHARD 4096u
#define DP_RDRR_MAX_SHARD (1024u * 1024u * 1024u)    /* bytes per shard */
#define DP_RDRR_MAX_MANIFEST (64u * 1024u * 1024u)   /* bytes of manifest.json */
#define DP_RDRR_MAX_SHARDS (1u << 20)
#define DP_RDRR_MAX_TENSORS (1u << 20)
#define DP_RDRR_MAX_NAME 1024u                       /* bytes of a tensor name */
#define DP_RDRR_MAX_LAYER 65535
#define DP_RDRR_MAX_EXPERT 65535
#define DP_RDRR_MAX_FILES 64u                        /* tokenizer files hashed by a manifest */

static inline uint64_t dp_rdrr_align_up(uint64_t n) {
    return (n + (DP_RDRR_ALIGN - 1)) & ~(uint64_t)(DP_RDRR_ALIGN - 1);
}

/* ---- writer ---- */
typedef struct dp_rdrr_writer dp_rdrr_writer;

/* Produce rows [row0, row0 + n_rows) of the tensor into dst (n_rows * row_bytes bytes). */
typedef dp_status (*dp_rdrr_rows_fn)(void *ud, uint64_t row0, uint64_t n_rows, void *dst,
                                     dp_error *e);

typedef struct dp_rdrr_tensor_desc {
    const char *name;
    dp_dtype dtype;
    uint64_t ne[2];        /* ne[0] row length (values), ne[1] rows (1 for vectors) */
    const char *role;      /* "embed", "attn_q", "norm", ... (informative; NULL = "") */
    int layer;             /* -1 when not in a layer */
    int expert;            /* -1 when not an expert tensor */
} dp_rdrr_tensor_desc;

/* Creates dir and dir/shards. shard_max 0 means DP_RDRR_DEFAULT_SHARD; otherwise it must be in
 * [DP_RDRR_MIN_SHARD, DP_RDRR_MAX_SHARD]. */
dp_status dp_rdrr_writer_new(const char *dir, uint64_t shard_max, dp_rdrr_writer **out, dp_error *e);
/* Appends one tensor. Errors in the description (duplicate name, bad shape, a row larger than a
 * shard) leave the writer usable; an I/O or callback failure while writing makes every later
 * call fail (free the writer). */
dp_status dp_rdrr_writer_add(dp_rdrr_writer *w, const dp_rdrr_tensor_desc *d, dp_rdrr_rows_fn rows,
                             void *ud, dp_error *e);
/* Convenience: tensor data from memory (ne[1] * row_bytes bytes). */
dp_status dp_rdrr_writer_add_mem(dp_rdrr_writer *w, const dp_rdrr_tensor_desc *d, const void *data,
                                 dp_error *e);
/* Keep the next need_bytes together (one MoE expert's tensors): closes the current shard when
 * need_bytes do not fit in the room left after alignment. Sum dp_rdrr_align_up(size) of the
 * tensors to compute need_bytes. need_bytes 0 always starts a new shard (unless the current one
 * is empty). */
dp_status dp_rdrr_writer_break(dp_rdrr_writer *w, uint64_t need_bytes, dp_error *e);
/* Close the last shard and write manifest.json. model_json and tokenizer_json are JSON object
 * texts placed verbatim under "model" and "tokenizer" (tokenizer_json may be NULL). The
 * manifest is checked by the reader's validator before it is written. */
dp_status dp_rdrr_writer_finish(dp_rdrr_writer *w, const char *model_json, const char *tokenizer_json,
                                dp_error *e);
/* The model id (64 hex chars) once finish succeeded, else NULL. */
const char *dp_rdrr_writer_model_id(const dp_rdrr_writer *w);
/* Bytes of shard data written so far (padding included). */
uint64_t dp_rdrr_writer_bytes(const dp_rdrr_writer *w);
void dp_rdrr_writer_free(dp_rdrr_writer *w); /* removes a half-written shard if not finished */

/* ---- reader ---- */
typedef struct dp_rdrr_span { uint32_t shard; uint64_t offset, size; } dp_rdrr_span;

typedef struct dp_rdrr_tensor {
    const char *name;
    dp_dtype dtype;
    uint64_t ne[2];        /* ne[0] row length (values), ne[1] rows */
    uint64_t size;         /* bytes */
    int layer, expert;     /* -1 when absent */
    uint32_t n_spans;
    const dp_rdrr_span *spans;
    const char *role;
} dp_rdrr_tensor;

typedef struct dp_rdrr dp_rdrr;

/* Open <dir>/manifest.json and validate it; no shard is read yet. */
dp_status dp_rdrr_open(const char *dir, dp_rdrr **out, dp_error *e);
/* Parse a manifest from memory (fuzz target / remote stores); shards are then unreadable. */
dp_status dp_rdrr_parse_manifest(const char *text, size_t n, dp_rdrr **out, dp_error *e);
void dp_rdrr_free(dp_rdrr *m);

const char *dp_rdrr_dir(const dp_rdrr *m);           /* NULL for a parsed manifest */
const char *dp_rdrr_id(const dp_rdrr *m);            /* SHA-256 hex of the manifest bytes */
const dp_json *dp_rdrr_model(const dp_rdrr *m);      /* the "model" object */
const dp_json *dp_rdrr_tokenizer(const dp_rdrr *m);  /* the "tokenizer" object or NULL */
size_t dp_rdrr_n_tensors(const dp_rdrr *m);
const dp_rdrr_tensor *dp_rdrr_tensor_at(const dp_rdrr *m, size_t i); /* manifest order */
const dp_rdrr_tensor *dp_rdrr_find(const dp_rdrr *m, const char *name);
size_t dp_rdrr_n_shards(const dp_rdrr *m);
uint64_t dp_rdrr_shard_size(const dp_rdrr *m, uint32_t shard);
const char *dp_rdrr_shard_hash(const dp_rdrr *m, uint32_t shard); /* 64 hex chars, or NULL */

/* Read a whole tensor into dst (t->size bytes); each shard it touches is verified (SHA-256)
 * the first time it is used and the verification is remembered. */
dp_status dp_rdrr_read_tensor(dp_rdrr *m, const dp_rdrr_tensor *t, void *dst, dp_error *e);
/* Bytes [off, off + n) of a tensor (its spans in order) into dst, without holding a shard in
 * memory: a shard not verified yet is verified first by streaming it (SHA-256 over a bounded
 * buffer), then the bytes are read through its reader. For uploads in bounded pieces (a GPU
 * backend: weights never held whole in wasm memory). DP_ERR_INVALID_ARG when the range passes
 * the tensor's end. */
dp_status dp_rdrr_read_tensor_range(dp_rdrr *m, const dp_rdrr_tensor *t, uint64_t off, void *dst, size_t n,
                                    dp_error *e);
/* The verified bytes of a whole shard, kept in m; valid until the next call that reads through
 * m or dp_rdrr_drop_cache. */
dp_status dp_rdrr_shard_data(dp_rdrr *m, uint32_t shard, const uint8_t **data, dp_error *e);
/* Free the in-memory shard copy. */
void dp_rdrr_drop_cache(dp_rdrr *m);
/* Read shards through src from now on instead of <dir>/shards/ (copied; src->ud must outlive
 * m). */
void dp_rdrr_set_source(dp_rdrr *m, const dp_shard_source *src);
/* DP_OK when the source holds shard i with the manifest's size (DP_ERR_NOT_FOUND: missing,
 * DP_ERR_HASH: another size), without reading it. */
dp_status dp_rdrr_shard_has(const dp_rdrr *m, uint32_t i, dp_error *e);
/* Open shard i through the source (closed by the caller with dp_reader_close) after checking
 * its size against the manifest; nothing is read or verified (an expert cache reads ranges and
 * verifies them itself, runtime/experts.h). DP_ERR_NOT_FOUND: missing; DP_ERR_HASH: another size. */
dp_status dp_rdrr_shard_open(const dp_rdrr *m, uint32_t i, dp_reader *r, dp_error *e);
/* The manifest's SHA-256 of shard i (32 bytes), NULL when i is out of range. */
const uint8_t *dp_rdrr_shard_digest(const dp_rdrr *m, uint32_t i);
/* A tensor's bytes in place: *data points into its shard mapped private and writable (copy on
 * write: writing changes neither the file nor other mappings), valid until dp_rdrr_free, after
 * the shard was verified (streamed, not held). *data NULL (DP_OK) when the tensor is split over
 * several spans or the source's reader cannot map: read it with dp_rdrr_read_tensor instead. */
dp_status dp_rdrr_map_tensor(dp_rdrr *m, const dp_rdrr_tensor *t, void **data, dp_error *e);
/* Verify every shard and every file the manifest hashes (streamed, not held); returns the first
 * failure (DP_ERR_HASH / DP_ERR_NOT_FOUND). */
dp_status dp_rdrr_verify(dp_rdrr *m, dp_error *e);
/* Files beside the manifest that it hashes (the tokenizer's: "tokenizer": {"hashes": ...}). */
size_t dp_rdrr_n_files(const dp_rdrr *m);
/* Check <dir>/name against the manifest: DP_OK when its SHA-256 matches, or when the manifest
 * hashes no files at all (manifests written before the field); DP_ERR_HASH when it differs or
 * when the manifest hashes files but not this one (a file slipped in beside them). */
dp_status dp_rdrr_check_file(const dp_rdrr *m, const char *name, dp_error *e);

#endif /* DP_RDRR_H */
