/* cmd_info.c — `doppler info <model>`: the manifest's model description and tensor summary. */
#include <stdio.h>
#include <string.h>

#include "base/json.h"
#include "cli.h"
#include "commands.h"
#include "format/rdrr.h"
#include "model/model.h"

int cmd_info(int argc, char **argv) {
    if (argc != 2) return cli_usage("info <model>");
    dp_error e = {0};
    dp_rdrr *r = NULL;
    const char *dir = cli_model_dir("info", argv[1]); /* a URL: the manifest only */
    if (!dir) return 1;
    if (dp_rdrr_open(dir, &r, &e) != DP_OK) return cli_fail("info", &e);
    dp_model_desc *d = dp_calloc(1, sizeof *d);
    int rc = 0;
    if (!d || dp_model_from_json(dp_rdrr_model(r), d, &e) != DP_OK) {
        rc = cli_fail("info", &e);
    } else {
        uint64_t bytes[DP_DTYPE_COUNT] = {0}, total = 0;
        for (size_t i = 0; i < dp_rdrr_n_tensors(r); i++) {
            const dp_rdrr_tensor *t = dp_rdrr_tensor_at(r, i);
            bytes[t->dtype] += t->size;
            total += t->size;
        }
        printf("family %s, %d layers, hidden %d, heads %d/%d x %d, ffn %d, vocab %d", dp_family_name(d->family),
               d->n_layers, d->hidden, d->n_head, d->n_kv_head, d->head_dim, d->ffn, d->vocab);
        if (d->n_expert) printf(", experts %d (top-%d)", d->n_expert, d->n_expert_used);
        printf("\n%zu tensors, %zu shards, %.1f MiB:", dp_rdrr_n_tensors(r), dp_rdrr_n_shards(r), (double)total / 1048576.0);
        for (int t = 0; t < DP_DTYPE_COUNT; t++)
            if (bytes[t]) printf(" %s %.1f MiB", dp_dtype_name((dp_dtype)t), (double)bytes[t] / 1048576.0);
        printf("\n");
    }
    dp_free(d);
    dp_rdrr_free(r);
    return rc;
}
