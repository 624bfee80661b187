/* bench_gemv.c — CPU matrix-vector micro-benchmark (not a test): the decode product
 * y = x @ W^T over a set of weight matrices larger than the caches, reporting GB/s of weights.
 *
 *   bench_gemv [--type q4_k|q6_k|q5_k|q8_0|q4_0|q4_1|q5_0|q5_1|iq4_nl|q2_k|q3_k|iq4_xs|read]
 *              [--rows 8192] [--k 2048] [--mats 24] [-n 1] [-t 1,2] [-r 5]
 *              [--layout rows|x8|both] [--kernels best|avx2|generic] [--clock wall|cpu]
 *
 * Every matrix is swept once per repetition (one dp_cpu_matmul each, as decode does), so the
 * weights stream from memory when they are larger than the last-level cache; the best and
 * median repetition are printed per thread count and layout (x8 = the load-time 8-row
 * interleave of q4_K / q6_K, DP_CPU_W_X8). Matrices are 64-byte aligned, as in a model.
 *   --type read: no product, a plain streaming read of the same bytes (the same matrices of
 *     q4_K rows, summed as 64-bit words by the same threads): the machine's read bandwidth,
 *     the ceiling the decode kernels are measured against.
 *   --clock cpu: GB per second of the process's CPU time (user + system of all its threads)
 *     instead of wall time: on a machine shared with other jobs this is the kernel's own rate
 *     while it runs (the pool's idle spinning is counted, so at 2+ threads it reads low). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/cpu/matmul_impl.h"
#include "base/base.h"
#include "format/quant.h"

static int cmp_d(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)(rng >> 40) / 8388608.0f - 1.0f;
}

static bool cpu_clock;
static double clock_now(void) {
    if (!cpu_clock) return dp_time_now();
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* --type read: each thread sums its share of the matrix as 16-byte vectors of 64-bit words
 * (eight independent sums, in registers on any x86-64 / AArch64 / wasm SIMD), so the loop is
 * bound by the loads alone. */
typedef uint64_t v2u64 __attribute__((vector_size(16), aligned(8)));
typedef struct read_job {
    const uint8_t *p;
    size_t bytes;
    uint64_t sum[64];
} read_job;
static void read_task(void *arg, int ith, int nth) {
    read_job *j = arg;
    const size_t units = j->bytes / 128;
    const size_t a = units * (size_t)ith / (size_t)nth, z = units * (size_t)(ith + 1) / (size_t)nth;
    v2u64 s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0}, s4 = {0}, s5 = {0}, s6 = {0}, s7 = {0};
    for (size_t i = a; i < z; i++) { /* written out: gcc keeps an array of sums in memory */
        const v2u64 *q = (const v2u64 *)(j->p + 128 * i);
        s0 += q[0];
        s1 += q[1];
        s2 += q[2];
        s3 += q[3];
        s4 += q[4];
        s5 += q[5];
        s6 += q[6];
        s7 += q[7];
    }
    s0 += s1 + s2 + s3 + s4 + s5 + s6 + s7;
    j->sum[ith % 64] += s0[0] + s0[1];
}

