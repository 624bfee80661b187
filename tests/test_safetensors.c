/* test_safetensors.c — the hf-tiny fixtures parse; hostile files are rejected with the right
 * status, never a crash. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "format/safetensors.h"
#include "testutil.h"

/* A safetensors image: u64 header length | header | data_len bytes (value i&0xff). */
static size_t make_st(uint8_t *out, size_t cap, const char *hdr, size_t data_len) {
    size_t n = strlen(hdr);
    if (8 + n + data_len > cap) return 0;
    uint64_t len = n;
    for (int i = 0; i < 8; i++) out[i] = (uint8_t)(len >> (8 * i));
    memcpy(out + 8, hdr, n);
    for (size_t i = 0; i < data_len; i++) out[8 + n + i] = (uint8_t)i;
    return 8 + n + data_len;
}

static dp_status open_mem(const uint8_t *data, size_t n, dp_st **st, dp_error *e) {
    dp_reader r;
    dp_reader_open_mem(&r, data, n);
    return dp_st_open_reader(&r, st, e);
}

/* Expect the header (with data_len bytes of data) to be rejected with status want. */
static void expect_bad(const char *what, const char *hdr, size_t data_len, dp_status want) {
    static uint8_t img[1 << 16];
    size_t n = make_st(img, sizeof img, hdr, data_len);
    dp_st *st = NULL;
    dp_error e = {0};
    dp_status s = open_mem(img, n, &st, &e);
    CHECK_MSG(s == want, "%s: got status %d (%s), want %d", what, s, e.msg, want);
    CHECK_MSG(s == DP_OK || st == NULL, "%s: handle set on failure", what);
    CHECK_MSG(s == DP_OK || e.msg[0], "%s: no message", what);
    dp_st_free(st);
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); t_failures++; return; }
    if (fwrite(data, 1, n, f) != n) t_failures++;
    fclose(f);
}

static void test_fixtures(void) {
    static const char *fams[] = {"gemma3", "llama", "gemma2", "phi3", "mixtral", "qwen3"};
    int found = 0;
    for (size_t i = 0; i < sizeof fams / sizeof fams[0]; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "fixtures/hf-tiny/%s/model.safetensors", fams[i]);
        const char *path = t_shared(rel);
        if (!path) continue;
        found++;
        char file[4096];
        snprintf(file, sizeof file, "%s", path);
        dp_st *st = NULL;
        dp_error e = {0};
        dp_status s = dp_st_open(file, &st, &e);
        CHECK_MSG(s == DP_OK, "%s: %s", file, e.msg);
        if (s) continue;
        CHECK(dp_st_count(st) > 0);
        uint64_t total = 0;
        for (size_t k = 0; k < dp_st_count(st); k++) {
            const dp_st_tensor *t = dp_st_at(st, k);
            CHECK(dp_st_find(st, t->name) == t);
            CHECK(t->dtype == DP_DTYPE_BF16);
            total += t->size;
            float *buf = malloc((size_t)dp_st_numel(t) * sizeof(float) + 4);
            if (!buf) continue;
            s = dp_st_read_f32(st, t, buf, &e);
            CHECK_MSG(s == DP_OK, "%s: %s", t->name, e.msg);
            for (uint64_t j = 0; s == DP_OK && j < dp_st_numel(t); j++)
                if (!(buf[j] == buf[j]) || buf[j] > 1e4f || buf[j] < -1e4f) {
                    CHECK_MSG(0, "%s[%llu] = %g", t->name, (unsigned long long)j, buf[j]);
                    break;
                }
            free(buf);
        }
        CHECK(total > 0);
        CHECK(dp_st_find(st, "model.embed_tokens.weight") != NULL);
        CHECK(dp_st_find(st, "no.such.tensor") == NULL);
        dp_st_free(st);

        /* The directory form finds model.safetensors too. */
        snprintf(rel, sizeof rel, "fixtures/hf-tiny/%s", fams[i]);
        snprintf(file, sizeof file, "%s", t_shared(rel));
        s = dp_st_open(file, &st, &e);
        CHECK_MSG(s == DP_OK, "%s: %s", file, e.msg);
        dp_st_free(st);

        snprintf(rel, sizeof rel, "fixtures/hf-tiny/%s/reference.safetensors", fams[i]);
        path = t_shared(rel);
        if (path) {
            snprintf(file, sizeof file, "%s", path);
            s = dp_st_open(file, &st, &e);
            CHECK_MSG(s == DP_OK, "%s: %s", file, e.msg);
            if (s == DP_OK) {
                const dp_st_tensor *ids = dp_st_find(st, "input_ids");
                CHECK(ids && ids->dtype == DP_DTYPE_I32 && dp_st_numel(ids) == 40);
                if (ids) {
                    float f[40];
                    CHECK(dp_st_read_f32(st, ids, f, &e) == DP_ERR_UNSUPPORTED);
                }
                const dp_st_tensor *lg = dp_st_find(st, "logits");
                CHECK(lg && lg->dtype == DP_DTYPE_F32 && lg->n_dims == 2 && lg->shape[0] == 40);
            }
            dp_st_free(st);
        }
    }
    /* The gguf fixture folder: an f32 checkpoint and dequantized tensors with __metadata__. */
    static const char *more[] = {"fixtures/gguf/hf/model.safetensors",
                                 "fixtures/gguf/dequant-q8_0.safetensors",
                                 "fixtures/gguf/dequant-q4_k_m.safetensors",
                                 "fixtures/gguf/dequant-q6_k.safetensors"};
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++) {
        const char *path = t_shared(more[i]);
        if (!path) continue;
        found++;
        char file[4096];
        snprintf(file, sizeof file, "%s", path);
        dp_st *st = NULL;
        dp_error e = {0};
        dp_status s = dp_st_open(file, &st, &e);
        CHECK_MSG(s == DP_OK, "%s: %s", file, e.msg);
        if (s) continue;
        CHECK(dp_st_count(st) > 0);
        if (i > 0) CHECK_MSG(dp_st_metadata(st, "ggml_types") != NULL &&
                             strstr(dp_st_metadata(st, "ggml_types"), "output.weight"),
                             "%s: no ggml_types in __metadata__", file);
        for (size_t k = 0; k < dp_st_count(st); k++) {
            const dp_st_tensor *t = dp_st_at(st, k);
            CHECK(t->dtype == DP_DTYPE_F32);
            float *buf = malloc((size_t)t->size + 4);
            CHECK(buf && dp_st_read_f32(st, t, buf, &e) == DP_OK);
            free(buf);
        }
        dp_st_free(st);
    }
    if (!found) t_skip_part("fixtures absent: the fixture part");
}

