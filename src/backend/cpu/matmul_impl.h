/* matmul_impl.h — internals shared by matmul.c and its per-ISA kernel files (and by tests).
 *
 * The product y = x @ W^T runs in two steps:
 *   1. each row of x is converted once into the activation format that matches the weight type:
 *        weights f32 / f16 / bf16   -> x stays f32
 *        weights q8_0               -> q8_0 blocks  { f16 d; i8 qs[32] }           (34 B / 32)
 *        weights q4_K / q5_K / q6_K -> q8_K blocks  { f32 d; i8 qs[256]; i16 bsums[16] } (292 B / 256)
 *      exactly as llama.cpp's CPU backend quantizes activations (quantize_row_q8_0 with
 *      round-to-nearest-even, quantize_row_q8_K_ref), so integer dot products can be used;
 *   2. a dot kernel computes one weight row against up to DP_MM_NC activation rows, unpacking
 *      the weight blocks once for all of them (prompt processing reuses each weight load).
 * Kernels exist per ISA (generic C in matmul.c, AVX2 and AVX-512 VNNI in matmul_avx2.c, AMX int8
 * tiles for prompt processing in matmul_amx.c, NEON in matmul_neon.c, SIMD128 in matmul_wasm.c;
 * the q8_K activation conversion with AVX-512 in matmul_act_avx2.c);
 * the driver picks the best one the running CPU supports, the generic kernels when none applies
 * (DOPPLER_AMX=0 in the environment leaves the AMX set out). */
#ifndef DP_CPU_MATMUL_IMPL_H
#define DP_CPU_MATMUL_IMPL_H

#include "backend/cpu/matmul.h"

#define DP_QK8_0 32
#define DP_QK_K 256
#define DP_MM_NC 4 /* activation rows per kernel call */

typedef struct dp_block_q8_0 {
    uint16_t d;      /* f16 scale */
    int8_t qs[DP_QK8_0];
} dp_block_q8_0;     /* 34 bytes, same layout as GGML's block_q8_0 */

typedef struct dp_block_q8_k {
    float d;
    int8_t qs[DP_QK_K];
    int16_t bsums[DP_QK_K / 16]; /* sums of each 16 qs */
} dp_block_q8_k;     /* 292 bytes, same layout as GGML's block_q8_K */

/* s[c] = dot(weight row w, activation row c at x + c * x_stride) for c < nc (1..DP_MM_NC). */
typedef void (*dp_mm_dot_fn)(int k, const void *w, const void *x, size_t x_stride, int nc,
                             float *s);

/* Optional panel GEMM for prompt processing: DP_MM_PANEL_ROWS weight rows are repacked on the
 * fly into a kernel-friendly layout (values unpacked to bytes and interleaved across the rows,
 * scales widened) held in per-thread scratch, then every activation tile passes over that
 * panel while it sits in cache. The repacking is amortized over the n activation rows. */
#define DP_MM_PANEL_ROWS 8
/* Bytes of one packed panel for rows of k values; 0 when wt has no panel kernel. */
typedef size_t (*dp_mm_panel_bytes_fn)(dp_dtype wt, int k);
/* Pack DP_MM_PANEL_ROWS rows starting at w (row stride w_stride bytes) into dst. */
typedef void (*dp_mm_panel_pack_fn)(dp_dtype wt, int k, const void *w, size_t w_stride, void *dst);
/* y[c * ldy + r] (= or +=) dot(panel row r, activation row c) for r < DP_MM_PANEL_ROWS,
 * c < nc (1..DP_MM_NC). */
typedef void (*dp_mm_panel_tile_fn)(dp_dtype wt, int k, const void *panel, const void *x,
                                    size_t x_stride, int nc, float *y, size_t ldy, bool acc);

