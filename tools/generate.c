/* generate.c — `run` and `chat` around the library's token loop (see generate.h). */
#include "generate.h"

#include <stdlib.h>
#include <string.h>

#include "base/base.h" /* dp_err_set, dp_time_now */

void gen_reply_free(gen_reply *r) {
    free(r->ids);
    free(r->text);
    memset(r, 0, sizeof *r);
}

static bool reply_add(gen_reply *r, int32_t id, const char *text, size_t len) {
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        int32_t *v = realloc(r->ids, cap * sizeof *v);
        if (!v) return false;
        r->ids = v;
        r->cap = cap;
    }
    if (r->len + len + 1 > r->text_cap) {
        size_t cap = (r->len + len + 1) * 2;
        char *t = realloc(r->text, cap);
        if (!t) return false;
        r->text = t;
        r->text_cap = cap;
    }
    if (id >= 0) r->ids[r->n++] = id;
    memcpy(r->text + r->len, text, len);
    r->len += len;
    r->text[r->len] = '\0';
    return true;
}

void gen_stats_print(const gen_stats *s, FILE *f) {
    fprintf(f, "prompt %d tokens (%.1f tok/s), generated %d tokens (%.1f tok/s)\n", (int)s->n_prompt,
            s->t_prompt > 0 ? s->n_prompt / s->t_prompt : 0.0, (int)s->n_gen, s->t_gen > 0 ? s->n_gen / s->t_gen : 0.0);
}

dp_status gen_print(dp_gen *g, const dp_ctx *c, int32_t n_max, const int32_t *prompt, int32_t n, bool print_ids,
                    FILE *out, gen_reply *reply, gen_stats *stats, dp_error *e) {
    double t0 = dp_time_now();
    dp_status st = dp_gen_prompt(g, prompt, n, e);
    double t1 = dp_time_now();
    dp_gen_token t = {0};
    while (st == DP_OK) {
        if ((st = dp_gen_step(g, &t, e)) != DP_OK) break;
        if (print_ids && t.id >= 0) fprintf(out, " %d", (int)t.id);
        else if (!print_ids && t.len) fwrite(t.text, 1, t.len, out);
        fflush(out);
        if (reply && !reply_add(reply, t.id, t.text, t.len)) st = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
        if (t.stop != DP_GEN_RUNNING) break;
    }
    if (stats) *stats = (gen_stats){n, dp_gen_n_tokens(g), t1 - t0, dp_time_now() - t1};
    if (st == DP_OK && t.stop == DP_GEN_STOP_CTX_FULL)
        st = dp_err_set(e, DP_ERR_LIMIT, "stopped after %d of %d tokens: the context of %d tokens is full (raise -c)",
                        (int)dp_gen_n_tokens(g), (int)n_max, (int)dp_ctx_n_ctx(c));
    return st;
}

dp_status gen_tokenize(const dp_tokenizer *t, const char *text, size_t len, int32_t **ids, size_t *n, dp_error *e) {
    size_t need = 0;
    dp_status st = dp_tokenize(t, text, len, 1, 1, NULL, 0, &need, e);
    if (st != DP_OK && st != DP_ERR_LIMIT) return st;
    int32_t *v = malloc((need ? need : 1) * sizeof *v);
    if (!v) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    if ((st = dp_tokenize(t, text, len, 1, 1, v, need, n, e)) != DP_OK) {
        free(v);
        return st;
    }
    free(*ids);
    *ids = v;
    return DP_OK;
}
