/* base.h — status/error helpers, allocation through the hook, growable byte buffer, file I/O
 * through read-at callbacks, thread pool. Internal to the library. */
#ifndef DP_BASE_H
#define DP_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "doppler.h"

#if defined(__GNUC__)
#define DP_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define DP_PRINTF(a, b)
#endif

/* ---- errors ---- */
/* Fill e (may be NULL) with status and a printf-formatted one-line message; returns status. */
dp_status dp_err_set(dp_error *e, dp_status status, const char *fmt, ...) DP_PRINTF(3, 4);
/* Prefix an already-set message with "context: "; returns e->status (DP_ERR_INTERNAL when e is NULL,
 * so callers should keep and return their own status). */
dp_status dp_err_prefix(dp_error *e, const char *fmt, ...) DP_PRINTF(2, 3);
/* s[0..n) into dst (cap bytes, NUL-terminated, cut between whole characters) as one line that
 * cannot drive a terminal: tab, CR and LF become \t \r \n, other control bytes and bytes that
 * are not well-formed UTF-8 \xNN, C1 controls, line separators and bidirectional controls \uNNNN.
 * Returns dst. Every error message passes through it (dp_err_set, dp_err_prefix), so names read
 * from a file never reach a terminal raw; use it too wherever such a name is printed otherwise. */
const char *dp_str_escape(char *dst, size_t cap, const char *s, size_t n);

/* ---- allocation (all library memory goes through the hook) ---- */
void *dp_malloc(size_t n);                 /* NULL on failure (n == 0 allocates 1 byte) */
void *dp_calloc(size_t count, size_t size); /* zeroed; NULL on overflow or failure */
void *dp_realloc(void *p, size_t n);
void dp_free(void *p);
char *dp_strdup(const char *s);
char *dp_strndup(const char *s, size_t n);
/* a*b into *out; false on overflow. */
bool dp_mul_ok(size_t a, size_t b, size_t *out);
bool dp_mul_u64(uint64_t a, uint64_t b, uint64_t *out);
bool dp_add_u64(uint64_t a, uint64_t b, uint64_t *out);

/* ---- growable buffer ---- */
typedef struct dp_buf {
    char *data;   /* NUL-terminated when len > 0 or after any append */
    size_t len, cap;
    bool oom;     /* sticky: an append failed */
} dp_buf;
void dp_buf_append(dp_buf *b, const void *data, size_t n);
void dp_buf_puts(dp_buf *b, const char *s);
void dp_buf_printf(dp_buf *b, const char *fmt, ...) DP_PRINTF(2, 3);
void dp_buf_free(dp_buf *b);

/* ---- reading through callbacks (files, memory, browser storage) ----
 * dp_reader is public (doppler.h): shard sources hand them out. */
dp_status dp_reader_open_file(dp_reader *r, const char *path, dp_error *e);
void dp_reader_open_mem(dp_reader *r, const void *data, size_t n); /* data must outlive r */
/* Reads [off, off+n) with bounds checked against r->size; error message names what. */
dp_status dp_reader_read(const dp_reader *r, uint64_t off, void *dst, size_t n, dp_error *e);
void dp_reader_close(dp_reader *r);
/* dp_reader_read for bytes read once into memory the caller keeps (an expert cache): a file
 * reader reads the 4096-aligned middle of the range with O_DIRECT when dst allows it (dst + k
 * 4096-aligned where off + k is), neither filling nor using the page cache; anything else reads
 * as dp_reader_read. */
dp_status dp_reader_read_uncached(const dp_reader *r, uint64_t off, void *dst, size_t n, dp_error *e);
/* r's whole content as private copy-on-write memory (r->map), valid until close; NULL when the
 * reader cannot map. */
void *dp_reader_map(dp_reader *r);

/* Whole-file helpers; max bounds the size accepted (DP_ERR_LIMIT past it). *data is
 * NUL-terminated and owned by the caller (dp_free). */
dp_status dp_file_read_all(const char *path, size_t max, char **data, size_t *n, dp_error *e);
dp_status dp_file_write_all(const char *path, const void *data, size_t n, dp_error *e);
bool dp_file_exists(const char *path);
dp_status dp_mkdir_p(const char *path, dp_error *e);
/* join a/b into a dp_malloc'd string (NULL on OOM). */
char *dp_path_join(const char *a, const char *b);

/* ---- thread pool: run fn(arg, ith, nth) on nth workers (the caller is worker 0) ---- */
typedef struct dp_pool dp_pool;
typedef void (*dp_pool_fn)(void *arg, int ith, int nth);
dp_status dp_pool_new(int n_threads, dp_pool **out, dp_error *e); /* n_threads <= 0: all cores */
int dp_pool_size(const dp_pool *p);
void dp_pool_run(dp_pool *p, dp_pool_fn fn, void *arg); /* p may be NULL: runs fn(arg,0,1) */
void dp_pool_free(dp_pool *p);
int dp_cpu_count(void);
uint64_t dp_mem_total(void); /* physical memory in bytes; 0 when unknown */

/* ---- misc ---- */
double dp_time_now(void); /* monotonic seconds */
uint16_t dp_f32_to_f16(float f);
float dp_f16_to_f32(uint16_t h);
uint16_t dp_f32_to_bf16(float f); /* round to nearest even */
float dp_bf16_to_f32(uint16_t h);

#endif /* DP_BASE_H */
