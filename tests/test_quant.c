/* test_quant.c — GGML block codecs against llama.cpp's own files.
 *  1. dequantizing every tensor listed in dequant-<type>.safetensors from llama-<type>.gguf
 *     reproduces GGML's f32 values bit for bit (shared fixtures for q8_0 / q4_K / q6_K,
 *     tests/data/gguf for the types Doppler only reads);
 *  2. quantizing the tensors of llama-f32.gguf reproduces the q8_0 / q4_K / q6_K blocks of the
 *     quantized files byte for byte;
 *  3. synthetic checks: f16 conversion identical to GGML's, edge-case blocks (zeros, constants,
 *     one spike, negatives), q5_K round trip (no fixture holds q5_K). */
#include <math.h>
#include <string.h>

#include "base/base.h"
#include "format/gguf.h"
#include "format/quant.h"
#include "format/safetensors.h"
#include "testutil.h"

typedef struct gfile {
    dp_reader r;
    dp_gguf *g;
} gfile;

typedef const char *(*finder)(const char *rel); /* t_shared or t_data */

static bool gfile_open_in(gfile *f, finder find, const char *rel) {
    const char *path = find(rel);
    dp_error e = {0};
    if (!path) return false;
    if (dp_reader_open_file(&f->r, path, &e)) {
        fprintf(stderr, "%s: %s\n", rel, e.msg);
        return false;
    }
    if (dp_gguf_open(&f->r, &f->g, &e)) {
        fprintf(stderr, "%s: %s\n", rel, e.msg);
        dp_reader_close(&f->r);
        return false;
    }
    return true;
}

static bool gfile_open(gfile *f, const char *rel) { return gfile_open_in(f, t_shared, rel); }

static void gfile_close(gfile *f) {
    dp_gguf_free(f->g);
    dp_reader_close(&f->r);
}

static void *tensor_bytes(gfile *f, const dp_gguf_tensor *t) {
    void *p = malloc((size_t)t->size);
    dp_error e = {0};
    if (p && dp_reader_read(&f->r, t->offset, p, (size_t)t->size, &e) != DP_OK) {
        fprintf(stderr, "read %s: %s\n", t->name, e.msg);
        free(p);
        return NULL;
    }
    return p;
}

static uint64_t numel(const dp_gguf_tensor *t) { return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]; }

/* GGML's type name as the fixtures' metadata writes it: "Q4_K", "IQ4_NL" */
static const char *ggml_type_upper(dp_dtype t, char buf[16]) {
    const char *n = dp_dtype_name(t);
    size_t i = 0;
    for (; n[i] && i < 15; i++) buf[i] = (char)(n[i] >= 'a' && n[i] <= 'z' ? n[i] - 32 : n[i]);
    buf[i] = 0;
    return buf;
}

