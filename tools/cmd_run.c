/* cmd_run.c — `doppler run <model> --ids "2 17 9" -n 16 [--greedy] [--print-ids]`:
 * prompt through the model once, then token-by-token generation with the KV cache. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "static_mode.h"
#include "generate.h"
#include "spec.h"

static const char USAGE[] =
    "run <model> (--ids \"1 2 3\" | --prompt TEXT) [-n N] [--greedy] [--temp T] [--top-k K] [--top-p P]\n"
    "            [--seed S] [--print-ids] [--ignore-eos] [--stats] [-t threads] [-c n_ctx]\n"
    "            [--draft DIR [--draft-max K] | --lookup N [--draft-max K]]\n"
    "            [--static BUNDLE --pubkey KEY] [--audit FILE] " CLI_LORA_USAGE "\n"
    "            [--verbose] " CLI_PAGING_USAGE;

int cmd_run(int argc, char **argv) {
    const char *model = NULL, *ids_text = NULL, *prompt = NULL;
    long n_gen = 16, threads = 0, n_ctx = 0, top_k = 40, seed = 0;
    double temp = 0.8, top_p = 0.95;
    bool print_ids = false, ignore_eos = false, stats = false, verbose = false;
    cli_spec spec = {0};
    static_opts so = {0};
    cli_lora lora = {0};
    cli_paging paging = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (static_opt(&so, argc, argv, &i)) continue;
        int pa_ = cli_paging_arg(&paging, "run", argc, argv, &i);
        if (pa_ < 0) return 2;
        if (pa_ > 0) continue;
        int sa = cli_spec_arg(&spec, "run", argc, argv, &i);
        if (sa < 0) return 2;
        if (sa > 0) continue;
        if (!strcmp(a, "--ids") && v) ids_text = argv[++i];
        else if (!strcmp(a, "--prompt") && v) prompt = argv[++i];
        else if (!strcmp(a, "-n") && v) { if (!cli_int("run", a, argv[++i], 0, 1 << 24, &n_gen)) return 2; }
        else if (!strcmp(a, "-t") && v) { if (!cli_int("run", a, argv[++i], 0, 1024, &threads)) return 2; }
        else if (!strcmp(a, "-c") && v) { if (!cli_int("run", a, argv[++i], 1, 1 << 24, &n_ctx)) return 2; }
        else if (!strcmp(a, "--top-k") && v) { if (!cli_int("run", a, argv[++i], 0, 1 << 24, &top_k)) return 2; }
        else if (!strcmp(a, "--seed") && v) { if (!cli_int("run", a, argv[++i], 0, 0x7fffffff, &seed)) return 2; }
        else if (!strcmp(a, "--temp") && v) { if (!cli_float("run", a, argv[++i], &temp)) return 2; }
        else if (!strcmp(a, "--top-p") && v) { if (!cli_float("run", a, argv[++i], &top_p)) return 2; }
        else if (!strcmp(a, "--lora") && v) { if (!cli_lora_parse("run", argv[++i], &lora)) { cli_lora_free(&lora); return 2; } }
        else if (!strcmp(a, "--greedy")) temp = 0;
        else if (!strcmp(a, "--print-ids")) print_ids = true;
        else if (!strcmp(a, "--ignore-eos")) ignore_eos = true;
        else if (!strcmp(a, "--stats")) stats = true;
        else if (!strcmp(a, "--verbose")) stats = verbose = true;
        else if (a[0] == '-' || model) return cli_usage(USAGE);
        else model = a;
    }
    if (!model || (!ids_text == !prompt) || (spec.draft_dir && spec.lookup)) {
        cli_lora_free(&lora);
        return cli_usage(USAGE);
    }
    if (!(model = cli_model_dir("run", model))) {
        cli_lora_free(&lora);
        return 1;
    }
    dp_gen_params gp;
    dp_gen_params_default(&gp);
    gp.sampling = (dp_sampling){(float)temp, (int32_t)top_k, (float)top_p, (uint64_t)seed};
    gp.n_max = (int32_t)n_gen;
    gp.ignore_eos = ignore_eos;
    int src = cli_sampling("run", &gp.sampling) ? static_check(&so, "run", model, lora.dir) : 2;
    if (src) {
        cli_lora_free(&lora);
        return src;
    }
    int32_t *ids = NULL, n = 0;
    char err[128];
    dp_error e = {0};
    dp_tokenizer *tok = NULL;
    gen_reply out = {0};
    dp_model *m = NULL;
    dp_ctx *c = NULL;
    dp_gen *g = NULL;
    int rc = 0;
    if (ids_text && (!cli_parse_ids(ids_text, &ids, &n, err, sizeof err) || n == 0)) {
        fprintf(stderr, "doppler run: --ids: %s\n", ids ? "no token ids" : err);
        free(ids);
        cli_lora_free(&lora);
        return 2;
    }
    if (cli_load_paged(model, (int)threads, &paging, &m, &e) != DP_OK) {
        rc = cli_fail("run", &e);
        goto done;
    }
    if (prompt || !print_ids) {
        if (dp_tokenizer_load(model, &tok, &e) != DP_OK) {
            if (prompt) { rc = cli_fail("run", &e); goto done; }
            print_ids = true; /* no tokenizer: show ids */
        }
    }
    if (prompt) {
        size_t count = 0;
        if (gen_tokenize(tok, prompt, strlen(prompt), &ids, &count, &e) != DP_OK) {
            rc = cli_fail("run", &e);
            goto done;
        }
        /* an empty prompt starts from BOS alone, when the model has one */
        if (count == 0 && dp_model_bos(m) < 0) {
            fprintf(stderr, "doppler run: the prompt is empty and the model has no BOS token to start from\n");
            rc = 1;
            goto done;
        }
        if (count == 0) ids[count++] = dp_model_bos(m);
        n = (int32_t)count;
    }
    dp_ctx_params cp;
    dp_ctx_params_default(&cp);
    cp.n_ctx = n_ctx > 0 ? (int32_t)n_ctx : n + (int32_t)n_gen;
    if (dp_ctx_new(m, &cp, &c, &e) != DP_OK || cli_lora_use(&lora, m, c, &e) != DP_OK ||
        (cli_spec_on(&spec) && cli_spec_open(&spec, c, (int)threads, cp.n_ctx, false, &e) != DP_OK)) {
        rc = cli_fail("run", &e);
        goto done;
    }
    gp.spec = spec.spec;
    if (dp_gen_new(c, tok, &gp, &g, &e) != DP_OK) {
        rc = cli_fail("run", &e);
        goto done;
    }
    if (print_ids)
        for (int32_t i = 0; i < n; i++) printf("%s%d", i ? " " : "", ids[i]);
    else if (prompt)
        fputs(prompt, stdout);
    fflush(stdout);
    gen_stats gs = {0};
    if (gen_print(g, c, gp.n_max, ids, n, print_ids, stdout, &out, &gs, &e) != DP_OK) rc = cli_fail("run", &e);
    else if (static_audit(&so, "run", model, &gp.sampling, ids, n, out.ids, (int64_t)out.n)) rc = 1;
    printf("\n");
    fflush(stdout);
    if (stats) gen_stats_print(&gs, stderr);
    if (verbose) cli_paging_report(m, dp_ctx_n_evaluated(c), stderr);
    if (spec.spec) {
        dp_spec_stats ss;
        char line[256];
        dp_spec_stats_get(spec.spec, &ss);
        cli_spec_report(&ss, line, sizeof line);
        fprintf(stderr, "doppler run: speculative (%s): %s\n", spec.draft_dir ? "draft" : "lookup", line);
    }
done:
    dp_gen_free(g);
    cli_spec_close(&spec);
    free(ids);
    gen_reply_free(&out);
    dp_tokenizer_free(tok);
    dp_ctx_free(c);
    cli_lora_free(&lora);
    dp_model_free(m);
    return rc;
}
