/* test_gguf.c — GGUF reader: the llama.cpp fixtures parse with the expected keys and tensors;
 * a hand-built file exercises every value type and getter; hostile byte strings (huge counts and
 * lengths, overflowing shapes, bad offsets, unknown types, bad alignment, duplicates, every
 * truncation, random byte flips) each give an error, never a crash or a large allocation. */
#include <string.h>

#include "base/base.h"
#include "format/gguf.h"
#include "testutil.h"

/* ---- allocation watcher: the largest live total during a parse ---- */

typedef struct watch { size_t live, peak; } watch;
static watch W;

static void *watch_alloc(void *ud, void *ptr, size_t size) {
    (void)ud;
    size_t old = 0;
    if (ptr) {
        ptr = (char *)ptr - 16;
        memcpy(&old, ptr, sizeof old);
    }
    if (size == 0) {
        W.live -= old;
        free(ptr);
        return NULL;
    }
    char *p = realloc(ptr, size + 16);
    if (!p) return NULL;
    memcpy(p, &size, sizeof size);
    W.live = W.live - old + size;
    if (W.live > W.peak) W.peak = W.live;
    return p + 16;
}

/* ---- byte builder ---- */

typedef struct bb { uint8_t d[8192]; size_t n; } bb;

static void put(bb *b, const void *p, size_t n) {
    if (b->n + n > sizeof b->d) abort();
    memcpy(b->d + b->n, p, n);
    b->n += n;
}
static void u8(bb *b, uint8_t v) { put(b, &v, 1); }
static void u32(bb *b, uint32_t v) { put(b, &v, 4); }
static void u64(bb *b, uint64_t v) { put(b, &v, 8); }
static void str(bb *b, const char *s) { u64(b, strlen(s)); put(b, s, strlen(s)); }
static void hdr(bb *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    b->n = 0;
    put(b, "GGUF", 4);
    u32(b, version);
    u64(b, n_tensors);
    u64(b, n_kv);
}
static void kv_u32(bb *b, const char *k, uint32_t v) { str(b, k); u32(b, DP_GGUF_U32); u32(b, v); }
static void tinfo(bb *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                  uint64_t off) {
    str(b, name);
    u32(b, n_dims);
    for (uint32_t i = 0; i < n_dims; i++) u64(b, ne[i]);
    u32(b, type);
    u64(b, off);
}
static void pad_to(bb *b, size_t align, size_t extra) {
    while (b->n % align) u8(b, 0);
    for (size_t i = 0; i < extra; i++) u8(b, (uint8_t)i);
}

static dp_status parse(const bb *b, dp_gguf **g, dp_error *e) {
    dp_reader r;
    dp_reader_open_mem(&r, b->d, b->n);
    return dp_gguf_open(&r, g, e);
}

/* Expects the bytes to be rejected with status want (or any error when want is DP_OK), using
 * no more memory than a small multiple of the input. */
static void expect_fail(const char *what, const bb *b, dp_status want) {
    dp_gguf *g = NULL;
    dp_error e = {0};
    W.peak = W.live;
    const size_t base = W.live;
    dp_status st = parse(b, &g, &e);
    CHECK_MSG(st != DP_OK, "%s: accepted", what);
    if (want != DP_OK) CHECK_MSG(st == want, "%s: status %d, wanted %d (%s)", what, st, want, e.msg);
    CHECK_MSG(g == NULL, "%s: output set on failure", what);
    CHECK_MSG(e.msg[0] != 0 && strchr(e.msg, '\n') == NULL, "%s: no one-line message", what);
    CHECK_MSG(W.peak - base <= 256 * 1024 + 64 * b->n, "%s: peak allocation %zu for %zu bytes",
              what, W.peak - base, b->n);
    CHECK_MSG(W.live == base, "%s: leaked %zu bytes", what, W.live - base);
    if (getenv("DP_VERBOSE")) printf("  %-34s -> %s\n", what, e.msg);
    dp_gguf_free(g);
}

