/* test_eval_failure.c — the state doppler.h promises after a failing dp_ctx_eval /
 * dp_ctx_eval_sampled: the position where it was before the call, nothing to sample, and the
 * same tokens evaluated again give the logits an unfailed call gives.
 *
 * Failures are injected two ways: a backend that wraps the CPU backend and fails its Nth flush
 * (one flush per chunk of n_batch tokens, so the failure lands in the first, a middle or the
 * last chunk), and the allocation hook failing an allocation inside the forward pass (the
 * backend's scratch growing for a larger chunk). */
#include <string.h>

#include "backend/backend.h"
#include "doppler.h"
#include "model/write.h"
#include "testutil.h"

/* ---- a CPU backend whose flush fails on request ---- */

static dp_backend_i g_vt;             /* the CPU vtable with flush and stream_new replaced */
static dp_status (*g_cpu_flush)(dp_backend *b, dp_error *e);
static dp_status (*g_cpu_stream_new)(dp_backend *b, dp_backend **out, dp_error *e);
static int g_flush_countdown;         /* fail when it reaches 0 (negative: never) */

static dp_status inj_flush(dp_backend *b, dp_error *e) {
    dp_status st = g_cpu_flush(b, e);
    if (st == DP_OK && g_flush_countdown >= 0 && g_flush_countdown-- == 0)
        return dp_err_set(e, DP_ERR_IO, "injected flush failure");
    return st;
}

static dp_status inj_stream_new(dp_backend *b, dp_backend **out, dp_error *e) {
    dp_status st = g_cpu_stream_new(b, out, e);
    if (st == DP_OK) (*out)->i = &g_vt; /* same context, failing flush */
    return st;
}

static dp_backend *injecting_backend(void) {
    dp_backend_params bp;
    dp_backend_params_default(&bp);
    bp.n_threads = 1;
    dp_backend *b = NULL;
    dp_error e = {0};
    if (dp_backend_new("cpu", &bp, &b, &e) != DP_OK) return NULL;
    g_vt = *b->i;
    g_cpu_flush = g_vt.flush;
    g_cpu_stream_new = g_vt.stream_new;
    g_vt.flush = inj_flush;
    g_vt.stream_new = inj_stream_new;
    b->i = &g_vt;
    g_flush_countdown = -1;
    return b;
}

/* ---- the failing allocator ---- */

static long g_alloc_count, g_alloc_fail_at;
static bool g_alloc_failed;

static void *fail_alloc(void *ud, void *p, size_t n) {
    (void)ud;
    if (n == 0) {
        free(p);
        return NULL;
    }
    if (++g_alloc_count == g_alloc_fail_at) {
        g_alloc_failed = true;
        return NULL;
    }
    return realloc(p, n);
}

#define N_A 5
#define N_B 10
#define BATCH 4

static const int32_t A[N_A] = {1, 5, 77, 300, 12};
static const int32_t B[N_B] = {9, 400, 2, 33, 250, 18, 7, 61, 3, 100};

/* A then B's logits (rows of B) on a fresh context, nothing injected. */
static float *reference(dp_model *m, size_t vocab) {
    dp_ctx_params cp;
    dp_ctx_params_default(&cp);
    cp.n_ctx = 32;
    cp.n_batch = BATCH;
    cp.logits_all = 1;
    dp_ctx *c = NULL;
    dp_error e = {0};
    float *out = calloc(N_B * vocab, sizeof(float));
    CHECK(dp_ctx_new(m, &cp, &c, &e) == DP_OK);
    if (c) {
        CHECK(dp_ctx_eval(c, A, N_A, NULL, &e) == DP_OK);
        CHECK(dp_ctx_eval(c, B, N_B, out, &e) == DP_OK);
    }
    dp_ctx_free(c);
    return out;
}

/* After a failed eval of B on c (at position N_A): the promised state, then B again must give
 * the reference. */
static void check_after_failure(dp_ctx *c, const float *want, size_t vocab, const char *what) {
    dp_error e = {0};
    int32_t tok;
    CHECK_MSG(dp_ctx_pos(c) == N_A, "%s: position %d after the failure, want %d", what, dp_ctx_pos(c), N_A);
    CHECK_MSG(dp_ctx_sample(c, NULL, &tok, &e) == DP_ERR_INVALID_ARG, "%s: sampling after a failed eval", what);
    CHECK_MSG(dp_ctx_eval_sampled(c, &e) == DP_ERR_INVALID_ARG, "%s: eval_sampled after a failed eval", what);
    float *got = calloc(N_B * vocab, sizeof(float));
    CHECK_MSG(dp_ctx_eval(c, B, N_B, got, &e) == DP_OK, "%s: eval again: %s", what, e.msg);
    CHECK_MSG(!memcmp(got, want, N_B * vocab * sizeof(float)), "%s: logits after the retry differ", what);
    CHECK(dp_ctx_pos(c) == N_A + N_B);
    free(got);
}

