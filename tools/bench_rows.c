/* bench_rows.c — `doppler bench <model> --rows 1,2,...,9 [--at 100] [--draft DIR] [--alpha A,...]`:
 * what a forward pass of n rows costs against a pass of one, the figure that bounds speculative
 * decoding (a step is K draft passes and one target pass of K + 1 rows; dp_spec_step). Each
 * pass evaluates n rows after `at` cached positions with the logits of every row (as the target's
 * verification pass), then truncates back to `at`; one untimed warm-up per row count, then reps
 * passes, each timed by the wall clock and by the process's CPU time (every thread, the pool's
 * spinning included: at 1 thread it is the pass's own cost on a loaded machine). With --draft the
 * draft's one-row pass is timed the same way, and the speedup the rows allow is predicted per K
 * and acceptance α from the best wall times (the lower bound of what a pass costs):
 *   tokens per step E = (1 - α^(K+1)) / (1 - α), cost per step = K c + T(K+1) / T(1)
 *   (c = draft pass / target pass), speedup = E / cost.
 * (K draft passes: one to catch up on the 1-2 tokens the last step kept, K - 1 for the proposals.) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "bench.h"
#include "cli.h"

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct pass_cost {
    int rows;
    double wall_best, wall_med, cpu_best, cpu_med; /* seconds */
} pass_cost;

/* best and median of v[0, n) (sorted in place) */
static void best_med(double *v, int n, double *best, double *med) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    *best = v[0];
    *med = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* reps timed passes of rows tokens after at cached positions (the cache holds ids[0, at)) */
static dp_status time_pass(dp_ctx *c, const int32_t *ids, int32_t at, int rows, long reps, float *logits,
                           pass_cost *pc, dp_error *e) {
    double *w = malloc(sizeof *w * (size_t)reps), *u = malloc(sizeof *u * (size_t)reps);
    dp_status st = w && u ? DP_OK : dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    for (long r = -1; r < reps && st == DP_OK; r++) { /* r = -1: the warm-up */
        st = dp_ctx_truncate(c, at, e);
        const double t0 = dp_time_now(), c0 = cpu_now();
        if (st == DP_OK) st = dp_ctx_eval(c, ids + at, rows, logits, e);
        const double t1 = dp_time_now(), c1 = cpu_now();
        if (r >= 0) {
            w[r] = t1 - t0;
            u[r] = c1 - c0;
        }
    }
    if (st == DP_OK) {
        pc->rows = rows;
        best_med(w, (int)reps, &pc->wall_best, &pc->wall_med);
        best_med(u, (int)reps, &pc->cpu_best, &pc->cpu_med);
    }
    free(w);
    free(u);
    return st;
}

/* A context of the model holding ids[0, at), logits of every row when all. */
static dp_status prime(dp_model *m, const int32_t *ids, int32_t at, int32_t n_ctx, bool all, dp_ctx **c, dp_error *e) {
    dp_ctx_params cp;
    dp_ctx_params_default(&cp);
    cp.n_ctx = n_ctx;
    cp.n_batch = n_ctx;
    cp.logits_all = all;
    dp_status st = dp_ctx_new(m, &cp, c, e);
    if (st == DP_OK && at > 0) st = dp_ctx_eval(*c, ids, at, NULL, e);
    return st;
}

static double tokens_per_step(double a, int k) { return a >= 1 ? k + 1 : (1 - pow(a, k + 1)) / (1 - a); }