/* A small valid file: every scalar type, a string array, an f32 array, two tensors. */
static void build_valid(bb *b) {
    hdr(b, 3, 2, 16);
    str(b, "a.u8"); u32(b, DP_GGUF_U8); u8(b, 200);
    str(b, "a.i8"); u32(b, DP_GGUF_I8); u8(b, 0xFE);
    str(b, "a.u16"); u32(b, DP_GGUF_U16); u8(b, 0x34); u8(b, 0x12);
    str(b, "a.i16"); u32(b, DP_GGUF_I16); u8(b, 0xFF); u8(b, 0xFF);
    kv_u32(b, "a.u32", 4000000000u);
    str(b, "a.i32"); u32(b, DP_GGUF_I32); u32(b, (uint32_t)-7);
    str(b, "a.f32"); u32(b, DP_GGUF_F32); { float f = 1.5f; put(b, &f, 4); }
    str(b, "a.bool"); u32(b, DP_GGUF_BOOL); u8(b, 1);
    str(b, "a.str"); u32(b, DP_GGUF_STRING); str(b, "hello");
    str(b, "a.u64"); u32(b, DP_GGUF_U64); u64(b, 0xFFFFFFFFFFFFFFFFull);
    str(b, "a.i64"); u32(b, DP_GGUF_I64); u64(b, (uint64_t)-5);
    str(b, "a.f64"); u32(b, DP_GGUF_F64); { double f = -2.25; put(b, &f, 8); }
    str(b, "a.strs"); u32(b, DP_GGUF_ARRAY); u32(b, DP_GGUF_STRING); u64(b, 3);
    str(b, "x"); str(b, ""); str(b, "zz");
    str(b, "a.f32s"); u32(b, DP_GGUF_ARRAY); u32(b, DP_GGUF_F32); u64(b, 2);
    { float f[2] = {0.5f, -1.0f}; put(b, f, 8); }
    str(b, "a.i16s"); u32(b, DP_GGUF_ARRAY); u32(b, DP_GGUF_I16); u64(b, 2);
    { int16_t v[2] = {-3, 300}; put(b, v, 4); }
    kv_u32(b, "general.alignment", 64);
    const uint64_t ne_a[2] = {32, 3}, ne_b[1] = {8};
    tinfo(b, "w.a", 2, ne_a, 8, 0);   /* q8_0: 3 rows of 34 bytes = 102 */
    tinfo(b, "w.b", 1, ne_b, 0, 128); /* f32: 32 bytes */
    pad_to(b, 64, 160);
}

