/* test_kernel_registry.c — the kernel registry as data (no GPU): the key byte by byte, the
 * built-in entries, the WGSL scan, and which candidates an op accepts (entry points, override
 * constants, binding layout) with the registry unchanged after a refusal. */
#include <string.h>

#include "backend/webgpu/wg_registry.h"
#include "base/sha256.h"
#include "testutil.h"

static char *replace(const char *s, size_t n, const char *from, const char *to) {
    const char *at = strstr(s, from);
    if (!at) return NULL;
    size_t a = (size_t)(at - s), fl = strlen(from), tl = strlen(to);
    char *o = malloc(n - fl + tl + 1);
    if (!o) return NULL;
    memcpy(o, s, a);
    memcpy(o + a, to, tl);
    memcpy(o + a + tl, at + fl, n - a - fl);
    o[n - fl + tl] = '\0';
    return o;
}

static void test_key(void) {
    /* docs/KERNELS.md's example, computed independently (Python hashlib over the same bytes) */
    const char *t = "@compute @workgroup_size(1) fn main() {}\n";
    uint8_t k[32];
    char hex[65];
    dp_kernel_key(t, strlen(t), "main", "WG=64", k);
    dp_sha256_hex(k, hex);
    CHECK_MSG(!strcmp(hex, "7d1043da4169d6b6bad85e00d72a4b3080db7365dc8fc4e342706e14183b8229"), "%s", hex);
    /* each field counts: entry, constants, one byte of text */
    uint8_t k2[32];
    dp_kernel_key(t, strlen(t), "main", "", k2);
    CHECK(memcmp(k, k2, 32));
    dp_kernel_key(t, strlen(t) - 1, "main", "WG=64", k2);
    CHECK(memcmp(k, k2, 32));
    /* length prefixes: moving a byte between fields changes the key */
    dp_kernel_key(t, strlen(t), "mai", "nWG=64", k2);
    CHECK(memcmp(k, k2, 32));
}

static void test_scan(void) {
    dp_wgsl_info info;
    dp_error e = {0};
    const char *ok = "/* a /* nested */ comment */ override WG: u32 = 64u;\n"
                     "@group(0) @binding(0) var<uniform> p: P;\n"
                     "@group(0) @binding(1) var<storage, read_write> o: array<f32>;\n"
                     "@group(0) @binding(2) var<storage> a: array<f32>;\n"
                     "@group(0) @binding(2) var<storage, read> a4: array<vec4<f32>>;\n"
                     "var<workgroup> red: array<f32, 64>;\n"
                     "fn helper(x: f32) -> f32 { var y = x; return y; }\n"
                     "@compute @workgroup_size(WG) fn one(@builtin(global_invocation_id) g: vec3<u32>) {}\n"
                     "@compute\n@workgroup_size(WG, 1, 1)\nfn two() {}\n";
    CHECK_MSG(dp_wgsl_scan(ok, strlen(ok), &info, &e) == DP_OK, "%s", e.msg);
    CHECK(info.n_entries == 2 && !strcmp(info.entries[0], "one") && !strcmp(info.entries[1], "two"));
    CHECK(info.n_overrides == 1 && !strcmp(info.overrides[0], "WG"));
    CHECK(info.n_bindings == 3);
    CHECK(info.bindings[0].kind == DP_WGSL_UNIFORM && info.bindings[1].kind == DP_WGSL_READ_WRITE &&
          info.bindings[2].binding == 2 && info.bindings[2].kind == DP_WGSL_READ);
    const char *bad[] = {
        "@compute @workgroup_size(1) fn main() {} /* open",
        "fn main() {}",                                               /* no entry point */
        "@group(0) @binding(N) var<storage> a: array<f32>;\n@compute @workgroup_size(1) fn m() {}",
        "@compute @workgroup_size(1 fn main() {}",
        "@group(0) var<storage> a: array<f32>;\n@compute @workgroup_size(1) fn m() {}",
        "@compute @workgroup_size(1) fn m() {}\n@compute @workgroup_size(1) fn m() {}",
        "@group(0) @binding(0) var<storage, write> a: array<f32>;\n@compute @workgroup_size(1) fn m() {}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dp_error e2 = {0};
        CHECK_MSG(dp_wgsl_scan(bad[i], strlen(bad[i]), &info, &e2) == DP_ERR_FORMAT, "case %zu", i);
        CHECK(e2.msg[0] != '\0');
    }
    char nul[] = "@compute @workgroup_size(1) fn m() {}\0x";
    CHECK(dp_wgsl_scan(nul, sizeof nul - 1, &info, &e) == DP_ERR_FORMAT);
}

