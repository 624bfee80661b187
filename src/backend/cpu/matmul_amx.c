/* matmul_amx.c — Intel AMX (int8 tiles) products of q4_K / q5_K / q6_K weights for prompt
 * processing.
 *
 * TDPBSSD multiplies a 16 x 64 tile of signed bytes by a 16 x 64 (VNNI) tile of signed bytes
 * into 16 x 16 i32 sums. The weights are the first operand (16 weight rows, 64 values a tile),
 * the q8_K activations the second (16 activation rows, 4 values of each per tile row), so the
 * sums come out one weight row per tile row and one activation row per i32 lane.
 *
 * The sub-block scales do not go through per-sub-block tiles: each weight value is multiplied
 * by its 6-bit (q4_K, q5_K) or 8-bit signed (q6_K) sub-block scale when a panel of 16 weight rows
 * is packed, and the product v = level * scale (q4_K: 0..945, q5_K: 0..1953, q6_K: -8064..8001)
 * is split into
 * v = lo + 128 hi with lo in 0..127 and hi = v >> 7 in -63..62, both signed bytes. Two tile
 * products over the whole super-block give Σ lo x and Σ hi x, and Σ lo x + 128 Σ hi x is
 * exactly Σ_sub scale Σ level x, the i32 sum the VNNI kernels form (integer sums are exact in
 * any order). The min / offset term Σ_sub min * bsum is formed from the activation block sums
 * as those kernels do (vpdpwssd), and each super-block is added in f32 with the same two
 * operations in the same order as the VNNI panel and x8 kernels:
 *     acc = fma(d_w * d_x, (float)isum, acc);  acc = fnmadd(dmin_w * d_x, (float)msum, acc)
 * (q6_K: dmin_w = d_w, levels unsigned 0..63 and msum = Σ 32 scale bsum, the panel's form), so
 * every output is bit-identical to the existing panel / x8 path.
 *
 * The activations are converted once per product into tiles (16 rows x 64 bytes per
 * super-block quarter, plus d and the block sums of 16 rows); every thread packs its own
 * panels of 16 weight rows (from row-major or x8-interleaved rows) and runs all activation
 * tiles, two at a time, over each super-block of 8 panels while it sits in L1 / L2.
 *
 * Used only after a runtime check: CPUID AMX-TILE and AMX-INT8, the OS enabling the tile state
 * in XCR0, and Linux granting it (arch_prctl ARCH_REQ_XCOMP_PERM, once per process). The tile
 * instructions are written as assembly, the vector code is compiled for AVX-512 with target
 * attributes, so the file builds for any x86-64 CPU. */
#include "backend/cpu/matmul_impl.h"

#include <stdatomic.h>
#include <string.h>

static _Atomic uint64_t amx_runs; /* AMX row-panel calls: tests prove the path ran */

uint64_t dp_mm_amx_runs(void) { return atomic_load_explicit(&amx_runs, memory_order_relaxed); }

#if defined(__x86_64__) && defined(__GNUC__) && defined(__linux__)
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#define AMX_TARGET DP_MM_VNNI_TARGET /* the tile instructions are assembly */
#define INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")

/* ---- layouts ----
 * Activation tile record, per 16 activation rows and super-block (ACT_REC bytes):
 *   [0, 4096)     4 tiles: quarter q at 1024 q, row j, bytes 4t..4t+3 = x[t].qs[64q + 4j .. +4]
 *   [4096, 4160)  f32 d[16]
 *   [4160, 4672)  i32 bs[8][16]: q4_K / q5_K: word p of row t = the i16 pair (bsum of
 *                 sub-blocks 2p, 2p + 1 of 32 values), p < 4; q6_K: the pair bsums[2p], [2p + 1]
 * Records go per super-block, then per 16 rows (b * tiles + tt: a pass over one super-block
 * reads them in order). Rows past n are zero.
 * Weight panel record, per 16 weight rows and super-block (W_REC bytes):
 *   [0, 4096)     lo bytes, row r at 256 r (the 256 values of the block)
 *   [4096, 8192)  hi bytes, the same
 *   [8192, 8256)  f32 d[16]   [8256, 8320) f32 dmin[16] (q6_K: d)
 *   [8320, 8832)  i32 mn[16][8]: the i16 pairs multiplying activation word p (see above) */
