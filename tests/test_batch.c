/* test_batch.c — dp_batch_eval (continuous batching) against each sequence decoded alone: four
 * sequences with prompts of different lengths join and leave the batch at different steps (so
 * the batch holds 1 to 4 rows), and after every step each sequence's logits must equal those of
 * the same sequence decoded by itself with dp_ctx_eval, bit for bit: on f32 weights and on the
 * GGUF q4_K_M fixture, whose q4_K / q6_K products take the packed panel path from 3 rows (its
 * integer sums come out the same), so greedy ids are identical. Every hf-tiny family (f32) and
 * the q4_K_M fixture; then the refusals
 * (distinct contexts, one model, one n_ctx, no logits_all, room left, n in [1, max_seqs]). */
#include <math.h>
#include <string.h>

#include "doppler.h"
#include "model/write.h"
#include "runtime/runtime.h"
#include "testutil.h"

#define N_SEQ 4
#define STEPS 12
#define N_CTX 64

static const int PROMPT_LEN[N_SEQ] = {5, 9, 2, 13};
static const int JOIN[N_SEQ] = {0, 0, 3, 5};   /* first batched step of each sequence */
static const int LEAVE[N_SEQ] = {12, 7, 12, 10}; /* steps it stays for */

static void logits_of(dp_ctx *c, float *out) {
    dp_error e = {0};
    dp_backend *be = c->m->be;
    CHECK(be->i->tensor_read(be, &c->s.logits, (uint64_t)(c->last_rows - 1) * (uint64_t)c->m->d.vocab * 4u, out,
                            (uint64_t)c->m->d.vocab * 4u, &e) == DP_OK);
}

static int32_t prompt_id(int seq, int i, int32_t vocab) { return (int32_t)((seq * 7919 + i * 104729 + 13) % vocab); }

/* Logits of sequence `seq` after each of its decode steps, alone: [LEAVE[seq] + 1][vocab]. */
static float *alone(dp_model *m, int seq) {
    int32_t V = dp_model_n_vocab(m);
    float *out = calloc((size_t)(LEAVE[seq] + 1) * (size_t)V, sizeof(float));
    dp_ctx_params cp;
    dp_ctx_params_default(&cp);
    cp.n_ctx = N_CTX;
    dp_ctx *c = NULL;
    dp_error e = {0};
    CHECK(dp_ctx_new(m, &cp, &c, &e) == DP_OK);
    int32_t ids[16];
    for (int i = 0; i < PROMPT_LEN[seq]; i++) ids[i] = prompt_id(seq, i, V);
    CHECK(dp_ctx_eval(c, ids, PROMPT_LEN[seq], NULL, &e) == DP_OK);
    for (int t = 0; t <= LEAVE[seq]; t++) {
        logits_of(c, out + (size_t)t * (size_t)V);
        if (t == LEAVE[seq]) break;
        int32_t id;
        CHECK(dp_ctx_sample(c, NULL, &id, &e) == DP_OK);
        CHECK(dp_ctx_eval(c, &id, 1, NULL, &e) == DP_OK);
    }
    dp_ctx_free(c);
    return out;
}

