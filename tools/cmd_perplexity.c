/* cmd_perplexity.c — `doppler perplexity <model> -f text.txt`: llama.cpp's llama-perplexity
 * (dp_perplexity in src/runtime/perplexity.c does the work; this file reads the text, tokenizes
 * it with BOS, and prints what llama-perplexity prints):
 *   stdout: the token count, the running estimate after every chunk ("[1]12.3456,[2]..."), then
 *           "Final estimate: PPL = x +/- err";
 *   with --kl-divergence: a row per chunk (PPL, ln(PPL(Q)/PPL(base)), KL divergence, RMS of
 *           p(next) change, same top token) and llama-perplexity's closing statistics;
 *   stderr: seconds per chunk and the time left, after the first chunk; the chunk count as it
 *           goes when stderr is a terminal. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "cli.h"
#include "commands.h"
#include "tokenizer/tokenizer.h"

static const char USAGE[] =
    "perplexity <model> -f text.txt [--ctx N] [--batch N] [--chunks N] [-t threads]\n"
    "                   [--kl-divergence-base FILE [--kl-divergence]] [--save-logits FILE] " CLI_LORA_USAGE;

#define TEXT_MAX ((size_t)1 << 30)

typedef struct view {
    bool kl, tty;
} view;

static void progress(void *ud, const dp_ppl_stats *s) {
    const view *v = ud;
    if (v->kl) {
        if (s->chunks_done == 1)
            printf("chunk             PPL               ln(PPL(Q)/PPL(base))          KL Divergence              "
                   "\xce\x94p RMS            Same top p\n");
        printf("%4d    %9.4f \xc2\xb1 %9.4f    %10.5f \xc2\xb1 %10.5f    %10.5f \xc2\xb1 %10.5f    %6.3f \xc2\xb1 %6.3f %%"
               "    %6.3f \xc2\xb1 %6.3f %%\n",
               s->chunks_done, s->ppl, s->ppl_err, s->ln_ratio, s->ln_ratio_err, s->kld, s->kld_err, 100.0 * s->rms_dp,
               100.0 * s->rms_dp_err, 100.0 * s->same_top, 100.0 * s->same_top_err);
    } else {
        printf("[%d]%.4f,", s->chunks_done, s->ppl);
        if (s->chunks_done == s->n_chunks) printf("\n");
    }
    fflush(stdout);
    double per = s->seconds / s->chunks_done, left = per * (s->n_chunks - s->chunks_done);
    if (s->chunks_done == 1) fprintf(stderr, "perplexity: %.2f seconds per chunk, ETA %.2f minutes\n", per, left / 60.0);
    else if (v->tty) fprintf(stderr, "\rperplexity: chunk %d/%d, %.0f s left \033[K%s", s->chunks_done, s->n_chunks, left,
                             s->chunks_done == s->n_chunks ? "\n" : "");
}

static void print_kl(const dp_ppl_stats *s) {
    printf("\n====== Perplexity statistics ======\n");
    printf("Mean PPL(Q)                   : %10.6f \xc2\xb1 %10.6f\n", s->ppl, s->ppl_err);
    printf("Mean PPL(base)                : %10.6f \xc2\xb1 %10.6f\n", s->ppl_base, s->ppl_base_err);
    printf("Mean ln(PPL(Q)/PPL(base))     : %10.6f \xc2\xb1 %10.6f\n", s->ln_ratio, s->ln_ratio_err);
    printf("\n====== KL divergence statistics ======\n");
    printf("Mean    KLD: %10.6f \xc2\xb1 %10.6f\n", s->kld, s->kld_err);
    printf("Maximum KLD: %10.6f\n", s->kld_max);
    printf("99.0%%   KLD: %10.6f\n", s->kld_p99);
    printf("Median  KLD: %10.6f\n", s->kld_median);
    printf("\n====== Token probability statistics ======\n");
    printf("RMS \xce\x94p    : %6.3f \xc2\xb1 %5.3f %%\n", 100.0 * s->rms_dp, 100.0 * s->rms_dp_err);
    printf("Same top p: %6.3f \xc2\xb1 %5.3f %%\n", 100.0 * s->same_top, 100.0 * s->same_top_err);
}

/* the text's ids, with BOS when the tokenizer adds one */
static dp_status tokenize_file(const char *path, const dp_tokenizer *tok, dp_tokens *ids, dp_error *e) {
    char *text = NULL;
    size_t len = 0;
    dp_status st = dp_file_read_all(path, TEXT_MAX, &text, &len, e);
    if (st == DP_OK && len == 0) st = dp_err_set(e, DP_ERR_INVALID_ARG, "%s is empty", path);
    if (st == DP_OK) st = dp_tokenizer_encode(tok, text, len, true, false, ids, e);
    dp_free(text);
    return st;
}