static void test_valid(void) {
    static uint8_t img[4096];
    /* header padded with spaces, as the reference writer does */
    const char *hdr = "{\"__metadata__\":{\"format\":\"pt\"},"
                      "\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[24,32]},"
                      "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                      "\"s\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[32,36]},"
                      "\"z\":{\"dtype\":\"F16\",\"shape\":[0,5],\"data_offsets\":[36,36]}}    ";
    size_t n = make_st(img, sizeof img, hdr, 36);
    /* a = 0..5 as f32, b = 1, -2, 0.5, 3 as bf16 */
    size_t d = 8 + strlen(hdr);
    for (int i = 0; i < 6; i++) { float f = (float)i; memcpy(img + d + 4 * i, &f, 4); }
    uint16_t bv[4] = {0x3F80, 0xC000, 0x3F00, 0x4040};
    memcpy(img + d + 24, bv, 8);
    int32_t sv = -7;
    memcpy(img + d + 32, &sv, 4);

    dp_st *st = NULL;
    dp_error e = {0};
    dp_status s = open_mem(img, n, &st, &e);
    CHECK_MSG(s == DP_OK, "%s", e.msg);
    if (s) return;
    CHECK(dp_st_count(st) == 4);
    CHECK(dp_st_metadata(st, "format") && strcmp(dp_st_metadata(st, "format"), "pt") == 0);
    CHECK(dp_st_metadata(st, "nope") == NULL);
    const dp_st_tensor *a = dp_st_find(st, "a"), *b = dp_st_find(st, "b");
    const dp_st_tensor *sc = dp_st_find(st, "s"), *z = dp_st_find(st, "z");
    CHECK(a && b && sc && z);
    if (a && b && sc && z) {
        CHECK(a->offset == d && a->size == 24 && a->n_dims == 2 && a->shape[0] == 2 &&
              a->shape[1] == 3 && a->dtype == DP_DTYPE_F32 && a->file == 0);
        CHECK(b->offset == d + 24 && b->size == 8 && dp_st_numel(b) == 4);
        CHECK(sc->n_dims == 0 && dp_st_numel(sc) == 1 && sc->size == 4);
        CHECK(z->size == 0 && dp_st_numel(z) == 0);
        float f[6];
        CHECK(dp_st_read_f32(st, a, f, &e) == DP_OK && f[0] == 0 && f[5] == 5);
        CHECK(dp_st_read_f32(st, b, f, &e) == DP_OK && f[0] == 1 && f[1] == -2 && f[2] == 0.5f &&
              f[3] == 3);
        int32_t iv = 0;
        CHECK(dp_st_read(st, sc, &iv, &e) == DP_OK && iv == -7);
        CHECK(dp_st_read_f32(st, sc, f, &e) == DP_ERR_UNSUPPORTED);
        CHECK(dp_st_read_f32(st, z, f, &e) == DP_OK);
    }
    dp_st_free(st);

    /* Every truncation of a valid file is rejected, never a crash. */
    for (size_t cut = 0; cut < n; cut++) {
        st = NULL;
        s = open_mem(img, cut, &st, &e);
        CHECK_MSG(s != DP_OK, "truncated to %zu bytes accepted", cut);
        dp_st_free(st);
    }
    /* Byte mutations of the header: any status, no crash, no leak (run under ASan). */
    static uint8_t mut[4096];
    const uint8_t vals[] = {0x00, 0x22, 0x7B, 0x7D, 0x5B, 0x5D, 0x31, 0x39, 0x2C, 0xFF, 0x80};
    for (size_t i = 0; i < d; i++)
        for (size_t k = 0; k < sizeof vals; k++) {
            memcpy(mut, img, n);
            mut[i] = vals[k];
            st = NULL;
            s = open_mem(mut, n, &st, &e);
            if (s == DP_OK) {
                for (size_t j = 0; j < dp_st_count(st); j++) {
                    const dp_st_tensor *t = dp_st_at(st, j);
                    CHECK(t->offset >= d && t->offset + t->size <= n);
                }
            }
            dp_st_free(st);
        }
}