/* ---- DP_CPU_W_X8 (matmul.h): 8 rows interleaved, the same bytes as the 8 rows ----
 * A group of 8 rows holds block b (b < nb = k / 256) of the 8 rows together:
 *
 * q4_K, 1152 bytes (= 8 x 144), record b at 1152 b:
 *   [0, 16)      f16 d[8]                 row r's super-block scale
 *   [16, 32)     f16 dmin[8]
 *   [32, 128)    u32 sc[3][8]             word w (bytes 4w..4w+3) of row r's 12 packed
 *                                         6-bit scales/mins at sc[w][r]
 *   [128, 1152)  16 pieces of 64 bytes    piece 4c + j (c, j < 4): bytes 8r..8r+7 are the
 *                                         row's qs[32c + 8j .. +8] (low nibbles: values 8j..
 *                                         8j+7 of sub-block 2c, high nibbles: of 2c+1)
 * q6_K (8 x 210 bytes a block): blocks go in runs of 4 (the last run holds nb % 4 when that is
 * not 0): a run holds the headers of its blocks (144 bytes each, so 4 headers are 9 whole cache
 * lines), then their level records of 1536 bytes (64-byte aligned when the group is and the
 * run is whole). The kernel reads the group front to back, one stream (dp_mm_x8_q6k_at):
 *   level record: 8 triples of 64-byte pieces, triple 4h + j (h < 2, j < 4) at 192 (4h + j):
 *     qh piece: bytes 8r..8r+7 = row r's qh[32h + 8j .. +8]   (2 high bits, 4 groups)
 *     ql piece q (q < 2): bytes 8r..8r+7 = ql[64h + 32q + 8j .. +8]
 *   header:
 *   [0, 16)      f16 d[8]
 *   [16, 144)    i8 sc: 8 pieces of 16    piece p: bytes 2r, 2r+1 are row r's scales 2p, 2p+1
 *   (Until this layout the headers of all nb blocks followed all level records: two streams
 *   through each group.)
 * A 64-byte piece is one zmm (or two ymm) load: 8 values of each of the 8 rows against one
 * 8-byte broadcast of the activations. */
#define DP_MM_X8 8
#define DP_MM_X8_Q4K_QS 128
#define DP_MM_X8_Q6K_LV 1536
#define DP_MM_X8_Q6K_HDR 144
/* Offsets in a level record of the pieces holding a row's ql / qh bytes 8p..8p+7. */
#define DP_MM_X8_Q6K_QL(p) (192 * (4 * ((p) / 8) + (p) % 4) + 64 + 64 * (((p) / 4) % 2))
#define DP_MM_X8_Q6K_QH(p) (192 * (p))
/* Offsets in a q6_K group of nb blocks a row of block b's level record and header. */
static inline void dp_mm_x8_q6k_at(int nb, int b, size_t *lv, size_t *hd) {
    const int run = b / 4, n = nb - 4 * run < 4 ? nb - 4 * run : 4;
    const size_t base = (size_t)run * 4 * (DP_MM_X8_Q6K_LV + DP_MM_X8_Q6K_HDR);
    *hd = base + (size_t)(b % 4) * DP_MM_X8_Q6K_HDR;
    *lv = base + (size_t)n * DP_MM_X8_Q6K_HDR + (size_t)(b % 4) * DP_MM_X8_Q6K_LV;
}
/* s[c * DP_MM_X8 + r] = dot(row r of the group at w, activation row c) for r < 8, c < nc
 * (1..DP_MM_NC); w points at the group's first record. */
typedef void (*dp_mm_x8_fn)(int k, const void *w, const void *x, size_t x_stride, int nc,
                            float *s);
/* The stored block b of row r (< 8) of a group of nb blocks a row (q4_K / q6_K). */
void dp_mm_x8_block(dp_dtype wt, const uint8_t *grp, int nb, int b, int r, uint8_t *blk);
/* The portable x8 product (every block rebuilt, then the generic dot): the reference for the
 * x8 kernels and the fallback of kernel sets that have none. */
void dp_mm_x8_dot_generic(dp_dtype wt, int k, const void *w, const void *x, size_t x_stride,
                          int nc, float *s);

/* The instruction sets of the AVX-512 VNNI code (matmul_avx2.c's VNNI kernels, matmul_amx.c,
 * matmul_act_avx2.c), as function attributes: used only after dp_mm_kernels_avx2_vnni's check. */
#define DP_MM_VNNI_TARGET __attribute__((target("avx2,fma,f16c,bmi2,avx512f,avx512vl,avx512bw,avx512vnni")))

/* Optional AMX tile product for prompt processing (matmul_amx.c; q4_K / q5_K / q6_K weights,
 * row-major or DP_CPU_W_X8): the activations are converted once into tiles of 16 rows, then each thread
 * packs panels of DP_MM_AMX_ROWS weight rows and runs every activation tile over them. Every
 * output is bit-identical to the panel kernel's (and, for q4_K, the x8 group kernel's). */
#define DP_MM_AMX_ROWS 16
typedef struct dp_mm_amx {
    /* Bytes of n activation rows of k in the tile layout; 0 when wt has no AMX kernel. */
    size_t (*act_bytes)(dp_dtype wt, int n, int k);
    /* Per-thread scratch of one product. */
    size_t (*scratch_bytes)(dp_dtype wt, int n, int k);
    /* Part ith of nth (threads) of the tile layout of the n converted rows xa. */
    void (*act_pack)(dp_dtype wt, int k, const uint8_t *xa, size_t xa_stride, int n, int ith,
                     int nth, uint8_t *act);
    /* y[t * ldy + r] (= or +=) dot(weight row r, activation row t) for r in [r0, r1)
     * (multiples of DP_MM_AMX_ROWS), t < n; w in layout lay, rows of w_stride bytes. */
    void (*rows)(dp_dtype wt, dp_cpu_wlayout lay, int k, const uint8_t *w, size_t w_stride,
                 int r0, int r1, const uint8_t *act, int n, float *y, size_t ldy, bool acc,
                 uint8_t *scratch);
} dp_mm_amx;
/* Whether CPUID reports AMX-TILE and AMX-INT8 (whatever the OS allows). */
bool dp_mm_amx_cpu(void);
/* Whether the AMX kernels can run here: the CPU has them, the OS enables the tile state and
 * (Linux) granted it to this process (asked once). */
