/* cmd_bundle.c — `doppler bundle keygen|create|sign|verify`: static-mode bundles (bundle.h,
 * docs/KERNELS.md). */
#include <stdio.h>
#include <string.h>

#include "backend/webgpu/wg_registry.h"
#include "base/sha256.h"
#include "cli.h"
#include "commands.h"
#include "policy/bundle.h"

static const char USAGE[] =
    "bundle keygen <key>                       writes <key> (secret, 0600) and <key>.pub\n"
    "       doppler bundle create <out.json> [--model DIR]... [--adapter DIR]... [--kernel op=file.wgsl]...\n"
    "                                                 [--kernels registry.json] [--no-builtin]\n"
    "       doppler bundle sign <bundle.json> --key <key>\n"
    "       doppler bundle verify <bundle.json> --pubkey <key.pub>";

static void refused(void *ud, const char *op, const dp_error *why) {
    fprintf(stderr, "doppler bundle: candidate for %s refused: %s\n", op, why->msg);
    *(int *)ud = 1;
}

static dp_status add_manifest(dp_bundle *b, dp_bundle_kind kind, const char *dir, dp_error *e) {
    char *path = dp_path_join(dir, "manifest.json");
    if (!path) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    uint8_t id[32];
    dp_status st = dp_sha256_file(path, id, e);
    dp_free(path);
    return st == DP_OK ? dp_bundle_add(b, kind, id, e) : st;
}

static dp_status write_bundle(const dp_bundle *b, const char *path, dp_error *e) {
    dp_buf out = {0};
    dp_bundle_write(b, &out);
    dp_status st = out.oom ? dp_err_set(e, DP_ERR_NOMEM, "out of memory") : dp_file_write_all(path, out.data, out.len, e);
    dp_buf_free(&out);
    return st;
}

static dp_status read_bundle(const char *path, dp_bundle **b, dp_error *e) {
    char *text = NULL;
    size_t n = 0;
    dp_status st = dp_file_read_all(path, 64u << 20, &text, &n, e);
    if (st == DP_OK && dp_bundle_parse(text, n, b, e) != DP_OK) st = dp_err_prefix(e, "%s", path);
    dp_free(text);
    return st;
}

static int create(int argc, char **argv) {
    const char *out = NULL;
    bool builtin = true;
    int bad = 0;
    dp_error e = {0};
    dp_bundle *b = NULL;
    dp_kreg *r = NULL;
    if (dp_bundle_new(&b, &e) != DP_OK || dp_kreg_new(&r, &e) != DP_OK) goto fail;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        dp_status st = DP_OK;
        if (!strcmp(a, "--model") && v) st = add_manifest(b, DP_BUNDLE_MODEL, argv[++i], &e);
        else if (!strcmp(a, "--adapter") && v) st = add_manifest(b, DP_BUNDLE_ADAPTER, argv[++i], &e);
        else if (!strcmp(a, "--kernel") && v) {
            if (dp_kreg_override_spec(r, argv[++i], &e) != DP_OK) refused(&bad, argv[i], &e);
        } else if (!strcmp(a, "--kernels") && v) st = dp_kreg_apply_file(r, argv[++i], refused, &bad, &e);
        else if (!strcmp(a, "--no-builtin")) builtin = false;
        else if (a[0] == '-' || out) {
            dp_bundle_free(b);
            dp_kreg_free(r);
            return cli_usage(USAGE);
        } else out = a;
        if (st != DP_OK) goto fail;
    }
    if (!out || bad) {
        dp_bundle_free(b);
        dp_kreg_free(r);
        return out ? 1 : cli_usage(USAGE);
    }
    for (int i = 0; i < dp_kreg_count(r); i++) {
        const dp_kentry *k = dp_kreg_at(r, i);
        if ((builtin || !k->builtin) && dp_bundle_add(b, DP_BUNDLE_KERNEL, k->key, &e) != DP_OK) goto fail;
    }
    if (write_bundle(b, out, &e) != DP_OK) goto fail;
    printf("%s: %zu kernels, %zu models, %zu adapters (unsigned: doppler bundle sign)\n", out,
           dp_bundle_count(b, DP_BUNDLE_KERNEL), dp_bundle_count(b, DP_BUNDLE_MODEL),
           dp_bundle_count(b, DP_BUNDLE_ADAPTER));
    dp_bundle_free(b);
    dp_kreg_free(r);
    return 0;
fail:
    dp_bundle_free(b);
    dp_kreg_free(r);
    return cli_fail("bundle create", &e);
}

int cmd_bundle(int argc, char **argv) {
    if (argc < 3) return cli_usage(USAGE);
    const char *sub = argv[1], *path = argv[2];
    dp_error e = {0};
    if (!strcmp(sub, "keygen") && argc == 3) {
        uint8_t pk[32], sk[64];
        dp_buf pubb = {0};
        dp_buf_printf(&pubb, "%s.pub", path);
        const char *pub = pubb.data;
        dp_status st = pubb.oom ? dp_err_set(&e, DP_ERR_NOMEM, "out of memory") : dp_ed25519_keygen(pk, sk, &e);
        if (st == DP_OK) st = dp_key_write(path, sk, 64, true, &e);
        if (st == DP_OK) st = dp_key_write(pub, pk, 32, false, &e);
        if (st == DP_OK) printf("wrote %s (secret) and %s\n", path, pub);
        dp_buf_free(&pubb);
        memset(sk, 0, sizeof sk);
        return st == DP_OK ? 0 : cli_fail("bundle keygen", &e);
    }
    if (!strcmp(sub, "create")) return create(argc, argv);
    bool sign = !strcmp(sub, "sign"), verify = !strcmp(sub, "verify");
    if (!(sign || verify) || argc != 5 || strcmp(argv[3], sign ? "--key" : "--pubkey")) return cli_usage(USAGE);
    dp_bundle *b = NULL;
    dp_status st = read_bundle(path, &b, &e);
    if (st == DP_OK && sign) {
        uint8_t sk[64];
        st = dp_key_read(argv[4], sk, 64, &e);
        if (st == DP_OK) st = dp_bundle_sign(b, sk, &e);
        if (st == DP_OK) st = write_bundle(b, path, &e);
        memset(sk, 0, sizeof sk);
    } else if (st == DP_OK) {
        uint8_t pk[32];
        st = dp_key_read(argv[4], pk, 32, &e);
        if (st == DP_OK) st = dp_bundle_verify(b, pk, &e);
        if (st == DP_OK)
            printf("%s: signature ok; %zu kernels, %zu models, %zu adapters\n", path,
                   dp_bundle_count(b, DP_BUNDLE_KERNEL), dp_bundle_count(b, DP_BUNDLE_MODEL),
                   dp_bundle_count(b, DP_BUNDLE_ADAPTER));
    }
    dp_bundle_free(b);
    return st == DP_OK ? 0 : cli_fail(sign ? "bundle sign" : "bundle verify", &e);
}
