/* sha256.c — SHA-256 per FIPS 180-4: portable C with rounds unrolled eight at a time, and the
 * x86 SHA extensions when the CPU has them (checked once per dp_sha256_init). */
#include <stdbool.h>
#include <string.h>

#include "base/sha256.h"

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
#define S0(x) (ROR(x, 2) ^ ROR(x, 13) ^ ROR(x, 22))
#define S1(x) (ROR(x, 6) ^ ROR(x, 11) ^ ROR(x, 25))
#define s0(x) (ROR(x, 7) ^ ROR(x, 18) ^ ((x) >> 3))
#define s1(x) (ROR(x, 17) ^ ROR(x, 19) ^ ((x) >> 10))
#define CH(x, y, z) (((x) & (y)) ^ (~(x) & (z)))
#define MAJ(x, y, z) (((x) & (y)) | ((z) & ((x) | (y))))

/* One round with the working variables renamed instead of shifted. */
#define RND(a, b, c, d, e, f, g, h, i)                       \
    do {                                                     \
        uint32_t t1 = h + S1(e) + CH(e, f, g) + K[i] + w[i]; \
        uint32_t t2 = S0(a) + MAJ(a, b, c);                  \
        d += t1;                                             \
        h = t1 + t2;                                         \
    } while (0)

__attribute__((noinline)) static void compress(uint32_t st[8], const uint8_t *p, size_t nblocks) {
    uint32_t w[64];
    while (nblocks--) {
        for (int i = 0; i < 16; i++)
            w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
                   (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
        for (int i = 16; i < 64; i++) w[i] = s1(w[i - 2]) + w[i - 7] + s0(w[i - 15]) + w[i - 16];
        uint32_t a = st[0], b = st[1], c = st[2], d = st[3];
        uint32_t e = st[4], f = st[5], g = st[6], h = st[7];
        for (int i = 0; i < 64; i += 8) {
            RND(a, b, c, d, e, f, g, h, i + 0);
            RND(h, a, b, c, d, e, f, g, i + 1);
            RND(g, h, a, b, c, d, e, f, i + 2);
            RND(f, g, h, a, b, c, d, e, i + 3);
            RND(e, f, g, h, a, b, c, d, i + 4);
            RND(d, e, f, g, h, a, b, c, i + 5);
            RND(c, d, e, f, g, h, a, b, i + 6);
            RND(b, c, d, e, f, g, h, a, i + 7);
        }
        st[0] += a; st[1] += b; st[2] += c; st[3] += d;
        st[4] += e; st[5] += f; st[6] += g; st[7] += h;
        p += 64;
    }
}

/* ---- x86 SHA extensions (SHA-NI), chosen at run time ---- */
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define DP_SHA_X86 1
#include <cpuid.h>
#include <immintrin.h>

static bool cpu_has_sha(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
    if (!(c & (1u << 9)) || !(c & (1u << 19))) return false; /* SSSE3, SSE4.1 */
    if (__get_cpuid_max(0, NULL) < 7) return false;
    __cpuid_count(7, 0, a, b, c, d);
    return (b >> 29) & 1u; /* SHA */
}

/* Four rounds: i is the group (rounds 4i..4i+3), Mc its message words, Mp/Mn the groups
 * before/after (mod 4), which the schedule updates in place. */
#define SHA_GROUP(i, Mc, Mp, Mn)                                                     \
    do {                                                                             \
        msg = _mm_add_epi32(Mc, _mm_loadu_si128((const __m128i *)&K[4 * (i)]));      \
        st1 = _mm_sha256rnds2_epu32(st1, st0, msg);                                  \
        if ((i) >= 3 && (i) <= 14)                                                   \
            Mn = _mm_sha256msg2_epu32(_mm_add_epi32(Mn, _mm_alignr_epi8(Mc, Mp, 4)), Mc); \
        msg = _mm_shuffle_epi32(msg, 0x0e);                                          \
        st0 = _mm_sha256rnds2_epu32(st0, st1, msg);                                  \
        if ((i) >= 1 && (i) <= 12) Mp = _mm_sha256msg1_epu32(Mp, Mc);               \
    } while (0)

__attribute__((target("sha,sse4.1,ssse3"))) static void compress_shani(uint32_t st[8],
                                                                       const uint8_t *p,
                                                                       size_t nblocks) {
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i tmp = _mm_loadu_si128((const __m128i *)&st[0]);
    __m128i st1 = _mm_loadu_si128((const __m128i *)&st[4]);
    tmp = _mm_shuffle_epi32(tmp, 0xb1);       /* CDAB */
    st1 = _mm_shuffle_epi32(st1, 0x1b);       /* EFGH */
    __m128i st0 = _mm_alignr_epi8(tmp, st1, 8); /* ABEF */
    st1 = _mm_blend_epi16(st1, tmp, 0xf0);    /* CDGH */
    while (nblocks--) {
        __m128i save0 = st0, save1 = st1, msg;
        __m128i m0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 0)), bswap);
        __m128i m1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16)), bswap);
        __m128i m2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 32)), bswap);
        __m128i m3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 48)), bswap);
        SHA_GROUP(0, m0, m3, m1);
        SHA_GROUP(1, m1, m0, m2);
        SHA_GROUP(2, m2, m1, m3);
        SHA_GROUP(3, m3, m2, m0);
        SHA_GROUP(4, m0, m3, m1);
        SHA_GROUP(5, m1, m0, m2);
        SHA_GROUP(6, m2, m1, m3);
        SHA_GROUP(7, m3, m2, m0);
        SHA_GROUP(8, m0, m3, m1);
        SHA_GROUP(9, m1, m0, m2);
        SHA_GROUP(10, m2, m1, m3);
        SHA_GROUP(11, m3, m2, m0);
        SHA_GROUP(12, m0, m3, m1);
        SHA_GROUP(13, m1, m0, m2);
        SHA_GROUP(14, m2, m1, m3);
        SHA_GROUP(15, m3, m2, m0);
        st0 = _mm_add_epi32(st0, save0);
        st1 = _mm_add_epi32(st1, save1);
        p += 64;
    }
    tmp = _mm_shuffle_epi32(st0, 0x1b);       /* FEBA */
    st1 = _mm_shuffle_epi32(st1, 0xb1);       /* DCHG */
    st0 = _mm_blend_epi16(tmp, st1, 0xf0);    /* DCBA */
    st1 = _mm_alignr_epi8(st1, tmp, 8);       /* ABEF */
    _mm_storeu_si128((__m128i *)&st[0], st0);
    _mm_storeu_si128((__m128i *)&st[4], st1);
}
#endif

