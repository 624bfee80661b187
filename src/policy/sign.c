/* sign.c — Ed25519 for bundles through libsodium (bundle.h); builds without it (WebAssembly:
 * the JavaScript host verifies with WebCrypto) get DP_ERR_UNSUPPORTED. */
#include "policy/bundle.h"

#include <string.h>

#if defined(DP_HAVE_SODIUM)
#include <sodium.h>

static dp_status ready(dp_error *e) {
    return sodium_init() < 0 ? dp_err_set(e, DP_ERR_INTERNAL, "libsodium failed to initialise") : DP_OK;
}

dp_status dp_ed25519_keygen(uint8_t pk[32], uint8_t sk[64], dp_error *e) {
    dp_status st = ready(e);
    if (st == DP_OK) crypto_sign_keypair(pk, sk);
    return st;
}

dp_status dp_bundle_sign(dp_bundle *b, const uint8_t sk[64], dp_error *e) {
    dp_status st = ready(e);
    if (st != DP_OK) return st;
    dp_buf m = {0};
    dp_bundle_message(b, &m);
    if (m.oom) {
        dp_buf_free(&m);
        return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    }
    uint8_t sig[64];
    crypto_sign_detached(sig, NULL, (const unsigned char *)m.data, m.len, sk);
    dp_buf_free(&m);
    dp_bundle_set_signature(b, sig);
    return DP_OK;
}

dp_status dp_bundle_verify(const dp_bundle *b, const uint8_t pk[32], dp_error *e) {
    dp_status st = ready(e);
    if (st != DP_OK) return st;
    const uint8_t *sig = dp_bundle_signature(b);
    if (!sig) return dp_err_set(e, DP_ERR_HASH, "the bundle is not signed");
    dp_buf m = {0};
    dp_bundle_message(b, &m);
    if (m.oom) {
        dp_buf_free(&m);
        return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    }
    int bad = crypto_sign_verify_detached(sig, (const unsigned char *)m.data, m.len, pk);
    dp_buf_free(&m);
    return bad ? dp_err_set(e, DP_ERR_HASH, "the bundle's signature does not verify with this key") : DP_OK;
}

#else

dp_status dp_ed25519_keygen(uint8_t pk[32], uint8_t sk[64], dp_error *e) {
    (void)pk;
    (void)sk;
    return dp_err_set(e, DP_ERR_UNSUPPORTED, "Ed25519 needs libsodium (not in this build)");
}

dp_status dp_bundle_sign(dp_bundle *b, const uint8_t sk[64], dp_error *e) {
    (void)b;
    (void)sk;
    return dp_err_set(e, DP_ERR_UNSUPPORTED, "Ed25519 needs libsodium (not in this build)");
}

dp_status dp_bundle_verify(const dp_bundle *b, const uint8_t pk[32], dp_error *e) {
    (void)b;
    (void)pk;
    return dp_err_set(e, DP_ERR_UNSUPPORTED, "Ed25519 needs libsodium (not in this build)");
}

#endif
