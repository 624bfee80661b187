/* cmd_run.c — `doppler run <model> --ids "2 17 9" -n 16 [--greedy] [--print-ids]`:
 * prompt through the model once, then token-by-token generation with the KV cache. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cli.h"
#include "commands.h"
#include "generate.h"

static const char USAGE[] =
    "run <model> (--ids \"1 2 3\" | --prompt TEXT) [-n N] [--greedy] [--temp T] [--top-k K] [--top-p P]\n"
    "            [--seed S] [--print-ids] [--ignore-eos] [-t threads] [-c n_ctx] " CLI_LORA_USAGE;

int cmd_run(int argc, char **argv) {
    const char *model = NULL, *ids_text = NULL, *prompt = NULL;
    long n_gen = 16, threads = 0, n_ctx = 0, top_k = 40, seed = 0;
    double temp = 0.8, top_p = 0.95;
    bool print_ids = false, ignore_eos = false;
    cli_lora lora = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
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
        else if (a[0] == '-' || model) return cli_usage(USAGE);
        else model = a;
    }
    if (!model || (!ids_text == !prompt)) {
        cli_lora_free(&lora);
        return cli_usage(USAGE);
    }
    gen_opts o = {{(float)temp, (int32_t)top_k, (float)top_p, (uint64_t)seed}, n_gen, ignore_eos, print_ids, stdout};
    if (!cli_sampling("run", &o.sampling)) {
        cli_lora_free(&lora);
        return 2;
    }
    int32_t *ids = NULL, n = 0;
    char err[128];
    dp_error e = {0};
    dp_tokenizer *tok = NULL;
    dp_tokens enc = {0};
    dp_model *m = NULL;
    dp_ctx *c = NULL;
    int rc = 0;
    if (ids_text && (!cli_parse_ids(ids_text, &ids, &n, err, sizeof err) || n == 0)) {
        fprintf(stderr, "doppler run: --ids: %s\n", ids ? "no token ids" : err);
        free(ids);
        cli_lora_free(&lora);
        return 2;
    }
    if (cli_load(model, (int)threads, &m, &e) != DP_OK) {
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
        if (dp_tokenizer_encode(tok, prompt, strlen(prompt), true, true, &enc, &e) != DP_OK) {
            rc = cli_fail("run", &e);
            goto done;
        }
        /* an empty prompt starts from BOS alone, when the model has one */
        dp_status st = DP_OK;
        if (enc.n == 0 && dp_model_bos(m) < 0)
            st = dp_err_set(&e, DP_ERR_INVALID_ARG, "the prompt is empty and the model has no BOS token to start from");
        else if (enc.n == 0 && !dp_tokens_push(&enc, dp_model_bos(m)))
            st = dp_err_set(&e, DP_ERR_NOMEM, "out of memory");
        if (st != DP_OK) {
            rc = cli_fail("run", &e);
            goto done;
        }
        n = (int32_t)enc.n;
    }
    const int32_t *p = prompt ? enc.ids : ids;
    dp_ctx_params cp;
    dp_ctx_params_default(&cp);
    cp.n_ctx = n_ctx > 0 ? (int32_t)n_ctx : n + (int32_t)n_gen;
    if (dp_ctx_new(m, &cp, &c, &e) != DP_OK || cli_lora_use(&lora, m, c, &e) != DP_OK) {
        rc = cli_fail("run", &e);
        goto done;
    }
    if (print_ids)
        for (int32_t i = 0; i < n; i++) printf("%s%d", i ? " " : "", p[i]);
    else if (prompt)
        fputs(prompt, stdout);
    fflush(stdout);
    o.print_ids = print_ids;
    if (gen_run(c, m, tok, p, n, &o, NULL, &e) != DP_OK) rc = cli_fail("run", &e);
    printf("\n");
done:
    free(ids);
    dp_tokens_free(&enc);
    dp_tokenizer_free(tok);
    dp_ctx_free(c);
    cli_lora_free(&lora);
    dp_model_free(m);
    return rc;
}
