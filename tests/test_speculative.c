/* test_speculative.c — speculative decoding keeps the target's output exactly:
 *   greedy: token for token the plain greedy decode of the f32 target on every hf-tiny family,
 *     with drafts of the same checkpoint (q8_0 conversion, and the model itself), another
 *     family's model (same 512-token vocabulary, mostly disagreeing), prompt lookup, and a
 *     context that fills up (speculation degrades to plain steps);
 *   sampling: with temperature / top-k / top-p, the first and second emitted tokens over many
 *     draws at a fixed context follow the target's exact distributions (the second one's
 *     marginal computed by evaluating every kept first token): Pearson chi-square at
 *     significance 0.001 with fixed seeds, so the outcome is deterministic; plain dp_ctx_sample
 *     draws from the target pass the same test and draws from the draft's own distribution fail
 *     it, so the check is calibrated and has power; a draft that disagrees on every proposal
 *     (gemma2's for llama) still gives llama's greedy output;
 *   bad arguments leave everything unchanged.
 * `test_speculative --sequences TARGET FILE` is the checker of the WebGPU sampling test
 * (tests/test_webgpu_spec.sh) with the same statistics; see check_sequences. */
#include <math.h>
#include <string.h>

#include "backend/sampler.h"
#include "doppler.h"
#include "model/write.h"
#include "testutil.h"

static const char *const FAMILIES[] = {"llama", "gemma2", "gemma3", "phi3", "mixtral", "qwen3"};
#define N_FAM 6
#define VOCAB_MAX 512
#define N_GEN 48

static const int32_t PROMPT[] = {1, 37, 211, 5, 88, 400, 37, 211, 5, 17, 9, 301, 44, 37, 211};
#define N_PROMPT ((int32_t)(sizeof PROMPT / sizeof PROMPT[0]))

static char g_tmp[4096]; /* the test's scratch directory */

static dp_model *convert_load(const char *fam, dp_recipe r) {
    char rel[256], src[512], dst[4400];
    snprintf(rel, sizeof rel, "fixtures/hf-tiny/%s", fam);
    const char *p = t_shared(rel);
    if (!p) return NULL;
    snprintf(src, sizeof src, "%s", p);
    snprintf(dst, sizeof dst, "%s/%s-%s", g_tmp, fam, dp_recipe_name(r));
    dp_write_opts o = {0};
    o.recipe = r;
    dp_error e = {0};
    dp_model *m = NULL;
    CHECK_MSG(dp_convert_hf(src, dst, &o, &e) == DP_OK, "%s: convert: %s", fam, e.msg);
    CHECK_MSG(dp_model_load(dst, NULL, &m, &e) == DP_OK, "%s: load: %s", fam, e.msg);
    return m;
}

static dp_ctx *new_ctx(dp_model *m, int32_t n_ctx, int logits_all) {
    dp_ctx_params cp;
    dp_ctx_params_default(&cp);
    cp.n_ctx = n_ctx;
    cp.logits_all = logits_all;
    dp_ctx *c = NULL;
    dp_error e = {0};
    CHECK_MSG(dp_ctx_new(m, &cp, &c, &e) == DP_OK, "ctx: %s", e.msg);
    return c;
}

/* plain greedy decode as the CLI's loop does it: up to n tokens, fewer when the context fills */
static int32_t plain_greedy(dp_model *m, int32_t n_ctx, int32_t n, int32_t *out) {
    dp_ctx *c = new_ctx(m, n_ctx, 0);
    dp_error e = {0};
    int32_t g = 0;
    if (c && dp_ctx_eval(c, PROMPT, N_PROMPT, NULL, &e) == DP_OK) {
        while (g < n && dp_ctx_sample(c, NULL, &out[g], &e) == DP_OK) {
            g++;
            if (dp_ctx_pos(c) >= dp_ctx_n_ctx(c) || dp_ctx_eval(c, &out[g - 1], 1, NULL, &e) != DP_OK) break;
        }
    }
    dp_ctx_free(c);
    return g;
}