#define T 16
#define ACT_D 4096
#define ACT_BS 4160
#define ACT_REC 4672
#define W_HI 4096
#define W_D 8192
#define W_DMIN 8256
#define W_MN 8320
#define W_REC 8832
#define NTOK (2 * T) /* activation rows per step: two tiles */

typedef struct amx_cfg {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} amx_cfg;

#define TILE_LOAD(t, base, stride) \
    __asm__ volatile("tileloadd (%0,%1,1), %%tmm" #t ::"r"(base), "r"((long)(stride)) : "memory")
#define TILE_STORE(t, base, stride) \
    __asm__ volatile("tilestored %%tmm" #t ", (%0,%1,1)" ::"r"(base), "r"((long)(stride)) : "memory")
#define TILE_ZERO(t) __asm__ volatile("tilezero %%tmm" #t ::: "memory")
/* tmm dst += tmm a (weights, s8) . tmm b (activations, s8) */
#define TILE_DP(dst, a, b) __asm__ volatile("tdpbssd %%tmm" #b ", %%tmm" #a ", %%tmm" #dst ::: "memory")

static void tiles_config(void) {
    amx_cfg c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    for (int i = 0; i < 8; i++) {
        c.colsb[i] = 64;
        c.rows[i] = T;
    }
    __asm__ volatile("ldtilecfg %0" ::"m"(c) : "memory");
}

static void tiles_release(void) { __asm__ volatile("tilerelease" ::: "memory"); }

/* ---- runtime check ---- */

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

bool dp_mm_amx_cpu(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    return (d & (1u << 24)) && (d & (1u << 25)); /* AMX-TILE, AMX-INT8 */
}

/* -1 not probed, 0 unusable, 1 usable */
static _Atomic int amx_state = -1;

static int amx_probe(void) {
    if (!dp_mm_amx_cpu()) return 0;
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return 0; /* OSXSAVE */
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    (void)hi;
    if ((lo & (3u << 17)) != (3u << 17)) return 0; /* XTILECFG, XTILEDATA enabled by the OS */
    /* Linux (5.16+) hands the tile data state to processes that ask; once per process, for
     * all its threads */
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) return 0;
    return 1;
}

bool dp_mm_amx_usable(void) {
    int s = atomic_load_explicit(&amx_state, memory_order_acquire);
    if (s < 0) {
        s = amx_probe();
        atomic_store_explicit(&amx_state, s, memory_order_release);
    }
    return s == 1;
}

/* ---- activations into tiles ---- */

/* Tile rows are whole cache lines: the buffers handed in (malloc'd, 16-byte aligned) are used
 * from their first 64-byte boundary (a tile row across two lines loaded at a third the speed). */
static uint8_t *align64(uint8_t *p) { return (uint8_t *)(((uintptr_t)p + 63) & ~(uintptr_t)63); }

static size_t amx_act_bytes(dp_dtype wt, int n, int k) {
    if (wt != DP_DTYPE_Q4_K && wt != DP_DTYPE_Q5_K && wt != DP_DTYPE_Q6_K) return 0;
    const size_t tiles = (size_t)(n + NTOK - 1) / NTOK * 2;
    return tiles * (size_t)(k / DP_QK_K) * ACT_REC + 64;
}

/* 16 x 16 i32 transpose: r[i] element j -> r[j] element i. */
AMX_TARGET INLINE void transpose16(__m512i r[16]) {
    __m512i t[16];
    UNROLL
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    UNROLL
    for (int i = 0; i < 4; i++) { /* u[4i + j], lane l: rows 4i..4i+3 of column 4l + j */
        r[4 * i + 0] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
        r[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
        r[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        r[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    UNROLL
    for (int j = 0; j < 4; j++) {
        const __m512i ab0 = _mm512_shuffle_i32x4(r[j], r[4 + j], 0x44), ab1 = _mm512_shuffle_i32x4(r[j], r[4 + j], 0xEE);
        const __m512i cd0 = _mm512_shuffle_i32x4(r[8 + j], r[12 + j], 0x44), cd1 = _mm512_shuffle_i32x4(r[8 + j], r[12 + j], 0xEE);
        t[j] = _mm512_shuffle_i32x4(ab0, cd0, 0x88);
        t[4 + j] = _mm512_shuffle_i32x4(ab0, cd0, 0xDD);
        t[8 + j] = _mm512_shuffle_i32x4(ab1, cd1, 0x88);
        t[12 + j] = _mm512_shuffle_i32x4(ab1, cd1, 0xDD);
    }
    UNROLL
    for (int i = 0; i < 16; i++) r[i] = t[i];
}

/* Tiles of 16 activation rows (rows past n zero), an even number of them; part ith of nth. */
AMX_TARGET static void amx_act_pack(dp_dtype wt, int k, const uint8_t *xa, size_t xs, int n, int ith,
                                    int nth, uint8_t *act) {
    const int nb = k / DP_QK_K, ntt = (n + NTOK - 1) / NTOK * 2;
    act = align64(act);
    const int tt0 = (int)((int64_t)ntt * ith / nth), tt1 = (int)((int64_t)ntt * (ith + 1) / nth);
    for (int tt = tt0; tt < tt1; tt++) {
        const int live = n - T * tt < T ? n - T * tt : T;
        for (int b = 0; b < nb; b++) {
            uint8_t *rec = act + ((size_t)b * ntt + tt) * ACT_REC;
            const dp_block_q8_k *xb[T];
            for (int t = 0; t < T; t++)
                xb[t] = t < live ? (const dp_block_q8_k *)(xa + (size_t)(T * tt + t) * xs) + b : NULL;
            for (int q = 0; q < 4; q++) {
                __m512i r[T];
                UNROLL
                for (int t = 0; t < T; t++)
                    r[t] = xb[t] ? _mm512_loadu_si512(xb[t]->qs + 64 * q) : _mm512_setzero_si512();
                transpose16(r);
                UNROLL
                for (int j = 0; j < T; j++) _mm512_storeu_si512(rec + 1024 * q + 64 * j, r[j]);
            }
            float *d = (float *)(rec + ACT_D);
            int32_t *bs = (int32_t *)(rec + ACT_BS);
            for (int t = 0; t < T; t++) {
                d[t] = xb[t] ? xb[t]->d : 0.0f;
                for (int p = 0; p < 8; p++) {
                    int16_t pair[2] = {0, 0};
                    if (xb[t] && wt != DP_DTYPE_Q6_K && p < 4) {
                        pair[0] = (int16_t)(xb[t]->bsums[4 * p] + xb[t]->bsums[4 * p + 1]);
                        pair[1] = (int16_t)(xb[t]->bsums[4 * p + 2] + xb[t]->bsums[4 * p + 3]);
                    } else if (xb[t] && wt == DP_DTYPE_Q6_K) {
                        pair[0] = xb[t]->bsums[2 * p];
                        pair[1] = xb[t]->bsums[2 * p + 1];
                    }
                    memcpy(&bs[16 * p + t], pair, 4);
                }
            }
        }
    }
}

/* ---- weights into panels of 16 rows ---- */

static float f16_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return dp_f16_to_f32(h);
}

/* v = level * scale for 32 values (levels u8, scales i16 per value) -> lo, hi bytes at lo, lo + W_HI. */
AMX_TARGET INLINE void split32(__m256i levels, __m512i scale, uint8_t *lo) {
    const __m512i v = _mm512_mullo_epi16(_mm512_cvtepu8_epi16(levels), scale);
    _mm256_storeu_si256((__m256i *)lo, _mm512_cvtepi16_epi8(_mm512_and_si512(v, _mm512_set1_epi16(127))));
    _mm256_storeu_si256((__m256i *)(lo + W_HI), _mm512_cvtepi16_epi8(_mm512_srai_epi16(v, 7)));
}

/* Where a q4_K / q5_K block of one row lies: d, dmin, the 12 scale bytes as 3 words w at
 * sc + sc_step w, the 128 quant bytes as 16 pieces of 8, piece p at qs + qs_step p (row-major:
 * one run; q4_K in DP_CPU_W_X8: the row's slices of a group record, layout in matmul_impl.h),
 * and q5_K's 32 bytes of fifth bits (qh; NULL for q4_K). */
typedef struct q4k_src {
    const uint8_t *d, *dmin, *sc, *qs;
    size_t sc_step, qs_step;
    const uint8_t *qh;
} q4k_src;

/* A q4_K / q5_K block of weight row r into the panel record rec. */
AMX_TARGET static void pack_q4k(const q4k_src *b, int r, uint8_t *rec) {
    uint8_t *lo = rec + 256 * r;
    int32_t *mn = (int32_t *)(rec + W_MN) + 8 * r;
    ((float *)(rec + W_D))[r] = f16_at(b->d);
    ((float *)(rec + W_DMIN))[r] = f16_at(b->dmin);
    uint8_t q[12];
    for (int w = 0; w < 3; w++) memcpy(q + 4 * w, b->sc + b->sc_step * w, 4);
    int sc[8], m[8];
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            sc[j] = q[j] & 63;
            m[j] = q[j + 4] & 63;
        } else {
            sc[j] = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
            m[j] = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        }
    }
    for (int p = 0; p < 8; p++) {
        const int16_t pair[2] = {(int16_t)(p < 4 ? m[2 * p] : 0), (int16_t)(p < 4 ? m[2 * p + 1] : 0)};
        memcpy(&mn[p], pair, 4);
    }
    const __m256i m4 = _mm256_set1_epi8(0xF);
    const long long st = (long long)b->qs_step;
    const __m256i idx = _mm256_setr_epi64x(0, st, 2 * st, 3 * st);
    const __m256i hb = b->qh ? _mm256_loadu_si256((const __m256i *)b->qh) : _mm256_setzero_si256();
    const __m256i one = _mm256_set1_epi8(1);
    for (int c = 0; c < 4; c++) { /* quant bytes 32c..32c+31: sub-blocks 2c (low), 2c+1 (high) */
        const __m256i bits = _mm256_i64gather_epi64((const long long *)(b->qs + 4 * b->qs_step * c), idx, 1);
        /* q5_K: bit j of qh[l] is the fifth bit of value l of sub-block j */
        const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * c), one), 4);
        const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * c + 1), one), 4);
        split32(_mm256_or_si256(_mm256_and_si256(bits, m4), h0), _mm512_set1_epi16((short)sc[2 * c]), lo + 64 * c);
        split32(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bits, 4), m4), h1),
                _mm512_set1_epi16((short)sc[2 * c + 1]), lo + 64 * c + 32);
    }
}

