/* cmd_bench.c — `doppler bench <model> [-p 512] [-n 128] [-t threads] [-r reps] [--seqs N] [--json]`:
 * prompt processing (one batch of p tokens from an empty cache) and generation (n single-token
 * steps from an empty cache, sampling included), llama-bench's pp/tg convention; mean and
 * standard deviation over reps runs after one warm-up. With --draft / --lookup: speculative
 * decoding against plain decode of the same target (bench_spec.c). --seqs N: generation of N
 * sequences at once, each step one dp_batch_eval over all of them (as `doppler serve` decodes its
 * slots); tokens/s counts the tokens of all N. With --lora every run is made twice on the same
 * contexts, without and then with the adapter, and the adapter's cost per token is reported.
 * --rows 1,2,...: the cost of a pass of n rows against one (bench_rows.c), with --draft the
 * speculative speedup those costs allow. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cli.h"
#include "bench.h"
#include "commands.h"
#include "static_mode.h"

static const char USAGE[] =
    "bench <model> [-p 512] [-n 128] [-t threads] [-r 3] [--seqs N] [--json] [--static BUNDLE --pubkey KEY]\n"
    "              [--draft DIR | --lookup N] [--draft-max K] [--sweep] [--prompt TEXT] [--temp T] [--seed S]\n"
    "              [--rows 1,2,...,9 [--at 100] [--alpha 0.65,0.7,0.75] [--draft DIR]]\n"
    "              " CLI_LORA_USAGE " " CLI_PAGING_USAGE;

void bench_cpu_name(char *buf, size_t n) {
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

bench_stats bench_summarize(const double *v, int n) {
    bench_stats s = {0, 0};
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

/* tokens/s of one tg run: n_g tokens through the library's loop (dp_gen), as `run` makes them */
static dp_status run_tg(dp_ctx *c, int n_g, int vocab, double *tps, dp_error *e) {
    dp_ctx_reset(c);
    int32_t tok = 1 % vocab;
    dp_gen_params p;
    dp_gen_params_default(&p);
    p.n_max = n_g;
    p.ignore_eos = 1;
    dp_gen *g = NULL;
    dp_status st = dp_gen_new(c, NULL, &p, &g, e);
    dp_gen_token t = {0};
    double t0 = dp_time_now();
    if (st == DP_OK) st = dp_gen_prompt(g, &tok, 1, e);
    while (st == DP_OK && t.stop == DP_GEN_RUNNING) st = dp_gen_step(g, &t, e);
    *tps = n_g / (dp_time_now() - t0);
    dp_gen_free(g);
    return st;
}

/* tokens/s of n_g steps of `seqs` sequences decoded together: the sequences' contexts, one batch */
static dp_status run_tg_batch(dp_ctx **cs, int seqs, dp_batch *b, int n_g, int vocab, double *tps, dp_error *e) {
    int32_t tok[64];
    dp_sampling sp = {0, 0, 1, 0};
    for (int s = 0; s < seqs; s++) {
        dp_ctx_reset(cs[s]);
        tok[s] = (int32_t)((s * 7919 + 1) % vocab);
    }
    double t0 = dp_time_now();
    dp_status st = DP_OK;
    for (int i = 0; i < n_g && st == DP_OK; i++) {
        st = dp_batch_eval(b, cs, tok, seqs, e);
        for (int s = 0; s < seqs && st == DP_OK; s++) st = dp_ctx_sample(cs[s], &sp, &tok[s], e);
    }
    *tps = (double)n_g * seqs / (dp_time_now() - t0);
    return st;
}

/* The adapter (with: lora's, else none) on the first seqs contexts */
static dp_status use_adapter(dp_ctx **cs, int seqs, const cli_lora *lora, int with, dp_error *e) {
    dp_status st = DP_OK;
    for (int s = 0; s < seqs && st == DP_OK; s++) st = dp_ctx_set_adapter(cs[s], with ? lora->a : NULL, lora->scale, 0, e);
    return st;
}

/* One warm-up, then reps runs of pp and tg into pp[], tg[]; with an adapter, each run is done
 * without it (pp[], tg[]) and then with it (lpp[], ltg[]), so the two see the same machine load.
 * res: [pp, tg, lpp, ltg] of reps values each. */