/* the same through dp_spec_step; stats into *st */
static int32_t spec_greedy(dp_model *t, dp_model *d, const dp_spec_params *sp, int32_t n_ctx, int32_t n, int32_t *out,
                           dp_spec_stats *st) {
    dp_ctx *ct = new_ctx(t, n_ctx, 0), *cd = d ? new_ctx(d, n_ctx, 0) : NULL;
    dp_spec *s = NULL;
    dp_error e = {0};
    int32_t hist[VOCAB_MAX], nh = N_PROMPT, g = 0;
    memcpy(hist, PROMPT, sizeof PROMPT);
    CHECK_MSG(ct && (!d || cd) && dp_spec_new(ct, cd, sp, &s, &e) == DP_OK, "spec_new: %s", e.msg);
    while (s && g < n) {
        int32_t got = 0;
        dp_status stt = dp_spec_step(s, hist, nh, NULL, hist + nh, n - g, &got, &e);
        if (stt == DP_ERR_LIMIT && nh > n_ctx) break; /* the context is full, as in plain decode */
        CHECK_MSG(stt == DP_OK, "step: %s", e.msg);
        if (stt != DP_OK) break;
        CHECK(got >= 1 && got <= n - g);
        CHECK(dp_ctx_pos(ct) == nh + got - 1);
        memcpy(out + g, hist + nh, (size_t)got * sizeof *out);
        g += got;
        nh += got;
    }
    if (s) dp_spec_stats_get(s, st);
    dp_spec_free(s);
    dp_ctx_free(cd);
    dp_ctx_free(ct);
    return g;
}

/* returns the proposals accepted; *k_end (when not NULL): K after the last step */
static int64_t check_greedy(dp_model *t, dp_model *d, const char *what, const char *fam, int32_t n_ctx, int32_t k,
                            int adaptive, int32_t *k_end) {
    int32_t want[N_GEN], got[N_GEN];
    dp_spec_params sp;
    dp_spec_params_default(&sp);
    sp.draft_max = k;
    sp.adaptive = adaptive;
    dp_spec_stats st = {0};
    int32_t nw = plain_greedy(t, n_ctx, N_GEN, want), ng = spec_greedy(t, d, &sp, n_ctx, N_GEN, got, &st);
    bool same = nw == ng && memcmp(want, got, (size_t)nw * sizeof *want) == 0;
    printf("%-8s %-16s n_ctx %3d K<=%d%s: %2d tokens %s; %lld passes, accepted %lld/%lld\n", fam, what, n_ctx, k,
           adaptive ? " adaptive" : "", ng, same ? "identical" : "DIFFERENT", (long long)st.steps,
           (long long)st.accepted, (long long)st.proposed);
    CHECK_MSG(same, "%s with %s: speculative greedy output differs from plain greedy decode", fam, what);
    CHECK(st.emitted == ng && st.emitted == st.accepted + st.steps);
    if (k_end) *k_end = st.k;
    return st.accepted;
}

static void greedy_family(int f, dp_model *other) {
    const char *fam = FAMILIES[f];
    dp_model *t = convert_load(fam, DP_RECIPE_F32), *q8 = convert_load(fam, DP_RECIPE_Q8_0),
             *bf = convert_load(fam, DP_RECIPE_BF16);
    if (t && q8 && bf) {
        int32_t big = N_PROMPT + N_GEN, tight = N_PROMPT + 20;
        int32_t k_end = 0;
        check_greedy(t, q8, "q8_0 draft", fam, big, 4, 1, NULL);
        check_greedy(t, bf, "bf16 draft", fam, big, 8, 0, NULL);
        check_greedy(t, t, "itself as draft", fam, big, 5, 0, NULL);
        /* the adaptive K climbs to draft_max when every proposal is kept */
        int64_t acc = check_greedy(t, t, "itself, adaptive", fam, big, 8, 1, &k_end);
        CHECK_MSG(k_end >= 7, "%s as its own draft (%lld accepted): the adaptive K ended at %d of 8", fam, (long long)acc,
                  k_end);
        check_greedy(t, NULL, "lookup", fam, big, 6, 1, NULL);
        check_greedy(t, q8, "q8_0 draft", fam, tight, 8, 0, NULL); /* fills the context */
        check_greedy(t, NULL, "lookup", fam, tight, 3, 0, NULL);
        /* llama's target with gemma2's draft disagrees on every proposal: all-rejected steps, and
           the adaptive K falls to 1 */
        acc = other ? check_greedy(t, other, "other family", fam, big, 4, 0, NULL) : -1;
        if (!strcmp(fam, "llama")) {
            CHECK_MSG(acc == 0, "llama with a gemma2 draft: %lld proposals agreed", (long long)acc);
            check_greedy(t, other, "other, adaptive", fam, big, 8, 1, &k_end);
            CHECK_MSG(k_end == 1, "llama with a gemma2 draft: the adaptive K ended at %d, not 1", k_end);
        }
    }
    dp_model_free(q8);
    dp_model_free(bf);
    dp_model_free(t);
}