/* A q6_K block (as stored) of weight row r into the panel record rec. */
AMX_TARGET static void pack_q6k(const uint8_t *blk, int r, uint8_t *rec) {
    uint8_t *lo = rec + 256 * r;
    int32_t *mn = (int32_t *)(rec + W_MN) + 8 * r;
    ((float *)(rec + W_D))[r] = ((float *)(rec + W_DMIN))[r] = f16_at(blk + 208);
    const int8_t *sc = (const int8_t *)(blk + 192);
    for (int p = 0; p < 8; p++) {
        const int16_t pair[2] = {(int16_t)(32 * sc[2 * p]), (int16_t)(32 * sc[2 * p + 1])};
        memcpy(&mn[p], pair, 4);
    }
    const __m256i m4 = _mm256_set1_epi8(0xF);
    for (int v = 0; v < 8; v++) { /* values 32v..32v+31: sub-blocks 2v, 2v + 1 */
        const int h = v / 4, g = v % 4;
        const __m256i l = _mm256_loadu_si256((const __m256i *)(blk + 64 * h + 32 * (g & 1)));
        const __m256i hb = _mm256_loadu_si256((const __m256i *)(blk + 128 + 32 * h));
        const __m256i nib = g < 2 ? _mm256_and_si256(l, m4) : _mm256_and_si256(_mm256_srli_epi16(l, 4), m4);
        const __m256i top = _mm256_and_si256(_mm256_srli_epi16(hb, 2 * g), _mm256_set1_epi8(3));
        const __m512i s = _mm512_inserti64x4(_mm512_set1_epi16(sc[2 * v]), _mm256_set1_epi16(sc[2 * v + 1]), 1);
        split32(_mm256_or_si256(nib, _mm256_slli_epi16(top, 4)), s, lo + 32 * v);
    }
}