static void print_rows(const bench_rows_opts *o, dp_model *m, dp_model *dm, const pass_cost *pc, int n,
                       const pass_cost *dc, int threads) {
    char cpu[256];
    bench_cpu_name(cpu, sizeof cpu);
    const double t1 = pc[0].wall_best, c = dm ? dc->wall_best / t1 : 0;
    if (o->json) {
        printf("{\"model\":\"%s\",\"family\":\"%s\",\"dtype\":\"%s\",\"params_b\":%.4f,\"size_mib\":%.2f,"
               "\"backend\":\"cpu\",\"hardware\":\"%s\",\"threads\":%d,\"reps\":%ld,\"at\":%d,\"passes\":[",
               o->model, dp_model_family(m), dp_model_dtype(m), (double)dp_model_n_params(m) / 1e9,
               (double)dp_model_weight_bytes(m) / 1048576.0, cpu, threads, o->reps, o->at);
        for (int i = 0; i < n; i++)
            printf("%s{\"rows\":%d,\"wall_ms_best\":%.4f,\"wall_ms_median\":%.4f,\"cpu_ms_best\":%.4f,"
                   "\"cpu_ms_median\":%.4f,\"x_one_row\":%.4f}",
                   i ? "," : "", pc[i].rows, 1e3 * pc[i].wall_best, 1e3 * pc[i].wall_med, 1e3 * pc[i].cpu_best,
                   1e3 * pc[i].cpu_med, pc[i].wall_best / t1);
        printf("]");
        if (dm) {
            printf(",\"draft\":\"%s\",\"draft_params_b\":%.4f,\"draft_wall_ms_best\":%.4f,\"draft_cpu_ms_best\":%.4f,"
                   "\"c\":%.4f,\"predicted\":[",
                   o->draft, (double)dp_model_n_params(dm) / 1e9, 1e3 * dc->wall_best, 1e3 * dc->cpu_best, c);
            int first = 1;
            for (int ai = 0; ai < o->n_alpha; ai++)
                for (int i = 1; i < n; i++) {
                    const int k = pc[i].rows - 1;
                    const double s = tokens_per_step(o->alpha[ai], k) / (k * c + pc[i].wall_best / t1);
                    printf("%s{\"alpha\":%.3f,\"k\":%d,\"speedup\":%.4f,\"free_draft\":%.4f}", first ? "" : ",",
                           o->alpha[ai], k, s, tokens_per_step(o->alpha[ai], k) / (pc[i].wall_best / t1));
                    first = 0;
                }
            printf("]");
        }
        printf("}\n");
        return;
    }
    printf("model: %s (%s, %s, %.4f B params, %.1f MiB)\nhardware: %s, backend cpu, %d threads, %ld reps; "
           "a pass of n rows after %d cached positions, logits of every row\n",
           o->model, dp_model_family(m), dp_model_dtype(m), (double)dp_model_n_params(m) / 1e9,
           (double)dp_model_weight_bytes(m) / 1048576.0, cpu, threads, o->reps, o->at);
    printf("| rows | wall ms best | wall ms median | cpu ms best | cpu ms median | x one row (best wall) |\n");
    printf("|------|--------------|----------------|-------------|---------------|-----------------------|\n");
    for (int i = 0; i < n; i++)
        printf("| %4d | %12.3f | %14.3f | %11.3f | %13.3f | %21.2f |\n", pc[i].rows, 1e3 * pc[i].wall_best,
               1e3 * pc[i].wall_med, 1e3 * pc[i].cpu_best, 1e3 * pc[i].cpu_med, pc[i].wall_best / t1);
    if (!dm) return;
    printf("draft: %s (%.4f B params): one row %.3f ms best wall (%.3f cpu ms): c = %.3f of a target pass\n", o->draft,
           (double)dp_model_n_params(dm) / 1e9, 1e3 * dc->wall_best, 1e3 * dc->cpu_best, c);
    printf("predicted speedup, E(K) / (K c + T(K+1)/T(1)) (in brackets: with a free draft)\n|    α |");
    for (int i = 1; i < n; i++) printf("       K=%-3d |", pc[i].rows - 1);
    printf("\n|------|");
    for (int i = 1; i < n; i++) printf("-------------|");
    printf("\n");
    for (int ai = 0; ai < o->n_alpha; ai++) {
        printf("| %.2f |", o->alpha[ai]);
        for (int i = 1; i < n; i++) {
            const int k = pc[i].rows - 1;
            const double e = tokens_per_step(o->alpha[ai], k), r = pc[i].wall_best / t1;
            printf(" %4.2f (%4.2f) |", e / (k * c + r), e / r);
        }
        printf("\n");
    }
}