bool dp_mm_amx_usable(void);
/* How many times the AMX kernel ran in this process (tests check that it did). */
uint64_t dp_mm_amx_runs(void);
extern const dp_mm_amx dp_mm_amx_impl; /* x86-64 Linux builds only */

typedef struct dp_mm_kernels {
    const char *name;
    dp_mm_dot_fn dot[DP_DTYPE_COUNT]; /* NULL for unsupported weight types */
    dp_mm_panel_bytes_fn panel_bytes; /* all three NULL when the set has no panel kernels */
    dp_mm_panel_pack_fn panel_pack;
    dp_mm_panel_tile_fn panel_tile;
    dp_mm_x8_fn x8[DP_DTYPE_COUNT];   /* DP_CPU_W_X8 kernels; NULL: the generic one is used */
    const dp_mm_amx *amx;             /* NULL when the set has no AMX kernels */
} dp_mm_kernels;

/* Bytes of one converted activation row for weights of type wt (k a whole number of blocks). */
size_t dp_mm_act_row_bytes(dp_dtype wt, int k);
/* Convert one row of k activations for weights of type wt (f32 types: a copy); q8_K with
 * AVX-512 where the CPU has it, bit-identical to the portable loop dp_mm_act_quantize_ref. */
void dp_mm_act_quantize(dp_dtype wt, const float *x, void *dst, int k);
void dp_mm_act_quantize_ref(dp_dtype wt, const float *x, void *dst, int k);
/* The q8_K conversion with AVX-512 (matmul_act_avx2.c; x86-64 only, AVX-512 VNNI CPUs only). */
void dp_mm_act_q8_k_avx512(const float *x, void *dst, int k);
/* The f32 values a converted activation row stands for (used by tests as a second oracle). */
void dp_mm_act_dequantize(dp_dtype wt, const void *src, float *x, int k);

const dp_mm_kernels *dp_mm_kernels_generic(void);
/* AVX2+FMA+F16C kernels, or NULL when not compiled in or the CPU lacks them. */
const dp_mm_kernels *dp_mm_kernels_avx2(void);
/* The AVX2 set with the AVX-512 VNNI kernels, or NULL when the CPU lacks AVX-512 VNNI/VL/BW or BMI2. */
const dp_mm_kernels *dp_mm_kernels_avx2_vnni(void);
/* The AVX-512 VNNI set with the AMX tile kernels for prompt processing, or NULL when
 * dp_mm_amx_usable() is false. */
const dp_mm_kernels *dp_mm_kernels_amx(void);
/* NEON kernels on AArch64 (every AArch64 CPU has NEON), NULL elsewhere. */
const dp_mm_kernels *dp_mm_kernels_neon(void);
/* WebAssembly SIMD128 kernels when built with -msimd128, NULL elsewhere. */
const dp_mm_kernels *dp_mm_kernels_wasm(void);
/* The best kernels for this CPU. */
const dp_mm_kernels *dp_mm_kernels_best(void);

/* dp_cpu_matmul with a given kernel set (tests run every set against the reference). */
dp_status dp_cpu_matmul_with(const dp_mm_kernels *kern, dp_pool *pool, dp_cpu_ws *ws, float *y,
                             const float *x, const void *w, dp_dtype wt, int n, int k, int m,
                             bool accumulate);

/* dp_cpu_matmul_layout with a given kernel set. */
dp_status dp_cpu_matmul_layout_with(const dp_mm_kernels *kern, dp_pool *pool, dp_cpu_ws *ws,
                                    float *y, const float *x, const void *w, dp_dtype wt,
                                    dp_cpu_wlayout lay, int n, int k, int m, bool accumulate);

/* dp_cpu_matmul_multi with a given kernel set. */
dp_status dp_cpu_matmul_multi_with(const dp_mm_kernels *kern, dp_pool *pool, dp_cpu_ws *ws,
                                   const float *x, int n, int k, const dp_cpu_mm_part *parts,
                                   int count);

#endif /* DP_CPU_MATMUL_IMPL_H */
