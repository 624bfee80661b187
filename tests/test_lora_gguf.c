/* test_lora_gguf.c — LoRA adapters in GGUF as llama.cpp's convert_lora_to_gguf.py writes them
 * (tests/data/lora/<family>-adapter_a.gguf, made from fixtures/lora/<family>/adapter_a by
 * tests/data/lora/peft_to_gguf.py) imported with dp_convert_lora, on the CPU backend:
 *   - for llama (q/k B rows permuted by the converter), gemma3, qwen3 and mixtral: the GGUF adapter
 *     gives the PEFT-imported adapter's logits within 1e-5 (and PEFT's reference within 1e-3);
 *   - llama on a base imported from GGUF (q/k rows kept in GGML's rope order, rope_interleaved):
 *     both the GGUF and the PEFT adapter give PEFT's reference logits;
 *   - refused with a one-line reason: a model GGUF given as an adapter, an adapter for another
 *     architecture. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "doppler.h"
#include "format/safetensors.h"
#include "model/gguf_out.h"
#include "model/write.h"
#include "testutil.h"

#define TOL_SAME 1e-5
#define TOL_REF 1e-3

static float *read_st(const char *path, const char *name, size_t *count) {
    dp_st *st = NULL;
    if (dp_st_open(path, &st, NULL) != DP_OK) return NULL;
    const dp_st_tensor *t = dp_st_find(st, name);
    void *buf = t ? malloc(t->size) : NULL;
    if (buf && dp_st_read(st, t, buf, NULL) != DP_OK) {
        free(buf);
        buf = NULL;
    }
    if (buf && count) *count = (size_t)dp_st_numel(t);
    dp_st_free(st);
    return buf;
}

/* logits [n_ids, vocab] of base with adapter (NULL: none), or NULL */
static float *logits(const char *base, const char *adapter, const int32_t *ids, size_t n_ids, size_t n_logits) {
    dp_error e = {0};
    dp_model *m = NULL;
    dp_ctx *c = NULL;
    dp_adapter *a = NULL;
    dp_ctx_params cp;
    dp_ctx_params_default(&cp);
    cp.logits_all = 1;
    cp.n_ctx = 64;
    float *out = calloc(n_logits, sizeof(float));
    bool ok = out && dp_model_load(base, NULL, &m, &e) == DP_OK && dp_ctx_new(m, &cp, &c, &e) == DP_OK &&
              (!adapter || (dp_adapter_load(m, adapter, &a, &e) == DP_OK && dp_ctx_set_adapter(c, a, 1.0f, 0, &e) == DP_OK)) &&
              dp_ctx_eval(c, ids, (int32_t)n_ids, out, &e) == DP_OK;
    if (!ok) fprintf(stderr, "%s + %s: %s\n", base, adapter ? adapter : "-", e.msg);
    dp_ctx_free(c);
    dp_adapter_free(a);
    dp_model_free(m);
    if (!ok) {
        free(out);
        return NULL;
    }
    return out;
}

static bool one_line(const dp_error *e, const char *needle) {
    return e->msg[0] && !strchr(e->msg, '\n') && strstr(e->msg, needle);
}

/* Converts adapter src for base into out, evaluates, returns max |logits - want| (INFINITY on failure). */
static double adapter_diff(const char *src, const char *out, const char *base, const int32_t *ids, size_t n_ids,
                           const float *want, size_t n_logits) {
    dp_error e = {0};
    if (dp_convert_lora(src, out, base, NULL, &e) != DP_OK) {
        fprintf(stderr, "convert %s: %s\n", src, e.msg);
        return INFINITY;
    }
    float *got = logits(base, out, ids, n_ids, n_logits);
    double d = got ? t_max_diff(got, want, n_logits) : INFINITY;
    free(got);
    return d;
}

/* find(dir/<fam><suffix>) into out; false when absent */
static bool locate(const char *(*find)(const char *), const char *dir, const char *fam, const char *suffix, char *out,
                   size_t cap) {
    char rel[256];
    snprintf(rel, sizeof rel, "%s/%s%s", dir, fam, suffix);
    const char *p = find(rel);
    if (p) snprintf(out, cap, "%s", p);
    return p != NULL;
}

