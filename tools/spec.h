/* spec.h — the speculative-decoding options shared by `run` and `bench`:
 * --draft DIR, --lookup N, --draft-max K. */
#ifndef DP_TOOLS_SPEC_H
#define DP_TOOLS_SPEC_H

#include <stdbool.h>

#include "doppler.h"

typedef struct cli_spec {
    const char *draft_dir; /* --draft DIR */
    long lookup;           /* --lookup N (0: off) */
    long draft_max;        /* --draft-max K (0: the library's default) */
    dp_model *draft;       /* loaded by cli_spec_open */
    dp_ctx *draft_ctx;
    dp_spec *spec;
} cli_spec;

/* Consumes argv[*i] (and its value) when it is one of the options above: 1 taken, 0 not one of
 * them, -1 a bad value (the message printed). */
int cli_spec_arg(cli_spec *s, const char *cmd, int argc, char **argv, int *i);
/* true when --draft or --lookup was given */
bool cli_spec_on(const cli_spec *s);
/* Loads the draft (threads as the target's) with a context of n_ctx positions and makes the
 * dp_spec for target; adaptive K unless fixed. */
dp_status cli_spec_open(cli_spec *s, dp_ctx *target, int threads, int32_t n_ctx, bool fixed, dp_error *e);
/* Frees what cli_spec_open made (not the options). */
void cli_spec_close(cli_spec *s);
/* "<n> tokens in <p> target passes (<t> per pass), <a>/<q> proposals accepted (<r> %)" */
void cli_spec_report(const dp_spec_stats *st, char *buf, size_t n);

#endif
