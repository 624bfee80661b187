/* gguf.h — GGUF v2/v3 reader (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md).
 *
 * File layout (little-endian):
 *   u32 magic "GGUF" | u32 version (2 or 3) | u64 n_tensors | u64 n_kv
 *   n_kv x { gguf_string key | u32 value_type | value }
 *   n_tensors x { gguf_string name | u32 n_dims (1..4) | u64 ne[n_dims] | u32 ggml_type | u64 offset }
 *   padding to general.alignment (default 32) | tensor data (offsets relative to its start)
 *   gguf_string = u64 len | len bytes (not NUL-terminated)
 *   value types: 0 u8 1 i8 2 u16 3 i16 4 u32 5 i32 6 f32 7 bool 8 string 9 array 10 u64 11 i64 12 f64
 *   array = u32 elem_type | u64 count | count values
 *
 * The reader treats the file as hostile: every count and length is checked against the bytes
 * that remain, duplicate keys/tensor names, unknown types, bad alignment, shape products that
 * overflow and tensor data outside the file are errors. Nothing is sized by an untrusted number
 * without first checking the file can hold it. */
#ifndef DP_GGUF_H
#define DP_GGUF_H

#include "base/base.h"
#include "format/dtype.h"

enum dp_gguf_vtype {
    DP_GGUF_U8 = 0, DP_GGUF_I8, DP_GGUF_U16, DP_GGUF_I16, DP_GGUF_U32, DP_GGUF_I32, DP_GGUF_F32,
    DP_GGUF_BOOL, DP_GGUF_STRING, DP_GGUF_ARRAY, DP_GGUF_U64, DP_GGUF_I64, DP_GGUF_F64
};

typedef struct dp_gguf_str { const char *s; uint64_t len; } dp_gguf_str; /* s NUL-terminated too */

typedef struct dp_gguf_kv {
    const char *key;
    uint32_t type;          /* dp_gguf_vtype */
    uint32_t arr_type;      /* element type when type == ARRAY */
    uint64_t n;             /* array element count */
    union {
        uint64_t u; int64_t i; double f; bool b;
        dp_gguf_str str;
        const void *arr;    /* ARRAY: n elements; numbers stored at their native width
                               (little-endian as in the file), strings as dp_gguf_str[n] */
    } v;
} dp_gguf_kv;

typedef struct dp_gguf_tensor {
    const char *name;
    uint32_t ggml_type;     /* GGML type id (dp_dtype_ggml_id) */
    dp_dtype dtype;         /* mapped type (only supported ids are accepted) */
    uint32_t n_dims;
    uint64_t ne[4];         /* ne[0] is the row length (fastest-varying), unused dims are 1 */
    uint64_t offset;        /* absolute byte offset in the file */
    uint64_t size;          /* bytes */
} dp_gguf_tensor;

typedef struct dp_gguf dp_gguf;

/* Parses header, metadata and tensor infos from r (r must outlive the dp_gguf).
 * Tensor data is not read. */
dp_status dp_gguf_open(const dp_reader *r, dp_gguf **out, dp_error *e);
void dp_gguf_free(dp_gguf *g);

uint32_t dp_gguf_version(const dp_gguf *g);
size_t dp_gguf_n_kv(const dp_gguf *g);
const dp_gguf_kv *dp_gguf_kv_at(const dp_gguf *g, size_t i);
const dp_gguf_kv *dp_gguf_find(const dp_gguf *g, const char *key); /* NULL if absent */
/* Typed getters: false when absent or of an incompatible type (integers of any width convert
 * when the value fits). */
bool dp_gguf_get_u64(const dp_gguf *g, const char *key, uint64_t *out);
bool dp_gguf_get_i64(const dp_gguf *g, const char *key, int64_t *out);
bool dp_gguf_get_f64(const dp_gguf *g, const char *key, double *out);
bool dp_gguf_get_bool(const dp_gguf *g, const char *key, bool *out);
bool dp_gguf_get_str(const dp_gguf *g, const char *key, dp_gguf_str *out);
/* Array element as number/string (false when out of range or wrong type). */
bool dp_gguf_arr_f64(const dp_gguf_kv *kv, uint64_t i, double *out);
bool dp_gguf_arr_i64(const dp_gguf_kv *kv, uint64_t i, int64_t *out);
bool dp_gguf_arr_str(const dp_gguf_kv *kv, uint64_t i, dp_gguf_str *out);

size_t dp_gguf_n_tensors(const dp_gguf *g);
const dp_gguf_tensor *dp_gguf_tensor_at(const dp_gguf *g, size_t i);
const dp_gguf_tensor *dp_gguf_tensor_find(const dp_gguf *g, const char *name);

#endif /* DP_GGUF_H */