/* ---- the sampling rule ---- */

/* exact transformed distribution of the target after seq[0, n) (normalised) */
static void exact_dist(dp_model *m, const int32_t *seq, int32_t n, const dp_sample_args *a, double *p) {
    dp_ctx *c = new_ctx(m, 64, 1);
    int vocab = dp_model_n_vocab(m);
    float *l = calloc((size_t)n * (size_t)vocab, sizeof(float)), w[VOCAB_MAX];
    dp_sample_cand cd[VOCAB_MAX];
    dp_error e = {0};
    CHECK(c && l && dp_ctx_eval(c, seq, n, l, &e) == DP_OK);
    double sum = dp_sample_weights(l + (size_t)(n - 1) * (size_t)vocab, vocab, a, w, cd);
    for (int i = 0; i < vocab; i++) p[i] = w[i] / sum;
    free(l);
    dp_ctx_free(c);
}

/* the second token's marginal after seq[0, n) (seq has room for one more): sum_x p1(x) p(. | x) */
static void second_dist(dp_model *m, int32_t *seq, int32_t n, const dp_sample_args *a, const double *p1, double *p2) {
    static double pc[VOCAB_MAX];
    const int vocab = dp_model_n_vocab(m);
    memset(p2, 0, (size_t)vocab * sizeof *p2);
    for (int32_t x = 0; x < vocab; x++) {
        if (p1[x] == 0) continue;
        seq[n] = x;
        exact_dist(m, seq, n + 1, a, pc);
        for (int y = 0; y < vocab; y++) p2[y] += p1[x] * pc[y];
    }
}

/* Pearson's statistic of counts against n_draws * p over the cells with expected >= 5 (the rest
 * pooled); a draw where p is 0 makes it infinite. *crit: the critical value at significance
 * 0.001, *pval the statistic's p-value (both by Wilson-Hilferty's normal approximation of the
 * chi-square distribution). */
static double chi_square(const int64_t *count, const double *p, int vocab, int64_t n_draws, double *crit, double *pval) {
    double x2 = 0, rest_o = 0, rest_e = 0;
    int cells = 0;
    for (int i = 0; i < vocab; i++) {
        double ex = p[i] * (double)n_draws;
        if (p[i] == 0 && count[i] > 0) x2 = INFINITY;
        if (ex >= 5) {
            x2 += ((double)count[i] - ex) * ((double)count[i] - ex) / ex;
            cells++;
        } else {
            rest_o += (double)count[i];
            rest_e += ex;
        }
    }
    if (rest_e > 0) {
        x2 += (rest_o - rest_e) * (rest_o - rest_e) / rest_e;
        cells++;
    }
    double df = cells > 1 ? cells - 1 : 1, z = 3.090; /* upper 0.001 quantile of N(0, 1) */
    double a = 2 / (9 * df);
    *crit = df * pow(1 - a + z * sqrt(a), 3);
    *pval = isinf(x2) ? 0.0 : 0.5 * erfc((cbrt(x2 / df) - (1 - a)) / sqrt(a) / sqrt(2.0));
    return x2;
}

#define N_DRAWS 6000

