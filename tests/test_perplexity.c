/* test_perplexity.c — `doppler perplexity` on the hf-tiny llama fixture (converted with a small
 * SentencePiece-style tokenizer.json written here, its ids inside the fixture's 512) against an
 * oracle that shares nothing with dp_perplexity but the forward pass: the text tokenized through
 * the public API, each chunk's ids (first one BOS) run through `doppler eval`, and the NLL of
 * positions ctx/2 .. ctx-2 summed here in double. Then --save-logits against those logits;
 * KL divergence of the model against itself (0, every top token the same), of its q8_0
 * conversion (small, positive) and of hf-tiny qwen3 (far from 0) against it, each equal to the
 * exact full-vocabulary KL computed here from both models' `eval` logits; and the errors: text
 * shorter than two contexts, a context past the model's positions, an empty file, a truncated
 * base file, a text other than the base file's; --lora (fixtures/lora/llama's adapter_a): its
 * saved logits equal `eval --lora`'s, DIR:0 is the base. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "base/base.h"
#include "testutil.h"

#define CTX 64
#define BATCH 24 /* the batch [24, 48) straddles the first scored position, 32 */
#define BOS 1    /* "<s>", the fixture's bos_token_id */

static char W[4096];
static char tool[4096];

static const char *path(const char *name) {
    static char buf[8][4200];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", W, name);
    return buf[k];
}

/* runs a shell command; its exit status (-1 when it did not exit) */
static int sh(const char *fmt, ...) DP_PRINTF(1, 2);
static int sh(const char *fmt, ...) {
    char cmd[16384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return rc != -1 && WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static char *slurp(const char *p, size_t *n) {
    char *d = NULL;
    size_t len = 0;
    dp_error e = {0};
    if (dp_file_read_all(p, (size_t)1 << 30, &d, &len, &e) != DP_OK) {
        fprintf(stderr, "%s\n", e.msg);
        return NULL;
    }
    if (n) *n = len;
    return d;
}

static bool spit(const char *p, const void *data, size_t n) {
    dp_error e = {0};
    if (dp_file_write_all(p, data, n, &e) == DP_OK) return true;
    fprintf(stderr, "%s\n", e.msg);
    return false;
}

/* the number after `key` in file f; NAN when absent */
static double number_after(const char *f, const char *key) {
    char *t = slurp(f, NULL);
    const char *at = t ? strstr(t, key) : NULL;
    double v = at ? strtod(at + strlen(key), NULL) : NAN;
    dp_free(t);
    return v;
}

/* SentencePiece-style BPE: "▁" for spaces, letters, "▁x" and a few pairs, byte fallback */
static char *tokenizer_json(void) {
    static const char pairs[][3] = {"th", "he", "in", "er", "an", "re", "on", "at", "en", "nd"};
    static char piece[1 + 26 + 26 + 10][8], merge[26 + 10][8];
    const char *pieces[sizeof piece / sizeof piece[0]], *merges[sizeof merge / sizeof merge[0]];
    size_t np = 0, nm = 0;
    snprintf(piece[np++], 8, "\xe2\x96\x81");
    for (char c = 'a'; c <= 'z'; c++) snprintf(piece[np++], 8, "%c", c);
    for (char c = 'a'; c <= 'z'; c++) {
        snprintf(piece[np++], 8, "\xe2\x96\x81%c", c);
        snprintf(merge[nm++], 8, "\xe2\x96\x81 %c", c);
    }
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        snprintf(piece[np++], 8, "%.2s", pairs[i]);
        snprintf(merge[nm++], 8, "%c %c", pairs[i][0], pairs[i][1]);
    }
    for (size_t i = 0; i < np; i++) pieces[i] = piece[i];
    for (size_t i = 0; i < nm; i++) merges[i] = merge[i];
    return t_spm_json(pieces, np, merges, nm);
}

/* deterministic English-like text of about n bytes */
static char *make_text(size_t n, size_t *len) {
    static const char *const words[] = {"the", "cat", "sat", "on", "a", "mat", "and", "then", "there", "were", "many",
                                        "green", "hills", "under", "an", "evening", "sky,", "rain.", "In", "winter"};
    dp_buf b = {0};
    uint64_t s = 12345;
    while (b.len < n) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        dp_buf_printf(&b, "%s%s", b.len ? " " : "", words[(s >> 33) % (sizeof words / sizeof words[0])]);
    }
    *len = b.len;
    return b.data;
}