static void test_registry(void) {
    dp_error e = {0};
    dp_kreg *r = NULL;
    if (dp_kreg_new(&r, &e) != DP_OK) {
        CHECK_MSG(0, "%s", e.msg);
        return;
    }
    int n_texts = 0;
    CHECK_MSG(dp_kreg_verify(r, &n_texts, &e) == DP_OK, "%s", e.msg);
    CHECK(n_texts >= 10 && dp_kreg_count(r) > n_texts);
    /* the entries the backend dispatches are there */
    const char *need[][2] = {{"rms_norm", "main"}, {"elementwise", "add"}, {"attention", "partial"},
                             {"weights_q4_k", "nmatvec"}, {"sample", "greedy"}, {"rope", "rope2kv"}};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        CHECK_MSG(dp_kreg_find(r, need[i][0], need[i][1]) != NULL, "%s:%s", need[i][0], need[i][1]);
    const dp_kentry *norm = dp_kreg_find(r, "rms_norm", "main");
    if (!norm) goto done;
    CHECK(norm->builtin && !strcmp(norm->source, "builtin") && norm->constants[0] == '\0');
    uint8_t key0[32];
    memcpy(key0, norm->key, 32);
    char hex[65];
    dp_sha256_hex(norm->key, hex);
    CHECK(dp_kreg_find_key(r, hex) == norm);
    hex[10] = '\0';
    CHECK(dp_kreg_find_key(r, hex) == norm);
    CHECK(dp_kreg_find_key(r, "abc") == NULL); /* too short */
    char *text = dp_strndup(norm->text, norm->len);
    size_t len = norm->len;
    /* refused candidates leave the registry as it was */
    struct { const char *from, *to, *want; } cases[] = {
        {"fn norm_add(", "fn norm_add2(", "no entry point norm_add"},
        {"@binding(2) var<storage, read>", "@binding(2) var<storage, read_write>", "binding layout"},
        {"override WG", "const WG", "no override constant WG"},
        {"@compute", "@compute /* open", "unterminated"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *c = replace(text, len, cases[i].from, cases[i].to);
        CHECK_MSG(c != NULL, "case %zu: pattern not in rms_norm.wgsl", i);
        if (!c) continue;
        dp_error e2 = {0};
        CHECK(dp_kreg_override(r, "rms_norm", c, strlen(c), "cand.wgsl", &e2) != DP_OK);
        CHECK_MSG(strstr(e2.msg, cases[i].want) != NULL, "case %zu: %s", i, e2.msg);
        const dp_kentry *now = dp_kreg_find(r, "rms_norm", "main");
        CHECK(now && now->builtin && !memcmp(now->key, key0, 32));
        free(c);
    }
    CHECK(dp_kreg_override(r, "no_such_op", text, len, "x", &e) == DP_ERR_NOT_FOUND);
    /* an equivalent candidate (one comment more) replaces every entry of the op */
    char *same = replace(text, len, "override WG", "// candidate\noverride WG");
    CHECK(same != NULL);
    if (same) {
        CHECK_MSG(dp_kreg_override(r, "rms_norm", same, strlen(same), "cand.wgsl", &e) == DP_OK, "%s", e.msg);
        const dp_kentry *c = dp_kreg_find(r, "rms_norm", "main");
        CHECK(c && !c->builtin && !strcmp(c->source, "cand.wgsl") && memcmp(c->key, key0, 32));
        const dp_kentry *c2 = dp_kreg_find(r, "rms_norm", "norm_add");
        CHECK(c2 && !c2->builtin);
        CHECK(dp_kreg_verify(r, NULL, &e) == DP_OK);
        /* the candidate's own key is what dp_kernel_key says */
        uint8_t k[32];
        dp_kernel_key(same, strlen(same), "main", "", k);
        CHECK(c && !memcmp(c->key, k, 32));
        CHECK(dp_kreg_revert(r, "rms_norm", &e) == DP_OK);
        c = dp_kreg_find(r, "rms_norm", "main");
        CHECK(c && c->builtin && !memcmp(c->key, key0, 32));
        free(same);
    }
    dp_free(text);
done:
    dp_kreg_free(r);
    dp_kreg_free(NULL);
}

int main(void) {
    test_key();
    test_scan();
    test_registry();
    return t_done("test_kernel_registry");
}
