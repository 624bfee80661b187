/* cmd_verify.c — `doppler verify <model>`: check every shard against its SHA-256. */
#include <stdio.h>

#include "cli.h"
#include "commands.h"
#include "format/rdrr.h"

int cmd_verify(int argc, char **argv) {
    if (argc != 2) return cli_usage("verify <model>");
    dp_error e = {0};
    dp_rdrr *r = NULL;
    if (dp_rdrr_open(argv[1], &r, &e) != DP_OK) return cli_fail("verify", &e);
    dp_status st = dp_rdrr_verify(r, &e);
    if (st == DP_OK) printf("%zu shards ok\n", dp_rdrr_n_shards(r));
    dp_rdrr_free(r);
    return st == DP_OK ? 0 : cli_fail("verify", &e);
}
