/* test_generate.c — the library's token loop (dp_gen) on a model whose output is known: every
 * layer is zero, embeddings are one-hot and the output matrix maps each token to its successor
 * in a table, so greedy decoding walks the table. With a byte tokenizer (id = byte) that spells
 * multi-byte UTF-8 split over tokens, stop strings, the model's EOS (id 0), a full context; and
 * every refusal leaves the documented state. */
#include <string.h>

#include "doppler.h"
#include "base/json.h"
#include "model/hf.h"
#include "model/write.h"
#include "testutil.h"

enum { V = 256 };
static int succ[V];

static void chains(void) {
    for (int x = 0; x < V; x++) succ[x] = x;
    /* 'a' -> "é€STOP!!!..." (é = C3 A9, € = E2 82 AC) */
    static const int a[] = {'a', 0xC3, 0xA9, 0xE2, 0x82, 0xAC, 'S', 'T', 'O', 'P', '!'};
    for (size_t i = 0; i + 1 < sizeof a / sizeof a[0]; i++) succ[a[i]] = a[i + 1];
    /* 'b' -> "ye" EOS(0) "bye" EOS ... */
    succ['b'] = 'y', succ['y'] = 'e', succ['e'] = 0, succ[0] = 'b';
    /* 'z' -> U+1F600 (F0 9F 98 80) 'z' ... */
    succ['z'] = 0xF0, succ[0xF0] = 0x9F, succ[0x9F] = 0x98, succ[0x98] = 0x80, succ[0x80] = 'z';
}

static dp_status rows(void *ud, const dp_wtensor *t, int64_t row0, int64_t n, float *dst, dp_error *e) {
    (void)ud, (void)e;
    memset(dst, 0, (size_t)(n * t->cols) * sizeof(float));
    for (int64_t r = 0; r < n; r++) {
        float *o = dst + r * t->cols;
        int64_t row = row0 + r;
        if (t->rows == 1 || t->role == DP_HF_OUTPUT_NORM)
            for (int64_t c = 0; c < t->cols; c++) o[c] = 1.0f;
        else if (t->role == DP_HF_EMBED)
            o[row] = 1.0f;
        else if (t->role == DP_HF_OUTPUT)
            for (int x = 0; x < V; x++) o[x] = succ[x] == row ? 1.0f : 0.0f;
    }
    return DP_OK;
}

static bool write_model(const char *dir) {
    static const char cfg[] =
        "{\"model_type\":\"llama\",\"vocab_size\":256,\"hidden_size\":256,\"num_hidden_layers\":1,"
        "\"num_attention_heads\":4,\"num_key_value_heads\":4,\"head_dim\":64,\"intermediate_size\":64,"
        "\"tie_word_embeddings\":false,\"max_position_embeddings\":64,\"bos_token_id\":1,\"eos_token_id\":0,"
        "\"rms_norm_eps\":1e-5,\"rope_theta\":10000.0,\"hidden_act\":\"silu\"}";
    dp_error e = {0};
    dp_json_doc *doc = NULL;
    dp_model_desc d;
    memset(&d, 0, sizeof d);
    bool ok = dp_json_parse(cfg, sizeof cfg - 1, &doc, &e) == DP_OK && dp_model_from_hf_config(dp_json_root(doc), &d, &e) == DP_OK;
    dp_write_opts o = {0};
    o.recipe = DP_RECIPE_F32;
    dp_wsource src = {NULL, rows, NULL, NULL, true, false};
    ok = ok && dp_model_write(&d, dir, &o, &src, &e) == DP_OK;
    CHECK_MSG(ok, "successor model: %s", e.msg);
    dp_json_free(doc);
    return ok;
}

typedef struct run {
    int32_t ids[64];
    char text[256];  /* every step's text concatenated */
    char steps[64][16]; /* each step's text */
    int n;
    dp_gen_stop stop;
} run;

/* prompt then steps until a stop (or a failure); the steps alternate dp_gen_step and the split
 * begin/end, which must be the same thing */