/* Blocks per call of the compression function, which stays out of line: in WebAssembly a
 * function is replaced by its optimised code (V8's tier-up) only for later calls, so one call over
 * a 100 MB expert ran its baseline code throughout (28 against 265 MB/s, Node 20). */
#define SHA_CALL_BLOCKS ((size_t)1024)

static void compress_any(const dp_sha256_ctx *s, uint32_t st[8], const uint8_t *p,
                         size_t nblocks) {
#if defined(DP_SHA_X86)
    if (s->hw) {
        compress_shani(st, p, nblocks);
        return;
    }
#endif
    (void)s;
    while (nblocks) {
        size_t k = nblocks < SHA_CALL_BLOCKS ? nblocks : SHA_CALL_BLOCKS;
        compress(st, p, k);
        p += 64 * k;
        nblocks -= k;
    }
}

/* ---- the host's SHA-256 (WebAssembly; sha256.h) ---- */
#if defined(__wasm__)
#define DP_HOST_IMPORT(name) __attribute__((import_module("dp_host"), import_name(name)))
DP_HOST_IMPORT("sha256_begin") uint32_t dp_host_sha256_begin(void);
DP_HOST_IMPORT("sha256_update") void dp_host_sha256_update(uint32_t id, const void *data, uint32_t n);
DP_HOST_IMPORT("sha256_final") void dp_host_sha256_final(uint32_t id, uint8_t *out);
#define HOST_BEGIN() dp_host_sha256_begin()
#else
#define HOST_BEGIN() 0u
#endif
/* below this a one-shot hash stays in C: a call into the host costs about a microsecond */
#define SHA_HOST_MIN ((size_t)16 << 10)

