/* test_bundle.c — static-mode bundles and the audit log: the byte rules of the bundle file, the
 * signed message byte for byte, Ed25519 sign / verify (another key, a changed list, unsigned),
 * the policy's kernel and model checks, and an audit record's exact bytes. */
#include <string.h>

#include "backend/webgpu/wg_registry.h"
#include "base/sha256.h"
#include "policy/audit.h"
#include "policy/policy.h"
#include "testutil.h"

static const char H1[] = "1111111111111111111111111111111111111111111111111111111111111111";
static const char H2[] = "2222222222222222222222222222222222222222222222222222222222222222";

static dp_bundle *parse(const char *text, dp_status want) {
    dp_bundle *b = NULL;
    dp_error e = {0};
    dp_status st = dp_bundle_parse(text, strlen(text), &b, &e);
    CHECK_MSG(st == want, "%s -> %d (%s)", text, (int)st, e.msg);
    if (st != DP_OK) CHECK(b == NULL && e.msg[0]);
    return b;
}

static void test_format(void) {
    char t[1024];
    snprintf(t, sizeof t, "{\"format\":\"doppler-bundle\",\"version\":1,\"kernels\":[\"%s\",\"%s\"],\"models\":[\"%s\"],\"adapters\":[]}", H1, H2, H2);
    dp_bundle *b = parse(t, DP_OK);
    if (!b) return;
    CHECK(dp_bundle_count(b, DP_BUNDLE_KERNEL) == 2 && dp_bundle_count(b, DP_BUNDLE_MODEL) == 1);
    CHECK(dp_bundle_signature(b) == NULL);
    uint8_t h[32];
    dp_hex_decode(H2, 64, h, 32);
    CHECK(dp_bundle_allows(b, DP_BUNDLE_KERNEL, h) && dp_bundle_allows(b, DP_BUNDLE_MODEL, h));
    CHECK(!dp_bundle_allows(b, DP_BUNDLE_ADAPTER, h));
    dp_buf m = {0};
    dp_bundle_message(b, &m);
    char want[512];
    snprintf(want, sizeof want, "doppler-bundle-v1\nkernel %s\nkernel %s\nmodel %s\n", H1, H2, H2);
    CHECK_MSG(m.data && !strcmp(m.data, want), "%s", m.data);
    /* written and read back: the same message */
    dp_buf w = {0};
    dp_bundle_write(b, &w);
    dp_bundle *b2 = parse(w.data, DP_OK);
    dp_buf m2 = {0};
    if (b2) dp_bundle_message(b2, &m2);
    CHECK(m2.data && !strcmp(m2.data, m.data));
    dp_buf_free(&m);
    dp_buf_free(&m2);
    dp_buf_free(&w);
    dp_bundle_free(b);
    dp_bundle_free(b2);
    /* one byte form per bundle: out of order, repeated, uppercase, short, unknown members */
    const char *bad[] = {"{\"format\":\"doppler-bundle\",\"version\":1,\"kernels\":[\"%s\",\"%s\"]}",
                         "{\"format\":\"doppler-bundle\",\"version\":1,\"kernels\":[\"%s\",\"%s\"],\"x\":1}"};
    snprintf(t, sizeof t, bad[0], H2, H1);
    dp_bundle_free(parse(t, DP_ERR_FORMAT));
    snprintf(t, sizeof t, bad[0], H1, H1);
    dp_bundle_free(parse(t, DP_ERR_FORMAT));
    snprintf(t, sizeof t, bad[1], H1, H2);
    dp_bundle_free(parse(t, DP_ERR_FORMAT));
    dp_bundle_free(parse("{\"format\":\"doppler-bundle\",\"version\":1,\"kernels\":[\"AB\"]}", DP_ERR_FORMAT));
    dp_bundle_free(parse("{\"format\":\"doppler-bundle\",\"version\":2}", DP_ERR_FORMAT));
    dp_bundle_free(parse("{\"format\":\"doppler-bundle\",\"version\":1,\"signature\":\"00\"}", DP_ERR_FORMAT));
    snprintf(t, sizeof t, "{\"format\":\"doppler-bundle\",\"version\":1,\"kernels\":[\"%.63sA\"]}", H1);
    dp_bundle_free(parse(t, DP_ERR_FORMAT));
}