static void check_model(const char *name, const char *dir, double tol) {
    dp_error e = {0};
    dp_model *m = NULL;
    dp_load_params lp;
    dp_load_params_default(&lp);
    lp.n_threads = 2;
    CHECK_MSG(dp_model_load(dir, &lp, &m, &e) == DP_OK, "%s: %s", name, e.msg);
    if (!m) return;
    int32_t V = dp_model_n_vocab(m);
    float *ref[N_SEQ];
    for (int s = 0; s < N_SEQ; s++) ref[s] = alone(m, s);

    dp_batch *b = NULL;
    CHECK(dp_batch_new(m, N_SEQ, &b, &e) == DP_OK);
    dp_ctx *c[N_SEQ] = {0};
    dp_ctx_params cp;
    dp_ctx_params_default(&cp);
    cp.n_ctx = N_CTX;
    int done[N_SEQ] = {0};
    float *got = malloc((size_t)V * sizeof(float));
    double worst = 0;
    int max_rows = 0;
    for (int step = 0; step < 32; step++) {
        dp_ctx *cs[N_SEQ];
        int32_t ids[N_SEQ];
        int which[N_SEQ], n = 0;
        for (int s = 0; s < N_SEQ; s++) {
            if (step < JOIN[s] || done[s] >= LEAVE[s]) continue;
            if (!c[s]) { /* joins: its prompt alone, as the server does */
                CHECK(dp_ctx_new(m, &cp, &c[s], &e) == DP_OK);
                int32_t p[16];
                for (int i = 0; i < PROMPT_LEN[s]; i++) p[i] = prompt_id(s, i, V);
                CHECK(dp_ctx_eval(c[s], p, PROMPT_LEN[s], NULL, &e) == DP_OK);
                logits_of(c[s], got);
                worst = fmax(worst, t_max_diff(got, ref[s], (size_t)V));
            }
            CHECK(dp_ctx_sample(c[s], NULL, &ids[n], &e) == DP_OK);
            cs[n] = c[s];
            which[n++] = s;
        }
        if (!n) break;
        if (n > max_rows) max_rows = n;
        CHECK_MSG(dp_batch_eval(b, cs, ids, n, &e) == DP_OK, "%s: %s", name, e.msg);
        for (int i = 0; i < n; i++) {
            int s = which[i];
            done[s]++;
            CHECK(dp_ctx_pos(c[s]) == PROMPT_LEN[s] + done[s]);
            logits_of(c[s], got);
            double d = t_max_diff(got, ref[s] + (size_t)done[s] * (size_t)V, (size_t)V);
            if (!(d <= tol)) fprintf(stderr, "%s: sequence %d step %d: max |dlogit| %g over %g\n", name, s, done[s], d, tol);
            CHECK(d <= tol);
            worst = fmax(worst, d);
        }
    }
    for (int s = 0; s < N_SEQ; s++) CHECK(done[s] == LEAVE[s]);
    CHECK(max_rows == N_SEQ);
    printf("%s: 4 sequences joining and leaving, up to %d rows a pass: max |dlogit| vs alone %g (bound %g)\n", name, max_rows,
           worst, tol);

    /* refusals leave everything as it was */
    if (c[0] && c[1]) {
        int32_t ids[N_SEQ + 1] = {1, 1, 1, 1, 1};
        int32_t p0 = dp_ctx_pos(c[0]);
        dp_ctx *two[2] = {c[0], c[0]};
        CHECK(dp_batch_eval(b, two, ids, 2, &e) == DP_ERR_INVALID_ARG); /* twice the same */
        dp_ctx *five[N_SEQ + 1] = {c[0], c[1], c[2], c[3], c[0]};
        CHECK(dp_batch_eval(b, five, ids, N_SEQ + 1, &e) == DP_ERR_INVALID_ARG); /* over max_seqs */
        CHECK(dp_batch_eval(b, five, ids, 0, &e) == DP_ERR_INVALID_ARG);
        int32_t bad[2] = {1, V};
        dp_ctx *pair[2] = {c[0], c[1]};
        CHECK(dp_batch_eval(b, pair, bad, 2, &e) == DP_ERR_INVALID_ARG); /* id out of range */
        dp_ctx_params big = cp;
        big.n_ctx = N_CTX * 2;
        dp_ctx *other = NULL, *all = NULL;
        CHECK(dp_ctx_new(m, &big, &other, &e) == DP_OK);
        dp_ctx *mixed[2] = {c[0], other};
        CHECK(dp_batch_eval(b, mixed, ids, 2, &e) == DP_ERR_INVALID_ARG); /* different n_ctx */
        dp_ctx_params la = cp;
        la.logits_all = 1;
        CHECK(dp_ctx_new(m, &la, &all, &e) == DP_OK);
        dp_ctx *withall[2] = {c[0], all};
        CHECK(dp_batch_eval(b, withall, ids, 2, &e) == DP_ERR_INVALID_ARG);
        CHECK(dp_ctx_pos(c[0]) == p0);
        dp_ctx_free(other);
        dp_ctx_free(all);
    }
    free(got);
    for (int s = 0; s < N_SEQ; s++) {
        free(ref[s]);
        dp_ctx_free(c[s]);
    }
    dp_batch_free(b);
    dp_batch_free(NULL);
    dp_model_free(m);
}

int main(void) {
    static const char *const FAMILIES[] = {"llama", "gemma2", "gemma3", "phi3", "mixtral", "qwen3"};
    int ran = 0;
    for (size_t i = 0; i < sizeof FAMILIES / sizeof FAMILIES[0]; i++) {
        char rel[128], src[512], dst[600];
        snprintf(rel, sizeof rel, "fixtures/hf-tiny/%s", FAMILIES[i]);
        const char *p = t_shared(rel);
        if (!p) continue;
        snprintf(src, sizeof src, "%s", p);
        snprintf(dst, sizeof dst, "%s/%s", t_tmpdir("batch"), FAMILIES[i]);
        dp_error e = {0};
        dp_write_opts o = {0};
        o.recipe = DP_RECIPE_F32;
        CHECK_MSG(dp_convert_hf(src, dst, &o, &e) == DP_OK, "%s: %s", FAMILIES[i], e.msg);
        check_model(FAMILIES[i], dst, 0.0);
        ran++;
    }
    const char *q = t_shared("fixtures/gguf/llama-q4_k_m.gguf");
    if (q) {
        char src[512], dst[600];
        snprintf(src, sizeof src, "%s", q);
        snprintf(dst, sizeof dst, "%s/q4_k_m", t_tmpdir("batch-q"));
        dp_error e = {0};
        dp_write_opts o = {0};
        o.recipe = DP_RECIPE_KEEP;
        CHECK_MSG(dp_convert_gguf(src, dst, &o, &e) == DP_OK, "q4_k_m: %s", e.msg);
        check_model("gguf q4_k_m", dst, 0.0);
        ran++;
    }
    if (!ran) {
        fprintf(stderr, "test_batch: no fixtures under DP_SHARED\n");
        if (getenv("CI")) return 1;
        return TEST_SKIP;
    }
    return t_done("test_batch");
}