/* 1. bit-exact dequantization */
static void check_dequant(finder find, const char *dir, const char *type, size_t n_want) {
    char rel[256], up[16];
    snprintf(rel, sizeof rel, "%s/llama-%s.gguf", dir, type);
    gfile f;
    if (!gfile_open_in(&f, find, rel)) {
        CHECK_MSG(0, "cannot open %s", rel);
        return;
    }
    snprintf(rel, sizeof rel, "%s/dequant-%s.safetensors", dir, type);
    const char *path = find(rel);
    dp_st *st = NULL;
    dp_error e = {0};
    if (!path || dp_st_open(path, &st, &e)) {
        CHECK_MSG(0, "cannot open %s: %s", rel, e.msg);
        gfile_close(&f);
        return;
    }
    const char *types = dp_st_metadata(st, "ggml_types");
    CHECK(types != NULL);
    size_t n_checked = 0;
    for (size_t i = 0; i < dp_st_count(st); i++) {
        const dp_st_tensor *ref = dp_st_at(st, i);
        const dp_gguf_tensor *t = dp_gguf_tensor_find(f.g, ref->name);
        CHECK_MSG(t != NULL, "%s: tensor %s missing", type, ref->name);
        if (!t) continue;
        /* the metadata names the GGML type of each tensor: "<name>": "Q4_K" */
        char want[300];
        snprintf(want, sizeof want, "\"%s\": \"%s\"", ref->name, ggml_type_upper(t->dtype, up));
        CHECK_MSG(types && strstr(types, want), "%s: %s type %s not in metadata", type, ref->name,
                  dp_dtype_name(t->dtype));
        const uint64_t n = numel(t);
        CHECK(dp_st_numel(ref) == n);
        float *want_f = malloc((size_t)n * sizeof(float)), *got = malloc((size_t)n * sizeof(float));
        void *raw = tensor_bytes(&f, t);
        if (want_f && got && raw && dp_st_read_f32(st, ref, want_f, &e) == DP_OK) {
            uint64_t row_bytes = 0;
            CHECK(dp_dtype_row_bytes(t->dtype, t->ne[0], &row_bytes));
            const uint64_t rows = n / t->ne[0];
            for (uint64_t r = 0; r < rows; r++)
                dp_dequant_row(t->dtype, (const uint8_t *)raw + r * row_bytes, got + r * t->ne[0],
                               (size_t)t->ne[0]);
            size_t diff = 0, first = 0;
            for (size_t k = 0; k < (size_t)n; k++) {
                uint32_t a, b;
                memcpy(&a, &got[k], 4);
                memcpy(&b, &want_f[k], 4);
                if (a != b && diff++ == 0) first = k;
            }
            CHECK_MSG(diff == 0, "%s %s (%s): %zu of %llu values differ, first at %zu: %.9g vs %.9g",
                      type, ref->name, dp_dtype_name(t->dtype), diff, (unsigned long long)n,
                      first, (double)got[first], (double)want_f[first]);
            n_checked++;
        } else {
            CHECK_MSG(0, "%s: cannot read %s", type, ref->name);
        }
        free(want_f);
        free(got);
        free(raw);
    }
    CHECK_MSG(n_checked == n_want, "%s: %zu tensors checked", type, n_checked);
    printf("dequant %-7s: %zu tensors bit-exact\n", type, n_checked);
    dp_st_free(st);
    gfile_close(&f);
}

/* 2. byte-exact reference quantization */
static void check_quantize(gfile *f32, const char *type) {
    char rel[256];
    snprintf(rel, sizeof rel, "fixtures/gguf/llama-%s.gguf", type);
    gfile f;
    if (!gfile_open(&f, rel)) {
        CHECK_MSG(0, "cannot open %s", rel);
        return;
    }
    size_t n_by_type[DP_DTYPE_COUNT] = {0};
    for (size_t i = 0; i < dp_gguf_n_tensors(f.g); i++) {
        const dp_gguf_tensor *t = dp_gguf_tensor_at(f.g, i);
        if (!dp_dtype_is_quant(t->dtype)) continue;
        const dp_gguf_tensor *src = dp_gguf_tensor_find(f32->g, t->name);
        CHECK_MSG(src && src->dtype == DP_DTYPE_F32 && numel(src) == numel(t),
                  "%s: no f32 source for %s", type, t->name);
        if (!src || src->dtype != DP_DTYPE_F32 || numel(src) != numel(t)) continue;
        float *x = tensor_bytes(f32, src);
        uint8_t *want = tensor_bytes(&f, t);
        uint8_t *got = malloc((size_t)t->size);
        if (x && want && got) {
            memset(got, 0xA5, (size_t)t->size);
            dp_quant_row(t->dtype, x, got, (size_t)numel(t));
            const size_t bb = dp_dtype_block_bytes(t->dtype);
            size_t bad = 0, first = 0;
            for (size_t b = 0; b < (size_t)t->size / bb; b++)
                if (memcmp(got + b * bb, want + b * bb, bb) != 0 && bad++ == 0) first = b;
            CHECK_MSG(bad == 0, "%s %s (%s): %zu of %zu blocks differ, first block %zu", type,
                      t->name, dp_dtype_name(t->dtype), bad, (size_t)t->size / bb, first);
            n_by_type[t->dtype]++;
        } else {
            CHECK_MSG(0, "%s: cannot read %s", type, t->name);
        }
        free(x);
        free(want);
        free(got);
    }
    printf("quantize %-7s:", type);
    for (int d = 0; d < DP_DTYPE_COUNT; d++)
        if (n_by_type[d]) printf(" %zu %s tensors", n_by_type[d], dp_dtype_name((dp_dtype)d));
    printf(" byte-exact\n");
    if (strcmp(type, "q8_0") == 0) CHECK(n_by_type[DP_DTYPE_Q8_0] >= 14);
    if (strcmp(type, "q6_k") == 0) CHECK(n_by_type[DP_DTYPE_Q6_K] >= 14);
    if (strcmp(type, "q4_k_m") == 0) {
        CHECK(n_by_type[DP_DTYPE_Q4_K] >= 8);
        CHECK(n_by_type[DP_DTYPE_Q6_K] >= 1);
    }
    gfile_close(&f);
}

