/* public.c — dp_tokenize / dp_detokenize (include/doppler.h): the tokenizer for callers of the
 * public header, into their buffers (no ownership crosses the API). */
#include <string.h>

#include "doppler.h"
#include "tokenizer/tokenizer.h"

dp_status dp_tokenize(const dp_tokenizer *t, const char *text, size_t len, int add_special,
                      int parse_special, int32_t *ids, size_t cap, size_t *n_ids, dp_error *e) {
    if (!t || (!text && len) || (!ids && cap) || !n_ids)
        return dp_err_set(e, DP_ERR_INVALID_ARG, "tokenize: bad arguments");
    dp_tokens v = {0};
    dp_status st = dp_tokenizer_encode(t, text ? text : "", len, add_special != 0,
                                       parse_special != 0, &v, e);
    if (st != DP_OK) return st;
    *n_ids = v.n;
    if (v.n > cap) st = dp_err_set(e, DP_ERR_LIMIT, "tokenize: %zu ids, room for %zu", v.n, cap);
    else if (v.n) memcpy(ids, v.ids, v.n * sizeof *ids);
    dp_tokens_free(&v);
    return st;
}

dp_status dp_detokenize(const dp_tokenizer *t, const int32_t *ids, size_t n, int special,
                        char *text, size_t cap, size_t *len, dp_error *e) {
    if (!t || (!ids && n) || (!text && cap) || !len)
        return dp_err_set(e, DP_ERR_INVALID_ARG, "detokenize: bad arguments");
    dp_buf b = {0};
    dp_status st = dp_tokenizer_decode(t, ids, n, special ? DP_DECODE_SPECIAL : 0u, &b, e);
    if (st == DP_OK && b.oom) st = dp_err_set(e, DP_ERR_NOMEM, "detokenize: out of memory");
    if (st == DP_OK) {
        *len = b.len;
        if (b.len >= cap) {
            st = dp_err_set(e, DP_ERR_LIMIT, "detokenize: %zu bytes, room for %zu", b.len,
                            cap ? cap - 1 : 0);
        } else {
            if (b.len) memcpy(text, b.data, b.len);
            text[b.len] = '\0';
        }
    }
    dp_buf_free(&b);
    return st;
}