static void test_sign(void) {
    dp_error e = {0};
    uint8_t pk[32], sk[64], pk2[32], sk2[64];
    if (dp_ed25519_keygen(pk, sk, &e) != DP_OK || dp_ed25519_keygen(pk2, sk2, &e) != DP_OK) {
        CHECK_MSG(0, "keygen: %s (libsodium is part of the native build: scripts/deps.sh)", e.msg);
        return;
    }
    dp_bundle *b = NULL;
    uint8_t h[32];
    dp_hex_decode(H1, 64, h, 32);
    CHECK(dp_bundle_new(&b, &e) == DP_OK);
    if (!b) return;
    CHECK(dp_bundle_add(b, DP_BUNDLE_MODEL, h, &e) == DP_OK);
    CHECK(dp_bundle_verify(b, pk, &e) == DP_ERR_HASH); /* unsigned */
    CHECK(dp_bundle_sign(b, sk, &e) == DP_OK);
    CHECK_MSG(dp_bundle_verify(b, pk, &e) == DP_OK, "%s", e.msg);
    CHECK(dp_bundle_verify(b, pk2, &e) == DP_ERR_HASH);
    /* the signed file read back verifies; the same file with one list changed does not */
    dp_buf w = {0};
    dp_bundle_write(b, &w);
    dp_bundle *r = parse(w.data, DP_OK);
    CHECK(r && dp_bundle_verify(r, pk, &e) == DP_OK);
    char *at = w.data ? strstr(w.data, H1) : NULL;
    if (at) at[10] = '3'; /* tampered: another model id under the old signature */
    dp_bundle *t = parse(w.data, DP_OK);
    CHECK(t && dp_bundle_verify(t, pk, &e) == DP_ERR_HASH);
    dp_bundle_free(r);
    dp_bundle_free(t);
    dp_buf_free(&w);
    dp_bundle_free(b);
}

static void test_policy(void) {
    dp_error e = {0};
    dp_kreg *reg = NULL;
    dp_bundle *b = NULL;
    dp_policy *p = NULL;
    if (dp_kreg_new(&reg, &e) != DP_OK || dp_bundle_new(&b, &e) != DP_OK) {
        CHECK_MSG(0, "%s", e.msg);
        dp_kreg_free(reg);
        return;
    }
    for (int i = 1; i < dp_kreg_count(reg); i++) dp_bundle_add(b, DP_BUNDLE_KERNEL, dp_kreg_at(reg, i)->key, &e);
    CHECK(dp_policy_from_verified(b, &p, &e) == DP_OK);
    if (p) {
        /* the first entry is missing: refused, naming it */
        CHECK(dp_policy_check_kernels(p, reg, &e) == DP_ERR_UNSUPPORTED);
        CHECK_MSG(strstr(e.msg, dp_kreg_at(reg, 0)->entry) != NULL, "%s", e.msg);
        dp_bundle_add((dp_bundle *)dp_policy_bundle(p), DP_BUNDLE_KERNEL, dp_kreg_at(reg, 0)->key, &e);
        CHECK(dp_policy_check_kernels(p, reg, &e) == DP_OK);
        /* a model directory whose manifest.json is not listed */
        const char *dir = t_tmpdir("test_bundle");
        char path[512];
        snprintf(path, sizeof path, "%s/manifest.json", dir);
        CHECK(dp_file_write_all(path, "{}", 2, &e) == DP_OK);
        char id[65];
        CHECK(dp_policy_check_model(p, dir, id, &e) == DP_ERR_UNSUPPORTED);
        CHECK(strstr(e.msg, "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a") != NULL); /* sha256("{}") */
        uint8_t h[32];
        dp_hex_decode(id, 64, h, 32);
        dp_bundle_add((dp_bundle *)dp_policy_bundle(p), DP_BUNDLE_MODEL, h, &e);
        CHECK(dp_policy_check_model(p, dir, NULL, &e) == DP_OK);
    }
    dp_policy_free(p);
    dp_policy_free(NULL);
    dp_kreg_free(reg);
}

static void test_audit(void) {
    uint8_t key[32];
    memset(key, 0xab, sizeof key);
    dp_audit_kernel k = {"rms_norm", "main", key};
    const char *ad = H2;
    int32_t prompt[] = {1, 5, 77}, out[] = {300, -1};
    dp_audit_rec r = {H1, &k, 1, &ad, 1, {0.8f, 40, 0.95f, 7}, prompt, 3, out, 2};
    dp_buf b = {0};
    dp_audit_format(&r, 1764771600, &b);
    /* the ids' hashes: SHA-256 of 01 00 00 00 05 00 00 00 4d 00 00 00 and of 2c 01 00 00 ff ff ff ff */
    uint8_t pb[12] = {1, 0, 0, 0, 5, 0, 0, 0, 77, 0, 0, 0}, ob[8] = {0x2c, 1, 0, 0, 0xff, 0xff, 0xff, 0xff};
    uint8_t d[32];
    char ph[65], oh[65], want[1024];
    dp_sha256(pb, sizeof pb, d);
    dp_sha256_hex(d, ph);
    dp_sha256(ob, sizeof ob, d);
    dp_sha256_hex(d, oh);
    snprintf(want, sizeof want,
             "{\"time\": \"2025-12-03T14:20:00Z\", \"model\": \"%s\", \"kernels\": [{\"op\": \"rms_norm\", \"entry\": \"main\", "
             "\"key\": \"abababababababababababababababababababababababababababababababab\"}], \"adapters\": [\"%s\"], "
             "\"sampling\": {\"temperature\": 0.8, \"top_k\": 40, \"top_p\": 0.95, \"seed\": 7}, \"n_prompt\": 3, "
             "\"n_output\": 2, \"prompt_sha256\": \"%s\", \"output_sha256\": \"%s\"}\n", H1, H2, ph, oh);
    CHECK_MSG(b.data && !strcmp(b.data, want), "\n%s\n%s", b.data, want);
    dp_buf_free(&b);
}

int main(void) {
    test_format();
    test_sign();
    test_policy();
    test_audit();
    return t_done("test_bundle");
}
