/* serve_chat.c — the model's chat format for `doppler serve`, on include/doppler.h alone:
 * dp_chat_template_name once at start (is there a format, and which), dp_chat_render per request
 * (asked for its length, then rendered into a buffer of that size), and the end of a reply by
 * dp_model_is_eos / dp_tokenizer_is_eog. */
#include <stdlib.h>
#include <string.h>

#include "serve_engine.h"

struct srv_chat {
    const dp_tokenizer *t;
    const char *family;    /* dp_model_family's static string */
    char *tmpl;            /* --template (a name or Jinja text); NULL: the tokenizer's or family's */
    const char *name;
};

dp_status srv_chat_new(const dp_model *m, const dp_tokenizer *t, const char *template_name, srv_chat **out, dp_error *e) {
    const char *family = dp_model_family(m), *name = NULL;
    dp_status st = dp_chat_template_name(t, family, template_name, &name, e);
    if (st != DP_OK) return st;
    srv_chat *c = calloc(1, sizeof *c);
    if (!c || (template_name && !(c->tmpl = strdup(template_name)))) {
        free(c);
        return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    }
    c->t = t;
    c->family = family;
    c->name = name;
    *out = c;
    return DP_OK;
}

void srv_chat_free(srv_chat *c) {
    if (!c) return;
    free(c->tmpl);
    free(c);
}

const char *srv_chat_name(const srv_chat *c) { return c->name; }

dp_status srv_chat_render(const srv_chat *c, const srv_msg *msgs, size_t n, char **out, size_t *len, dp_error *e) {
    dp_chat_msg *cm = calloc(n ? n : 1, sizeof *cm);
    if (!cm) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) cm[i] = (dp_chat_msg){msgs[i].role, msgs[i].content};
    size_t need = 0;
    char *s = NULL;
    dp_status st = dp_chat_render(c->t, c->family, c->tmpl, cm, n, 1, NULL, 0, &need, e);
    if (st == DP_ERR_LIMIT || st == DP_OK) {
        st = (s = malloc(need + 1)) ? dp_chat_render(c->t, c->family, c->tmpl, cm, n, 1, s, need + 1, &need, e)
                                    : dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    }
    free(cm);
    if (st != DP_OK) {
        free(s);
        return st;
    }
    *out = s;
    *len = need;
    return DP_OK;
}

bool srv_is_end(const dp_model *m, const dp_tokenizer *t, int32_t id) {
    return dp_model_is_eos(m, id) || dp_tokenizer_is_eog(t, id);
}
