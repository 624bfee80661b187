/* sha256.h — SHA-256 (FIPS 180-4).
 *
 * In the WebAssembly build a context hashes with the host's SHA-256 when the host offers one
 * (imports "dp_host" sha256_begin / sha256_update / sha256_final, web/host-hash.mjs): Node's
 * crypto runs at GB/s with the CPU's SHA instructions, this file's C compiled to WebAssembly at
 * ~250 MB/s, so a 26 GB model's shards would take minutes to verify. Where the host has none
 * (browsers: WebCrypto's digest is asynchronous) sha256_begin returns 0 and the C below runs.
 * Either way the digest is the same; a context abandoned before final (an error path) leaves
 * one small hash object behind in the host. */
#ifndef DP_SHA256_H
#define DP_SHA256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

/* The incremental state is dp_sha256_ctx (the name dp_sha256 is the one-shot function). */
typedef struct dp_sha256_ctx {
    uint32_t h[8];
    uint64_t len;      /* bytes hashed so far */
    uint8_t block[64];
    size_t fill;
    bool hw;           /* use the CPU's SHA instructions (set by init; clearing it forces C) */
    uint32_t host;     /* wasm: the host's hash object (0: none, this file's C); set by init */
} dp_sha256_ctx;

void dp_sha256_init(dp_sha256_ctx *s);
void dp_sha256_update(dp_sha256_ctx *s, const void *data, size_t n);
void dp_sha256_final(dp_sha256_ctx *s, uint8_t out[32]);
void dp_sha256(const void *data, size_t n, uint8_t out[32]);
void dp_sha256_hex(const uint8_t digest[32], char hex[65]); /* lowercase, NUL-terminated */
/* The SHA-256 of a reader's whole content, streamed in chunks of at most 4 MiB. */
dp_status dp_sha256_reader(const dp_reader *r, uint8_t out[32], dp_error *e);
/* The SHA-256 of a regular file (dp_reader_open_file's rules). */
dp_status dp_sha256_file(const char *path, uint8_t out[32], dp_error *e);

#endif /* DP_SHA256_H */