static dp_status measure(dp_ctx **cs, int seqs, dp_batch *b, const cli_lora *lora, const int32_t *ids, long n_p,
                         long n_g, long reps, int vocab, double *res, dp_error *e) {
    dp_status st = DP_OK;
    double warm;
    dp_ctx *c = cs[0];
    for (int with = 0; with <= (lora->a ? 1 : 0) && st == DP_OK; with++) {
        st = use_adapter(cs, seqs, lora, with, e);
        if (st == DP_OK && n_p > 0) st = run_pp(c, ids, n_p < 32 ? (int)n_p : 32, &warm, e);
        else if (st == DP_OK && n_g > 0) st = run_tg(c, n_g < 4 ? (int)n_g : 4, vocab, &warm, e);
    }
    for (long r = 0; r < reps && st == DP_OK; r++)
        for (int with = 0; with <= (lora->a ? 1 : 0) && st == DP_OK; with++) {
            double *pp = res + (2 * with) * reps, *tg = res + (2 * with + 1) * reps;
            st = use_adapter(cs, seqs, lora, with, e);
            if (st == DP_OK && n_p > 0) st = run_pp(c, ids, (int)n_p, &pp[r], e);
            if (st == DP_OK && n_g > 0)
                st = seqs > 1 ? run_tg_batch(cs, seqs, b, (int)n_g, vocab, &tg[r], e) : run_tg(c, (int)n_g, vocab, &tg[r], e);
        }
    return st;
}

/* extra time per token with the adapter, in percent of the base time */
static double cost_pct(double base_tps, double lora_tps) { return 100.0 * (base_tps / lora_tps - 1.0); }

