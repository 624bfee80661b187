/* spec.c — the speculative-decoding options shared by `run` and `bench`. */
#include "spec.h"

#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "cli.h"

int cli_spec_arg(cli_spec *s, const char *cmd, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    if (*i + 1 >= argc) return 0;
    if (!strcmp(a, "--draft")) {
        s->draft_dir = argv[++*i];
        return 1;
    }
    if (!strcmp(a, "--lookup")) return cli_int(cmd, a, argv[++*i], 1, 16, &s->lookup) ? 1 : -1;
    if (!strcmp(a, "--draft-max")) return cli_int(cmd, a, argv[++*i], 1, 32, &s->draft_max) ? 1 : -1;
    return 0;
}

bool cli_spec_on(const cli_spec *s) { return s->draft_dir || s->lookup > 0; }

dp_status cli_spec_open(cli_spec *s, dp_ctx *target, int threads, int32_t n_ctx, bool fixed, dp_error *e) {
    dp_spec_params p;
    dp_spec_params_default(&p);
    if (s->draft_max > 0) p.draft_max = (int32_t)s->draft_max;
    if (s->lookup > 0) p.lookup = (int32_t)s->lookup;
    p.adaptive = !fixed;
    dp_status st = DP_OK;
    if (s->draft_dir && !s->draft) {
        dp_ctx_params cp;
        dp_ctx_params_default(&cp);
        cp.n_ctx = n_ctx;
        st = cli_load(s->draft_dir, threads, &s->draft, e);
        if (st == DP_OK) st = dp_ctx_new(s->draft, &cp, &s->draft_ctx, e);
        if (st != DP_OK) dp_err_prefix(e, "draft %s", s->draft_dir);
    }
    if (st == DP_OK) st = dp_spec_new(target, s->draft_ctx, &p, &s->spec, e);
    return st;
}

void cli_spec_close(cli_spec *s) {
    dp_spec_free(s->spec);
    dp_ctx_free(s->draft_ctx);
    dp_model_free(s->draft);
    s->spec = NULL;
    s->draft_ctx = NULL;
    s->draft = NULL;
}

void cli_spec_report(const dp_spec_stats *st, char *buf, size_t n) {
    double per = st->steps ? (double)st->emitted / (double)st->steps : 0;
    double rate = st->proposed ? 100.0 * (double)st->accepted / (double)st->proposed : 0;
    snprintf(buf, n, "%lld tokens in %lld target passes (%.2f per pass), %lld/%lld proposals accepted (%.1f %%)",
             (long long)st->emitted, (long long)st->steps, per, (long long)st->accepted, (long long)st->proposed, rate);
}