/* logits [CTX, vocab] of chunk k of ids (first token BOS) from `doppler eval` on model */
static float *eval_chunk_with(const char *model, const char *extra, const int32_t *ids, int k, int vocab) {
    dp_buf b = {0};
    for (int i = 0; i < CTX; i++) dp_buf_printf(&b, "%d ", i ? ids[k * CTX + i] : BOS);
    float *out = NULL;
    size_t n = 0;
    if (spit(path("chunk.txt"), b.data, b.len) &&
        sh("'%s' eval '%s' --ids-file '%s' --logits '%s' %s", tool, model, path("chunk.txt"), path("chunk.f32"), extra) == 0) {
        out = (float *)slurp(path("chunk.f32"), &n);
        if (out && n != (size_t)CTX * (size_t)vocab * 4u) {
            fprintf(stderr, "eval wrote %zu bytes\n", n);
            dp_free(out);
            out = NULL;
        }
    }
    dp_buf_free(&b);
    CHECK_MSG(out != NULL, "doppler eval on chunk %d of %s", k, model);
    return out;
}

static float *eval_chunk(const char *model, const int32_t *ids, int k, int vocab) {
    return eval_chunk_with(model, "", ids, k, vocab);
}

static double log_softmax_at(const float *x, int n, int tok, double *lp) {
    double mx = x[0], sum = 0.0;
    for (int i = 1; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    for (int i = 0; i < n; i++) sum += exp(x[i] - mx);
    double lse = mx + log(sum);
    if (lp)
        for (int i = 0; i < n; i++) lp[i] = x[i] - lse;
    return x[tok] - lse;
}

/* KL(p || softmax(y)) over the whole vocabulary; lq: scratch */
static double kl_exact(const double *lp, const float *y, int n, double *lq) {
    log_softmax_at(y, n, 0, lq);
    double kl = 0;
    for (int j = 0; j < n; j++) kl += exp(lp[j]) * (lp[j] - lq[j]);
    return kl;
}

/* dp_perplexity of model against base.bin (the file's tokens) */
static bool kl_run(const char *model, dp_ppl_stats *s) {
    dp_model *m = NULL;
    dp_error e = {0};
    dp_ppl_params p;
    dp_ppl_params_default(&p);
    p.kld_base_in = path("base.bin");
    p.bos = BOS;
    p.n_batch = BATCH;
    bool ok = dp_model_load(model, NULL, &m, &e) == DP_OK && dp_perplexity(m, NULL, 0, &p, s, &e) == DP_OK;
    if (!ok) fprintf(stderr, "%s: %s\n", model, e.msg);
    dp_model_free(m);
    return ok;
}

static int argmax(const float *x, int n) {
    int im = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[im]) im = i;
    return im;
}

/* one-line error, exit status 1, naming what */
static void expect_error(const char *what, const char *needle, const char *args) {
    int rc = sh("'%s' perplexity %s >'%s' 2>'%s'", tool, args, path("err.out"), path("err.txt"));
    char *t = slurp(path("err.txt"), NULL);
    size_t lines = 0;
    for (const char *c = t; c && *c; c++) lines += *c == '\n';
    CHECK_MSG(rc == 1 && lines == 1 && strstr(t, needle), "%s: rc %d, stderr '%s' (want '%s')", what, rc, t ? t : "", needle);
    if (rc == 1 && t) printf("  %s: %s", what, t);
    dp_free(t);
}

