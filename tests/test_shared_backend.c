/* test_shared_backend.c — models and contexts on one backend (dp_backend_new + dp_load_params.be)
 * give exactly the logits and tokens they give alone: a target (hf-tiny llama, f32) with two
 * contexts, a draft (the same model as q8_0) and a MoE model (mixtral), interleaved step by
 * step on one CPU backend, against each sequence run on a backend of its own. */
#include <string.h>

#include "doppler.h"
#include "model/write.h"
#include "testutil.h"

#define N_PROMPT 9
#define N_STEPS 6
#define N_SEQ 4

typedef struct seq {
    int model;                    /* index into the models */
    int32_t prompt[N_PROMPT];
    int32_t tokens[N_STEPS];
    float *logits;                /* (N_PROMPT + N_STEPS) rows of vocab */
} seq;

/* The hf-tiny fixture fam converted with recipe r into base/tag; false when it is absent. */
static bool convert(const char *base, const char *fam, dp_recipe r, const char *tag, char *dst, size_t cap) {
    char src[512], rel[128];
    snprintf(rel, sizeof rel, "fixtures/hf-tiny/%s", fam);
    const char *p = t_shared(rel);
    if (!p) return false;
    snprintf(src, sizeof src, "%s", p);
    snprintf(dst, cap, "%s/%s", base, tag);
    dp_write_opts o = {0};
    o.recipe = r;
    dp_error e = {0};
    CHECK_MSG(dp_convert_hf(src, dst, &o, &e) == DP_OK, "%s: convert: %s", tag, e.msg);
    return true;
}

/* Prompt evaluation (rows 0..N_PROMPT-1 of logits) or one greedy step (row N_PROMPT + step). */
static bool step(dp_ctx *c, seq *s, int stepno, int32_t vocab) {
    dp_error e = {0};
    if (stepno < 0) {
        bool ok = dp_ctx_eval(c, s->prompt, N_PROMPT, s->logits, &e) == DP_OK;
        CHECK_MSG(ok, "prompt: %s", e.msg);
        return ok;
    }
    int32_t t = -1;
    bool ok = dp_ctx_sample(c, NULL, &t, &e) == DP_OK &&
              dp_ctx_eval(c, &t, 1, s->logits + (size_t)(N_PROMPT + stepno) * (size_t)vocab, &e) == DP_OK;
    CHECK_MSG(ok, "step %d: %s", stepno, e.msg);
    s->tokens[stepno] = t;
    return ok;
}