int main(int argc, char **argv) {
    const char *type = "q4_k", *threads = "1,2", *layout = "both", *kname = "best";
    int rows = 8192, k = 2048, mats = 24, n = 1, reps = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--type")) type = v;
        else if (!strcmp(a, "--rows")) rows = atoi(v);
        else if (!strcmp(a, "--k")) k = atoi(v);
        else if (!strcmp(a, "--mats")) mats = atoi(v);
        else if (!strcmp(a, "-n")) n = atoi(v);
        else if (!strcmp(a, "-t")) threads = v;
        else if (!strcmp(a, "-r")) reps = atoi(v);
        else if (!strcmp(a, "--layout")) layout = v;
        else if (!strcmp(a, "--kernels")) kname = v;
        else if (!strcmp(a, "--clock")) cpu_clock = !strcmp(v, "cpu");
        else {
            fprintf(stderr, "bench_gemv: unknown option %s\n", a);
            return 2;
        }
    }
    const bool read_only = !strcmp(type, "read");
    if (read_only) {
        type = "q4_k";
        layout = "rows";
    }
    dp_dtype wt;
    if (!dp_dtype_parse(type, &wt) || !dp_dtype_is_quant(wt) || rows <= 0 || k <= 0 ||
        mats <= 0 || n <= 0 || reps <= 0) {
        fprintf(stderr, "bench_gemv: bad arguments\n");
        return 2;
    }
    const dp_mm_kernels *kern = !strcmp(kname, "generic") ? dp_mm_kernels_generic()
                                : !strcmp(kname, "avx2")  ? dp_mm_kernels_avx2()
                                                          : dp_mm_kernels_best();
    if (!kern) {
        fprintf(stderr, "bench_gemv: kernels '%s' unavailable\n", kname);
        return 2;
    }
    uint64_t rb64;
    if (!dp_dtype_row_bytes(wt, (uint64_t)k, &rb64)) {
        fprintf(stderr, "bench_gemv: k=%d is not whole blocks of %s\n", k, type);
        return 2;
    }
    const size_t rb = (size_t)rb64, mbytes = rb * (size_t)rows;
    /* 64 distinct quantized rows, copied over every matrix */
    enum { DISTINCT = 64 };
    uint8_t *seed = malloc(rb * DISTINCT);
    float *xf = malloc(sizeof(float) * (size_t)k * (size_t)n), *tmp = malloc(sizeof(float) * (size_t)k);
    float *y = malloc(sizeof(float) * (size_t)rows * (size_t)n);
    uint8_t **w = calloc((size_t)mats, sizeof *w), **wx = calloc((size_t)mats, sizeof *wx);
    if (!seed || !xf || !tmp || !y || !w || !wx) return 1;
    for (int r = 0; r < DISTINCT; r++) {
        for (int i = 0; i < k; i++) tmp[i] = frand();
        if (!dp_quant_row(wt, tmp, seed + (size_t)r * rb, (size_t)k)) /* GGUF-only types */
            for (size_t i = 0; i < rb; i++) /* finite f16 scales: no exponent bit 14 */
                seed[(size_t)r * rb + i] = (uint8_t)((unsigned)(frand() * 64.0f + 64.0f) & 0x3Bu);
    }
    for (int i = 0; i < k * n; i++) xf[i] = frand();
    const bool want_rows = strcmp(layout, "x8") != 0, want_x8 = strcmp(layout, "rows") != 0;
    bool x8_ok = want_x8 && (wt == DP_DTYPE_Q4_K || wt == DP_DTYPE_Q6_K) && rows >= 8;
    for (int i = 0; i < mats; i++) {
        for (int pass = 0; pass < 2; pass++) {
            if ((pass == 0 && !want_rows) || (pass == 1 && !x8_ok)) continue;
            uint8_t *m = aligned_alloc(64, (mbytes + 63) / 64 * 64); /* as a model's tensors */
            if (!m) return 1;
            for (int r = 0; r < rows; r++) memcpy(m + (size_t)r * rb, seed + (size_t)(r % DISTINCT) * rb, rb);
            if (pass == 1 && !dp_cpu_x8_repack(wt, k, rows, m)) x8_ok = false;
            (pass ? wx : w)[i] = m;
        }
    }
    printf("bench_gemv: %s %d x %d, %d matrices (%.1f MiB each, %.0f MiB total), n=%d, kernels %s, %s clock\n",
           read_only ? "read" : type, rows, k, mats, (double)mbytes / 1048576.0,
           (double)mbytes * mats / 1048576.0, n, read_only ? "none" : kern->name,
           cpu_clock ? "cpu" : "wall");
    dp_cpu_ws ws = {0};
    char tbuf[64];
    snprintf(tbuf, sizeof tbuf, "%s", threads);
    for (char *tok = strtok(tbuf, ","); tok; tok = strtok(NULL, ",")) {
        const int nt = atoi(tok);
        dp_pool *pool = NULL;
        dp_error e = {0};
        if (nt > 1 && dp_pool_new(nt, &pool, &e) != DP_OK) return 1;
        for (int pass = 0; pass < 2; pass++) {
            if ((pass == 0 && !want_rows) || (pass == 1 && !x8_ok)) continue;
            uint8_t **set = pass ? wx : w;
            const dp_cpu_wlayout lay = pass ? DP_CPU_W_X8 : DP_CPU_W_ROWS;
            double *gbs = malloc(sizeof(double) * (size_t)(reps + 1));
            double check = 0;
            for (int rep = 0; rep <= reps; rep++) { /* rep 0 warms up */
                read_job rj = {0};
                const double t0 = clock_now();
                for (int i = 0; i < mats; i++) {
                    if (read_only) {
                        rj.p = set[i];
                        rj.bytes = mbytes;
                        dp_pool_run(pool, read_task, &rj);
                    } else if (dp_cpu_matmul_layout_with(kern, pool, &ws, y, xf, set[i], wt, lay, n, k,
                                                         rows, false) != DP_OK) {
                        return 1;
                    }
                }
                const double dt = clock_now() - t0;
                if (read_only) y[rows / 3] = (float)(rj.sum[0] & 0xFFFF);
                gbs[rep] = (double)mbytes * mats / dt / 1e9;
                check += y[rows / 3];
            }
            qsort(gbs + 1, (size_t)reps, sizeof(double), cmp_d);
            printf("  threads %d  layout %-4s : best %6.2f GB/s  median %6.2f GB/s  (%.2f ms per sweep)  [check %.4g]\n",
                   nt, pass ? "x8" : read_only ? "read" : "rows", gbs[reps], gbs[1 + reps / 2],
                   (double)mbytes * mats / gbs[1 + reps / 2] / 1e6, check);
            free(gbs);
        }
        dp_pool_free(pool);
    }
    dp_cpu_ws_free(&ws);
    for (int i = 0; i < mats; i++) {
        free(w[i]);
        free(wx[i]);
    }
    free(w);
    free(wx);
    free(seed);
    free(xf);
    free(tmp);
    free(y);
    return 0;
}
