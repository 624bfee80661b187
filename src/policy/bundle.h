/* bundle.h — static-mode bundles: signed lists of the kernel, model and adapter hashes an engine
 * may run, and the policy object that holds a verified one (docs/KERNELS.md, byte by byte).
 *
 * A bundle file is JSON (UTF-8, any whitespace):
 *     {"format": "doppler-bundle", "version": 1,
 *      "kernels":  ["<64 hex>", ...],   kernel registry keys (wg_registry.h)
 *      "models":   ["<64 hex>", ...],   model ids: SHA-256 of the model's manifest.json
 *      "adapters": ["<64 hex>", ...],   adapter ids: SHA-256 of the adapter's manifest.json
 *      "signature": "<128 hex>"}        Ed25519 over the message below; absent when unsigned
 * Hashes are lowercase hex, each list strictly ascending (so sorted and without duplicates);
 * any other member, or a list out of order, is DP_ERR_FORMAT: one bundle has one byte form of
 * what it allows.
 *
 * The signed message is ASCII:
 *     "doppler-bundle-v1\n"
 *     then "kernel <hex>\n" per kernel, "model <hex>\n" per model, "adapter <hex>\n" per
 *     adapter, each list in its (ascending) order.
 *
 * Signing and verification are Ed25519 (libsodium natively; WebCrypto on the JavaScript host,
 * which gets the message from the module). Key files are lowercase hex and a newline: a public
 * key 32 bytes (64 hex), a secret key libsodium's 64 bytes (seed then public key; 128 hex). */
#ifndef DP_POLICY_BUNDLE_H
#define DP_POLICY_BUNDLE_H

#include "base/base.h"

typedef enum dp_bundle_kind { DP_BUNDLE_KERNEL = 0, DP_BUNDLE_MODEL, DP_BUNDLE_ADAPTER, DP_BUNDLE_KINDS } dp_bundle_kind;

typedef struct dp_bundle dp_bundle;

dp_status dp_bundle_new(dp_bundle **out, dp_error *e); /* empty, unsigned */
/* Parses a bundle file's text (rules above). *out untouched on failure. */
dp_status dp_bundle_parse(const char *text, size_t n, dp_bundle **out, dp_error *e);
void dp_bundle_free(dp_bundle *b); /* NULL: no-op */
/* Adds a hash (kept sorted; a duplicate is a no-op). Drops the signature. */
dp_status dp_bundle_add(dp_bundle *b, dp_bundle_kind kind, const uint8_t hash[32], dp_error *e);
bool dp_bundle_allows(const dp_bundle *b, dp_bundle_kind kind, const uint8_t hash[32]);
size_t dp_bundle_count(const dp_bundle *b, dp_bundle_kind kind);
/* The signed message (above) appended to out. */
void dp_bundle_message(const dp_bundle *b, dp_buf *out);
/* The bundle file (JSON, one hash per line) appended to out. */
void dp_bundle_write(const dp_bundle *b, dp_buf *out);
/* The 64-byte signature, NULL when unsigned. */
const uint8_t *dp_bundle_signature(const dp_bundle *b);
void dp_bundle_set_signature(dp_bundle *b, const uint8_t sig[64]);

/* ---- Ed25519 (libsodium; DP_ERR_UNSUPPORTED in builds without it, e.g. WebAssembly) ---- */
dp_status dp_ed25519_keygen(uint8_t pk[32], uint8_t sk[64], dp_error *e);
dp_status dp_bundle_sign(dp_bundle *b, const uint8_t sk[64], dp_error *e);
/* DP_ERR_HASH "the bundle's signature does not verify with this key" (or unsigned). */
dp_status dp_bundle_verify(const dp_bundle *b, const uint8_t pk[32], dp_error *e);

/* A key file: exactly n bytes as 2n lowercase hex digits, then optional whitespace. */
dp_status dp_key_read(const char *path, uint8_t *out, size_t n, dp_error *e);
dp_status dp_key_write(const char *path, const uint8_t *key, size_t n, bool secret, dp_error *e);
/* 2n hex digits of s (exactly) into out; false when s is anything else. */
bool dp_hex_decode(const char *s, size_t len, uint8_t *out, size_t n);

#endif /* DP_POLICY_BUNDLE_H */