int bench_rows(const bench_rows_opts *o) {
    dp_error e = {0};
    dp_model *m = NULL, *dm = NULL;
    dp_ctx *c = NULL, *dc = NULL;
    float *logits = NULL;
    int32_t *ids = NULL;
    pass_cost pc[BENCH_ROWS_MAX], dcost = {0};
    int maxr = 0, rc = 0;
    for (int i = 0; i < o->n_rows; i++) maxr = o->rows[i] > maxr ? o->rows[i] : maxr;
    const int32_t n_ctx = o->at + maxr + 1;
    dp_status st = cli_load(o->model, o->threads, &m, &e);
    if (st == DP_OK && o->draft) {
        st = cli_load(o->draft, o->threads, &dm, &e);
        if (st == DP_OK && dp_model_n_vocab(dm) > dp_model_n_vocab(m))
            st = dp_err_set(&e, DP_ERR_INVALID_ARG, "the draft's vocabulary (%d) is larger than the model's (%d)",
                            dp_model_n_vocab(dm), dp_model_n_vocab(m));
        if (st != DP_OK) dp_err_prefix(&e, "draft %s", o->draft);
    }
    if (st == DP_OK) {
        const int vocab = dm ? dp_model_n_vocab(dm) : dp_model_n_vocab(m); /* ids both models know */
        ids = malloc(sizeof *ids * (size_t)n_ctx);
        logits = malloc(sizeof *logits * (size_t)maxr * (size_t)dp_model_n_vocab(m));
        if (!ids || !logits) st = dp_err_set(&e, DP_ERR_NOMEM, "out of memory");
        for (int32_t i = 0; ids && i < n_ctx; i++) ids[i] = (int32_t)((i * 7919 + 13) % vocab);
    }
    if (st == DP_OK) st = prime(m, ids, o->at, n_ctx, true, &c, &e);
    for (int i = 0; i < o->n_rows && st == DP_OK; i++) st = time_pass(c, ids, o->at, o->rows[i], o->reps, logits, &pc[i], &e);
    if (st == DP_OK && dm) {
        st = prime(dm, ids, o->at, n_ctx, false, &dc, &e);
        if (st == DP_OK) st = time_pass(dc, ids, o->at, 1, o->reps, NULL, &dcost, &e);
    }
    if (st == DP_OK) print_rows(o, m, dm, pc, o->n_rows, &dcost, o->threads > 0 ? o->threads : dp_cpu_count());
    else rc = cli_fail("bench", &e);
    free(ids);
    free(logits);
    dp_ctx_free(dc);
    dp_ctx_free(c);
    dp_model_free(dm);
    dp_model_free(m);
    return rc;
}

/* "1,2,4" into v: strictly ascending from 1, each <= hi; false on a bad list */
bool bench_rows_parse(const char *s, int *v, int cap, int *n, int hi) {
    *n = 0;
    while (*s) {
        char *end;
        long x = strtol(s, &end, 10);
        if (end == s || x < 1 || x > hi || *n >= cap || (*end && *end != ',') || (*n ? x <= v[*n - 1] : x != 1))
            return false;
        v[(*n)++] = (int)x;
        s = *end ? end + 1 : end;
    }
    return *n > 0;
}

/* "0.65,0.7" into v, each in [0, 1]; false on a bad list */
bool bench_alpha_parse(const char *s, double *v, int cap, int *n) {
    *n = 0;
    while (*s) {
        char *end;
        double x = strtod(s, &end);
        if (end == s || !(x >= 0 && x <= 1) || *n >= cap || (*end && *end != ',')) return false;
        v[(*n)++] = x;
        s = *end ? end + 1 : end;
    }
    return *n > 0;
}