/* 3a. GGML's fp32 -> fp16 (ggml_compute_fp32_to_fp16), to prove the base conversion matches. */
static uint16_t ggml_fp32_to_fp16(float f) {
    float base = (fabsf(f) * 0x1.0p+112f) * 0x1.0p-110f;
    uint32_t w;
    memcpy(&w, &f, 4);
    const uint32_t shl1_w = w + w, sign = w & 0x80000000u;
    uint32_t bias = shl1_w & 0xFF000000u;
    if (bias < 0x71000000u) bias = 0x71000000u;
    uint32_t bb = (bias >> 1) + 0x07800000u;
    float fb;
    memcpy(&fb, &bb, 4);
    base = fb + base;
    uint32_t bits;
    memcpy(&bits, &base, 4);
    const uint32_t exp_bits = (bits >> 13) & 0x00007C00u, mant_bits = bits & 0x00000FFFu;
    return (uint16_t)((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : exp_bits + mant_bits));
}

static void check_f16(void) {
    size_t bad = 0;
    for (uint64_t u = 0; u < 0x100000000ull; u += 4093) { /* a stride co-prime to everything */
        uint32_t w = (uint32_t)u;
        float f;
        memcpy(&f, &w, 4);
        if (isnan(f)) continue;
        if (dp_f32_to_f16(f) != ggml_fp32_to_fp16(f) && bad++ < 3)
            fprintf(stderr, "f16(%a): %04x vs ggml %04x\n", (double)f, dp_f32_to_f16(f),
                    ggml_fp32_to_fp16(f));
    }
    CHECK_MSG(bad == 0, "%zu f32->f16 conversions differ from GGML's", bad);
    for (uint32_t h = 0; h < 65536; h++) { /* f16 -> f32 -> f16 is the identity (non-NaN) */
        const float f = dp_f16_to_f32((uint16_t)h);
        if (!isnan(f)) CHECK(dp_f32_to_f16(f) == h);
    }
}

/* deterministic pseudo-random floats */
static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* max |x - deq(q(x))| relative to max |x| over one row of n values */
static double roundtrip_err(dp_dtype t, const float *x, size_t n) {
    uint64_t rb = 0;
    dp_dtype_row_bytes(t, n, &rb);
    uint8_t *q = malloc((size_t)rb);
    float *y = malloc(n * sizeof(float));
    dp_quant_row(t, x, q, n);
    dp_dequant_row(t, q, y, n);
    double err = 0, amax = 0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)x[i] - (double)y[i]);
        if (d > err || isnan(d)) err = isnan(d) ? INFINITY : d;
        if (fabs((double)x[i]) > amax) amax = fabs((double)x[i]);
    }
    free(q);
    free(y);
    return amax > 0 ? err / amax : err;
}