int cmd_perplexity(int argc, char **argv) {
    const char *model = NULL, *text = NULL, *base = NULL, *logits = NULL;
    long n_ctx = 512, n_batch = 0, n_chunks = 0, threads = 0;
    bool kl = false, ctx_given = false;
    cli_lora lora = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--lora") && v) {
            if (!cli_lora_parse("perplexity", argv[++i], &lora)) {
                cli_lora_free(&lora);
                return 2;
            }
        } else if (!strcmp(a, "-f") && v) text = argv[++i];
        else if (!strcmp(a, "--kl-divergence-base") && v) base = argv[++i];
        else if (!strcmp(a, "--save-logits") && v) logits = argv[++i];
        else if (!strcmp(a, "--kl-divergence")) kl = true;
        else if ((!strcmp(a, "--ctx") || !strcmp(a, "-c")) && v) {
            if (!cli_int("perplexity", a, argv[++i], 4, 1 << 24, &n_ctx)) return 2;
            ctx_given = true;
        } else if ((!strcmp(a, "--batch") || !strcmp(a, "-b")) && v) {
            if (!cli_int("perplexity", a, argv[++i], 1, 1 << 24, &n_batch)) return 2;
        } else if (!strcmp(a, "--chunks") && v) {
            if (!cli_int("perplexity", a, argv[++i], 1, 1 << 30, &n_chunks)) return 2;
        } else if (!strcmp(a, "-t") && v) {
            if (!cli_int("perplexity", a, argv[++i], 0, 1024, &threads)) return 2;
        } else if (a[0] == '-' || model) {
            cli_lora_free(&lora);
            return cli_usage(USAGE);
        } else model = a;
    }
    if (!model || (!text && !kl) || (kl && !base)) {
        cli_lora_free(&lora);
        if (kl && !base) {
            fprintf(stderr, "doppler perplexity: --kl-divergence compares against the file given with --kl-divergence-base\n");
            return 2;
        }
        return cli_usage(USAGE);
    }
    dp_error e = {0};
    dp_tokenizer *tok = NULL;
    dp_tokens ids = {0};
    dp_model *m = NULL;
    int rc = 0;
    dp_ppl_params p;
    dp_ppl_params_default(&p);
    p.n_ctx = kl && !ctx_given ? 0 : (int32_t)n_ctx; /* comparing: the base file's context */
    p.n_batch = (int32_t)n_batch;
    p.n_chunks = (int32_t)n_chunks;
    p.kld_base_out = kl ? NULL : base;
    p.kld_base_in = kl ? base : NULL;
    p.logits_out = logits;
    view v = {kl, isatty(2) != 0};
    p.progress = progress;
    p.progress_ud = &v;
    dp_status st = cli_load(model, (int)threads, &m, &e);
    if (st == DP_OK && lora.dir && (st = dp_adapter_load(m, lora.dir, &lora.a, &e)) == DP_OK) {
        p.adapter = lora.a;
        p.adapter_scale = lora.scale;
    }
    /* BOS as llama.cpp: when the tokenizer adds one, it also starts every chunk */
    if (st == DP_OK && (st = dp_tokenizer_load(model, &tok, &e)) != DP_OK && kl && !text) {
        st = DP_OK; /* comparing over the file's tokens: the model's BOS will do */
        p.bos = dp_model_bos(m);
    } else if (st == DP_OK) {
        p.bos = dp_tokenizer_add_bos(tok) ? dp_tokenizer_bos(tok) : -1;
    }
    if (st == DP_OK && text) st = tokenize_file(text, tok, &ids, &e);
    dp_ppl_stats s;
    if (st == DP_OK) st = dp_perplexity(m, ids.ids, (int64_t)ids.n, &p, &s, &e);
    if (st != DP_OK) {
        rc = cli_fail("perplexity", &e);
        goto done;
    }
    if (kl) print_kl(&s);
    printf("%sFinal estimate: PPL = %.4f +/- %.5f\n", kl ? "\n" : "", s.ppl, s.ppl_err);
    printf("tokens: %lld, chunks: %d of %d, scored: %lld\n", (long long)s.n_tokens, s.n_chunks, s.n_ctx, (long long)s.count);
done:
    dp_tokens_free(&ids);
    dp_tokenizer_free(tok);
    cli_lora_free(&lora); /* before its model */
    dp_model_free(m);
    return rc;
}