/* Rows r0..r0+15 into the panel (nb records). lay: DP_CPU_W_X8 only for q4_K (the only type the
 * driver sends here in that layout). */
AMX_TARGET static void pack_panel(dp_dtype wt, dp_cpu_wlayout lay, int k, const uint8_t *w, size_t ws,
                                  int r0, uint8_t *panel) {
    const int nb = k / DP_QK_K;
    const size_t bb = dp_dtype_block_bytes(wt);
    for (int b = 0; b < nb; b++)
        for (int r = 0; r < T; r++) {
            const int row = r0 + r;
            uint8_t *rec = panel + (size_t)b * W_REC;
            if (wt == DP_DTYPE_Q6_K) {
                pack_q6k(w + (size_t)row * ws + (size_t)b * bb, r, rec);
            } else if (lay == DP_CPU_W_X8) {
                const uint8_t *x = w + (size_t)(row / DP_MM_X8) * DP_MM_X8 * ws + (size_t)b * DP_MM_X8 * 144;
                const int q = row % DP_MM_X8;
                const q4k_src src = {x + 2 * q, x + 16 + 2 * q, x + 32 + 4 * q, x + DP_MM_X8_Q4K_QS + 8 * q, 32, 64, NULL};
                pack_q4k(&src, r, rec);
            } else {
                const uint8_t *x = w + (size_t)row * ws + (size_t)b * bb;
                const bool five = wt == DP_DTYPE_Q5_K;
                const q4k_src src = {x, x + 2, x + 4, x + (five ? 48 : 16), 4, 8, five ? x + 16 : NULL};
                pack_q4k(&src, r, rec);
            }
        }
}