static void check_synthetic(void) {
    enum { N = 1024 };
    static float x[N];
    const dp_dtype types[] = {DP_DTYPE_F16, DP_DTYPE_BF16, DP_DTYPE_Q8_0, DP_DTYPE_Q4_K,
                              DP_DTYPE_Q5_K, DP_DTYPE_Q6_K};
    /* relative error bounds per type: half a step of the quantization grid plus the coarser
     * 6-bit super-block scales */
    const double bound[] = {1e-3, 8e-3, 1.0 / 127, 0.16, 0.08, 0.04};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const dp_dtype t = types[ti];
        for (int i = 0; i < N; i++) x[i] = frand();
        double err = roundtrip_err(t, x, N);
        CHECK_MSG(err <= bound[ti], "%s random round trip err %g > %g", dp_dtype_name(t), err,
                  bound[ti]);
        for (int i = 0; i < N; i++) x[i] = 0;
        CHECK_MSG(roundtrip_err(t, x, N) == 0, "%s zeros", dp_dtype_name(t));
        for (int i = 0; i < N; i++) x[i] = -0.75f;
        err = roundtrip_err(t, x, N);
        CHECK_MSG(err <= bound[ti], "%s constant err %g", dp_dtype_name(t), err);
        for (int i = 0; i < N; i++) x[i] = -fabsf(frand());
        err = roundtrip_err(t, x, N);
        CHECK_MSG(err <= bound[ti], "%s negatives err %g", dp_dtype_name(t), err);
        for (int i = 0; i < N; i++) x[i] = 1e-3f * frand();
        x[77] = 50.0f;
        err = roundtrip_err(t, x, N);
        CHECK_MSG(err <= bound[ti], "%s spike err %g", dp_dtype_name(t), err);
        for (int i = 0; i < N; i++) x[i] = 1e4f * frand();
        err = roundtrip_err(t, x, N);
        CHECK_MSG(err <= bound[ti], "%s large err %g", dp_dtype_name(t), err);
    }
    /* non-finite input (a damaged checkpoint) quantizes without undefined behaviour; finite
     * blocks next to it are unaffected */
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        for (int i = 0; i < N; i++) x[i] = frand();
        x[3] = NAN;
        x[300] = INFINITY;
        x[301] = -INFINITY;
        x[600] = 3e38f;
        uint64_t rb = 0;
        dp_dtype_row_bytes(types[ti], N, &rb);
        uint8_t *q = malloc((size_t)rb);
        float *y = malloc(N * sizeof(float));
        dp_quant_row(types[ti], x, q, N);
        dp_dequant_row(types[ti], q, y, N);
        double err = 0;
        for (int i = 768; i < N; i++) err = fmax(err, fabs((double)x[i] - (double)y[i]));
        CHECK_MSG(err <= bound[ti], "%s: finite block next to non-finite ones: err %g",
                  dp_dtype_name(types[ti]), err);
        free(q);
        free(y);
    }
    /* q5_K layout: dequantize a hand-built block. d = 1, dmin = 0.5, sub-block 0 scale 2 min 1,
     * value 0 has low nibble 3 and its high bit set -> 2 * (3 + 16) - 0.5 * 1 = 37.5 */
    uint8_t b[176] = {0};
    const uint16_t one = 0x3C00, half = 0x3800;
    memcpy(b, &one, 2);
    memcpy(b + 2, &half, 2);
    b[4] = 2;      /* scale of sub-block 0 */
    b[8] = 1;      /* min of sub-block 0 */
    b[16] = 1;     /* qh[0] bit 0: high bit of value 0 */
    b[48] = 0x53;  /* qs[0]: value 0 low nibble 3, value 32 low nibble 5 */
    float y[256];
    dp_dequant_row(DP_DTYPE_Q5_K, b, y, 256);
    CHECK(y[0] == 37.5f);
    CHECK(y[1] == -0.5f);  /* level 0 -> -min */
    CHECK(y[32] == 0.0f);  /* sub-block 1: scale 0 min 0 */
    /* q6_K layout: ql[0] = 0x21, qh[0] = 0x02, scales[0] = 3, d = 1 -> q = (1 | 2 << 4) - 32 = 1 */
    uint8_t b6[210] = {0};
    b6[0] = 0x21;
    b6[128] = 0x02;
    b6[192] = 3;
    memcpy(b6 + 208, &one, 2);
    dp_dequant_row(DP_DTYPE_Q6_K, b6, y, 256);
    CHECK(y[0] == 3.0f);
    CHECK(y[1] == -96.0f); /* level 0 -> -32 * scale 3 */
    CHECK(y[64] == 0.0f);  /* sub-block 4: scale 0 */
}

int main(void) {
    check_f16();
    check_synthetic();
    if (!t_shared("fixtures/gguf/llama-f32.gguf")) {
        printf("test_quant: fixtures absent, fixture checks skipped\n");
        return t_failures ? t_done("test_quant") : TEST_SKIP;
    }
    check_dequant(t_shared, "fixtures/gguf", "q8_0", 4);
    check_dequant(t_shared, "fixtures/gguf", "q4_k_m", 4);
    check_dequant(t_shared, "fixtures/gguf", "q6_k", 4);
    /* the GGUF-only types: tests/data/gguf (README there) */
    static const char *const gguf_only[] = {"q4_0", "q4_1", "q5_0", "q5_1", "iq4_nl",
                                            "q2_k", "q3_k", "iq4_xs"};
    for (size_t i = 0; i < sizeof gguf_only / sizeof gguf_only[0]; i++)
        check_dequant(t_data, "gguf", gguf_only[i], 2);
    gfile f32;
    if (gfile_open(&f32, "fixtures/gguf/llama-f32.gguf")) {
        check_quantize(&f32, "q8_0");
        check_quantize(&f32, "q4_k_m");
        check_quantize(&f32, "q6_k");
        gfile_close(&f32);
    } else {
        CHECK(0);
    }
    return t_done("test_quant");
}
