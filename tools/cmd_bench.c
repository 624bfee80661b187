/* cmd_bench.c — `doppler bench <model> [-p 512] [-n 128] [-t threads] [-r reps] [--json]`:
 * prompt processing (one batch of p tokens from an empty cache) and generation (n single-token
 * steps from an empty cache, sampling included), llama-bench's pp/tg convention; mean and
 * standard deviation over reps runs after one warm-up. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cli.h"
#include "commands.h"
#include "static_mode.h"

static const char USAGE[] = "bench <model> [-p 512] [-n 128] [-t threads] [-r 3] [--json] [--static BUNDLE --pubkey KEY]";

static void cpu_name(char *buf, size_t n) {
    snprintf(buf, n, "unknown cpu");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *c = strchr(line, ':');
        if (c && !strncmp(line, "model name", 10)) {
            c += 2;
            c[strcspn(c, "\n")] = 0;
            snprintf(buf, n, "%s", c);
            break;
        }
    }
    fclose(f);
}

typedef struct stats { double mean, sd; } stats;

static stats summarize(const double *v, int n) {
    stats s = {0, 0};
    for (int i = 0; i < n; i++) s.mean += v[i];
    s.mean /= n;
    for (int i = 0; i < n; i++) s.sd += (v[i] - s.mean) * (v[i] - s.mean);
    s.sd = n > 1 ? sqrt(s.sd / (n - 1)) : 0;
    return s;
}

/* tokens/s of one pp run (n_p tokens in one eval) */
static dp_status run_pp(dp_ctx *c, const int32_t *ids, int n_p, double *tps, dp_error *e) {
    dp_ctx_reset(c);
    double t0 = dp_time_now();
    dp_status st = dp_ctx_eval(c, ids, n_p, NULL, e);
    int32_t tok;
    dp_sampling sp = {0, 0, 1, 0};
    if (st == DP_OK) st = dp_ctx_sample(c, &sp, &tok, e); /* waits for the GPU on device backends */
    *tps = n_p / (dp_time_now() - t0);
    return st;
}

static dp_status run_tg(dp_ctx *c, int n_g, int vocab, double *tps, dp_error *e) {
    dp_ctx_reset(c);
    int32_t tok = 1 % vocab;
    dp_sampling sp = {0, 0, 1, 0};
    double t0 = dp_time_now();
    dp_status st = DP_OK;
    for (int i = 0; i < n_g && st == DP_OK; i++) {
        st = dp_ctx_eval(c, &tok, 1, NULL, e);
        if (st == DP_OK) st = dp_ctx_sample(c, &sp, &tok, e);
    }
    *tps = n_g / (dp_time_now() - t0);
    return st;
}

int cmd_bench(int argc, char **argv) {
    const char *model = NULL;
    long n_p = 512, n_g = 128, threads = 0, reps = 3;
    bool json = false;
    static_opts so = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (static_opt(&so, argc, argv, &i)) continue;
        if (!strcmp(a, "-p") && v) { if (!cli_int("bench", a, argv[++i], 0, 1 << 20, &n_p)) return 2; }
        else if (!strcmp(a, "-n") && v) { if (!cli_int("bench", a, argv[++i], 0, 1 << 20, &n_g)) return 2; }
        else if (!strcmp(a, "-t") && v) { if (!cli_int("bench", a, argv[++i], 0, 1024, &threads)) return 2; }
        else if (!strcmp(a, "-r") && v) { if (!cli_int("bench", a, argv[++i], 1, 1000, &reps)) return 2; }
        else if (!strcmp(a, "--json")) json = true;
        else if (a[0] == '-' || model) return cli_usage(USAGE);
        else model = a;
    }
    if (!model) return cli_usage(USAGE);
    int src = static_check(&so, "bench", model);
    if (src) return src;
    dp_error e = {0};
    dp_model *m = NULL;
    dp_ctx *c = NULL;
    int rc = 0;
    int32_t *ids = NULL;
    double *pp = calloc((size_t)reps, sizeof(double)), *tg = calloc((size_t)reps, sizeof(double));
    dp_ctx_params cp;
    dp_ctx_params_default(&cp);
    cp.n_ctx = (int32_t)(n_p > n_g ? n_p : n_g) + 1;
    cp.n_batch = n_p > 0 ? (int32_t)n_p : 1;
    if (!pp || !tg || cli_load(model, (int)threads, &m, &e) != DP_OK || dp_ctx_new(m, &cp, &c, &e) != DP_OK) {
        rc = cli_fail("bench", &e);
        goto done;
    }
    int vocab = dp_model_n_vocab(m);
    ids = malloc((size_t)(n_p > 0 ? n_p : 1) * sizeof *ids);
    if (!ids) goto done;
    for (long i = 0; i < n_p; i++) ids[i] = (int32_t)((i * 7919 + 13) % vocab);
    int nthreads = threads > 0 ? (int)threads : dp_cpu_count();
    dp_status st = DP_OK;
    double warm;
    if (n_p > 0) st = run_pp(c, ids, n_p < 32 ? (int)n_p : 32, &warm, &e); /* warm-up */
    for (long r = 0; r < reps && st == DP_OK; r++) {
        if (n_p > 0) st = run_pp(c, ids, (int)n_p, &pp[r], &e);
        if (st == DP_OK && n_g > 0) st = run_tg(c, (int)n_g, vocab, &tg[r], &e);
    }
    if (st != DP_OK) {
        rc = cli_fail("bench", &e);
        goto done;
    }
    char cpu[256];
    cpu_name(cpu, sizeof cpu);
    stats sp = summarize(pp, (int)reps), sg = summarize(tg, (int)reps);
    double gib = (double)dp_model_weight_bytes(m) / (1024.0 * 1024.0 * 1024.0);
    double params_b = (double)dp_model_n_params(m) / 1e9;
    if (json) {
        printf("{\"model\":\"%s\",\"family\":\"%s\",\"dtype\":\"%s\",\"params_b\":%.3f,\"size_gib\":%.3f,"
               "\"backend\":\"cpu\",\"hardware\":\"%s\",\"threads\":%d,\"reps\":%ld",
               model, dp_model_family(m), dp_model_dtype(m), params_b, gib, cpu, nthreads, reps);
        if (n_p > 0) printf(",\"pp\":{\"n\":%ld,\"tps_mean\":%.3f,\"tps_sd\":%.3f}", n_p, sp.mean, sp.sd);
        if (n_g > 0) printf(",\"tg\":{\"n\":%ld,\"tps_mean\":%.3f,\"tps_sd\":%.3f}", n_g, sg.mean, sg.sd);
        printf("}\n");
    } else {
        printf("model: %s (%s, %s, %.3f B params, %.2f GiB)\nhardware: %s, backend cpu, %d threads, %ld reps\n",
               model, dp_model_family(m), dp_model_dtype(m), params_b, gib, cpu, nthreads, reps);
        printf("| test   |            t/s |\n|--------|----------------|\n");
        if (n_p > 0) printf("| pp%-4ld | %8.2f ± %5.2f |\n", n_p, sp.mean, sp.sd);
        if (n_g > 0) printf("| tg%-4ld | %8.2f ± %5.2f |\n", n_g, sg.mean, sg.sd);
    }
done:
    free(ids);
    free(pp);
    free(tg);
    dp_ctx_free(c);
    dp_model_free(m);
    return rc;
}