static void check_sampling(dp_model *t, dp_model *d, const char *what, const dp_sampling *sp) {
    const int vocab = dp_model_n_vocab(t);
    const dp_sample_args a = {sp->temperature, sp->top_k, sp->top_p, 0};
    static double p1[VOCAB_MAX], p2[VOCAB_MAX];
    static int64_t c1[VOCAB_MAX], c2[VOCAB_MAX];
    int32_t seq[N_PROMPT + 1];
    memcpy(seq, PROMPT, sizeof PROMPT);
    exact_dist(t, seq, N_PROMPT, &a, p1);
    /* lookup proposes what followed the earlier "37 211" (position 8): make that the target's
     * likeliest token there, so that proposals are sometimes kept */
    for (int it = 0; !d && it < 8; it++) {
        int32_t x = 0;
        for (int i = 1; i < vocab; i++) x = p1[i] > p1[x] ? i : x;
        if (seq[8] == x) break;
        seq[8] = x;
        exact_dist(t, seq, N_PROMPT, &a, p1);
    }
    CHECK(d || p1[seq[8]] > 0);
    second_dist(t, seq, N_PROMPT, &a, p1, p2);
    memset(c1, 0, sizeof c1);
    memset(c2, 0, sizeof c2);
    dp_ctx *ct = new_ctx(t, 64, 0), *cd = d ? new_ctx(d, 64, 0) : NULL;
    dp_spec *s = NULL;
    dp_error e = {0};
    dp_spec_params prm;
    dp_spec_params_default(&prm);
    prm.draft_max = 3;
    prm.lookup = 2;
    CHECK_MSG(dp_spec_new(ct, cd, &prm, &s, &e) == DP_OK, "%s", e.msg);
    int32_t hist[64], out[8], got = 0;
    memcpy(hist, seq, sizeof PROMPT);
    for (int i = 0; s && i < N_DRAWS; i++) {
        if (dp_ctx_pos(ct) >= N_PROMPT) CHECK(dp_ctx_truncate(ct, N_PROMPT - 1, &e) == DP_OK);
        if (dp_spec_step(s, hist, N_PROMPT, sp, out, 4, &got, &e) != DP_OK) {
            CHECK_MSG(0, "%s", e.msg);
            break;
        }
        c1[out[0]]++;
        if (got < 2) { /* the second token from the next step */
            hist[N_PROMPT] = out[0];
            int32_t first = out[0];
            CHECK(dp_spec_step(s, hist, N_PROMPT + 1, sp, out, 4, &got, &e) == DP_OK);
            out[1] = out[0];
            out[0] = first;
        }
        c2[out[1]]++;
    }
    dp_spec_stats st = {0};
    if (s) dp_spec_stats_get(s, &st);
    double k1, k2, pv1, pv2, x1 = chi_square(c1, p1, vocab, N_DRAWS, &k1, &pv1),
                             x2 = chi_square(c2, p2, vocab, N_DRAWS, &k2, &pv2);
    printf("%-22s T %.2f top-k %d top-p %.2f: chi2 first %.1f (crit %.1f, p %.3f), second %.1f (crit %.1f, p %.3f); "
           "accepted %lld/%lld\n",
           what, (double)sp->temperature, sp->top_k, (double)sp->top_p, x1, k1, pv1, x2, k2, pv2, (long long)st.accepted,
           (long long)st.proposed);
    CHECK_MSG(x1 < k1, "%s: the first token's distribution differs from the target's (chi2 %g >= %g)", what, x1, k1);
    CHECK_MSG(x2 < k2, "%s: the second token's distribution differs from the target's (chi2 %g >= %g)", what, x2, k2);
    CHECK(st.proposed > 0 && st.accepted > 0 && st.accepted < st.proposed); /* both branches ran */
    dp_spec_free(s);
    dp_ctx_free(cd);
    dp_ctx_free(ct);

    /* calibration: plain draws from the target pass the same test; power: plain draws from the
     * draft's own distribution fail it */
    for (int who = 0; who < (d ? 2 : 1); who++) {
        dp_ctx *c = new_ctx(who ? d : t, 64, 0);
        memset(c1, 0, sizeof c1);
        dp_sampling sd = *sp;
        sd.seed = 99;
        CHECK(c && dp_ctx_eval(c, seq, N_PROMPT, NULL, &e) == DP_OK);
        for (int i = 0; c && i < N_DRAWS; i++) {
            int32_t tok = 0;
            CHECK(dp_ctx_sample(c, &sd, &tok, &e) == DP_OK);
            c1[tok]++;
        }
        double pq, xq = chi_square(c1, p1, vocab, N_DRAWS, &k1, &pq);
        printf("%-22s plain draws from the %s: chi2 %.1f (crit %.1f, p %.3g)\n", what, who ? "draft" : "target", xq, k1, pq);
        if (who) CHECK_MSG(xq >= k1, "%s: the test cannot tell the draft's distribution from the target's", what);
        else CHECK_MSG(xq < k1, "%s: plain sampling of the target fails the test (chi2 %g >= %g)", what, xq, k1);
        dp_ctx_free(c);
    }
}

