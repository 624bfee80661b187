/* bench_spec.c — `doppler bench <target> --draft DIR | --lookup N [--draft-max K] [--sweep]`:
 * plain decode of the target and speculative decoding side by side in one run, n tokens after
 * the same prompt, generation only (the prompt but its last token is evaluated untimed; one
 * untimed warm-up per row, which also leaves the draft holding the prompt). Reports acceptance,
 * tokens per target pass, tokens/s and the speedup over plain decode; greedy rows also say
 * whether the output was identical to plain decode's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "bench.h"
#include "cli.h"
#include "tokenizer/tokenizer.h"

static const char DEFAULT_PROMPT[] =
    "NAME\n       ls - list directory contents\n\nSYNOPSIS\n       ls [OPTION]... [FILE]...\n\nDESCRIPTION\n"
    "       List information about the FILEs (the current directory by default).";

typedef struct bench_row {
    int k;                /* 0: plain decode */
    bool adaptive;
    bench_stats tps;
    double accept, per_pass;
    bool same;            /* greedy output identical to plain decode's */
} bench_row;

typedef struct bench_run {
    dp_ctx *c;
    const int32_t *prompt;
    int32_t n;
    long n_gen;
    const dp_sampling *sampling;
    int32_t *hist;        /* [n + n_gen + 64]: prompt then the generated ids */
} bench_run;

/* one timed generation of n_gen tokens, plain (spec NULL) or speculative; ids at r->hist + n */
static dp_status run_once(const bench_run *r, dp_spec *spec, double *tps, dp_error *e) {
    dp_ctx_reset(r->c);
    dp_status st = r->n > 1 ? dp_ctx_eval(r->c, r->prompt, r->n - 1, NULL, e) : DP_OK;
    int32_t nh = r->n;
    memcpy(r->hist, r->prompt, (size_t)r->n * sizeof *r->hist);
    if (spec) dp_spec_stats_reset(spec);
    double t0 = dp_time_now();
    while (st == DP_OK && nh < r->n + r->n_gen) {
        int32_t got = 1, cap = (int32_t)(r->n + r->n_gen - nh);
        if (spec) {
            st = dp_spec_step(spec, r->hist, nh, r->sampling, r->hist + nh, cap < 64 ? cap : 64, &got, e);
        } else {
            st = dp_ctx_eval(r->c, &r->hist[nh - 1], 1, NULL, e);
            if (st == DP_OK) st = dp_ctx_sample(r->c, r->sampling, &r->hist[nh], e);
        }
        nh += got;
    }
    *tps = (double)r->n_gen / (dp_time_now() - t0);
    return st;
}

/* warm-up + reps runs of one row */
static dp_status run_row(const bench_run *r, dp_spec *spec, long reps, bench_row *row, const int32_t *plain_ids,
                         dp_error *e) {
    double *t = calloc((size_t)reps + 1, sizeof *t);
    if (!t) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    dp_status st = DP_OK;
    for (long i = 0; i <= reps && st == DP_OK; i++) st = run_once(r, spec, &t[i], e);
    row->tps = bench_summarize(t + 1, (int)reps);
    free(t);
    row->accept = row->per_pass = 1;
    if (spec) {
        dp_spec_stats s;
        dp_spec_stats_get(spec, &s);
        row->accept = s.proposed ? (double)s.accepted / (double)s.proposed : 0;
        row->per_pass = s.steps ? (double)s.emitted / (double)s.steps : 0;
    }
    row->same = plain_ids && !memcmp(plain_ids, r->hist + r->n, (size_t)r->n_gen * sizeof *plain_ids);
    return st;
}

static dp_status prompt_ids(const bench_spec_opts *o, dp_model *m, dp_tokens *ids, dp_error *e) {
    dp_tokenizer *tok = NULL;
    dp_status st = dp_tokenizer_load(o->model, &tok, e);
    if (st == DP_OK) {
        const char *text = o->prompt ? o->prompt : DEFAULT_PROMPT;
        st = dp_tokenizer_encode(tok, text, strlen(text), true, true, ids, e);
    } else if (!o->prompt) { /* no tokenizer: fixed ids */
        st = DP_OK;
        for (int i = 0; i < 64 && st == DP_OK; i++)
            if (!dp_tokens_push(ids, (int32_t)((i * 7919 + 13) % dp_model_n_vocab(m)))) st = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    }
    dp_tokenizer_free(tok);
    if (st == DP_OK && ids->n == 0) st = dp_err_set(e, DP_ERR_INVALID_ARG, "the prompt has no tokens");
    return st;
}