static void init_c(dp_sha256_ctx *s) {
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, iv, sizeof iv);
    s->len = 0;
    s->fill = 0;
#if defined(DP_SHA_X86)
    s->hw = cpu_has_sha();
#else
    s->hw = false;
#endif
    s->host = 0;
}

void dp_sha256_init(dp_sha256_ctx *s) {
    init_c(s);
    s->host = HOST_BEGIN();
}

void dp_sha256_update(dp_sha256_ctx *s, const void *data, size_t n) {
    const uint8_t *p = data;
    s->len += n;
#if defined(__wasm__)
    if (s->host) {
        dp_host_sha256_update(s->host, p, (uint32_t)n); /* size_t is 32 bits here */
        return;
    }
#endif
    if (s->fill) {
        size_t take = 64 - s->fill < n ? 64 - s->fill : n;
        memcpy(s->block + s->fill, p, take);
        s->fill += take;
        p += take;
        n -= take;
        if (s->fill < 64) return;
        compress_any(s, s->h, s->block, 1);
        s->fill = 0;
    }
    if (n >= 64) {
        compress_any(s, s->h, p, n / 64);
        p += n & ~(size_t)63;
        n &= 63;
    }
    if (n) {
        memcpy(s->block, p, n);
        s->fill = n;
    }
}

void dp_sha256_final(dp_sha256_ctx *s, uint8_t out[32]) {
#if defined(__wasm__)
    if (s->host) {
        dp_host_sha256_final(s->host, out);
        s->host = 0;
        return;
    }
#endif
    uint64_t bits = s->len * 8;
    s->block[s->fill++] = 0x80;
    if (s->fill > 56) {
        memset(s->block + s->fill, 0, 64 - s->fill);
        compress_any(s, s->h, s->block, 1);
        s->fill = 0;
    }
    memset(s->block + s->fill, 0, 56 - s->fill);
    for (int i = 0; i < 8; i++) s->block[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
    compress_any(s, s->h, s->block, 1);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(s->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)s->h[i];
    }
    s->fill = 0;
}

void dp_sha256(const void *data, size_t n, uint8_t out[32]) {
    dp_sha256_ctx s;
    if (n >= SHA_HOST_MIN) dp_sha256_init(&s);
    else init_c(&s);
    dp_sha256_update(&s, data, n);
    dp_sha256_final(&s, out);
}

void dp_sha256_hex(const uint8_t digest[32], char hex[65]) {
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    hex[64] = '\0';
}

/* ---- whole readers and files ---- */

#define HASH_CHUNK ((size_t)4 << 20)

dp_status dp_sha256_reader(const dp_reader *r, uint8_t out[32], dp_error *e) {
    uint8_t *buf = dp_malloc(r->size < HASH_CHUNK ? (size_t)r->size : HASH_CHUNK);
    if (!buf) return dp_err_set(e, DP_ERR_NOMEM, "out of memory hashing");
    dp_sha256_ctx h;
    dp_sha256_init(&h);
    dp_status s = DP_OK;
    for (uint64_t off = 0; off < r->size && !s; off += HASH_CHUNK) {
        size_t n = r->size - off < HASH_CHUNK ? (size_t)(r->size - off) : HASH_CHUNK;
        s = dp_reader_read(r, off, buf, n, e);
        if (!s) dp_sha256_update(&h, buf, n);
    }
    dp_free(buf);
    dp_sha256_final(&h, out);
    return s;
}

dp_status dp_sha256_file(const char *path, uint8_t out[32], dp_error *e) {
    dp_reader r;
    dp_status s = dp_reader_open_file(&r, path, e);
    if (s) return s;
    s = dp_sha256_reader(&r, out, e);
    dp_reader_close(&r);
    return s;
}