static void check_valid_handmade(void) {
    bb b;
    build_valid(&b);
    dp_gguf *g = NULL;
    dp_error e = {0};
    dp_status st = parse(&b, &g, &e);
    CHECK_MSG(st == DP_OK, "valid file: %s", e.msg);
    if (st) return;
    uint64_t u;
    int64_t i;
    double f;
    bool bo;
    dp_gguf_str s;
    CHECK(dp_gguf_version(g) == 3 && dp_gguf_n_kv(g) == 16 && dp_gguf_n_tensors(g) == 2);
    CHECK(dp_gguf_get_u64(g, "a.u8", &u) && u == 200);
    CHECK(dp_gguf_get_i64(g, "a.i8", &i) && i == -2);
    CHECK(!dp_gguf_get_u64(g, "a.i8", &u)); /* negative does not fit */
    CHECK(dp_gguf_get_u64(g, "a.u16", &u) && u == 0x1234);
    CHECK(dp_gguf_get_i64(g, "a.i16", &i) && i == -1);
    CHECK(dp_gguf_get_u64(g, "a.u32", &u) && u == 4000000000u);
    CHECK(dp_gguf_get_i64(g, "a.i32", &i) && i == -7);
    CHECK(dp_gguf_get_f64(g, "a.f32", &f) && f == 1.5);
    CHECK(dp_gguf_get_f64(g, "a.u32", &f) && f == 4e9);
    CHECK(dp_gguf_get_bool(g, "a.bool", &bo) && bo);
    CHECK(!dp_gguf_get_bool(g, "a.u8", &bo));
    CHECK(dp_gguf_get_str(g, "a.str", &s) && s.len == 5 && strcmp(s.s, "hello") == 0);
    CHECK(!dp_gguf_get_str(g, "a.u8", &s));
    CHECK(dp_gguf_get_u64(g, "a.u64", &u) && u == UINT64_MAX);
    CHECK(!dp_gguf_get_i64(g, "a.u64", &i));
    CHECK(dp_gguf_get_i64(g, "a.i64", &i) && i == -5);
    CHECK(dp_gguf_get_f64(g, "a.f64", &f) && f == -2.25);
    CHECK(!dp_gguf_get_u64(g, "missing", &u));
    CHECK(dp_gguf_find(g, "missing") == NULL);
    const dp_gguf_kv *kv = dp_gguf_find(g, "a.strs");
    CHECK(kv && kv->type == DP_GGUF_ARRAY && kv->arr_type == DP_GGUF_STRING && kv->n == 3);
    CHECK(dp_gguf_arr_str(kv, 0, &s) && strcmp(s.s, "x") == 0);
    CHECK(dp_gguf_arr_str(kv, 1, &s) && s.len == 0 && s.s[0] == 0);
    CHECK(dp_gguf_arr_str(kv, 2, &s) && strcmp(s.s, "zz") == 0);
    CHECK(!dp_gguf_arr_str(kv, 3, &s));
    CHECK(!dp_gguf_arr_f64(kv, 0, &f));
    kv = dp_gguf_find(g, "a.f32s");
    CHECK(dp_gguf_arr_f64(kv, 1, &f) && f == -1.0);
    CHECK(!dp_gguf_arr_f64(kv, 2, &f));
    CHECK(!dp_gguf_arr_i64(kv, 0, &i));
    kv = dp_gguf_find(g, "a.i16s");
    CHECK(dp_gguf_arr_i64(kv, 0, &i) && i == -3);
    CHECK(dp_gguf_arr_f64(kv, 1, &f) && f == 300);
    const dp_gguf_tensor *t = dp_gguf_tensor_find(g, "w.a");
    CHECK(t && t->dtype == DP_DTYPE_Q8_0 && t->ggml_type == 8 && t->n_dims == 2);
    if (t) {
        CHECK(t->ne[0] == 32 && t->ne[1] == 3 && t->ne[2] == 1 && t->ne[3] == 1);
        CHECK(t->size == 102 && t->offset % 64 == 0);
    }
    const dp_gguf_tensor *t2 = dp_gguf_tensor_find(g, "w.b");
    CHECK(t && t2 && t2->size == 32 && t2->offset == t->offset + 128);
    CHECK(dp_gguf_tensor_at(g, 1) == t2 && dp_gguf_tensor_at(g, 2) == NULL);
    CHECK(dp_gguf_tensor_find(g, "w.c") == NULL);
    dp_gguf_free(g);
    dp_gguf_free(NULL);

    /* every proper prefix is rejected (w.b's data ends at the last byte) */
    bb p;
    size_t fails = 0;
    for (size_t n = 0; n < b.n; n++) {
        memcpy(p.d, b.d, n);
        p.n = n;
        dp_gguf *h = NULL;
        if (parse(&p, &h, &e) != DP_OK) fails++;
        else dp_gguf_free(h);
    }
    CHECK_MSG(fails == b.n, "%zu of %zu prefixes rejected", fails, b.n);

    /* random byte flips: anything may happen except a crash, a leak or a huge allocation */
    uint64_t rng = 12345;
    for (int it = 0; it < 4000; it++) {
        memcpy(&p, &b, sizeof b);
        int flips = 1 + it % 4;
        for (int k = 0; k < flips; k++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            size_t at = (size_t)(rng >> 33) % p.n;
            p.d[at] = (uint8_t)(rng >> 20);
        }
        dp_gguf *h = NULL;
        const size_t base = W.live;
        W.peak = W.live;
        if (parse(&p, &h, &e) == DP_OK) dp_gguf_free(h);
        CHECK(W.live == base);
        CHECK(W.peak - base <= 256 * 1024 + 64 * p.n);
    }
}

