/* policy.h — static mode: the policy object that the kernel registry and model loading consult
 * before anything runs (docs/KERNELS.md). It holds a bundle whose signature was verified:
 * kernels, models and adapters outside it are refused. Policy lives here, not in backends. */
#ifndef DP_POLICY_H
#define DP_POLICY_H

#include "backend/webgpu/wg_registry.h"
#include "policy/bundle.h"

typedef struct dp_policy dp_policy;

/* Reads the bundle file and the public key file and verifies the bundle's Ed25519 signature with
 * that key (libsodium). Refused (DP_ERR_HASH) when the signature does not verify: a bundle signed
 * with another key, or changed after signing. *out untouched on failure. */
dp_status dp_policy_load(const char *bundle_path, const char *pubkey_path, dp_policy **out, dp_error *e);
/* A policy from a bundle whose signature the caller verified (the JavaScript host, WebCrypto);
 * takes b (freed on failure too). */
dp_status dp_policy_from_verified(dp_bundle *b, dp_policy **out, dp_error *e);
void dp_policy_free(dp_policy *p); /* NULL: no-op */
const dp_bundle *dp_policy_bundle(const dp_policy *p);

/* DP_ERR_UNSUPPORTED naming the id when the model (SHA-256 of <dir>/manifest.json) or adapter
 * (SHA-256 of its manifest.json) is not in the bundle; *id_hex (65 bytes, may be NULL) gets the id. */
dp_status dp_policy_check_model(const dp_policy *p, const char *dir, char *id_hex, dp_error *e);
dp_status dp_policy_check_adapter(const dp_policy *p, const char *dir, char *id_hex, dp_error *e);
/* DP_ERR_UNSUPPORTED naming the first registry entry whose key is not in the bundle: every
 * kernel the registry could hand to a backend must be allowed before the backend gets it. */
dp_status dp_policy_check_kernels(const dp_policy *p, const dp_kreg *r, dp_error *e);

#endif /* DP_POLICY_H */
