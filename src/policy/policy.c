/* policy.c — the static-mode policy object (policy.h). */
#include "policy/policy.h"

#include <string.h>

#include "base/sha256.h"

struct dp_policy {
    dp_bundle *b;
};

dp_status dp_policy_from_verified(dp_bundle *b, dp_policy **out, dp_error *e) {
    dp_policy *p = dp_calloc(1, sizeof *p);
    if (!p) {
        dp_bundle_free(b);
        return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    }
    p->b = b;
    *out = p;
    return DP_OK;
}

dp_status dp_policy_load(const char *bundle_path, const char *pubkey_path, dp_policy **out, dp_error *e) {
    uint8_t pk[32];
    char *text = NULL;
    size_t n = 0;
    dp_bundle *b = NULL;
    dp_status st = dp_key_read(pubkey_path, pk, sizeof pk, e);
    if (st == DP_OK) st = dp_file_read_all(bundle_path, 64u << 20, &text, &n, e);
    if (st == DP_OK && dp_bundle_parse(text, n, &b, e) != DP_OK) st = dp_err_prefix(e, "%s", bundle_path);
    if (st == DP_OK && dp_bundle_verify(b, pk, e) != DP_OK) st = dp_err_prefix(e, "%s", bundle_path);
    dp_free(text);
    if (st != DP_OK) {
        dp_bundle_free(b);
        return st;
    }
    return dp_policy_from_verified(b, out, e);
}

void dp_policy_free(dp_policy *p) {
    if (!p) return;
    dp_bundle_free(p->b);
    dp_free(p);
}

const dp_bundle *dp_policy_bundle(const dp_policy *p) { return p->b; }

static dp_status check_manifest(const dp_policy *p, dp_bundle_kind kind, const char *what,
                                const char *dir, char *id_hex, dp_error *e) {
    char *path = dp_path_join(dir, "manifest.json");
    if (!path) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    uint8_t id[32];
    char hex[65];
    dp_status st = dp_sha256_file(path, id, e);
    dp_free(path);
    if (st != DP_OK) return st;
    dp_sha256_hex(id, hex);
    if (id_hex) memcpy(id_hex, hex, 65);
    if (!dp_bundle_allows(p->b, kind, id))
        return dp_err_set(e, DP_ERR_UNSUPPORTED, "static mode: %s %s (id %s) is not in the bundle", what, dir, hex);
    return DP_OK;
}

dp_status dp_policy_check_model(const dp_policy *p, const char *dir, char *id_hex, dp_error *e) {
    return check_manifest(p, DP_BUNDLE_MODEL, "model", dir, id_hex, e);
}

dp_status dp_policy_check_adapter(const dp_policy *p, const char *dir, char *id_hex, dp_error *e) {
    return check_manifest(p, DP_BUNDLE_ADAPTER, "adapter", dir, id_hex, e);
}

dp_status dp_policy_check_kernels(const dp_policy *p, const dp_kreg *r, dp_error *e) {
    for (int i = 0; i < dp_kreg_count(r); i++) {
        const dp_kentry *k = dp_kreg_at(r, i);
        if (dp_bundle_allows(p->b, DP_BUNDLE_KERNEL, k->key)) continue;
        char hex[65];
        dp_sha256_hex(k->key, hex);
        return dp_err_set(e, DP_ERR_UNSUPPORTED, "static mode: kernel %s:%s (key %s, %s) is not in the bundle",
                          k->op, k->entry, hex, k->source);
    }
    return DP_OK;
}
