/* safetensors.h — reader for Hugging Face safetensors files, single and sharded.
 *
 * File layout: u64 little-endian N | N bytes of UTF-8 JSON header | data.
 * Header: {"__metadata__": {str: str}?, "<name>": {"dtype": "F32"|"F16"|"BF16"|"I32"|...,
 *          "shape": [..], "data_offsets": [begin, end]}, ...}; offsets are relative to the data
 * start. Rules enforced: N <= DP_ST_MAX_HEADER and inside the file, header valid UTF-8 JSON,
 * offsets in order, contiguous from 0, inside the file, end - begin == product(shape) * size,
 * no duplicate names. */
#ifndef DP_SAFETENSORS_H
#define DP_SAFETENSORS_H

#include "base/base.h"
#include "format/dtype.h"

#define DP_ST_MAX_HEADER (100u * 1024u * 1024u)
#define DP_ST_MAX_DIMS 8

typedef struct dp_st_tensor {
    const char *name;
    dp_dtype dtype;               /* F32, F16, BF16, I32 map; other dtypes are rejected */
    uint32_t n_dims;
    uint64_t shape[DP_ST_MAX_DIMS];
    uint64_t offset;              /* absolute offset in its file */
    uint64_t size;                /* bytes */
    uint32_t file;                /* index of the file holding it (sharded sets) */
} dp_st_tensor;

typedef struct dp_st dp_st;

/* Open one .safetensors file, or a directory holding model.safetensors or
 * model.safetensors.index.json (whose weight_map names the shard files). */
dp_status dp_st_open(const char *path, dp_st **out, dp_error *e);
/* Parse one file through a reader (used by the fuzz target); r must outlive st. */
dp_status dp_st_open_reader(const dp_reader *r, dp_st **out, dp_error *e);
void dp_st_free(dp_st *st);

size_t dp_st_count(const dp_st *st);
const dp_st_tensor *dp_st_at(const dp_st *st, size_t i);
const dp_st_tensor *dp_st_find(const dp_st *st, const char *name);
/* Value of a __metadata__ key, or NULL. */
const char *dp_st_metadata(const dp_st *st, const char *key);
/* Read a tensor's raw bytes (dst holds t->size bytes). */
dp_status dp_st_read(const dp_st *st, const dp_st_tensor *t, void *dst, dp_error *e);
/* Read a tensor converted to f32 (dst holds product(shape) floats); F32/F16/BF16 only. */
dp_status dp_st_read_f32(const dp_st *st, const dp_st_tensor *t, float *dst, dp_error *e);
uint64_t dp_st_numel(const dp_st_tensor *t);

#endif /* DP_SAFETENSORS_H */