static void check_hostile(void) {
    bb b;
    const uint64_t big = 1ull << 63;
    const uint64_t ne1[1] = {32}, ne2[2] = {32, 2};

    hdr(&b, 3, 0, 0); b.d[0] = 'X';
    expect_fail("bad magic", &b, DP_ERR_FORMAT);
    hdr(&b, 1, 0, 0);
    expect_fail("version 1", &b, DP_ERR_UNSUPPORTED);
    hdr(&b, 0x03000000, 0, 0);
    expect_fail("big-endian version", &b, DP_ERR_UNSUPPORTED);
    hdr(&b, 3, 0, 0); b.n -= 3;
    expect_fail("truncated header", &b, DP_ERR_FORMAT);

    hdr(&b, 3, 0, big);
    expect_fail("n_kv 2^63", &b, DP_ERR_FORMAT);
    hdr(&b, 3, 0, UINT64_MAX);
    expect_fail("n_kv 2^64-1", &b, DP_ERR_FORMAT);
    hdr(&b, 3, big, 0);
    expect_fail("n_tensors 2^63", &b, DP_ERR_FORMAT);
    hdr(&b, 3, UINT64_MAX / 32, 0); pad_to(&b, 1, 600);
    expect_fail("n_tensors 2^59", &b, DP_ERR_FORMAT);
    hdr(&b, 3, 10, 0); pad_to(&b, 1, 600); /* plausible count, garbage infos */
    expect_fail("tensor infos of garbage", &b, DP_OK);

    hdr(&b, 3, 0, 1); u64(&b, big); pad_to(&b, 1, 64);
    expect_fail("key length 2^63", &b, DP_ERR_FORMAT);
    hdr(&b, 3, 0, 1); u64(&b, UINT64_MAX); pad_to(&b, 1, 64);
    expect_fail("key length 2^64-1", &b, DP_ERR_FORMAT);
    hdr(&b, 3, 0, 1); u64(&b, 4); put(&b, "a\0bc", 4); u32(&b, DP_GGUF_U8); u8(&b, 1);
    expect_fail("key with a NUL byte", &b, DP_ERR_FORMAT);
    hdr(&b, 3, 0, 1); str(&b, "k"); u32(&b, DP_GGUF_STRING); u64(&b, big - 1); pad_to(&b, 1, 64);
    expect_fail("string value length 2^63-1", &b, DP_ERR_FORMAT);
    hdr(&b, 3, 0, 1); str(&b, "k"); u32(&b, DP_GGUF_STRING); u64(&b, 65); pad_to(&b, 1, 64);
    expect_fail("string one byte past the end", &b, DP_ERR_FORMAT);
    hdr(&b, 3, 0, 1); str(&b, "k"); u32(&b, 13); u32(&b, 0);
    expect_fail("unknown value type 13", &b, DP_ERR_FORMAT);
    hdr(&b, 3, 0, 1); str(&b, "k"); u32(&b, 0xFFFFFFFFu); u32(&b, 0);
    expect_fail("unknown value type 2^32-1", &b, DP_ERR_FORMAT);
    hdr(&b, 3, 0, 1); str(&b, "k"); u32(&b, DP_GGUF_BOOL); u8(&b, 7);
    expect_fail("bool value 7", &b, DP_ERR_FORMAT);

    hdr(&b, 3, 0, 1); str(&b, "k"); u32(&b, DP_GGUF_ARRAY); u32(&b, DP_GGUF_U8); u64(&b, big);
    pad_to(&b, 1, 64);
    expect_fail("u8 array count 2^63", &b, DP_ERR_FORMAT);
    hdr(&b, 3, 0, 1); str(&b, "k"); u32(&b, DP_GGUF_ARRAY); u32(&b, DP_GGUF_U64);
    u64(&b, (UINT64_MAX / 8) + 2); pad_to(&b, 1, 64); /* count * 8 wraps around to 8 */
    expect_fail("u64 array count*8 wraps", &b, DP_ERR_FORMAT);
    hdr(&b, 3, 0, 1); str(&b, "k"); u32(&b, DP_GGUF_ARRAY); u32(&b, DP_GGUF_STRING);
    u64(&b, 1ull << 62); pad_to(&b, 1, 64);
    expect_fail("string array count 2^62", &b, DP_ERR_FORMAT);
    hdr(&b, 3, 0, 1); str(&b, "k"); u32(&b, DP_GGUF_ARRAY); u32(&b, DP_GGUF_STRING); u64(&b, 2);
    str(&b, "ok"); u64(&b, big); pad_to(&b, 1, 16);
    expect_fail("string array element length 2^63", &b, DP_ERR_FORMAT);
    hdr(&b, 3, 0, 1); str(&b, "k"); u32(&b, DP_GGUF_ARRAY); u32(&b, DP_GGUF_ARRAY); u64(&b, 1);
    u32(&b, DP_GGUF_U8); u64(&b, 1); u8(&b, 0);
    expect_fail("nested array", &b, DP_ERR_FORMAT);
    hdr(&b, 3, 0, 1); str(&b, "k"); u32(&b, DP_GGUF_ARRAY); u32(&b, 77); u64(&b, 1); u8(&b, 0);
    expect_fail("unknown array element type", &b, DP_ERR_FORMAT);
    hdr(&b, 3, 0, 1); str(&b, "k"); u32(&b, DP_GGUF_ARRAY); u32(&b, DP_GGUF_BOOL); u64(&b, 2);
    u8(&b, 1); u8(&b, 2);
    expect_fail("bool array value 2", &b, DP_ERR_FORMAT);

    hdr(&b, 3, 0, 2); kv_u32(&b, "dup", 1); kv_u32(&b, "dup", 2);
    expect_fail("duplicate key", &b, DP_ERR_FORMAT);
    hdr(&b, 3, 0, 1); kv_u32(&b, "general.alignment", 0);
    expect_fail("alignment 0", &b, DP_ERR_FORMAT);
    hdr(&b, 3, 0, 1); kv_u32(&b, "general.alignment", 48);
    expect_fail("alignment 48", &b, DP_ERR_FORMAT);
    hdr(&b, 3, 0, 1); str(&b, "general.alignment"); u32(&b, DP_GGUF_STRING); str(&b, "32");
    expect_fail("alignment as a string", &b, DP_ERR_FORMAT);

    hdr(&b, 3, 2, 0); tinfo(&b, "t", 1, ne1, 0, 0); tinfo(&b, "t", 1, ne1, 0, 128);
    pad_to(&b, 32, 256);
    expect_fail("duplicate tensor name", &b, DP_ERR_FORMAT);
    hdr(&b, 3, 1, 0); tinfo(&b, "t", 0, ne1, 0, 0); pad_to(&b, 32, 64);
    expect_fail("n_dims 0", &b, DP_ERR_FORMAT);
    const uint64_t ne5[5] = {32, 1, 1, 1, 1};
    hdr(&b, 3, 1, 0); tinfo(&b, "t", 5, ne5, 0, 0); pad_to(&b, 32, 64);
    expect_fail("n_dims 5", &b, DP_ERR_FORMAT);
    const uint64_t ne_of[3] = {1ull << 32, 1ull << 32, 1ull << 32};
    hdr(&b, 3, 1, 0); tinfo(&b, "t", 3, ne_of, 0, 0); pad_to(&b, 32, 64);
    expect_fail("element count overflows", &b, DP_ERR_FORMAT);
    const uint64_t ne_bytes[2] = {1ull << 31, 1ull << 31}; /* 2^62 elements, 2^64 bytes */
    hdr(&b, 3, 1, 0); tinfo(&b, "t", 2, ne_bytes, 0, 0); pad_to(&b, 32, 64);
    expect_fail("byte size overflows", &b, DP_ERR_FORMAT);
    const uint64_t ne_neg[2] = {32, UINT64_MAX};
    hdr(&b, 3, 1, 0); tinfo(&b, "t", 2, ne_neg, 0, 0); pad_to(&b, 32, 64);
    expect_fail("dimension -1", &b, DP_ERR_FORMAT);
    const uint64_t ne_zero[2] = {32, 0};
    hdr(&b, 3, 1, 0); tinfo(&b, "t", 2, ne_zero, 0, 0); pad_to(&b, 32, 64);
    expect_fail("dimension 0", &b, DP_ERR_FORMAT);
    const uint64_t ne_huge[2] = {1ull << 40, 1ull << 20}; /* fine arithmetic, not in the file */
    hdr(&b, 3, 1, 0); tinfo(&b, "t", 2, ne_huge, 0, 0); pad_to(&b, 32, 64);
    expect_fail("2^60-element tensor in 64 bytes", &b, DP_ERR_FORMAT);
    hdr(&b, 3, 1, 0); tinfo(&b, "t", 1, ne1, 99, 0); pad_to(&b, 32, 64);
    expect_fail("unknown ggml type 99", &b, DP_ERR_UNSUPPORTED);
    hdr(&b, 3, 1, 0); tinfo(&b, "t", 1, ne1, 16, 0); pad_to(&b, 32, 64);
    expect_fail("unsupported ggml type iq2_xxs", &b, DP_ERR_UNSUPPORTED);
    const uint64_t ne_q4k[1] = {128};
    hdr(&b, 3, 1, 0); tinfo(&b, "t", 1, ne_q4k, 12, 0); pad_to(&b, 32, 256);
    expect_fail("q4_K row of 128 values", &b, DP_ERR_FORMAT);
    hdr(&b, 3, 1, 0); tinfo(&b, "t", 1, ne1, 0, 16); pad_to(&b, 32, 256);
    expect_fail("offset not aligned", &b, DP_ERR_FORMAT);
    hdr(&b, 3, 1, 0); tinfo(&b, "t", 1, ne1, 0, 0); pad_to(&b, 32, 127);
    expect_fail("data one byte short", &b, DP_ERR_FORMAT); /* needs 128 bytes, has 127 */
    hdr(&b, 3, 1, 0); tinfo(&b, "t", 1, ne1, 0, 1ull << 40); pad_to(&b, 32, 128);
    expect_fail("offset past the end", &b, DP_ERR_FORMAT);
    hdr(&b, 3, 1, 0); tinfo(&b, "t", 1, ne1, 0, UINT64_MAX - 31); pad_to(&b, 32, 128);
    expect_fail("offset + size wraps", &b, DP_ERR_FORMAT);
    hdr(&b, 3, 2, 0); tinfo(&b, "t", 2, ne2, 0, 0); tinfo(&b, "u", 1, ne1, 0, 128);
    pad_to(&b, 32, 512);
    expect_fail("overlapping tensors", &b, DP_ERR_FORMAT); /* t is [0,256), u at 128 */
    hdr(&b, 3, 1, 1); kv_u32(&b, "general.alignment", 1u << 31); tinfo(&b, "t", 1, ne1, 0, 0);
    pad_to(&b, 32, 128);
    expect_fail("alignment 2^31 pushes data past the end", &b, DP_ERR_FORMAT);

    /* the same shapes made valid are accepted (the checks above are not over-eager) */
    hdr(&b, 3, 2, 0); tinfo(&b, "t", 2, ne2, 0, 0); tinfo(&b, "u", 1, ne1, 0, 256);
    pad_to(&b, 32, 512);
    dp_gguf *g = NULL;
    dp_error e = {0};
    CHECK_MSG(parse(&b, &g, &e) == DP_OK, "adjacent tensors: %s", e.msg);
    dp_gguf_free(g);
    hdr(&b, 2, 0, 0);
    CHECK_MSG(parse(&b, &g, &e) == DP_OK, "empty v2 file: %s", e.msg);
    dp_gguf_free(g);
}

