/* fuzz_safetensors.c — src/format/safetensors.h: dp_st_open_reader on a memory reader holding the
 * input, then every accessor: each tensor by index and by name, the metadata, raw and f32 reads
 * (which must stay inside the input, since the header's offsets were checked). */
#include "fuzz_common.h"

#include "format/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_begin(size);
    /* an exact-size heap copy, so reads past the end are caught */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) abort();
    if (size) memcpy(copy, data, size);
    dp_reader r;
    dp_reader_open_mem(&r, copy, size);
    dp_st *st = NULL;
    dp_error e = {0};
    dp_status s = dp_st_open_reader(&r, &st, &e);
    if (s == DP_OK) {
        size_t n = dp_st_count(st);
        for (size_t i = 0; i < n; i++) {
            const dp_st_tensor *t = dp_st_at(st, i);
            if (!t || dp_st_find(st, t->name) != t) abort();
            if (t->n_dims > DP_ST_MAX_DIMS || t->offset > size || t->size > size - t->offset) abort();
            fz_sink(fz_touch(t->name, strlen(t->name)));
            uint64_t numel = dp_st_numel(t);
            /* f32 output needs numel * 4 bytes; the raw bytes are numel * 2 or 4, inside the input */
            size_t out = (size_t)(numel * 4 > t->size ? numel * 4 : t->size);
            void *buf = malloc(out ? out : 1);
            if (!buf) abort();
            if (dp_st_read(st, t, buf, &e) != DP_OK) abort();
            fz_sink(fz_touch(buf, (size_t)t->size));
            s = dp_st_read_f32(st, t, buf, &e);
            if (s != DP_OK && t->dtype != DP_DTYPE_I32) abort();
            free(buf);
        }
        if (dp_st_at(st, n)) abort();
        if (dp_st_find(st, "")) fz_sink(1);
        const char *keys[] = {"format", "ggml_type", "", "__metadata__"};
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            const char *v = dp_st_metadata(st, keys[k]);
            if (v) fz_sink(fz_touch(v, strlen(v)));
        }
        dp_st_free(st);
    } else if (!e.msg[0]) {
        abort();
    }
    free(copy);
    fz_end();
    return 0;
}