static dp_status generate(dp_gen *g, const int32_t *prompt, int32_t n, run *r, dp_error *e) {
    memset(r, 0, sizeof *r);
    dp_status st = dp_gen_prompt(g, prompt, n, e);
    size_t len = 0;
    while (st == DP_OK && r->n < 64) {
        dp_gen_token t;
        if (r->n % 2) st = dp_gen_step(g, &t, e);
        else if ((st = dp_gen_step_begin(g, e)) == DP_OK) st = dp_gen_step_end(g, &t, e);
        if (st != DP_OK) break;
        CHECK(t.text[t.len] == 0); /* NUL-terminated */
        if (t.len < sizeof r->steps[0]) memcpy(r->steps[r->n], t.text, t.len);
        if (len + t.len < sizeof r->text) memcpy(r->text + len, t.text, t.len);
        len += t.len;
        r->ids[r->n++] = t.id;
        r->stop = t.stop;
        if (t.stop != DP_GEN_RUNNING) break;
    }
    return st;
}

static dp_gen *gen(dp_ctx *c, const dp_tokenizer *t, int32_t n_max, int ignore_eos, const char *const *stop, int32_t n_stop) {
    dp_gen_params p;
    dp_gen_params_default(&p);
    p.n_max = n_max;
    p.ignore_eos = ignore_eos;
    p.stop = stop;
    p.n_stop = n_stop;
    dp_gen *g = NULL;
    dp_error e = {0};
    CHECK_MSG(dp_gen_new(c, t, &p, &g, &e) == DP_OK, "dp_gen_new: %s", e.msg);
    return g;
}