int cmd_bench(int argc, char **argv) {
    const char *model = NULL;
    long n_p = 512, n_g = 128, threads = 0, reps = 3, seed = 0, seqs = 1;
    double temp = 0;
    bool json = false, sweep = false;
    const char *prompt = NULL, *rows = NULL, *alpha = "0.65,0.7,0.75";
    long at = -1;
    cli_spec spec = {0};
    static_opts so = {0};
    cli_lora lora = {0};
    cli_paging paging = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (static_opt(&so, argc, argv, &i)) continue;
        int pa_ = cli_paging_arg(&paging, "bench", argc, argv, &i);
        if (pa_ < 0) return 2;
        if (pa_ > 0) continue;
        int sa = cli_spec_arg(&spec, "bench", argc, argv, &i);
        if (sa < 0) return 2;
        if (sa > 0) continue;
        if (!strcmp(a, "--sweep")) sweep = true;
        else if (!strcmp(a, "--rows") && v) rows = argv[++i];
        else if (!strcmp(a, "--alpha") && v) alpha = argv[++i];
        else if (!strcmp(a, "--at") && v) { if (!cli_int("bench", a, argv[++i], 0, 1 << 20, &at)) return 2; }
        else if (!strcmp(a, "--prompt") && v) prompt = argv[++i];
        else if (!strcmp(a, "--temp") && v) { if (!cli_float("bench", a, argv[++i], &temp)) return 2; }
        else if (!strcmp(a, "--seed") && v) { if (!cli_int("bench", a, argv[++i], 0, 0x7fffffff, &seed)) return 2; }
        else if (!strcmp(a, "-p") && v) { if (!cli_int("bench", a, argv[++i], 0, 1 << 20, &n_p)) return 2; }
        else if (!strcmp(a, "-n") && v) { if (!cli_int("bench", a, argv[++i], 0, 1 << 20, &n_g)) return 2; }
        else if (!strcmp(a, "-t") && v) { if (!cli_int("bench", a, argv[++i], 0, 1024, &threads)) return 2; }
        else if (!strcmp(a, "-r") && v) { if (!cli_int("bench", a, argv[++i], 1, 1000, &reps)) return 2; }
        else if (!strcmp(a, "--seqs") && v) { if (!cli_int("bench", a, argv[++i], 1, 64, &seqs)) return 2; }
        else if (!strcmp(a, "--lora") && v) { if (!cli_lora_parse("bench", argv[++i], &lora)) { cli_lora_free(&lora); return 2; } }
        else if (!strcmp(a, "--json")) json = true;
        else if (a[0] == '-' || model) { cli_lora_free(&lora); return cli_usage(USAGE); }
        else model = a;
    }
    if (rows || at >= 0) {
        bench_rows_opts ro = {.model = model, .draft = spec.draft_dir, .at = at >= 0 ? (int)at : 100, .reps = reps,
                              .threads = (int)threads, .json = json};
        if (!rows || !model || lora.dir || spec.lookup || sweep || prompt || seqs > 1 || paging.gpu_mem || paging.ram_cache ||
            paging.policy || paging.in_place) {
            cli_lora_free(&lora);
            return cli_usage(USAGE);
        }
        if (!bench_rows_parse(rows, ro.rows, BENCH_ROWS_MAX, &ro.n_rows, 1024) ||
            !bench_alpha_parse(alpha, ro.alpha, BENCH_ALPHA_MAX, &ro.n_alpha)) {
            fprintf(stderr, "doppler bench: --rows needs up to %d ascending row counts from 1 (e.g. 1,2,4) and --alpha up "
                            "to %d acceptance rates in [0, 1] (e.g. 0.65,0.7)\n", BENCH_ROWS_MAX, BENCH_ALPHA_MAX);
            return 2;
        }
        return (ro.model = cli_model_dir("bench", model)) ? bench_rows(&ro) : 1;
    }
    if (lora.dir && cli_spec_on(&spec)) {
        fprintf(stderr, "doppler bench: --lora is measured on plain decode, not with --draft / --lookup\n");
        cli_lora_free(&lora);
        return 2;
    }
    if (model && !(model = cli_model_dir("bench", model))) {
        cli_lora_free(&lora);
        return 1;
    }
    int src = !model || (spec.draft_dir && spec.lookup) || ((sweep || prompt) && !cli_spec_on(&spec))
                  ? cli_usage(USAGE) : static_check(&so, "bench", model, lora.dir);
    if (src) {
        cli_lora_free(&lora);
        return src;
    }
    if (cli_spec_on(&spec)) {
        bench_spec_opts bo = {model, &spec, prompt, {(float)temp, 0, 1.0f, (uint64_t)seed}, n_g, reps, (int)threads, sweep, json};
        return cli_sampling("bench", &bo.sampling) ? bench_spec(&bo) : 2;
    }
    dp_error e = {0};
    dp_model *m = NULL;
    dp_ctx *c = NULL, *cs[64] = {0};
    dp_batch *b = NULL;
    int rc = 0;
    int32_t *ids = NULL;
    double *res = calloc((size_t)reps * 4, sizeof(double));
    double *pp = res, *tg = res ? res + reps : NULL, *lpp = res ? res + 2 * reps : NULL, *ltg = res ? res + 3 * reps : NULL;
    dp_ctx_params cp;
    dp_ctx_params_default(&cp);
    cp.n_ctx = (int32_t)(n_p > n_g ? n_p : n_g) + 1;
    cp.n_batch = n_p > 0 ? (int32_t)n_p : 1;
    if (!res || cli_load_paged(model, (int)threads, &paging, &m, &e) != DP_OK || dp_ctx_new(m, &cp, &c, &e) != DP_OK) {
        rc = cli_fail("bench", &e);
        goto done;
    }
    cs[0] = c;
    for (long s = 1; s < seqs; s++)
        if (dp_ctx_new(m, &cp, &cs[s], &e) != DP_OK) {
            rc = cli_fail("bench", &e);
            goto done;
        }
    if (seqs > 1 && dp_batch_new(m, (int32_t)seqs, &b, &e) != DP_OK) {
        rc = cli_fail("bench", &e);
        goto done;
    }
    int vocab = dp_model_n_vocab(m);
    ids = malloc((size_t)(n_p > 0 ? n_p : 1) * sizeof *ids);
    if (!ids) goto done;
    for (long i = 0; i < n_p; i++) ids[i] = (int32_t)((i * 7919 + 13) % vocab);
    int nthreads = threads > 0 ? (int)threads : dp_cpu_count();
    dp_status st = cli_lora_use(&lora, m, c, &e); /* loads it (and checks the scale) */
    if (st == DP_OK) st = measure(cs, (int)seqs, b, &lora, ids, n_p, n_g, reps, vocab, res, &e);
    if (st != DP_OK) {
        rc = cli_fail("bench", &e);
        goto done;
    }
    char cpu[256];
    bench_cpu_name(cpu, sizeof cpu);
    bench_stats sp = bench_summarize(pp, (int)reps), sg = bench_summarize(tg, (int)reps);
    bench_stats lp = bench_summarize(lpp, (int)reps), lg = bench_summarize(ltg, (int)reps);
    double gib = (double)dp_model_weight_bytes(m) / (1024.0 * 1024.0 * 1024.0);
    double params_b = (double)dp_model_n_params(m) / 1e9;
    int64_t evaluated = 0; /* tokens, for the paging figures per token */
    for (long q = 0; q < seqs; q++) evaluated += dp_ctx_n_evaluated(cs[q]);
    if (json) {
        printf("{\"model\":\"%s\",\"family\":\"%s\",\"dtype\":\"%s\",\"params_b\":%.3f,\"size_gib\":%.3f,"
               "\"backend\":\"cpu\",\"hardware\":\"%s\",\"threads\":%d,\"reps\":%ld",
               model, dp_model_family(m), dp_model_dtype(m), params_b, gib, cpu, nthreads, reps);
        if (n_p > 0) printf(",\"pp\":{\"n\":%ld,\"tps_mean\":%.3f,\"tps_sd\":%.3f}", n_p, sp.mean, sp.sd);
        if (n_g > 0) printf(",\"tg\":{\"n\":%ld,\"seqs\":%ld,\"tps_mean\":%.3f,\"tps_sd\":%.3f}", n_g, seqs, sg.mean, sg.sd);
        if (lora.a) {
            printf(",\"lora\":{\"dir\":\"%s\",\"rank\":%d,\"scale\":%g", lora.dir, (int)dp_adapter_rank(lora.a),
                   (double)lora.scale);
            if (n_p > 0)
                printf(",\"pp\":{\"n\":%ld,\"tps_mean\":%.3f,\"tps_sd\":%.3f,\"cost_pct\":%.2f}", n_p, lp.mean, lp.sd,
                       cost_pct(sp.mean, lp.mean));
            if (n_g > 0)
                printf(",\"tg\":{\"n\":%ld,\"tps_mean\":%.3f,\"tps_sd\":%.3f,\"cost_pct\":%.2f}", n_g, lg.mean, lg.sd,
                       cost_pct(sg.mean, lg.mean));
            printf("}");
        }
        cli_paging_json(m, evaluated, stdout);
        printf("}\n");
    } else {
        printf("model: %s (%s, %s, %.3f B params, %.2f GiB)\nhardware: %s, backend cpu, %d threads, %ld reps\n",
               model, dp_model_family(m), dp_model_dtype(m), params_b, gib, cpu, nthreads, reps);
        if (lora.a) printf("lora: %s (rank %d, scale %g)\n", lora.dir, (int)dp_adapter_rank(lora.a), (double)lora.scale);
        printf("| test        |            t/s |\n|-------------|----------------|\n");
        char label[48], x[24] = "";
        if (seqs > 1) snprintf(x, sizeof x, " x%ld", seqs);
        for (int with = 0; with <= (lora.a ? 1 : 0); with++) {
            bench_stats p = with ? lp : sp, g = with ? lg : sg;
            snprintf(label, sizeof label, "pp%ld%s", n_p, with ? " +lora" : "");
            if (n_p > 0) printf("| %-11s | %8.2f ± %5.2f |\n", label, p.mean, p.sd);
            snprintf(label, sizeof label, "tg%ld%s%s", n_g, x, with ? " +lora" : "");
            if (n_g > 0) printf("| %-11s | %8.2f ± %5.2f |\n", label, g.mean, g.sd);
        }
        cli_paging_report(m, evaluated, stdout);
        if (lora.a && n_g > 0) printf("lora cost per generated token: %+.1f %% time\n", cost_pct(sg.mean, lg.mean));
        if (lora.a && n_p > 0) printf("lora cost per prompt token: %+.1f %% time\n", cost_pct(sp.mean, lp.mean));
    }
done:
    free(ids);
    free(res);
    for (int s = 1; s < 64; s++) dp_ctx_free(cs[s]);
    dp_batch_free(b);
    dp_ctx_free(c);
    cli_lora_free(&lora);
    dp_model_free(m);
    return rc;
}
