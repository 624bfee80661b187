/* public.c — dp_tokenize / dp_detokenize / dp_chat_render / dp_chat_template_name (include/doppler.h): the tokenizer for callers of the
 * public header, into their buffers (no ownership crosses the API). */
#include <string.h>

#include "doppler.h"
#include "tokenizer/tokenizer.h"

/* Copies b into text[0..cap) with the dp_detokenize buffer convention. */
static dp_status to_caller(const dp_buf *b, const char *what, char *text, size_t cap, size_t *len, dp_error *e) {
    *len = b->len;
    if (b->len >= cap) return dp_err_set(e, DP_ERR_LIMIT, "%s: %zu bytes, room for %zu", what, b->len, cap ? cap - 1 : 0);
    if (b->len) memcpy(text, b->data, b->len);
    text[b->len] = '\0';
    return DP_OK;
}

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
    if (st == DP_OK) st = to_caller(&b, "detokenize", text, cap, len, e);
    dp_buf_free(&b);
    return st;
}

static dp_status chat_kind(const dp_tokenizer *t, const char *family, const char *tmpl, dp_chat_kind *kind, dp_error *e) {
    return tmpl ? dp_chat_detect(tmpl, kind, e) : dp_tokenizer_chat_kind(t, family, kind, e);
}

dp_status dp_chat_template_name(const dp_tokenizer *t, const char *family, const char *tmpl, const char **name,
                                dp_error *e) {
    if (!name) return dp_err_set(e, DP_ERR_INVALID_ARG, "chat template name: bad arguments");
    dp_chat_kind kind;
    dp_status st = chat_kind(t, family, tmpl, &kind, e);
    if (st == DP_OK) *name = dp_chat_name(kind);
    return st;
}

dp_status dp_chat_render(const dp_tokenizer *t, const char *family, const char *tmpl, const dp_chat_msg *msgs,
                         size_t n, int add_generation_prompt, char *text, size_t cap, size_t *len, dp_error *e) {
    if ((!msgs && n) || (!text && cap) || !len) return dp_err_set(e, DP_ERR_INVALID_ARG, "chat render: bad arguments");
    dp_chat_kind kind;
    dp_status st = chat_kind(t, family, tmpl, &kind, e);
    if (st != DP_OK) return st;
    dp_buf b = {0};
    st = dp_chat_apply(kind, msgs, n, add_generation_prompt != 0, &b, e);
    if (st == DP_OK) st = to_caller(&b, "chat render", text, cap, len, e);
    dp_buf_free(&b);
    return st;
}
