/* test_parity.c — every hf-tiny fixture converted to RDRR and run on the CPU backend must match
 * the reference implementation: logits within 1e-3 over all positions, greedy ids identical
 * (phi3: logits only, see the fixtures README), and token-by-token decode with the KV cache
 * reproducing the full-pass logits. */
#include <math.h>
#include <string.h>

#include "doppler.h"
#include "format/safetensors.h"
#include "model/write.h"
#include "testutil.h"

static const char *const FAMILIES[] = {"llama", "gemma2", "gemma3", "phi3", "mixtral", "qwen3"};

static float *read_ref(dp_st *st, const char *name, size_t *count) {
    const dp_st_tensor *t = dp_st_find(st, name);
    if (!t) return NULL;
    *count = (size_t)dp_st_numel(t);
    void *buf = malloc(t->size);
    if (!buf || dp_st_read(st, t, buf, NULL) != DP_OK) { free(buf); return NULL; }
    return buf;
}

static void check_family(const char *fam) {
    char src[512], rel[256];
    snprintf(rel, sizeof rel, "fixtures/hf-tiny/%s", fam);
    const char *p = t_shared(rel);
    if (!p) return;
    snprintf(src, sizeof src, "%s", p);
    char dst[600];
    snprintf(dst, sizeof dst, "%s/%s", t_tmpdir("parity"), fam);
    dp_error e = {0};
    dp_write_opts o = {0};
    o.recipe = DP_RECIPE_F32;
    o.shard_max = 128 * 1024; /* several shards and split tensors even for tiny models */
    CHECK_MSG(dp_convert_hf(src, dst, &o, &e) == DP_OK, "%s: convert: %s", fam, e.msg);

    char refp[600];
    snprintf(refp, sizeof refp, "%s/reference.safetensors", src);
    dp_st *ref = NULL;
    CHECK_MSG(dp_st_open(refp, &ref, &e) == DP_OK, "%s: %s", fam, e.msg);
    if (!ref) return;
    size_t n_ids = 0, n_logits = 0, n_greedy = 0, n_plen = 0;
    int32_t *ids = (int32_t *)read_ref(ref, "input_ids", &n_ids);
    float *want = read_ref(ref, "logits", &n_logits);
    int32_t *greedy = (int32_t *)read_ref(ref, "greedy_ids", &n_greedy);
    int32_t *plen = (int32_t *)read_ref(ref, "greedy_prompt_len", &n_plen);
    CHECK(ids && want && greedy && plen);

    dp_model *m = NULL;
    dp_ctx *c = NULL;
    dp_ctx_params cp;
    dp_ctx_params_default(&cp);
    cp.logits_all = 1;
    CHECK_MSG(dp_model_load(dst, NULL, &m, &e) == DP_OK, "%s: load: %s", fam, e.msg);
    if (m) CHECK_MSG(dp_ctx_new(m, &cp, &c, &e) == DP_OK, "%s: ctx: %s", fam, e.msg);
    if (c && ids && want) {
        size_t vocab = (size_t)dp_model_n_vocab(m);
        CHECK(n_logits == n_ids * vocab);
        float *got = calloc(n_logits, sizeof(float));
        CHECK(dp_ctx_eval(c, ids, (int32_t)n_ids, got, &e) == DP_OK);
        double full = t_max_diff(got, want, n_logits);
        printf("%-8s full pass   max |dlogit| = %.3g\n", fam, full);
        CHECK_MSG(full <= 1e-3, "%s: full-pass logits differ by %g", fam, full);

        /* incremental: a 7-token chunk, then one token at a time */
        dp_ctx_reset(c);
        float *inc = calloc(n_logits, sizeof(float));
        CHECK(dp_ctx_eval(c, ids, 7, inc, &e) == DP_OK);
        for (size_t i = 7; i < n_ids; i++) CHECK(dp_ctx_eval(c, ids + i, 1, inc + i * vocab, &e) == DP_OK);
        double incd = t_max_diff(inc, got, n_logits);
        printf("%-8s incremental max |dlogit vs full| = %.3g\n", fam, incd);
        CHECK_MSG(incd <= 1e-4, "%s: incremental decode differs from the full pass by %g", fam, incd);

        /* truncate: drop the last 13 positions, evaluate different ids there, drop those and
         * evaluate the real ones again: the same logits as the first time */
        int32_t cut = (int32_t)n_ids - 13, junk[13];
        for (int i = 0; i < 13; i++) junk[i] = (ids[cut + i] + 17) % (int32_t)vocab;
        CHECK(dp_ctx_truncate(c, (int32_t)n_ids + 1, &e) == DP_ERR_INVALID_ARG && dp_ctx_pos(c) == (int32_t)n_ids);
        CHECK(dp_ctx_truncate(c, cut, &e) == DP_OK && dp_ctx_pos(c) == cut);
        int32_t tok_after;
        CHECK(dp_ctx_sample(c, NULL, &tok_after, &e) == DP_ERR_INVALID_ARG); /* nothing to sample after a truncate */
        CHECK(dp_ctx_eval(c, junk, 13, NULL, &e) == DP_OK);
        CHECK(dp_ctx_truncate(c, cut, &e) == DP_OK);
        CHECK(dp_ctx_eval(c, ids + cut, 13, inc + (size_t)cut * vocab, &e) == DP_OK);
        double trd = t_max_diff(inc, got, n_logits);
        printf("%-8s truncated   max |dlogit vs full| = %.3g\n", fam, trd);
        CHECK_MSG(trd <= 1e-4, "%s: re-evaluating after truncate differs from the full pass by %g", fam, trd);
        free(inc);
        free(got);

        if (strcmp(fam, "phi3") && greedy && plen) {
            dp_ctx_reset(c);
            int32_t np = plen[0], out[64];
            CHECK(dp_ctx_eval(c, greedy, np, NULL, &e) == DP_OK);
            CHECK(dp_ctx_eval_sampled(c, &e) == DP_ERR_INVALID_ARG); /* nothing sampled yet */
            bool same = true;
            for (int32_t i = np; i < (int32_t)n_greedy; i++) {
                dp_sampling sp = {0, 0, 1, 0};
                CHECK(dp_ctx_sample(c, &sp, &out[i], &e) == DP_OK);
                if (out[i] != greedy[i]) same = false;
                /* every other step feeds the sampled id back without the caller (pipelined path) */
                if (i % 2) CHECK_MSG(dp_ctx_eval_sampled(c, &e) == DP_OK, "%s: eval_sampled: %s", fam, e.msg);
                else CHECK(dp_ctx_eval(c, &out[i], 1, NULL, &e) == DP_OK);
            }
            CHECK(dp_ctx_eval_sampled(c, &e) == DP_ERR_INVALID_ARG); /* consumed by the eval above */
            printf("%-8s greedy %s\n", fam, same ? "identical" : "DIFFERENT");
            CHECK_MSG(same, "%s: greedy ids differ from the reference", fam);
        }
    }
    dp_ctx_free(c);
    dp_model_free(m);
    free(ids);
    free(want);
    free(greedy);
    free(plen);
    dp_st_free(ref);
}