int main(void) {
    const char *fx = t_shared("fixtures/hf-tiny/llama");
    if (!fx) {
        printf("test_perplexity: no fixtures/hf-tiny/llama, skipped\n");
        return TEST_SKIP;
    }
    char fixture[4096];
    snprintf(fixture, sizeof fixture, "%s", fx);
    snprintf(tool, sizeof tool, "%s", t_tool());
    snprintf(W, sizeof W, "%s", t_tmpdir("perplexity"));

    /* the checkpoint with a tokenizer, converted f32 and q8_0 */
    char *tj = tokenizer_json();
    CHECK(sh("mkdir -p '%s' && cp '%s/config.json' '%s/model.safetensors' '%s/'", path("hf"), fixture, fixture, path("hf")) == 0);
    CHECK(spit(path("hf/tokenizer.json"), tj, strlen(tj)));
    dp_free(tj);
    CHECK(sh("'%s' convert '%s' '%s' 2>/dev/null", tool, path("hf"), path("f32")) == 0);
    CHECK(sh("'%s' convert '%s' '%s' --quant q8_0 2>/dev/null", tool, path("hf"), path("q8")) == 0);
    /* another model on the same vocabulary, for a KL far from 0 */
    const char *qw = t_shared("fixtures/hf-tiny/qwen3");
    CHECK(qw && sh("mkdir -p '%s' && cp '%s/config.json' '%s/model.safetensors' '%s/tokenizer.json' '%s/' && '%s' convert '%s' '%s' 2>/dev/null",
                   path("hf-qwen3"), qw, qw, path("hf"), path("hf-qwen3"), tool, path("hf-qwen3"), path("qwen3")) == 0);

    size_t text_len;
    char *text = make_text(3000, &text_len);
    CHECK(spit(path("text.txt"), text, text_len));
    dp_tokenizer *tok = NULL;
    dp_error e = {0};
    size_t n = 0;
    int32_t *ids = NULL;
    if (dp_tokenizer_load(path("f32"), &tok, &e) == DP_OK &&
        dp_tokenize(tok, text, text_len, 1, 0, NULL, 0, &n, &e) == DP_ERR_LIMIT && (ids = malloc(n * sizeof *ids)) &&
        dp_tokenize(tok, text, text_len, 1, 0, ids, n, &n, &e) == DP_OK) {
        CHECK(ids[0] == BOS);
    } else {
        CHECK_MSG(0, "tokenizing: %s", e.msg);
        return t_done("test_perplexity");
    }
    dp_tokenizer_free(tok);
    int vocab = 512, chunks = (int)(n / CTX), first = CTX / 2, scored = CTX - 1 - first;
    printf("  text: %zu bytes, %zu tokens, %d chunks of %d\n", text_len, n, chunks, CTX);
    CHECK(chunks >= 8);

    /* the run under test: base file and logits saved */
    int rc = sh("'%s' perplexity '%s' -f '%s' --ctx %d --batch %d --kl-divergence-base '%s' --save-logits '%s' -t 2 >'%s'",
                tool, path("f32"), path("text.txt"), CTX, BATCH, path("base.bin"), path("saved.f32"), path("ppl.txt"));
    CHECK(rc == 0);
    double ppl = number_after(path("ppl.txt"), "Final estimate: PPL = ");
    double err = number_after(path("ppl.txt"), "+/- ");
    CHECK(number_after(path("ppl.txt"), "tokens: ") == (double)n);
    CHECK(number_after(path("ppl.txt"), "scored: ") == (double)(chunks * scored));
    char key[32];
    snprintf(key, sizeof key, "[%d]", chunks);
    CHECK(number_after(path("ppl.txt"), key) == ppl); /* the last running estimate is the final one */

    /* the oracle */
    double nll = 0, nll2 = 0, kld_q8_ref = 0, kld_other_ref = 0, max_saved = 0;
    int same_q8 = 0, same_other = 0, count = 0;
    size_t saved_n = 0;
    float *saved = (float *)slurp(path("saved.f32"), &saved_n);
    CHECK(saved && saved_n == (size_t)chunks * (size_t)scored * (size_t)vocab * 4u);
    double *lp = malloc((size_t)vocab * sizeof *lp), *lq = malloc((size_t)vocab * sizeof *lq);
    for (int k = 0; k < chunks && lp && lq; k++) {
        float *a = eval_chunk(path("f32"), ids, k, vocab), *b = eval_chunk(path("q8"), ids, k, vocab);
        float *c = eval_chunk(path("qwen3"), ids, k, vocab);
        if (!a || !b || !c) {
            dp_free(a);
            dp_free(b);
            dp_free(c);
            break;
        }
        for (int i = first; i < CTX - 1; i++, count++) {
            const float *x = a + (size_t)i * (size_t)vocab, *y = b + (size_t)i * (size_t)vocab;
            double v = -log_softmax_at(x, vocab, ids[k * CTX + i + 1], lp);
            nll += v;
            nll2 += v * v;
            kld_q8_ref += kl_exact(lp, y, vocab, lq);
            same_q8 += argmax(x, vocab) == argmax(y, vocab);
            const float *z = c + (size_t)i * (size_t)vocab;
            kld_other_ref += kl_exact(lp, z, vocab, lq);
            same_other += argmax(x, vocab) == argmax(z, vocab);
            if (saved && saved_n == (size_t)chunks * (size_t)scored * (size_t)vocab * 4u)
                for (int j = 0; j < vocab; j++) {
                    double d = fabs((double)saved[(size_t)count * (size_t)vocab + (size_t)j] - (double)x[j]);
                    max_saved = d > max_saved ? d : max_saved;
                }
        }
        dp_free(a);
        dp_free(b);
        dp_free(c);
    }
    CHECK(count == chunks * scored);
    double mean = nll / count, ref = exp(mean), ref_err = ref * sqrt((nll2 / count - mean * mean) / (count - 1));
    printf("  PPL %.4f +/- %.5f; oracle %.6f +/- %.6f; saved logits max |diff| %.2g\n", ppl, err, ref, ref_err, max_saved);
    CHECK_MSG(fabs(ppl - ref) <= 1e-4 + 1e-6 * ref, "PPL %.6f, oracle %.6f", ppl, ref);
    CHECK_MSG(fabs(err - ref_err) <= 1e-5 + 1e-5 * ref_err, "error %.6f, oracle %.6f", err, ref_err);
    CHECK_MSG(max_saved <= 1e-4, "--save-logits differs from eval by %g", max_saved);
    kld_q8_ref /= count;

    /* KL divergence: the model against itself, then its q8_0 conversion (over the file's
     * tokens), through the tool and, for all the digits, through dp_perplexity */
    CHECK(sh("'%s' perplexity '%s' -f '%s' --kl-divergence-base '%s' --kl-divergence >'%s'", tool, path("f32"),
             path("text.txt"), path("base.bin"), path("self.txt")) == 0);
    CHECK(number_after(path("self.txt"), "Final estimate: PPL = ") == ppl);
    CHECK(number_after(path("self.txt"), "Same top p: ") == 100.0);
    CHECK(sh("'%s' perplexity '%s' --kl-divergence-base '%s' --kl-divergence >'%s'", tool, path("q8"), path("base.bin"),
             path("q8.txt")) == 0);
    double kld_cli = number_after(path("q8.txt"), "Mean    KLD: "), top_cli = number_after(path("q8.txt"), "Same top p: ");
    dp_ppl_stats self, q8, other;
    CHECK(kl_run(path("f32"), &self));
    CHECK(kl_run(path("q8"), &q8));
    CHECK(kl_run(path("qwen3"), &other));
    double ref_top = (double)same_q8 / count, ref_top_other = (double)same_other / count;
    kld_other_ref /= count;
    printf("  KL self %.3g (same top %.3f %%); q8_0 %.4g, exact %.4g (same top %.3f %%, exact %.3f %%); "
           "qwen3 %.6f, exact %.6f (same top %.3f %%, exact %.3f %%)\n",
           self.kld, 100 * self.same_top, q8.kld, kld_q8_ref, 100 * q8.same_top, 100 * ref_top, other.kld, kld_other_ref,
           100 * other.same_top, 100 * ref_top_other);
    CHECK_MSG(fabs(self.kld) <= 1e-6 && self.same_top == 1.0 && fabs(self.ln_ratio) < 1e-6, "self KL %g, same top %g", self.kld,
              self.same_top);
    CHECK_MSG(q8.kld > 0 && q8.kld < 1e-3, "q8_0 KL %g", q8.kld);
    /* the base file's log-probabilities are rounded to steps of <= 2.4e-4 nats */
    CHECK_MSG(fabs(q8.kld - kld_q8_ref) <= 1e-6 + 0.05 * kld_q8_ref, "q8_0 KL %.4g, exact %.4g", q8.kld, kld_q8_ref);
    CHECK_MSG(fabs(other.kld - kld_other_ref) <= 1e-4 * kld_other_ref, "qwen3 KL %.6f, exact %.6f", other.kld, kld_other_ref);
    CHECK_MSG(fabs(q8.same_top - ref_top) <= 1.0 / count + 1e-9, "q8_0 same top %g, exact %g", q8.same_top, ref_top);
    CHECK_MSG(fabs(other.same_top - ref_top_other) <= 1.0 / count + 1e-9, "qwen3 same top %g, exact %g", other.same_top, ref_top_other);
    CHECK_MSG(fabs(kld_cli - q8.kld) <= 5e-7 && fabs(top_cli - 100 * q8.same_top) <= 5e-4, "the tool printed KL %g, same top %g",
              kld_cli, top_cli);
    CHECK_MSG(fabs(q8.ppl_base - ppl) <= 1e-3 * ppl, "PPL(base) %g, base run's %g", q8.ppl_base, ppl);

    /* --lora: the adapter on every chunk: the saved logits of chunk 1 are `eval --lora`'s, and
     * the perplexity moves; --lora DIR:0 is the base run exactly */
    const char *lf = t_shared("fixtures/lora/llama/adapter_a");
    CHECK_MSG(lf || !getenv("CI"), "fixtures/lora/llama missing (CI)");
    if (lf) {
        char lora_arg[4300];
        CHECK(sh("'%s' convert '%s' '%s' --base '%s' 2>/dev/null", tool, lf, path("lora"), path("f32")) == 0);
        CHECK(sh("'%s' perplexity '%s' -f '%s' --ctx %d --batch %d --save-logits '%s' -t 2 --lora '%s' >'%s'", tool,
                 path("f32"), path("text.txt"), CTX, BATCH, path("lsaved.f32"), path("lora"), path("lppl.txt")) == 0);
        CHECK(sh("'%s' perplexity '%s' -f '%s' --ctx %d --batch %d -t 2 --lora '%s:0' >'%s'", tool, path("f32"),
                 path("text.txt"), CTX, BATCH, path("lora"), path("zppl.txt")) == 0);
        double lppl = number_after(path("lppl.txt"), "Final estimate: PPL = ");
        double zppl = number_after(path("zppl.txt"), "Final estimate: PPL = ");
        snprintf(lora_arg, sizeof lora_arg, "--lora '%s'", path("lora"));
        size_t ln = 0;
        float *ls = (float *)slurp(path("lsaved.f32"), &ln), *le = eval_chunk_with(path("f32"), lora_arg, ids, 1, vocab);
        double d = INFINITY;
        if (ls && le && ln == saved_n) {
            d = 0;
            for (int i = 0; i < scored * vocab; i++) {
                double x = fabs((double)ls[(size_t)scored * vocab + i] - le[(size_t)first * vocab + i]);
                if (!(x <= d)) d = x;
            }
        }
        printf("  --lora: PPL %.4f (base %.4f, scale 0 %.4f); chunk 1's saved logits vs eval --lora: max |d| %.2g\n",
               lppl, ppl, zppl, d);
        CHECK_MSG(d <= 1e-4, "perplexity --lora logits differ from eval --lora by %g", d);
        CHECK_MSG(fabs(lppl - ppl) > 1e-5 * ppl, "--lora did not move the perplexity (%g vs %g)", lppl, ppl);
        CHECK_MSG(zppl == ppl, "--lora DIR:0 gives %g, the base %g", zppl, ppl);
        dp_free(ls);
        dp_free(le);
    }

    /* errors */
    char args[8192];
    CHECK(spit(path("short.txt"), text, 200));
    snprintf(args, sizeof args, "'%s' -f '%s' --ctx %d", path("f32"), path("short.txt"), CTX);
    expect_error("text shorter than 2 x ctx", "needs at least", args);
    snprintf(args, sizeof args, "'%s' -f '%s' --ctx 8192", path("f32"), path("text.txt"));
    expect_error("ctx past the model's positions", "maximum of 4096", args);
    CHECK(spit(path("empty.txt"), "", 0));
    snprintf(args, sizeof args, "'%s' -f '%s'", path("f32"), path("empty.txt"));
    expect_error("empty file", "is empty", args);
    CHECK(sh("head -c 5000 '%s' >'%s'", path("base.bin"), path("trunc.bin")) == 0);
    snprintf(args, sizeof args, "'%s' --kl-divergence-base '%s' --kl-divergence", path("q8"), path("trunc.bin"));
    expect_error("truncated base file", "header", args);
    snprintf(args, sizeof args, "'%s' -f '%s' --kl-divergence-base '%s' --kl-divergence", path("q8"), path("short.txt"), path("base.bin"));
    expect_error("text other than the base file's", "not the ones", args);

    free(lp);
    free(lq);
    free(ids);
    dp_free(saved);
    dp_free(text);
    return t_done("test_perplexity");
}