static void stop_reasons(dp_model *m, const dp_tokenizer *t) {
    dp_ctx *c = NULL;
    dp_error e = {0};
    CHECK(dp_ctx_new(m, NULL, &c, &e) == DP_OK);
    if (!c) return;
    const int32_t a = 'a', b = 'b', z = 'z';
    run r;

    /* n_max; multi-byte characters split over tokens come out whole, in the step that completes them */
    dp_gen *g = gen(c, t, 5, 0, NULL, 0);
    CHECK(generate(g, &a, 1, &r, &e) == DP_OK);
    CHECK(r.n == 5 && r.stop == DP_GEN_STOP_MAX && r.ids[0] == 0xC3 && r.ids[4] == 0xAC);
    CHECK(!strcmp(r.steps[0], "") && !strcmp(r.steps[1], "\xC3\xA9") && !strcmp(r.steps[2], "") &&
          !strcmp(r.steps[3], "") && !strcmp(r.steps[4], "\xE2\x82\xAC"));
    CHECK(dp_ctx_pos(c) == 1 + 4); /* the n_max-th token is not evaluated */
    CHECK(dp_ctx_n_evaluated(c) == 5);
    CHECK(dp_gen_n_tokens(g) == 5);
    dp_gen_token tk;
    CHECK(dp_gen_step(g, &tk, &e) == DP_ERR_INVALID_ARG); /* stopped: a prompt first */
    /* the next prompt continues the cache */
    CHECK(generate(g, &z, 1, &r, &e) == DP_OK && dp_ctx_pos(c) == 5 + 5);
    CHECK(r.n == 5 && !strcmp(r.text, "\xF0\x9F\x98\x80z"));
    CHECK(!strcmp(r.steps[0], "") && !strcmp(r.steps[2], "") && !strcmp(r.steps[3], "\xF0\x9F\x98\x80"));
    dp_gen_free(g);

    /* an incomplete character at the end becomes U+FFFD */
    dp_ctx_reset(c);
    g = gen(c, t, 2, 0, NULL, 0);
    CHECK(generate(g, &z, 1, &r, &e) == DP_OK && r.stop == DP_GEN_STOP_MAX && !strcmp(r.text, "\xEF\xBF\xBD"));
    dp_gen_free(g);

    /* stop strings: text that may start one is held back until decided; a partial match that
     * fails is shown; the match and what follows are not */
    const char *stops[] = {"STX", "P!"};
    dp_ctx_reset(c);
    g = gen(c, t, 20, 0, stops, 2);
    CHECK(generate(g, &a, 1, &r, &e) == DP_OK);
    CHECK_MSG(r.stop == DP_GEN_STOP_STRING && r.n == 10 && !strcmp(r.text, "\xC3\xA9\xE2\x82\xACSTO"), "stop: %d, %d, %s",
              r.stop, r.n, r.text);
    CHECK(!strcmp(r.steps[5], "") && !strcmp(r.steps[6], "") && !strcmp(r.steps[7], "STO") && !strcmp(r.steps[8], ""));
    dp_gen_free(g);
    const char *stop1[] = {"€S"};
    dp_ctx_reset(c);
    g = gen(c, t, 20, 0, stop1, 1); /* a stop string that starts inside a split character */
    CHECK(generate(g, &a, 1, &r, &e) == DP_OK && r.stop == DP_GEN_STOP_STRING && r.n == 6 && !strcmp(r.text, "\xC3\xA9"));
    dp_gen_free(g);

    /* end of generation: the EOS is evaluated (a conversation goes on after it), its text not shown */
    dp_ctx_reset(c);
    g = gen(c, t, 10, 0, NULL, 0);
    CHECK(generate(g, &b, 1, &r, &e) == DP_OK && r.stop == DP_GEN_STOP_EOG && r.n == 3 && r.ids[2] == 0);
    CHECK(!strcmp(r.text, "ye") && dp_ctx_pos(c) == 4);
    dp_gen_free(g);
    dp_ctx_reset(c);
    g = gen(c, t, 6, 1, NULL, 0); /* ignore_eos: its byte is text like any other */
    CHECK(generate(g, &b, 1, &r, &e) == DP_OK && r.stop == DP_GEN_STOP_MAX && r.n == 6 && !strcmp(r.steps[3], "b"));
    CHECK(r.steps[2][0] == 0 && !strcmp(r.steps[4], "y"));
    dp_gen_free(g);

    /* n_max 0: one step, no token */
    g = gen(c, t, 0, 0, NULL, 0);
    CHECK(generate(g, &b, 1, &r, &e) == DP_OK && r.n == 1 && r.ids[0] == -1 && r.stop == DP_GEN_STOP_MAX && !r.text[0]);
    dp_gen_free(g);
    dp_ctx_free(c);

    /* a full context: the token that has no room is produced, not evaluated, and said so */
    dp_ctx_params cp;
    dp_ctx_params_default(&cp);
    cp.n_ctx = 4;
    c = NULL;
    CHECK(dp_ctx_new(m, &cp, &c, &e) == DP_OK);
    if (!c) return;
    g = gen(c, t, 10, 1, NULL, 0);
    CHECK(generate(g, &b, 1, &r, &e) == DP_OK && r.stop == DP_GEN_STOP_CTX_FULL && r.n == 4 && r.ids[3] == 'b');
    CHECK(dp_ctx_pos(c) == 4 && dp_gen_n_tokens(g) == 4);
    /* a prompt past the context: DP_ERR_LIMIT, the cache unchanged, no generation in progress */
    int32_t four[4] = {'a', 'b', 'a', 'b'};
    CHECK(dp_ctx_truncate(c, 1, &e) == DP_OK);
    CHECK(dp_gen_prompt(g, four, 4, &e) == DP_ERR_LIMIT && dp_ctx_pos(c) == 1);
    CHECK(dp_gen_step(g, &tk, &e) == DP_ERR_INVALID_ARG);
    dp_gen_free(g);
    dp_ctx_free(c);
}

static void no_tokenizer(dp_model *m) {
    dp_ctx *c = NULL;
    dp_error e = {0};
    CHECK(dp_ctx_new(m, NULL, &c, &e) == DP_OK);
    if (!c) return;
    dp_gen *g = gen(c, NULL, 10, 0, NULL, 0);
    run r;
    const int32_t b = 'b';
    CHECK(generate(g, &b, 1, &r, &e) == DP_OK && r.stop == DP_GEN_STOP_EOG && r.n == 3 && !r.text[0]);
    dp_gen_free(g);
    dp_ctx_free(c);
}