static void check_errors(dp_model *t) {
    dp_ctx *ct = new_ctx(t, 32, 0);
    dp_spec *s = NULL;
    dp_error e = {0};
    dp_spec_params p;
    dp_spec_params_default(&p);
    p.draft_max = 33;
    CHECK(dp_spec_new(ct, NULL, &p, &s, &e) == DP_ERR_INVALID_ARG && !s && strstr(e.msg, "33"));
    p.draft_max = 4;
    CHECK(dp_spec_new(ct, ct, &p, &s, &e) == DP_ERR_INVALID_ARG && !s);
    CHECK(dp_spec_new(ct, NULL, &p, &s, &e) == DP_OK && s);
    int32_t out[8], got = -1, hist[40] = {0};
    dp_sampling bad = {-1.0f, 0, 1.0f, 0};
    CHECK(dp_spec_step(s, PROMPT, 0, NULL, out, 8, &got, &e) == DP_ERR_INVALID_ARG && got == -1);
    CHECK(dp_spec_step(s, PROMPT, N_PROMPT, NULL, out, 0, &got, &e) == DP_ERR_INVALID_ARG);
    CHECK(dp_spec_step(s, PROMPT, N_PROMPT, &bad, out, 8, &got, &e) == DP_ERR_INVALID_ARG && strstr(e.msg, "temperature"));
    CHECK(dp_spec_step(s, hist, 33, NULL, out, 8, &got, &e) == DP_ERR_LIMIT && dp_ctx_pos(ct) == 0);
    CHECK(dp_ctx_eval(ct, PROMPT, N_PROMPT, NULL, &e) == DP_OK);
    CHECK(dp_spec_step(s, PROMPT, 3, NULL, out, 8, &got, &e) == DP_ERR_INVALID_ARG && dp_ctx_pos(ct) == N_PROMPT);
    /* the target holding all of hist: its last token is evaluated again */
    CHECK(dp_spec_step(s, PROMPT, N_PROMPT, NULL, out, 8, &got, &e) == DP_OK && got >= 1);
    dp_spec_free(s);
    dp_spec_free(NULL);
    dp_ctx_free(ct);
}

/* ---- the checker of the WebGPU sampling test (tests/test_webgpu_spec.sh) ----
 * test_speculative --sequences TARGET FILE: each line of FILE (tests/webgpu/spec_sample.mjs
 * writes them) is
 *   label temperature top_k top_p expect n_prompt prompt[n_prompt] n_gen gen[n_gen]
 * one generation after the prompt. Each generated token x at its position gets the randomized
 * probability integral transform u = F(x - 1) + v p(x) under the target's exact transformed
 * distribution p there (F its cumulative sum in id order, v uniform from a fixed generator):
 * when the tokens follow the target, the u are independent and uniform on [0, 1), whatever the
 * history. chi_square over 10 equal bins, as check_sampling tests counts; a token with p(x) = 0
 * fails outright. expect "match" must pass, "differ" must fail. Exit 0 when every line comes
 * out as expected. */
#define PIT_BINS 10

