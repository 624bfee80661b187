/* cmd_verify.c — `doppler verify <model> [--drop]`: every shard re-hashed through the shard store
 * (src/store/store.h) and every tokenizer file the manifest hashes checked; each failure is named.
 * --drop deletes shards that do not match their names, so `doppler pull` fetches them again. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "base/json.h"
#include "format/rdrr.h"
#include "store/store.h"

/* One failure is the command's one error line; from the second on each gets a line. */
static void tell(dp_error *first, const dp_error *e, size_t bad) {
    if (bad == 1) *first = *e;
    if (bad == 2) fprintf(stderr, "doppler verify: %s\n", first->msg);
    if (bad >= 2) fprintf(stderr, "doppler verify: %s\n", e->msg);
}

int cmd_verify(int argc, char **argv) {
    const char *model = NULL;
    bool drop = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--drop")) drop = true;
        else if (argv[i][0] == '-' || model) return cli_usage("verify <model> [--drop]");
        else model = argv[i];
    }
    if (!model) return cli_usage("verify <model> [--drop]");
    dp_error e = {0};
    dp_rdrr *r = NULL;
    dp_store *s = NULL;
    char *sdir = NULL;
    if (dp_rdrr_open(model, &r, &e) != DP_OK) return cli_fail("verify", &e);
    if (!(sdir = dp_path_join(model, "shards")) || dp_store_open(sdir, 0, &s, &e) != DP_OK) {
        if (!sdir) e = (dp_error){DP_ERR_NOMEM, "out of memory"};
        dp_free(sdir);
        dp_rdrr_free(r);
        return cli_fail("verify", &e);
    }
    size_t n = dp_rdrr_n_shards(r), bad = 0;
    dp_error first = {0};
    for (size_t i = 0; i < n; i++) {
        if (dp_store_verify(s, dp_rdrr_shard_hash(r, (uint32_t)i), drop, &e) == DP_OK) continue;
        dp_err_prefix(&e, "shard %zu", i);
        tell(&first, &e, ++bad);
    }
    const dp_json *h = dp_json_get(dp_rdrr_tokenizer(r), "hashes");
    for (uint32_t i = 0; h && i < h->len; i++) {
        if (dp_rdrr_check_file(r, h->u.items[i].key, &e) == DP_OK) continue;
        tell(&first, &e, ++bad);
    }
    if (!bad) printf("%zu shards ok\n", n);
    else if (bad == 1) e = first;
    else snprintf(e.msg, sizeof e.msg, "%zu files failed", bad);
    dp_store_free(s);
    dp_free(sdir);
    dp_rdrr_free(r);
    return bad ? cli_fail("verify", &e) : 0;
}