int main(void) {
    if (!t_shared("fixtures/hf-tiny")) {
        printf("test_shared_backend: fixtures absent, skipped\n");
        return TEST_SKIP;
    }
    const char *dirs[3];
    char keep[3][600], base[512];
    snprintf(base, sizeof base, "%s", t_tmpdir("shared-backend"));
    const char *src_fam[3] = {"llama", "llama", "mixtral"};
    const dp_recipe rec[3] = {DP_RECIPE_F32, DP_RECIPE_Q8_0, DP_RECIPE_F32};
    const char *tag[3] = {"target", "draft", "moe"};
    for (int i = 0; i < 3; i++) {
        if (!convert(base, src_fam[i], rec[i], tag[i], keep[i], sizeof keep[i])) return TEST_SKIP;
        dirs[i] = keep[i];
    }
    /* sequences: two on the target, one on the draft, one on the MoE model */
    seq seqs[N_SEQ] = {{.model = 0}, {.model = 0}, {.model = 1}, {.model = 2}};
    dp_ctx_params cp;
    dp_ctx_params_default(&cp);
    cp.n_ctx = 64;
    cp.logits_all = 1;
    dp_error e = {0};

    /* alone: each sequence on a model with a backend of its own */
    float *alone[N_SEQ] = {0};
    int32_t alone_tok[N_SEQ][N_STEPS];
    int32_t vocab[3] = {0};
    for (int q = 0; q < N_SEQ; q++) {
        for (int i = 0; i < N_PROMPT; i++) seqs[q].prompt[i] = (int32_t)((q * 131 + i * 37 + 5) % 250);
        dp_load_params lp;
        dp_load_params_default(&lp);
        lp.n_threads = 2;
        dp_model *m = NULL;
        dp_ctx *c = NULL;
        CHECK_MSG(dp_model_load(dirs[seqs[q].model], &lp, &m, &e) == DP_OK, "load: %s", e.msg);
        if (!m || dp_ctx_new(m, &cp, &c, &e) != DP_OK) return t_done("test_shared_backend");
        vocab[seqs[q].model] = dp_model_n_vocab(m);
        seqs[q].logits = calloc((size_t)(N_PROMPT + N_STEPS) * (size_t)vocab[seqs[q].model], sizeof(float));
        for (int s = -1; s < N_STEPS; s++) step(c, &seqs[q], s, vocab[seqs[q].model]);
        alone[q] = seqs[q].logits;
        memcpy(alone_tok[q], seqs[q].tokens, sizeof alone_tok[q]);
        dp_ctx_free(c);
        dp_model_free(m);
    }

    /* shared: every model on one backend, the sequences' steps interleaved */
    dp_backend_params bp;
    dp_backend_params_default(&bp);
    bp.n_threads = 2;
    dp_backend *be = NULL;
    CHECK_MSG(dp_backend_new("cpu", &bp, &be, &e) == DP_OK, "%s", e.msg);
    CHECK(be && !strcmp(dp_backend_name(be), "cpu"));
    CHECK(dp_backend_new("tpu", NULL, &be, &e) == DP_ERR_UNSUPPORTED && be);
    dp_model *models[3] = {0};
    dp_ctx *ctxs[N_SEQ] = {0};
    for (int i = 0; i < 3 && be; i++) {
        dp_load_params lp;
        dp_load_params_default(&lp);
        lp.be = be;
        lp.backend = "no such backend"; /* ignored: be is given */
        CHECK_MSG(dp_model_load(dirs[i], &lp, &models[i], &e) == DP_OK, "shared load: %s", e.msg);
    }
    for (int q = 0; q < N_SEQ; q++) {
        if (!models[seqs[q].model]) break;
        CHECK_MSG(dp_ctx_new(models[seqs[q].model], &cp, &ctxs[q], &e) == DP_OK, "%s", e.msg);
        seqs[q].logits = calloc((size_t)(N_PROMPT + N_STEPS) * (size_t)vocab[seqs[q].model], sizeof(float));
    }
    for (int s = -1; s < N_STEPS; s++)
        for (int q = 0; q < N_SEQ; q++)
            if (ctxs[q]) step(ctxs[q], &seqs[q], s, vocab[seqs[q].model]);
    /* a context's failure stays its own: a bad id in one, then the others still evaluate */
    if (ctxs[0] && ctxs[1]) {
        int32_t bad = vocab[0];
        CHECK(dp_ctx_eval(ctxs[0], &bad, 1, NULL, &e) == DP_ERR_INVALID_ARG);
        CHECK(dp_ctx_pos(ctxs[0]) == N_PROMPT + N_STEPS);
    }
    for (int q = 0; q < N_SEQ; q++) {
        size_t n = (size_t)(N_PROMPT + N_STEPS) * (size_t)vocab[seqs[q].model];
        bool same = ctxs[q] && !memcmp(alone[q], seqs[q].logits, n * sizeof(float)) &&
                    !memcmp(alone_tok[q], seqs[q].tokens, sizeof alone_tok[q]);
        printf("sequence %d (%s): %s\n", q, tag[seqs[q].model], same ? "identical" : "DIFFERENT");
        CHECK_MSG(same, "sequence %d on the shared backend differs from its run alone", q);
        free(seqs[q].logits);
        free(alone[q]);
    }
    for (int q = 0; q < N_SEQ; q++) dp_ctx_free(ctxs[q]);
    for (int i = 0; i < 3; i++) dp_model_free(models[i]);
    dp_backend_free(be);
    dp_backend_free(NULL);
    return t_done("test_shared_backend");
}
