/* test_ops_per_token.c — backend calls per decoded token on the CPU for each hf-tiny family,
 * against recorded numbers: an op added to the forward pass, or a fused shape or matmul_multi no
 * longer taken, shows here (the WebGPU dispatch counts are tests/webgpu/dispatch_count.mjs).
 * A wrapper backend counts every op call of the CPU backend's contexts; a token is one greedy
 * sample + one forward pass, counted over 4 tokens after the prompt. */
#include <string.h>

#include "backend/backend.h"
#include "doppler.h"
#include "model/write.h"
#include "testutil.h"

static long g_ops;
static dp_backend_i g_vt, g_cpu;

#define COUNTED(name, params, args)                                                                \
    static void count_##name params {                                                              \
        g_ops++;                                                                                   \
        g_cpu.name args;                                                                           \
    }
COUNTED(get_rows, (dp_backend *b, dp_tensor *o, const dp_tensor *t, const dp_tensor *i, int n, float s), (b, o, t, i, n, s))
COUNTED(rms_norm, (dp_backend *b, dp_tensor *o, const dp_tensor *x, const dp_tensor *w, int n, int d, float e, bool p), (b, o, x, w, n, d, e, p))
COUNTED(matmul, (dp_backend *b, dp_tensor *o, const dp_tensor *x, const dp_tensor *w, int n, bool a), (b, o, x, w, n, a))
COUNTED(add, (dp_backend *b, dp_tensor *o, const dp_tensor *a, const dp_tensor *c, int64_t n), (b, o, a, c, n))
COUNTED(rope, (dp_backend *b, dp_tensor *x, const dp_tensor *p, const dp_tensor *f, int n, const dp_rope_args *a), (b, x, p, f, n, a))
COUNTED(copy, (dp_backend *b, dp_tensor *d, int64_t o, const dp_tensor *s, int64_t n), (b, d, o, s, n))
COUNTED(attention, (dp_backend *b, dp_tensor *o, const dp_tensor *q, const dp_tensor *k, const dp_tensor *v, const dp_attn_args *a), (b, o, q, k, v, a))
COUNTED(glu, (dp_backend *b, dp_tensor *o, const dp_tensor *g, const dp_tensor *u, int n, int f, dp_act a), (b, o, g, u, n, f, a))
COUNTED(softcap, (dp_backend *b, dp_tensor *x, int64_t n, float c), (b, x, n, c))
COUNTED(moe, (dp_backend *b, dp_tensor *o, const dp_tensor *x, const dp_tensor *l, const dp_tensor *g, const dp_tensor *u, const dp_tensor *d, const dp_expert_src *s, int n, int ne, int k, dp_act a), (b, o, x, l, g, u, d, s, n, ne, k, a))
COUNTED(sample, (dp_backend *b, dp_tensor *o, const dp_tensor *l, int r, int v, const dp_sample_args *a), (b, o, l, r, v, a))
COUNTED(matmul_multi, (dp_backend *b, dp_tensor *const *o, const dp_tensor *x, const dp_tensor *const *w, int c, int n), (b, o, x, w, c, n))

static dp_status count_stream_new(dp_backend *b, dp_backend **out, dp_error *e) {
    dp_status st = g_cpu.stream_new(b, out, e);
    if (st == DP_OK) (*out)->i = &g_vt;
    return st;
}

/* recorded 2026-12-03 (issue 19): ops per decoded token */
static const struct { const char *fam; long ops; } WANT[] = {
    {"llama", 40}, {"gemma2", 69}, {"gemma3", 112}, {"phi3", 40}, {"mixtral", 28}, {"qwen3", 46},
};

int main(void) {
    if (!t_shared("fixtures/hf-tiny")) {
        printf("test_ops_per_token: fixtures absent, skipped\n");
        return TEST_SKIP;
    }
    dp_error e = {0};
    dp_backend *be = NULL;
    CHECK_MSG(dp_backend_new("cpu", NULL, &be, &e) == DP_OK, "%s", e.msg);
    if (!be) return t_done("test_ops_per_token");
    g_cpu = g_vt = *be->i;
    g_vt.get_rows = count_get_rows;
    g_vt.rms_norm = count_rms_norm;
    g_vt.matmul = count_matmul;
    g_vt.add = count_add;
    g_vt.rope = count_rope;
    g_vt.copy = count_copy;
    g_vt.attention = count_attention;
    g_vt.glu = count_glu;
    g_vt.softcap = count_softcap;
    g_vt.moe = count_moe;
    g_vt.sample = count_sample;
    g_vt.matmul_multi = count_matmul_multi;
    g_vt.stream_new = count_stream_new;
    be->i = &g_vt;
    char base[512];
    snprintf(base, sizeof base, "%s", t_tmpdir("ops-per-token"));
    for (size_t f = 0; f < sizeof WANT / sizeof WANT[0]; f++) {
        char rel[128], src[512], dir[600];
        snprintf(rel, sizeof rel, "fixtures/hf-tiny/%s", WANT[f].fam);
        snprintf(src, sizeof src, "%s", t_shared(rel));
        snprintf(dir, sizeof dir, "%s/%s", base, WANT[f].fam);
        dp_write_opts o = {0};
        o.recipe = DP_RECIPE_F32;
        CHECK_MSG(dp_convert_hf(src, dir, &o, &e) == DP_OK, "%s", e.msg);
        dp_load_params lp;
        dp_load_params_default(&lp);
        lp.be = be;
        dp_model *m = NULL;
        dp_ctx *c = NULL;
        CHECK_MSG(dp_model_load(dir, &lp, &m, &e) == DP_OK, "%s", e.msg);
        if (m) CHECK_MSG(dp_ctx_new(m, NULL, &c, &e) == DP_OK, "%s", e.msg);
        if (c) {
            const int32_t prompt[5] = {1, 5, 77, 300, 12};
            int32_t t = 0;
            CHECK(dp_ctx_eval(c, prompt, 5, NULL, &e) == DP_OK);
            g_ops = 0;
            for (int k = 0; k < 4; k++)
                CHECK(dp_ctx_sample(c, NULL, &t, &e) == DP_OK && dp_ctx_eval(c, &t, 1, NULL, &e) == DP_OK);
            long per = g_ops / 4;
            printf("%-8s %ld backend calls per token (recorded %ld)\n", WANT[f].fam, per, WANT[f].ops);
            CHECK_MSG(per == WANT[f].ops && g_ops % 4 == 0, "%s: %ld calls per token, recorded %ld", WANT[f].fam, per,
                      WANT[f].ops);
        }
        dp_ctx_free(c);
        dp_model_free(m);
    }
    dp_backend_free(be);
    return t_done("test_ops_per_token");
}
