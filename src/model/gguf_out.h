/* gguf_out.h — writing GGUF v3 files (layout in format/gguf.h): metadata and tensor infos are
 * assembled in memory, then the file is written header first and tensor data streamed after it,
 * each tensor padded to the 32-byte alignment. Used by the GGUF exporter (export_gguf.c) and by
 * GGUF import for the vocabulary-only tokenizer.gguf it leaves beside the manifest.
 *
 * The add functions never fail on their own: an allocation failure is remembered (sticky) and
 * reported by dp_gguf_out_open. */
#ifndef DP_GGUF_OUT_H
#define DP_GGUF_OUT_H

#include <stdio.h>

#include "format/gguf.h"

typedef struct dp_gguf_out {
    dp_buf kv, ti;            /* encoded metadata pairs and tensor infos */
    uint64_t n_kv, n_tensors;
    uint64_t data_size;       /* bytes of the data section (aligned) declared so far */
    uint64_t written;         /* data bytes written so far */
    bool bad;                 /* a declaration was invalid */
    FILE *f;
    char *path;
} dp_gguf_out;

/* GGML type id of a stored dtype (f32 0, f16 1, q8_0 8, q4_K 12, q5_K 13, q6_K 14, bf16 30);
 * false for types GGUF cannot hold. */
bool dp_gguf_type_of(dp_dtype t, uint32_t *ggml_type);

void dp_gguf_out_u32(dp_gguf_out *o, const char *key, uint32_t v);
void dp_gguf_out_i32(dp_gguf_out *o, const char *key, int32_t v);
void dp_gguf_out_f32(dp_gguf_out *o, const char *key, float v);
void dp_gguf_out_bool(dp_gguf_out *o, const char *key, bool v);
void dp_gguf_out_str(dp_gguf_out *o, const char *key, const char *s);
/* An array of n numbers of GGUF element type t, stored at that type's width (little-endian). */
void dp_gguf_out_arr(dp_gguf_out *o, const char *key, uint32_t t, const void *data, uint64_t n);
/* An array of n strings: begin, then exactly n dp_gguf_out_arr_put calls. */
void dp_gguf_out_arr_str_begin(dp_gguf_out *o, const char *key, uint64_t n);
void dp_gguf_out_arr_put(dp_gguf_out *o, const char *s, size_t len);
/* A metadata pair parsed by format/gguf.h, copied unchanged; false (nothing written) for
 * nested arrays, which the reader does not keep. */
bool dp_gguf_out_copy(dp_gguf_out *o, const dp_gguf_kv *kv);
/* Declares a tensor (ne[0] the row length, unused dims 1); its bytes are written later, in
 * declaration order. */
void dp_gguf_out_tensor(dp_gguf_out *o, const char *name, dp_dtype t, uint32_t n_dims, const uint64_t ne[4]);

/* Creates path and writes the header, metadata and tensor infos. */
dp_status dp_gguf_out_open(dp_gguf_out *o, const char *path, dp_error *e);
/* Appends data of the current tensor; dp_gguf_out_end_tensor pads to the alignment. */
dp_status dp_gguf_out_write(dp_gguf_out *o, const void *data, size_t n, dp_error *e);
dp_status dp_gguf_out_end_tensor(dp_gguf_out *o, dp_error *e);
/* Checks every declared byte was written and closes the file. */
dp_status dp_gguf_out_close(dp_gguf_out *o, dp_error *e);
/* Frees memory; a file still open (an error path) is closed and removed. */
void dp_gguf_out_free(dp_gguf_out *o);

/* An RDRR model directory (llama or mixtral family) to a llama-architecture GGUF v3 file that
 * llama.cpp loads; see export_gguf.c for what is written. */
dp_status dp_export_gguf(const char *model_dir, const char *out_path, dp_error *e);

#endif /* DP_GGUF_OUT_H */