/* refusals: each says why and leaves the documented state */
static void refusals(dp_model *m, const dp_tokenizer *t) {
    dp_ctx *c = NULL;
    dp_error e = {0};
    CHECK(dp_ctx_new(m, NULL, &c, &e) == DP_OK);
    if (!c) return;
    dp_gen_params p;
    dp_gen_params_default(&p);
    dp_gen *g = (dp_gen *)&p; /* must stay untouched */
    p.sampling.temperature = -1.0f;
    CHECK(dp_gen_new(c, t, &p, &g, &e) == DP_ERR_INVALID_ARG && g == (dp_gen *)&p && strstr(e.msg, "temperature"));
    p.sampling.temperature = 0;
    p.n_max = -1;
    CHECK(dp_gen_new(c, t, &p, &g, &e) == DP_ERR_INVALID_ARG && strstr(e.msg, "n_max"));
    p.n_max = 4;
    const char *empty[] = {""}, *one[] = {"x"};
    p.stop = empty;
    p.n_stop = 1;
    CHECK(dp_gen_new(c, t, &p, &g, &e) == DP_ERR_INVALID_ARG && strstr(e.msg, "empty"));
    p.stop = one;
    CHECK(dp_gen_new(c, NULL, &p, &g, &e) == DP_ERR_INVALID_ARG && strstr(e.msg, "tokenizer"));
    p.stop = NULL;
    CHECK(dp_gen_new(c, t, &p, &g, &e) == DP_ERR_INVALID_ARG);
    p.n_stop = 0;
    CHECK(dp_gen_new(c, t, &p, &g, &e) == DP_OK && g != (dp_gen *)&p);

    dp_gen_token tk;
    CHECK(dp_gen_step(g, &tk, &e) == DP_ERR_INVALID_ARG);      /* no prompt yet */
    CHECK(dp_gen_step_end(g, &tk, &e) == DP_ERR_INVALID_ARG);  /* nothing begun */
    CHECK(dp_gen_prompt(g, NULL, 0, &e) == DP_ERR_INVALID_ARG && dp_ctx_pos(c) == 0);
    int32_t bad = V + 3, a = 'a';
    CHECK(dp_gen_prompt(g, &bad, 1, &e) == DP_ERR_INVALID_ARG && dp_ctx_pos(c) == 0);
    CHECK(dp_gen_step(g, &tk, &e) == DP_ERR_INVALID_ARG);
    CHECK(dp_gen_prompt(g, &a, 1, &e) == DP_OK);
    CHECK(dp_gen_step_begin(g, &e) == DP_OK);
    int32_t pos = dp_ctx_pos(c);
    CHECK(dp_gen_step_begin(g, &e) == DP_ERR_INVALID_ARG && dp_ctx_pos(c) == pos); /* twice: nothing changed */
    CHECK(dp_gen_step_end(g, &tk, &e) == DP_OK && tk.id == 0xC3 && tk.stop == DP_GEN_RUNNING);
    CHECK(dp_gen_step(g, &tk, &e) == DP_OK && tk.id == 0xA9 && !strcmp(tk.text, "\xC3\xA9"));
    dp_gen_free(g);
    dp_gen_free(NULL);
    CHECK(!strcmp(dp_gen_stop_str(DP_GEN_STOP_CTX_FULL), "context full"));
    dp_ctx_free(c);
}

int main(void) {
    chains();
    const char *dir = t_tmpdir("generate");
    dp_tokenizer *t = t_bytes_tokenizer();
    dp_model *m = NULL;
    dp_error e = {0};
    if (t && write_model(dir)) CHECK_MSG(dp_model_load(dir, NULL, &m, &e) == DP_OK, "load: %s", e.msg);
    if (m) {
        stop_reasons(m, t);
        no_tokenizer(m);
        refusals(m, t);
    }
    dp_model_free(m);
    dp_tokenizer_free(t);
    return t_done("test_generate");
}