static void check_fixture(const char *rel, dp_dtype q_type) {
    const char *path = t_shared(rel);
    if (!path) return;
    dp_reader r;
    dp_gguf *g = NULL;
    dp_error e = {0};
    CHECK_MSG(dp_reader_open_file(&r, path, &e) == DP_OK, "%s", e.msg);
    dp_status st = dp_gguf_open(&r, &g, &e);
    CHECK_MSG(st == DP_OK, "%s: %s", rel, e.msg);
    if (st) {
        dp_reader_close(&r);
        return;
    }
    dp_gguf_str s;
    uint64_t u;
    double f;
    CHECK(dp_gguf_version(g) == 3);
    CHECK(dp_gguf_get_str(g, "general.architecture", &s) && strcmp(s.s, "llama") == 0);
    CHECK(dp_gguf_get_u64(g, "llama.embedding_length", &u) && u == 256);
    CHECK(dp_gguf_get_u64(g, "llama.block_count", &u) && u == 2);
    CHECK(dp_gguf_get_u64(g, "llama.attention.head_count_kv", &u) && u == 2);
    CHECK(dp_gguf_get_f64(g, "llama.rope.freq_base", &f) && f == 500000.0);
    const dp_gguf_kv *tok = dp_gguf_find(g, "tokenizer.ggml.tokens");
    CHECK(tok && tok->type == DP_GGUF_ARRAY && tok->arr_type == DP_GGUF_STRING && tok->n == 512);
    CHECK(dp_gguf_arr_str(tok, 1, &s) && strcmp(s.s, "<s>") == 0);
    CHECK(dp_gguf_n_tensors(g) == 22);
    const dp_gguf_tensor *t = dp_gguf_tensor_find(g, "blk.0.attn_q.weight");
    CHECK(t && t->dtype == q_type && t->ne[0] == 256 && t->ne[1] == 256 && t->n_dims == 2);
    t = dp_gguf_tensor_find(g, "blk.1.ffn_down.weight");
    CHECK(t && t->ne[0] == 768 && t->ne[1] == 256);
    t = dp_gguf_tensor_find(g, "output_norm.weight");
    CHECK(t && t->dtype == DP_DTYPE_F32 && t->size == 1024);
    for (size_t i = 0; i < dp_gguf_n_tensors(g); i++) {
        t = dp_gguf_tensor_at(g, i);
        CHECK(t->offset % 32 == 0 && t->offset + t->size <= r.size);
    }
    dp_gguf_free(g);
    dp_reader_close(&r);
}

int main(void) {
    dp_set_allocator(watch_alloc, NULL);
    check_valid_handmade();
    check_hostile();
    check_fixture("fixtures/gguf/llama-f32.gguf", DP_DTYPE_F32);
    check_fixture("fixtures/gguf/llama-q8_0.gguf", DP_DTYPE_Q8_0);
    check_fixture("fixtures/gguf/llama-q4_k_m.gguf", DP_DTYPE_Q4_K);
    check_fixture("fixtures/gguf/llama-q6_k.gguf", DP_DTYPE_Q6_K);
    CHECK(W.live == 0);
    dp_set_allocator(NULL, NULL);
    return t_done("test_gguf");
}
