/* fuzz_rdrr.c — src/format/rdrr.h: dp_rdrr_parse_manifest on arbitrary bytes, then every accessor
 * (tensors by index and name, spans inside their shards, shard sizes and hashes), the shard
 * readers (which must refuse: a manifest parsed from memory has no shards), and the "model"
 * object through dp_model_from_json, as dp_model_load would. */
#include "fuzz_common.h"

#include "format/rdrr.h"
#include "model/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_begin(size);
    char *text = malloc(size ? size : 1);
    if (!text) abort();
    if (size) memcpy(text, data, size);
    dp_rdrr *m = NULL;
    dp_error e = {0};
    dp_status st = dp_rdrr_parse_manifest(text, size, &m, &e);
    if (st == DP_OK) {
        if (dp_rdrr_dir(m) || strlen(dp_rdrr_id(m)) != 64) abort();
        size_t ns = dp_rdrr_n_shards(m), nt = dp_rdrr_n_tensors(m);
        for (uint32_t i = 0; i < ns; i++) {
            const char *h = dp_rdrr_shard_hash(m, i);
            if (!h || strlen(h) != 64 || dp_rdrr_shard_size(m, i) == 0) abort();
        }
        if (dp_rdrr_shard_hash(m, (uint32_t)ns) || dp_rdrr_shard_size(m, (uint32_t)ns)) abort();
        for (size_t i = 0; i < nt; i++) {
            const dp_rdrr_tensor *t = dp_rdrr_tensor_at(m, i);
            if (!t || dp_rdrr_find(m, t->name) != t) abort();
            fz_sink(fz_touch(t->name, strlen(t->name)) + fz_touch(t->role, strlen(t->role)));
            uint64_t sum = 0;
            for (uint32_t k = 0; k < t->n_spans; k++) {
                const dp_rdrr_span *sp = &t->spans[k];
                if (sp->shard >= ns || sp->offset % DP_RDRR_ALIGN ||
                    sp->size > dp_rdrr_shard_size(m, sp->shard) - sp->offset)
                    abort();
                sum += sp->size;
            }
            if (sum != t->size) abort();
            uint8_t one;
            /* a tensor with bytes needs a shard, and shards are unreadable here */
            st = dp_rdrr_read_tensor(m, t, t->size ? NULL : &one, &e);
            if (t->size ? st == DP_OK : st != DP_OK) abort();
        }
        if (dp_rdrr_tensor_at(m, nt)) abort();
        const uint8_t *bytes;
        if (ns && dp_rdrr_shard_data(m, 0, &bytes, &e) == DP_OK) abort();
        /* verify allocates its 4 MiB hashing buffer first: only now and then, it is slow */
        if (ns && nt == 0 && dp_rdrr_verify(m, &e) == DP_OK) abort();
        dp_rdrr_drop_cache(m);
        const dp_json *tok = dp_rdrr_tokenizer(m);
        if (tok && tok->type != DP_JSON_OBJECT) abort();
        dp_model_desc d;
        memset(&e, 0, sizeof e);
        st = dp_model_from_json(dp_rdrr_model(m), &d, &e);
        if (st != DP_OK && !e.msg[0]) abort();
        dp_rdrr_free(m);
    } else if (!e.msg[0]) {
        abort();
    }
    free(text);
    fz_end();
    return 0;
}