/* ---- the product ---- */

/* Panels of 16 weight rows that one pass over the activations feeds: the activation tiles come
 * from L2 or L3 once per pass (a pass over one panel was bound by that stream), then from L1. */
#define GROUP 8

static size_t amx_scratch_bytes(dp_dtype wt, int n, int k) {
    if (wt != DP_DTYPE_Q4_K && wt != DP_DTYPE_Q5_K && wt != DP_DTYPE_Q6_K) return 0;
    const size_t ntok = (size_t)(n + NTOK - 1) / NTOK * NTOK;
    /* GROUP panels, their f32 sums (16 rows x all activation rows each), twice 4 stored tiles */
    return GROUP * ((size_t)(k / DP_QK_K) * W_REC + ntok * T * sizeof(float)) + 8 * 1024 + 64;
}

/* Rows r0..r0+7 of the super-block sums of 16 weight rows x 16 activation rows (tiles lo, hi
 * stored at c, c + 1024) into acc (16 rows of 16 f32, one activation row per lane). */
AMX_TARGET INLINE void accumulate8(const uint8_t *c, const uint8_t *wrec, const uint8_t *arec, float *acc,
                                   const int r0, const int npairs) {
    const __m512 xd = _mm512_loadu_ps((const float *)(arec + ACT_D));
    const float *d = (const float *)(wrec + W_D), *dmin = (const float *)(wrec + W_DMIN);
    UNROLL
    for (int r = r0; r < r0 + 8; r++) {
        const __m512i lo = _mm512_loadu_si512(c + 64 * r), hi = _mm512_loadu_si512(c + 1024 + 64 * r);
        const __m512i isum = _mm512_add_epi32(lo, _mm512_slli_epi32(hi, 7));
        const int32_t *mn = (const int32_t *)(wrec + W_MN) + 8 * r;
        __m512i msum = _mm512_setzero_si512();
        UNROLL
        for (int p = 0; p < npairs; p++)
            msum = _mm512_dpwssd_epi32(msum, _mm512_set1_epi32(mn[p]), _mm512_loadu_si512(arec + ACT_BS + 64 * p));
        __m512 a = _mm512_loadu_ps(acc + 16 * r);
        a = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_set1_ps(d[r]), xd), _mm512_cvtepi32_ps(isum), a);
        a = _mm512_fnmadd_ps(_mm512_mul_ps(_mm512_set1_ps(dmin[r]), xd), _mm512_cvtepi32_ps(msum), a);
        _mm512_storeu_ps(acc + 16 * r, a);
    }
}

