/* generate.c — the token loop shared by `run` and `chat`: plain decode, or speculative steps
 * (dp_spec_step) when the options carry a dp_spec. */
#include "generate.h"

#include <string.h>
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

/* the output side of the loop: ids or streamed text */
typedef struct gen_sink {
    const gen_opts *o;
    const dp_tokenizer *tok;
    dp_detok dt;
    dp_buf text;
} gen_sink;

/* records and prints one generated id; *stop when it ends the generation */
static dp_status gen_put(gen_sink *k, dp_model *m, int32_t id, dp_tokens *gen, bool *stop, dp_error *e) {
    const gen_opts *o = k->o;
    *stop = !o->ignore_eos && is_stop(m, k->tok, id);
    if (gen && !dp_tokens_push(gen, id)) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    if (o->print_ids) {
        fprintf(o->out, " %d", id);
    } else if (k->tok && !*stop) {
        k->text.len = 0;
        dp_status st = dp_detok_push(&k->dt, id, &k->text, e);
        if (st != DP_OK) return st;
        if (k->text.len) fwrite(k->text.data, 1, k->text.len, o->out);
    }
    fflush(o->out);
    return DP_OK;
}

/* speculative: the whole sequence (the context must start empty) through dp_spec_step */
static dp_status gen_spec(dp_ctx *c, dp_model *m, gen_sink *k, const int32_t *prompt, int32_t n, dp_tokens *gen,
                          long *g, bool *stop, dp_error *e) {
    const gen_opts *o = k->o;
    if (dp_ctx_pos(c) != 0 || n < 1)
        return dp_err_set(e, DP_ERR_INVALID_ARG, "speculative decoding needs the whole sequence (an empty context and a prompt)");
    dp_tokens hist = {0};
    dp_status st = DP_OK;
    for (int32_t i = 0; i < n && st == DP_OK; i++)
        if (!dp_tokens_push(&hist, prompt[i])) st = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    int32_t out[64];
    while (st == DP_OK && *g < o->n_max && !*stop) {
        int32_t got = 0, cap = o->n_max - *g < 64 ? (int32_t)(o->n_max - *g) : 64;
        if (hist.n > (size_t)dp_ctx_n_ctx(c)) break; /* the context is full */
        if ((st = dp_spec_step(o->spec, hist.ids, (int32_t)hist.n, &o->sampling, out, cap, &got, e)) != DP_OK) break;
        for (int32_t i = 0; i < got && st == DP_OK && !*stop; i++) {
            if (!dp_tokens_push(&hist, out[i])) st = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
            else st = gen_put(k, m, out[i], gen, stop, e);
            ++*g;
        }
    }
    dp_tokens_free(&hist);
    return st;
}

dp_status gen_run(dp_ctx *c, dp_model *m, const dp_tokenizer *tok, const int32_t *prompt, int32_t n,
                  const gen_opts *o, dp_tokens *gen, dp_error *e) {
    gen_sink k = {o, tok, {0}, {0}};
    if (tok) dp_detok_init(&k.dt, tok, DP_DECODE_STRIP_PREFIX);
    long g = 0;
    bool stop = false;
    dp_status st = DP_OK;
    double t0 = now_s(), t1 = t0;
    if (o->spec) {
        st = gen_spec(c, m, &k, prompt, n, gen, &g, &stop, e);
    } else {
        st = n > 0 ? dp_ctx_eval(c, prompt, n, NULL, e) : DP_OK;
        t1 = now_s();
        for (; g < o->n_max && st == DP_OK; g++) {
            int32_t id;
            if ((st = dp_ctx_sample(c, &o->sampling, &id, e)) != DP_OK) break;
            if ((st = gen_put(&k, m, id, gen, &stop, e)) != DP_OK) break;
            if (dp_ctx_pos(c) >= dp_ctx_n_ctx(c)) {
                g++;
                break;
            }
            if (stop || g + 1 < o->n_max) st = dp_ctx_eval(c, &id, 1, NULL, e);
            if (stop) break;
        }
    }
    if (tok && !o->print_ids) {
        k.text.len = 0;
        dp_detok_flush(&k.dt, &k.text);
        if (k.text.len) fwrite(k.text.data, 1, k.text.len, o->out);
    }
    dp_buf_free(&k.text);
    if (o->stats) *o->stats = (gen_stats){n, g, t1 - t0, now_s() - t1};
    if (st == DP_OK && !stop && g < o->n_max)
        st = dp_err_set(e, DP_ERR_LIMIT, "stopped after %ld of %ld tokens: the context of %d tokens is full (raise -c)", g,
                        o->n_max, dp_ctx_n_ctx(c));
    return st;
}