static void test_hostile(void) {
    uint8_t small[5] = {1, 0, 0, 0, 0};
    dp_st *st = NULL;
    dp_error e = {0};
    CHECK(open_mem(small, sizeof small, &st, &e) == DP_ERR_FORMAT);
    CHECK(open_mem(small, 0, &st, &e) == DP_ERR_FORMAT);

    /* header length past EOF, and huge */
    uint8_t img[64] = {0};
    img[0] = 0xE8; img[1] = 0x03; /* 1000 */
    memcpy(img + 8, "{}", 2);
    CHECK(open_mem(img, sizeof img, &st, &e) == DP_ERR_FORMAT);
    memset(img, 0xFF, 8);
    CHECK(open_mem(img, sizeof img, &st, &e) == DP_ERR_LIMIT);
    memset(img, 0, 8);
    img[3] = 0x40; /* 1 GiB: over DP_ST_MAX_HEADER */
    CHECK(open_mem(img, sizeof img, &st, &e) == DP_ERR_LIMIT);

    expect_bad("empty header object", "{}", 0, DP_OK);
    expect_bad("non-UTF-8 key",
               "{\"a\xff\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
               DP_ERR_FORMAT);
    expect_bad("overlong UTF-8",
               "{\"a\xc0\xaf\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
               DP_ERR_FORMAT);
    expect_bad("bad JSON", "{\"a\":{\"dtype\":\"F32\",", 4, DP_ERR_FORMAT);
    expect_bad("not an object", "[1,2]", 0, DP_ERR_FORMAT);
    expect_bad("overlap",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,24]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}}", 24,
               DP_ERR_FORMAT);
    expect_bad("gap",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,24]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[28,36]}}", 36,
               DP_ERR_FORMAT);
    expect_bad("not from 0",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, DP_ERR_FORMAT);
    expect_bad("out of file",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,24]}}", 20,
               DP_ERR_FORMAT);
    expect_bad("far out of file",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4000000000,4000000004]}}",
               4, DP_ERR_FORMAT);
    expect_bad("unindexed tail",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, DP_ERR_FORMAT);
    expect_bad("end before begin",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4, DP_ERR_FORMAT);
    expect_bad("negative offset",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4, DP_ERR_FORMAT);
    expect_bad("shape x dtype",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 20,
               DP_ERR_FORMAT);
    expect_bad("shape overflow",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],"
               "\"data_offsets\":[0,0]}}", 0, DP_ERR_FORMAT);
    expect_bad("negative dim",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
               DP_ERR_FORMAT);
    expect_bad("fractional dim",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4,
               DP_ERR_FORMAT);
    expect_bad("too many dims",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}",
               4, DP_ERR_LIMIT);
    expect_bad("duplicate names",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
               DP_ERR_FORMAT);
    expect_bad("unknown dtype",
               "{\"a\":{\"dtype\":\"Q9\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
               DP_ERR_UNSUPPORTED);
    expect_bad("missing dtype", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
               DP_ERR_FORMAT);
    expect_bad("missing offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, DP_ERR_FORMAT);
    expect_bad("three offsets",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 4,
               DP_ERR_FORMAT);
    expect_bad("metadata not strings",
               "{\"__metadata__\":{\"k\":1},"
               "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, DP_ERR_FORMAT);
    expect_bad("entry not object", "{\"a\":[1]}", 0, DP_ERR_FORMAT);

    /* The unsupported-dtype message names the tensor. */
    uint8_t buf[512];
    size_t n = make_st(buf, sizeof buf,
                       "{\"my.weight\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8);
    CHECK(open_mem(buf, n, &st, &e) == DP_ERR_UNSUPPORTED && strstr(e.msg, "my.weight"));
}

static void test_sharded(void) {
    const char *dir = t_tmpdir("test_safetensors");
    char path[4096], dir2[2048];
    snprintf(dir2, sizeof dir2, "%s", dir);
    uint8_t img[512];
    size_t n = make_st(img, sizeof img,
                       "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
    snprintf(path, sizeof path, "%s/model-00001-of-00002.safetensors", dir2);
    write_file(path, img, n);
    n = make_st(img, sizeof img,
                "{\"b\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,6]},"
                "\"c\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[6,8]}}", 8);
    snprintf(path, sizeof path, "%s/model-00002-of-00002.safetensors", dir2);
    write_file(path, img, n);

    char index[4096];
    snprintf(index, sizeof index, "%s/model.safetensors.index.json", dir2);
    const char *good = "{\"metadata\":{\"total_size\":16},\"weight_map\":{"
                       "\"a\":\"model-00001-of-00002.safetensors\","
                       "\"b\":\"model-00002-of-00002.safetensors\","
                       "\"c\":\"model-00002-of-00002.safetensors\"}}";
    write_file(index, good, strlen(good));
    dp_st *st = NULL;
    dp_error e = {0};
    dp_status s = dp_st_open(dir2, &st, &e);
    CHECK_MSG(s == DP_OK, "%s", e.msg);
    if (s == DP_OK) {
        CHECK(dp_st_count(st) == 3);
        const dp_st_tensor *a = dp_st_find(st, "a"), *b = dp_st_find(st, "b");
        const dp_st_tensor *c = dp_st_find(st, "c");
        CHECK(a && b && c && a->file != b->file && b->file == c->file);
        if (c) {
            uint8_t raw[2];
            CHECK(dp_st_read(st, c, raw, &e) == DP_OK && raw[0] == 6 && raw[1] == 7);
        }
    }
    dp_st_free(st);
    st = NULL;
    /* Opening the index file itself works too. */
    s = dp_st_open(index, &st, &e);
    CHECK_MSG(s == DP_OK, "%s", e.msg);
    dp_st_free(st);
    st = NULL;

    struct { const char *json; dp_status want; } bad[] = {
        {"{\"weight_map\":{\"a\":\"model-00003-of-00002.safetensors\"}}", DP_ERR_NOT_FOUND},
        {"{\"weight_map\":{\"a\":\"../model-00001-of-00002.safetensors\"}}", DP_ERR_FORMAT},
        {"{\"weight_map\":{\"a\":\"/etc/passwd\"}}", DP_ERR_FORMAT},
        {"{\"weight_map\":{\"a\":\"sub/x.safetensors\"}}", DP_ERR_FORMAT},
        {"{\"weight_map\":{\"a\":\"..\"}}", DP_ERR_FORMAT},
        {"{\"weight_map\":{\"a\":\"\"}}", DP_ERR_FORMAT},
        {"{\"weight_map\":{\"a\":7}}", DP_ERR_FORMAT},
        {"{\"weight_map\":[]}", DP_ERR_FORMAT},
        {"{\"weight_map\":{\"a\":\"model-00002-of-00002.safetensors\"}}", DP_ERR_FORMAT},
        {"{\"weight_map\":{\"x\":\"model-00001-of-00002.safetensors\"}}", DP_ERR_FORMAT},
        {"{\"weight_map\":", DP_ERR_FORMAT},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(index, bad[i].json, strlen(bad[i].json));
        st = NULL;
        memset(&e, 0, sizeof e);
        s = dp_st_open(dir2, &st, &e);
        CHECK_MSG(s == bad[i].want, "index %zu: got %d (%s), want %d", i, s, e.msg, bad[i].want);
        CHECK(st == NULL);
        dp_st_free(st);
    }
    /* The missing file is named in the message. */
    write_file(index, bad[0].json, strlen(bad[0].json));
    s = dp_st_open(dir2, &st, &e);
    CHECK(s == DP_ERR_NOT_FOUND && strstr(e.msg, "model-00003-of-00002.safetensors"));

    /* Two shards holding the same tensor name. */
    n = make_st(img, sizeof img, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
                8);
    snprintf(path, sizeof path, "%s/model-00002-of-00002.safetensors", dir2);
    write_file(path, img, n);
    write_file(index, good, strlen(good));
    s = dp_st_open(dir2, &st, &e);
    CHECK_MSG(s == DP_ERR_FORMAT, "duplicate across shards: %d %s", s, e.msg);

    snprintf(path, sizeof path, "%s/nothing-here", dir2);
    CHECK(dp_st_open(path, &st, &e) == DP_ERR_NOT_FOUND);
    CHECK(dp_st_open(NULL, &st, &e) == DP_ERR_INVALID_ARG);
    dp_st_free(NULL);
}

/* ---- allocation failures: reported as NOMEM, nothing leaked ---- */
static size_t g_live;
static long g_fail_in = -1;

static void *count_alloc(void *ud, void *p, size_t n) {
    (void)ud;
    size_t *h = p ? (size_t *)p - 2 : NULL;
    if (n == 0) {
        if (h) { g_live -= h[0]; free(h); }
        return NULL;
    }
    if (g_fail_in >= 0 && g_fail_in-- == 0) return NULL;
    size_t old = h ? h[0] : 0;
    size_t *nh = realloc(h, n + 2 * sizeof(size_t));
    if (!nh) return NULL;
    nh[0] = n;
    g_live = g_live - old + n;
    return nh + 2;
}

static void test_alloc_failures(void) {
    /* the sharded set written by test_sharded, restored to its good state */
    char dir[2048], path[4096];
    snprintf(dir, sizeof dir, "%s", t_tmpdir("test_safetensors_oom"));
    uint8_t img[512];
    size_t n = make_st(img, sizeof img, "{\"__metadata__\":{\"k\":\"v\"},"
                       "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
    snprintf(path, sizeof path, "%s/m1.safetensors", dir);
    write_file(path, img, n);
    n = make_st(img, sizeof img, "{\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[0,8]}}", 8);
    snprintf(path, sizeof path, "%s/m2.safetensors", dir);
    write_file(path, img, n);
    const char *index = "{\"weight_map\":{\"a\":\"m1.safetensors\",\"b\":\"m2.safetensors\"}}";
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    write_file(path, index, strlen(index));

    dp_set_allocator(count_alloc, NULL);
    bool passed = false;
    for (long k = 0; k < 1000 && !passed; k++) {
        g_live = 0;
        g_fail_in = k;
        dp_st *st = NULL;
        dp_error e = {0};
        dp_status s = dp_st_open(dir, &st, &e);
        float f[4];
        if (!s) s = dp_st_read_f32(st, dp_st_find(st, "b"), f, &e);
        dp_st_free(st);
        g_fail_in = -1;
        CHECK_MSG(s == DP_OK || s == DP_ERR_NOMEM, "failing allocation %ld: %d %s", k, s, e.msg);
        CHECK_MSG(g_live == 0, "failing allocation %ld: %zu bytes leaked", k, g_live);
        passed = s == DP_OK;
    }
    CHECK(passed);
    dp_set_allocator(NULL, NULL);
}

int main(void) {
    test_valid();
    test_hostile();
    test_sharded();
    test_fixtures();
    test_alloc_failures();
    return t_done("test_safetensors");
}