static int check_sequences(const char *target, const char *file) {
    dp_model *m = NULL;
    dp_error e = {0};
    FILE *f = fopen(file, "r");
    if (!f || dp_model_load(target, NULL, &m, &e) != DP_OK) {
        fprintf(stderr, "test_speculative --sequences: %s\n", f ? e.msg : "cannot open the sequences file");
        if (f) fclose(f);
        return 1;
    }
    const int vocab = dp_model_n_vocab(m);
    char label[64], expect[16];
    float temp, top_p;
    int top_k, np, ng, lines = 0, bad = 0;
    uint64_t rng = 12345;
    while (fscanf(f, "%63s %f %d %f %15s %d", label, &temp, &top_k, &top_p, expect, &np) == 6) {
        bool ok = np >= 1 && np < 4096;
        int32_t *seq = ok ? calloc(4096 * 2, sizeof *seq) : NULL;
        for (int i = 0; ok && i < np; i++) ok = fscanf(f, "%d", &seq[i]) == 1;
        ok = ok && fscanf(f, "%d", &ng) == 1 && ng >= 1 && ng < 4096;
        for (int i = 0; ok && i < ng; i++) ok = fscanf(f, "%d", &seq[np + i]) == 1 && seq[np + i] >= 0 && seq[np + i] < vocab;
        if (!ok) {
            fprintf(stderr, "test_speculative --sequences: line %d is malformed\n", lines + 1);
            free(seq);
            bad++;
            break;
        }
        const int32_t n = np + ng;
        dp_ctx *c = new_ctx(m, n, 1);
        float *l = calloc((size_t)n * (size_t)vocab, sizeof(float)), *w = calloc((size_t)vocab, sizeof(float));
        dp_sample_cand *cd = calloc((size_t)vocab, sizeof *cd);
        CHECK(c && l && w && cd && dp_ctx_eval(c, seq, n, l, &e) == DP_OK);
        const dp_sample_args a = {temp, top_k, top_p, 0};
        int64_t cnt[PIT_BINS] = {0}, impossible = 0;
        double pb[PIT_BINS];
        for (int b = 0; b < PIT_BINS; b++) pb[b] = 1.0 / PIT_BINS;
        for (int32_t i = np - 1; l && w && cd && i < n - 1; i++) {
            const double sum = dp_sample_weights(l + (size_t)i * (size_t)vocab, vocab, &a, w, cd);
            const int32_t x = seq[i + 1];
            double below = 0.0;
            for (int32_t y = 0; y < x; y++) below += w[y];
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            const double v = (double)(rng >> 11) * (1.0 / 9007199254740992.0);
            if (!(sum > 0.0) || w[x] <= 0.0f) {
                impossible++;
                continue;
            }
            int b = (int)((below + v * w[x]) / sum * PIT_BINS);
            cnt[b < 0 ? 0 : b >= PIT_BINS ? PIT_BINS - 1 : b]++;
        }
        double crit, pval, x2 = chi_square(cnt, pb, PIT_BINS, ng - impossible, &crit, &pval);
        if (impossible) x2 = INFINITY, pval = 0.0;
        const bool match = x2 < crit, want = !strcmp(expect, "match");
        printf("%s %-20s T %.2f top-k %d top-p %.2f, %d tokens (%lld impossible under the target): chi2 %.1f "
               "(crit %.1f at 0.001, %d bins), p %.3g\n",
               match == want ? "ok  " : "FAIL", label, (double)temp, top_k, (double)top_p, ng, (long long)impossible, x2,
               crit, PIT_BINS, pval);
        bad += match != want;
        lines++;
        free(cd);
        free(w);
        free(l);
        free(seq);
        dp_ctx_free(c);
    }
    fclose(f);
    dp_model_free(m);
    if (!lines) fprintf(stderr, "test_speculative --sequences: no lines read\n");
    return bad || !lines || t_failures;
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "--sequences")) return check_sequences(argv[2], argv[3]);
    if (!t_shared("fixtures/hf-tiny")) {
        printf("test_speculative: fixtures absent%s\n", getenv("CI") ? " (CI: failing)" : ", skipped");
        return getenv("CI") ? 1 : TEST_SKIP;
    }
    snprintf(g_tmp, sizeof g_tmp, "%s", t_tmpdir("speculative"));
    dp_model *gemma2 = convert_load("gemma2", DP_RECIPE_F32), *llama = convert_load("llama", DP_RECIPE_F32);
    dp_model *llama_q8 = convert_load("llama", DP_RECIPE_Q8_0);
    for (int f = 0; f < N_FAM; f++) greedy_family(f, f == 1 ? llama : gemma2);
    if (llama && gemma2 && llama_q8) {
        const dp_sampling topk = {0.8f, 40, 0.95f, 1234}, plain = {1.3f, 0, 1.0f, 77};
        check_sampling(llama, gemma2, "other-family draft", &topk);
        check_sampling(llama, gemma2, "other-family draft", &plain);
        check_sampling(llama, llama_q8, "q8_0 draft", &topk);
        check_sampling(llama, NULL, "lookup", &topk);
        check_errors(llama);
    }
    dp_model_free(llama_q8);
    dp_model_free(llama);
    dp_model_free(gemma2);
    return t_done("test_speculative");
}
