/* cmd_eval.c — `doppler eval <model> --ids-file F --logits OUT`: one forward pass over the ids,
 * raw little-endian f32 logits [n_ids, vocab] written to OUT. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cli.h"
#include "commands.h"
#include "static_mode.h"

static const char USAGE[] =
    "eval <model> --ids-file F --logits OUT [-t threads] [--static BUNDLE --pubkey KEY] " CLI_LORA_USAGE
    "\n            " CLI_PAGING_USAGE;

int cmd_eval(int argc, char **argv) {
    const char *model = NULL, *ids_file = NULL, *out = NULL;
    long threads = 0;
    static_opts so = {0};
    cli_lora lora = {0};
    cli_paging paging = {0};
    for (int i = 1; i < argc; i++) {
        if (static_opt(&so, argc, argv, &i)) continue;
        int pa_ = cli_paging_arg(&paging, "eval", argc, argv, &i);
        if (pa_ < 0) return 2;
        if (pa_ > 0) continue;
        if (!strcmp(argv[i], "--ids-file") && i + 1 < argc) ids_file = argv[++i];
        else if (!strcmp(argv[i], "--logits") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--lora") && i + 1 < argc) {
            if (!cli_lora_parse("eval", argv[++i], &lora)) { cli_lora_free(&lora); return 2; }
        } else if (!strcmp(argv[i], "-t") && i + 1 < argc) {
            if (!cli_int("eval", "-t", argv[++i], 0, 1024, &threads)) return 2;
        } else if (argv[i][0] == '-' || model) return cli_usage(USAGE);
        else model = argv[i];
    }
    dp_error e = {0};
    if (model && !(model = cli_model_dir("eval", model))) {
        cli_lora_free(&lora);
        return 1;
    }
    int src = !model || !ids_file || !out ? cli_usage(USAGE) : static_check(&so, "eval", model, lora.dir);
    if (src) {
        cli_lora_free(&lora);
        return src;
    }
    char *text = NULL;
    size_t len = 0;
    if (dp_file_read_all(ids_file, 64u << 20, &text, &len, &e) != DP_OK) {
        cli_lora_free(&lora);
        return cli_fail("eval", &e);
    }
    int32_t *ids = NULL, n = 0;
    char err[128];
    bool ok = cli_parse_ids(text, &ids, &n, err, sizeof err);
    dp_free(text);
    if (!ok || n == 0) {
        fprintf(stderr, "doppler eval: %s: %s\n", ids_file, ok ? "no token ids" : err);
        free(ids);
        cli_lora_free(&lora);
        return 1;
    }
    dp_model *m = NULL;
    dp_ctx *c = NULL;
    float *logits = NULL;
    int rc = 0;
    dp_ctx_params cp;
    dp_ctx_params_default(&cp);
    cp.n_ctx = n;
    cp.logits_all = 1;
    if (cli_load_paged(model, (int)threads, &paging, &m, &e) != DP_OK || dp_ctx_new(m, &cp, &c, &e) != DP_OK ||
        cli_lora_use(&lora, m, c, &e) != DP_OK) {
        rc = cli_fail("eval", &e);
        goto done;
    }
    size_t count = (size_t)n * (size_t)dp_model_n_vocab(m);
    logits = malloc(count * sizeof(float));
    if (!logits) {
        fprintf(stderr, "doppler eval: out of memory for %zu logits\n", count);
        rc = 1;
        goto done;
    }
    if (dp_ctx_eval(c, ids, n, logits, &e) != DP_OK ||
        dp_file_write_all(out, logits, count * sizeof(float), &e) != DP_OK)
        rc = cli_fail("eval", &e);
done:
    free(logits);
    free(ids);
    dp_ctx_free(c);
    cli_lora_free(&lora);
    dp_model_free(m);
    return rc;
}