static void print_rows(const bench_spec_opts *o, dp_model *m, const bench_row *rows, int n_rows, int32_t n_prompt) {
    const cli_spec *sp = o->spec;
    const bool greedy = o->sampling.temperature == 0;
    char cpu[256];
    bench_cpu_name(cpu, sizeof cpu);
    int threads = o->threads > 0 ? o->threads : dp_cpu_count();
    if (o->json) {
        printf("{\"model\":\"%s\",\"family\":\"%s\",\"dtype\":\"%s\",\"params_b\":%.3f,", o->model, dp_model_family(m),
               dp_model_dtype(m), (double)dp_model_n_params(m) / 1e9);
        if (sp->draft)
            printf("\"draft\":\"%s\",\"draft_family\":\"%s\",\"draft_dtype\":\"%s\",\"draft_params_b\":%.3f,", sp->draft_dir,
                   dp_model_family(sp->draft), dp_model_dtype(sp->draft), (double)dp_model_n_params(sp->draft) / 1e9);
        else
            printf("\"lookup\":%ld,", sp->lookup);
        printf("\"backend\":\"cpu\",\"hardware\":\"%s\",\"threads\":%d,\"reps\":%ld,\"prompt_tokens\":%d,\"n\":%ld,"
               "\"temperature\":%g,\"plain\":{\"tps_mean\":%.3f,\"tps_sd\":%.3f},\"speculative\":[",
               cpu, threads, o->reps, n_prompt, o->n_gen, (double)o->sampling.temperature, rows[0].tps.mean, rows[0].tps.sd);
        for (int i = 1; i < n_rows; i++)
            printf("%s{\"k\":%d,\"adaptive\":%s,\"acceptance\":%.4f,\"tokens_per_pass\":%.3f,\"tps_mean\":%.3f,\"tps_sd\":%.3f,"
                   "\"speedup\":%.3f%s}",
                   i > 1 ? "," : "", rows[i].k, rows[i].adaptive ? "true" : "false", rows[i].accept, rows[i].per_pass,
                   rows[i].tps.mean, rows[i].tps.sd, rows[i].tps.mean / rows[0].tps.mean,
                   greedy ? (rows[i].same ? ",\"identical\":true" : ",\"identical\":false") : "");
        printf("]}\n");
        return;
    }
    printf("target: %s (%s, %s, %.3f B params)\n", o->model, dp_model_family(m), dp_model_dtype(m),
           (double)dp_model_n_params(m) / 1e9);
    if (sp->draft)
        printf("draft:  %s (%s, %s, %.3f B params)\n", sp->draft_dir, dp_model_family(sp->draft), dp_model_dtype(sp->draft),
               (double)dp_model_n_params(sp->draft) / 1e9);
    else
        printf("draft:  prompt lookup, n-grams of up to %ld tokens\n", sp->lookup);
    printf("hardware: %s, backend cpu, %d threads, %ld reps; %d prompt tokens, %ld generated, %s\n", cpu, threads, o->reps,
           n_prompt, o->n_gen, greedy ? "greedy" : "sampled");
    printf("| decode      |   K | accepted | tokens/pass |            t/s | speedup |%s\n", greedy ? " output    |" : "");
    printf("|-------------|-----|----------|-------------|----------------|---------|%s\n", greedy ? "-----------|" : "");
    for (int i = 0; i < n_rows; i++) {
        const bench_row *r = &rows[i];
        char k[8] = "-", acc[16] = "-";
        if (r->k) {
            snprintf(k, sizeof k, "%s%d", r->adaptive ? "<=" : "", r->k);
            snprintf(acc, sizeof acc, "%.1f %%", 100 * r->accept);
        }
        printf("| %-11s | %3s | %8s | %11.2f | %8.2f ± %5.2f | %7.2f |%s\n",
               !r->k ? "plain" : r->adaptive ? "adaptive" : "fixed", k, acc, r->per_pass, r->tps.mean, r->tps.sd,
               r->tps.mean / rows[0].tps.mean, !greedy ? "" : !r->k ? " reference |" : r->same ? " identical |" : " DIFFERENT |");
    }
}

int bench_spec(const bench_spec_opts *o) {
    dp_error e = {0};
    dp_model *m = NULL;
    dp_ctx *c = NULL;
    dp_tokens ids = {0};
    int32_t *hist = NULL, *plain_ids = NULL;
    cli_spec *sp = o->spec;
    long kmax = sp->draft_max > 0 ? sp->draft_max : 8;
    int n_rows = 0;
    bench_row rows[34];
    int rc = 0;
    dp_status st = cli_load(o->model, o->threads, &m, &e);
    if (st == DP_OK) st = prompt_ids(o, m, &ids, &e);
    int32_t n_ctx = (int32_t)ids.n + (int32_t)o->n_gen + 1;
    if (st == DP_OK) {
        dp_ctx_params cp;
        dp_ctx_params_default(&cp);
        cp.n_ctx = n_ctx;
        st = dp_ctx_new(m, &cp, &c, &e);
    }
    hist = calloc(ids.n + (size_t)o->n_gen + 64, sizeof *hist);
    plain_ids = calloc((size_t)o->n_gen + 1, sizeof *plain_ids);
    if (st == DP_OK && (!hist || !plain_ids)) st = dp_err_set(&e, DP_ERR_NOMEM, "out of memory");
    bench_run r = {c, ids.ids, (int32_t)ids.n, o->n_gen, &o->sampling, hist};
    if (st == DP_OK) {
        rows[n_rows] = (bench_row){0};
        st = run_row(&r, NULL, o->reps, &rows[n_rows++], NULL, &e);
        memcpy(plain_ids, hist + ids.n, (size_t)o->n_gen * sizeof *plain_ids);
    }
    /* --sweep: fixed K = 1..kmax, then adaptive; else adaptive only */
    for (long k = o->sweep ? 1 : kmax + 1; st == DP_OK && k <= kmax + 1; k++) {
        bool adaptive = k == kmax + 1;
        dp_spec_free(sp->spec); /* the draft stays loaded */
        sp->spec = NULL;
        sp->draft_max = adaptive ? kmax : k;
        st = cli_spec_open(sp, c, o->threads, n_ctx, !adaptive, &e);
        rows[n_rows] = (bench_row){(int)sp->draft_max, adaptive, {0, 0}, 0, 0, false};
        if (st == DP_OK) st = run_row(&r, sp->spec, o->reps, &rows[n_rows++], plain_ids, &e);
    }
    if (st == DP_OK) print_rows(o, m, rows, n_rows, (int32_t)ids.n);
    else rc = cli_fail("bench", &e);
    cli_spec_close(sp);
    free(hist);
    free(plain_ids);
    dp_tokens_free(&ids);
    dp_ctx_free(c);
    dp_model_free(m);
    return rc;
}