/* The f32 work of a step whose sums are stored: weight record, first activation record, sums. */
typedef struct amx_post {
    const uint8_t *c, *wrec, *a0;
    float *acc;
} amx_post;

/* Quarter p (8 weight rows x one activation tile) of the f32 work of step s. */
AMX_TARGET INLINE void post_part(const amx_post *s, const int p, const int npairs) {
    const int t = p / 2;
    accumulate8(s->c + 2048 * t, s->wrec, s->a0 + ACT_REC * t, s->acc + T * T * t, 8 * (p % 2), npairs);
}

/* The sums of 16 weight rows (a row of 16 lanes each) x 16 activation rows into y (rows of ldy,
 * live of them). */
AMX_TARGET INLINE void store_tile(const float *acc, float *y, size_t ldy, int live, bool accum) {
    __m512i v[T];
    UNROLL
    for (int r = 0; r < T; r++) v[r] = _mm512_loadu_si512(acc + T * r);
    transpose16(v);
    for (int t = 0; t < T && t < live; t++) {
        float *yo = y + (size_t)t * ldy;
        const __m512 a = _mm512_castsi512_ps(v[t]);
        _mm512_storeu_ps(yo, accum ? _mm512_add_ps(_mm512_loadu_ps(yo), a) : a);
    }
}

/* The 16 tile products of one step: panel record wrec x activation tiles a0, a0 + ACT_REC, into
 * tmm0..3 (lo x a0, hi x a0, lo x a1, hi x a1). Each operand tile is reloaded for the next
 * quarter as soon as its last product is issued; a quarter of the previous step's f32 work
 * (prev, when not NULL) follows each quarter's products, so the vector units work while the
 * tile unit does. */
AMX_TARGET INLINE void tile_step(const uint8_t *wrec, const uint8_t *a0, const amx_post *prev, const int npairs) {
    const uint8_t *a1 = a0 + ACT_REC;
    TILE_ZERO(0);
    TILE_ZERO(1);
    TILE_ZERO(2);
    TILE_ZERO(3);
    TILE_LOAD(4, wrec, 256);
    TILE_LOAD(6, a0, 64);
    TILE_LOAD(5, wrec + W_HI, 256);
    TILE_LOAD(7, a1, 64);
    UNROLL
    for (int q = 0; q < 4; q++) {
        TILE_DP(0, 4, 6);
        TILE_DP(1, 5, 6);
        if (q < 3) TILE_LOAD(6, a0 + 1024 * (q + 1), 64);
        TILE_DP(2, 4, 7);
        if (q < 3) TILE_LOAD(4, wrec + 64 * (q + 1), 256);
        TILE_DP(3, 5, 7);
        if (q < 3) {
            TILE_LOAD(5, wrec + W_HI + 64 * (q + 1), 256);
            TILE_LOAD(7, a1 + 1024 * (q + 1), 64);
        }
        if (prev) post_part(prev, q, npairs);
    }
}

