/* serve_chat.c — the model's chat format for `doppler serve`. The rest of the server is built on
 * include/doppler.h; chat templates and end-of-turn tokens are not exported there yet, so this
 * file alone uses the tokenizer's internal header. When doppler.h gains chat rendering, these
 * four functions become thin calls to it. */
#include <stdlib.h>
#include <string.h>

#include "serve_engine.h"
#include "tokenizer/tokenizer.h"

struct srv_chat {
    dp_chat_kind kind;
};

dp_status srv_chat_new(const dp_model *m, const dp_tokenizer *t, const char *template_name, srv_chat **out, dp_error *e) {
    dp_chat_kind kind;
    dp_status st = template_name ? dp_chat_detect(template_name, &kind, e)
                                 : dp_tokenizer_chat_kind(t, dp_model_family(m), &kind, e);
    if (st != DP_OK) return st;
    srv_chat *c = malloc(sizeof *c);
    if (!c) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    c->kind = kind;
    *out = c;
    return DP_OK;
}

void srv_chat_free(srv_chat *c) { free(c); }

const char *srv_chat_name(const srv_chat *c) { return dp_chat_name(c->kind); }

dp_status srv_chat_render(const srv_chat *c, const srv_msg *msgs, size_t n, char **out, size_t *len, dp_error *e) {
    dp_chat_msg *cm = calloc(n ? n : 1, sizeof *cm);
    if (!cm) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) cm[i] = (dp_chat_msg){msgs[i].role, msgs[i].content};
    dp_buf b = {0};
    dp_status st = dp_chat_apply(c->kind, cm, n, true, &b, e);
    free(cm);
    if (st == DP_OK && b.oom) st = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    char *s = NULL;
    if (st == DP_OK && !(s = malloc(b.len + 1))) st = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    if (st == DP_OK) {
        if (b.len) memcpy(s, b.data, b.len);
        s[b.len] = 0;
        *out = s;
        *len = b.len;
    }
    dp_buf_free(&b);
    return st;
}

bool srv_is_end(const dp_model *m, const dp_tokenizer *t, int32_t id) {
    return dp_model_is_eos(m, id) || dp_tokenizer_is_eog(t, id);
}