static void check_family(const char *fam) {
    char rel[256], hf[600] = "", fix[600], gg[600] = "", tmp[600], base[700], peft[700], pout[700], gout[700];
    bool have = locate(t_shared, "fixtures/lora", fam, "", fix, sizeof fix);
    CHECK_MSG(have || !getenv("CI"), "fixtures/lora/%s missing (CI)", fam);
    if (!have) return;
    CHECK(locate(t_shared, "fixtures/hf-tiny", fam, "", hf, sizeof hf));
    CHECK_MSG(locate(t_data, "lora", fam, "-adapter_a.gguf", gg, sizeof gg), "tests/data/lora/%s-adapter_a.gguf missing", fam);
    if (!hf[0] || !gg[0]) return;
    snprintf(rel, sizeof rel, "lora_gguf_%s", fam);
    snprintf(tmp, sizeof tmp, "%s", t_tmpdir(rel));
    snprintf(base, sizeof base, "%s/base", tmp);
    snprintf(peft, sizeof peft, "%s/adapter_a", fix);
    snprintf(pout, sizeof pout, "%s/peft", tmp);
    snprintf(gout, sizeof gout, "%s/gguf", tmp);
    char refp[700];
    snprintf(refp, sizeof refp, "%s/reference.safetensors", fix);
    size_t n_ids = 0, n_logits = 0;
    int32_t *ids = (int32_t *)read_st(refp, "input_ids", &n_ids);
    float *ref = read_st(refp, "logits_a", &n_logits);
    dp_error e = {0};
    dp_write_opts o = {0};
    o.recipe = DP_RECIPE_F32;
    CHECK_MSG(dp_convert_hf(hf, base, &o, &e) == DP_OK, "%s: convert base: %s", fam, e.msg);
    CHECK(ids && ref);
    if (!ids || !ref) goto done;
    CHECK_MSG(dp_convert_lora(peft, pout, base, NULL, &e) == DP_OK, "%s: PEFT: %s", fam, e.msg);
    CHECK_MSG(dp_convert_lora(gg, gout, base, NULL, &e) == DP_OK, "%s: GGUF: %s", fam, e.msg);
    float *lp = logits(base, pout, ids, n_ids, n_logits), *lg = logits(base, gout, ids, n_ids, n_logits);
    CHECK(lp && lg);
    if (lp && lg) {
        double same = t_max_diff(lg, lp, n_logits), vs_ref = t_max_diff(lg, ref, n_logits);
        printf("%-8s GGUF adapter vs PEFT adapter: max |dlogit| %.3g (bound 1e-5); vs PEFT's reference %.3g\n", fam, same,
               vs_ref);
        CHECK_MSG(same <= TOL_SAME, "%s: GGUF adapter differs from the PEFT one by %g", fam, same);
        CHECK_MSG(vs_ref <= TOL_REF, "%s: GGUF adapter differs from PEFT's reference by %g", fam, vs_ref);
    }
    free(lp);
    free(lg);
    if (!strcmp(fam, "llama")) {
        /* a base imported from GGUF keeps q/k in GGML's rope order: both adapters follow it */
        char ggbase[700], gbase[700], pout2[700], gout2[700];
        snprintf(ggbase, sizeof ggbase, "%s/base.gguf", tmp);
        snprintf(gbase, sizeof gbase, "%s/gguf-base", tmp);
        snprintf(pout2, sizeof pout2, "%s/peft-on-gguf", tmp);
        snprintf(gout2, sizeof gout2, "%s/gguf-on-gguf", tmp);
        o.recipe = DP_RECIPE_KEEP;
        CHECK_MSG(dp_export_gguf(base, ggbase, &e) == DP_OK && dp_convert_gguf(ggbase, gbase, &o, &e) == DP_OK,
                  "llama via GGUF: %s", e.msg);
        double dp = adapter_diff(peft, pout2, gbase, ids, n_ids, ref, n_logits);
        double dg = adapter_diff(gg, gout2, gbase, ids, n_ids, ref, n_logits);
        printf("llama    on a GGUF-imported base (rope_interleaved) vs PEFT's reference: PEFT adapter %.3g, GGUF "
               "adapter %.3g (bound 1e-3)\n", dp, dg);
        CHECK_MSG(dp <= TOL_REF && dg <= TOL_REF, "adapters on the GGUF-imported base: %g, %g", dp, dg);
        /* refusals: a model file is not an adapter; an adapter for another architecture */
        snprintf(pout2, sizeof pout2, "%s/refused", tmp);
        CHECK(dp_convert_lora(ggbase, pout2, base, NULL, &e) == DP_ERR_FORMAT && one_line(&e, "not 'adapter'"));
        const char *other = t_data("lora/gemma3-adapter_a.gguf");
        CHECK(other && dp_convert_lora(other, pout2, base, NULL, &e) == DP_ERR_FORMAT && one_line(&e, "made for a 'gemma3'"));
        printf("refused: %s\n", e.msg);
    }
done:
    free(ids);
    free(ref);
}

int main(void) {
    static const char *const FAMILIES[] = {"llama", "gemma3", "qwen3", "mixtral"};
    for (size_t i = 0; i < sizeof FAMILIES / sizeof FAMILIES[0]; i++) check_family(FAMILIES[i]);
    return t_done("test_lora_gguf");
}