/* Weight rows [r0, r1) (multiples of 16) against all n activation rows (act: amx_act_pack of
 * every tile). */
AMX_TARGET static void amx_rows(dp_dtype wt, dp_cpu_wlayout lay, int k, const uint8_t *w, size_t ws, int r0,
                                int r1, const uint8_t *act, int n, float *y, size_t ldy, bool accum,
                                uint8_t *scratch) {
    const int nb = k / DP_QK_K, npair = (n + NTOK - 1) / NTOK, npairs = wt == DP_DTYPE_Q6_K ? 8 : 4;
    const size_t pstride = (size_t)nb * W_REC, astride = (size_t)npair * NTOK * T; /* floats */
    uint8_t *panel = align64(scratch);
    float *acc = (float *)(panel + GROUP * pstride); /* panel g: [tile][row 16][lane 16] */
    uint8_t *cbuf = (uint8_t *)(acc + GROUP * astride);
    act = align64((uint8_t *)(uintptr_t)act);
    atomic_fetch_add_explicit(&amx_runs, 1, memory_order_relaxed);
    tiles_config();
    for (int r = r0; r < r1; r += GROUP * T) {
        const int ng = (r1 - r) / T < GROUP ? (r1 - r) / T : GROUP;
        for (int g = 0; g < ng; g++) pack_panel(wt, lay, k, w, ws, r + T * g, panel + g * pstride);
        memset(acc, 0, (size_t)ng * astride * sizeof(float));
        /* steps (super-block b, pair of activation tiles pr, panel g); the f32 work of a step
         * runs during the tile products of the next one (its sums wait in the other half of
         * cbuf) */
        const int steps = nb * npair * ng;
        amx_post post = {NULL, NULL, NULL, NULL};
        for (int i = 0; i < steps; i++) {
            const int g = i % ng, bp = i / ng, b = bp / npair, pr = bp % npair;
            const amx_post cur = {cbuf + 4096 * (i & 1), panel + g * pstride + (size_t)b * W_REC,
                                  act + ((size_t)b * 2 * npair + 2 * pr) * ACT_REC,
                                  acc + g * astride + (size_t)(2 * pr) * T * T};
            if (npairs == 4)
                tile_step(cur.wrec, cur.a0, i ? &post : NULL, 4);
            else
                tile_step(cur.wrec, cur.a0, i ? &post : NULL, 8);
            TILE_STORE(0, cur.c, 64);
            TILE_STORE(1, cur.c + 1024, 64);
            TILE_STORE(2, cur.c + 2048, 64);
            TILE_STORE(3, cur.c + 3072, 64);
            post = cur;
        }
        for (int p = 0; p < 4 && steps; p++) post_part(&post, p, npairs);
        for (int g = 0; g < ng; g++)
            for (int tt = 0; tt * T < n; tt++)
                store_tile(acc + g * astride + (size_t)tt * T * T, y + (size_t)tt * T * ldy + r + T * g, ldy,
                           n - tt * T, accum);
    }
    tiles_release();
}

const dp_mm_amx dp_mm_amx_impl = {amx_act_bytes, amx_scratch_bytes, amx_act_pack, amx_rows};

#else /* no AMX on this target */

bool dp_mm_amx_cpu(void) { return false; }
bool dp_mm_amx_usable(void) { return false; }
const dp_mm_amx dp_mm_amx_impl = {NULL, NULL, NULL, NULL}; /* never picked */

#endif