int main(void) {
    const char *src = t_shared("fixtures/hf-tiny/llama");
    if (!src) {
        printf("test_eval_failure: fixtures absent, skipped\n");
        return TEST_SKIP;
    }
    char srcdir[512], dir[600];
    snprintf(srcdir, sizeof srcdir, "%s", src);
    snprintf(dir, sizeof dir, "%s/q8_0", t_tmpdir("eval-failure"));
    dp_write_opts o = {0};
    o.recipe = DP_RECIPE_Q8_0; /* activations go through blocks sized by the chunk: scratch grows */
    dp_error e = {0};
    CHECK_MSG(dp_convert_hf(srcdir, dir, &o, &e) == DP_OK, "%s", e.msg);

    dp_backend *be = injecting_backend();
    CHECK(be != NULL);
    dp_load_params lp;
    dp_load_params_default(&lp);
    lp.be = be;
    dp_model *m = NULL;
    CHECK_MSG(be && dp_model_load(dir, &lp, &m, &e) == DP_OK, "%s", e.msg);
    if (!m) return t_done("test_eval_failure");
    size_t vocab = (size_t)dp_model_n_vocab(m);
    float *want = reference(m, vocab);
    dp_ctx_params cp;
    dp_ctx_params_default(&cp);
    cp.n_ctx = 32;
    cp.n_batch = BATCH;
    cp.logits_all = 1;

    /* the backend fails the flush of chunk k of B (3 chunks: 4 + 4 + 2 tokens), and once the
     * flush of a single sampled step */
    for (int k = 0; k < 3; k++) {
        dp_ctx *c = NULL;
        CHECK(dp_ctx_new(m, &cp, &c, &e) == DP_OK);
        if (!c) break;
        CHECK(dp_ctx_eval(c, A, N_A, NULL, &e) == DP_OK);
        g_flush_countdown = k;
        dp_status st = dp_ctx_eval(c, B, N_B, NULL, &e);
        g_flush_countdown = -1;
        CHECK_MSG(st == DP_ERR_IO && strstr(e.msg, "injected"), "chunk %d: %s (%s)", k, dp_status_str(st), e.msg);
        char what[64];
        snprintf(what, sizeof what, "flush failure in chunk %d of 3", k + 1);
        check_after_failure(c, want, vocab, what);
        dp_ctx_free(c);
    }
    {
        dp_ctx *c = NULL;
        int32_t tok;
        CHECK(dp_ctx_new(m, &cp, &c, &e) == DP_OK);
        if (c) {
            CHECK(dp_ctx_eval(c, A, N_A, NULL, &e) == DP_OK);
            CHECK(dp_ctx_sample(c, NULL, &tok, &e) == DP_OK);
            g_flush_countdown = 0;
            CHECK(dp_ctx_eval_sampled(c, &e) == DP_ERR_IO);
            g_flush_countdown = -1;
            CHECK(dp_ctx_pos(c) == N_A);
            check_after_failure(c, want, vocab, "flush failure in eval_sampled");
        }
        dp_ctx_free(c);
    }

    /* an allocation inside the forward pass fails (the first chunk's scratch): every N until
     * the eval no longer reaches a failure */
    int injected = 0;
    for (long n = 1; n < 1000; n++) {
        dp_ctx *c = NULL;
        CHECK(dp_ctx_new(m, &cp, &c, &e) == DP_OK);
        if (!c) break;
        /* one token at a time: this context's scratch holds one row, B's chunks need more */
        for (int i = 0; i < N_A; i++) CHECK(dp_ctx_eval(c, A + i, 1, NULL, &e) == DP_OK);
        g_alloc_count = 0;
        g_alloc_fail_at = n;
        g_alloc_failed = false;
        dp_set_allocator(fail_alloc, NULL);
        dp_status st = dp_ctx_eval(c, B, N_B, NULL, &e);
        dp_set_allocator(NULL, NULL);
        g_alloc_fail_at = 0;
        if (!g_alloc_failed) {
            CHECK(st == DP_OK);
            dp_ctx_free(c);
            break;
        }
        injected++;
        CHECK_MSG(st == DP_ERR_NOMEM, "allocation %ld: %s (%s)", n, dp_status_str(st), e.msg);
        check_after_failure(c, want, vocab, "allocation failure in the forward pass");
        dp_ctx_free(c);
    }
    printf("test_eval_failure: %d allocation failures inside eval, 4 injected flush failures\n", injected);
    CHECK_MSG(injected > 0, "no allocation happens inside the forward pass: the sweep tested nothing");
    free(want);
    dp_model_free(m);
    dp_backend_free(be);
    return t_done("test_eval_failure");
}