/* The fixtures' weights are bf16, so a bf16 conversion must give the f32 conversion's logits
 * exactly, and f16 nearly so. */
static void check_dtypes(void) {
    const char *src = t_shared("fixtures/hf-tiny/llama");
    if (!src) return;
    char srcdir[512];
    snprintf(srcdir, sizeof srcdir, "%s", src);
    float *logits[3] = {0};
    const dp_recipe recipes[3] = {DP_RECIPE_F32, DP_RECIPE_BF16, DP_RECIPE_F16};
    const int32_t ids[12] = {1, 5, 77, 300, 12, 9, 400, 2, 33, 250, 18, 7};
    size_t count = 0;
    for (int r = 0; r < 3; r++) {
        char dst[600];
        snprintf(dst, sizeof dst, "%s/%s", t_tmpdir("parity-dtype"), dp_recipe_name(recipes[r]));
        dp_write_opts o = {0};
        o.recipe = recipes[r];
        dp_error e = {0};
        dp_model *m = NULL;
        dp_ctx *c = NULL;
        dp_ctx_params cp;
        dp_ctx_params_default(&cp);
        cp.logits_all = 1;
        CHECK_MSG(dp_convert_hf(srcdir, dst, &o, &e) == DP_OK, "%s", e.msg);
        CHECK_MSG(dp_model_load(dst, NULL, &m, &e) == DP_OK, "%s", e.msg);
        if (m && dp_ctx_new(m, &cp, &c, &e) == DP_OK) {
            count = 12 * (size_t)dp_model_n_vocab(m);
            logits[r] = calloc(count, sizeof(float));
            CHECK(strcmp(dp_model_dtype(m), dp_recipe_name(recipes[r])) == 0);
            CHECK(dp_ctx_eval(c, ids, 12, logits[r], &e) == DP_OK);
        }
        dp_ctx_free(c);
        dp_model_free(m);
    }
    if (logits[0] && logits[1] && logits[2]) {
        double b = t_max_diff(logits[0], logits[1], count), h = t_max_diff(logits[0], logits[2], count);
        printf("llama    bf16 vs f32 max |dlogit| = %.3g, f16 vs f32 = %.3g\n", b, h);
        CHECK(b <= 1e-5);
        CHECK(h <= 1e-3);
    }
    for (int r = 0; r < 3; r++) free(logits[r]);
}

int main(void) {
    if (!t_shared("fixtures/hf-tiny")) {
        printf("test_parity: fixtures absent, skipped\n");
        return TEST_SKIP;
    }
    for (size_t i = 0; i < sizeof FAMILIES / sizeof FAMILIES[0]; i++) check_family(FAMILIES[i]);
    check_dtypes();
    return t_done("test_parity");
}
