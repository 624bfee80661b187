/* generate.c — the token loop shared by `run` and `chat`. */
#include "generate.h"

#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void gen_stats_print(const gen_stats *s, FILE *f) {
    fprintf(f, "prompt %d tokens (%.1f tok/s), generated %ld tokens (%.1f tok/s)\n", s->n_prompt,
            s->t_prompt > 0 ? s->n_prompt / s->t_prompt : 0.0, s->n_gen, s->t_gen > 0 ? (double)s->n_gen / s->t_gen : 0.0);
}

static bool is_stop(dp_model *m, const dp_tokenizer *tok, int32_t id) {
    return dp_model_is_eos(m, id) || (tok && dp_tokenizer_is_eog(tok, id));
}

dp_status gen_run(dp_ctx *c, dp_model *m, const dp_tokenizer *tok, const int32_t *prompt, int32_t n,
                  const gen_opts *o, dp_tokens *gen, dp_error *e) {
    double t0 = now_s();
    dp_status st = n > 0 ? dp_ctx_eval(c, prompt, n, NULL, e) : DP_OK;
    double t1 = now_s();
    dp_detok dt;
    dp_buf text = {0};
    if (tok) dp_detok_init(&dt, tok, DP_DECODE_STRIP_PREFIX);
    long g = 0;
    bool stop = false;
    for (; g < o->n_max && st == DP_OK; g++) {
        int32_t id;
        if ((st = dp_ctx_sample(c, &o->sampling, &id, e)) != DP_OK) break;
        stop = !o->ignore_eos && is_stop(m, tok, id);
        if (gen && !dp_tokens_push(gen, id)) {
            st = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
            break;
        }
        if (o->print_ids) {
            fprintf(o->out, " %d", id);
        } else if (tok && !stop) {
            text.len = 0;
            if ((st = dp_detok_push(&dt, id, &text, e)) != DP_OK) break;
            if (text.len) fwrite(text.data, 1, text.len, o->out);
        }
        fflush(o->out);
        if (dp_ctx_pos(c) >= dp_ctx_n_ctx(c)) {
            g++;
            break;
        }
        if (stop || g + 1 < o->n_max) st = dp_ctx_eval(c, &id, 1, NULL, e);
        if (stop) break;
    }
    if (tok && !o->print_ids) {
        text.len = 0;
        dp_detok_flush(&dt, &text);
        if (text.len) fwrite(text.data, 1, text.len, o->out);
    }
    dp_buf_free(&text);
    if (o->stats) *o->stats = (gen_stats){n, g, t1 - t0, now_s() - t1};
    if (st == DP_OK && !stop && g < o->n_max)
        st = dp_err_set(e, DP_ERR_LIMIT, "stopped after %ld of %ld tokens: the context of %d tokens is full (raise -c)", g,
                        o->n_max, dp_ctx_n_ctx(c));
    return st;
}
