/* test_lora.c — LoRA adapters (fixtures/lora, PEFT's own logits) on the CPU backend:
 *   - each adapter converted against its f32 base and applied: logits within 1e-3 of PEFT's;
 *     the base logits unchanged with no adapter set and after the adapters are freed;
 *   - two contexts of one model with different adapters, evaluated token by token in turn, give
 *     each adapter's logits alone; DP_ADAPTER_KEEP_CACHE keeps the position, a switch resets it;
 *   - dp_batch_eval refuses contexts with different adapters or scales, and with one adapter
 *     on all of them writes the adapter's cache;
 *   - bad adapters refused with a one-line reason, by convert (PEFT side: wrong base, wrong
 *     shape, missing A or B, unknown target module, rank 0 / huge) and by dp_adapter_load (RDRR
 *     side: another base, edited shapes, a missing B, an unknown tensor, rank 0 / huge, alpha
 *     with no finite scale), NaN / infinite scales refused by dp_ctx_set_adapter; after each
 *     refusal the model still gives the base logits.
 * Without the fixtures the test fails when CI is set (it cannot skip its real parts there). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "doppler.h"
#include "format/rdrr.h"
#include "format/safetensors.h"
#include "model/write.h"
#include "runtime/runtime.h"
#include "testutil.h"

static const char *const FAMILIES[] = {"llama", "gemma3", "qwen3", "mixtral"};
#define TOL 1e-3

typedef struct ref {
    int32_t *ids;
    size_t n_ids, n_logits;
    float *base, *a, *b;
} ref;

static void *read_all(dp_st *st, const char *name, size_t *count) {
    const dp_st_tensor *t = dp_st_find(st, name);
    if (!t) return NULL;
    if (count) *count = (size_t)dp_st_numel(t);
    void *buf = malloc(t->size);
    if (!buf || dp_st_read(st, t, buf, NULL) != DP_OK) { free(buf); return NULL; }
    return buf;
}

static bool read_ref(const char *dir, ref *r) {
    char p[700];
    snprintf(p, sizeof p, "%s/reference.safetensors", dir);
    dp_st *st = NULL;
    if (dp_st_open(p, &st, NULL) != DP_OK) return false;
    r->ids = read_all(st, "input_ids", &r->n_ids);
    r->base = read_all(st, "logits_base", &r->n_logits);
    r->a = read_all(st, "logits_a", NULL);
    r->b = read_all(st, "logits_b", NULL);
    dp_st_free(st);
    return r->ids && r->base && r->a && r->b;
}

static void free_ref(ref *r) {
    free(r->ids);
    free(r->base);
    free(r->a);
    free(r->b);
}

/* max |logits - want| of a full pass over the reference ids on a fresh sequence of c */
static double pass_diff(dp_ctx *c, const ref *r, const float *want) {
    float *got = calloc(r->n_logits, sizeof(float));
    dp_error e = {0};
    dp_ctx_reset(c);
    double d = got && dp_ctx_eval(c, r->ids, (int32_t)r->n_ids, got, &e) == DP_OK ? t_max_diff(got, want, r->n_logits) : INFINITY;
    free(got);
    return d;
}

static bool one_line(const dp_error *e, const char *needle) {
    return e->msg[0] && !strchr(e->msg, '\n') && strstr(e->msg, needle);
}

/* ---- PEFT directories with one thing wrong ---- */

/* Writes dir/adapter_model.safetensors from the fixture's tensors: `drop` left out, `narrow`
 * cut to its first 32 columns (a shape the base cannot take). */
static bool write_peft(const char *src, const char *dir, const char *drop, const char *narrow) {
    char p[760];
    snprintf(p, sizeof p, "%s/adapter_model.safetensors", src);
    dp_st *st = NULL;
    if (dp_st_open(p, &st, NULL) != DP_OK) return false;
    dp_buf hdr = {0}, data = {0};
    dp_buf_puts(&hdr, "{");
    bool ok = true;
    for (size_t i = 0; i < dp_st_count(st) && ok; i++) {
        const dp_st_tensor *t = dp_st_at(st, i);
        if (drop && !strcmp(t->name, drop)) continue;
        float *v = read_all(st, t->name, NULL);
        uint64_t rows = t->shape[0], cols = t->shape[1], keep = narrow && !strcmp(t->name, narrow) ? 32 : cols;
        ok = v != NULL;
        for (uint64_t r = 0; ok && r < rows; r++) dp_buf_append(&data, v + r * cols, (size_t)keep * 4);
        dp_buf_printf(&hdr, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%llu,%llu],\"data_offsets\":[%zu,%zu]}",
                      hdr.len > 1 ? "," : "", t->name, (unsigned long long)rows, (unsigned long long)keep,
                      data.len - (size_t)(rows * keep * 4), data.len);
        free(v);
    }
    dp_buf_puts(&hdr, "}");
    while (hdr.len % 8) dp_buf_puts(&hdr, " ");
    uint64_t n = hdr.len;
    dp_buf file = {0};
    dp_buf_append(&file, &n, 8);
    dp_buf_append(&file, hdr.data, hdr.len);
    dp_buf_append(&file, data.data, data.len);
    snprintf(p, sizeof p, "%s/adapter_model.safetensors", dir);
    ok = ok && !file.oom && dp_mkdir_p(dir, NULL) == DP_OK && dp_file_write_all(p, file.data, file.len, NULL) == DP_OK;
    dp_buf_free(&hdr);
    dp_buf_free(&data);
    dp_buf_free(&file);
    dp_st_free(st);
    return ok;
}

/* text with the first `from` replaced by `to` (to NULL: the line holding it removed) written to
 * path */
static bool write_edited(const char *src_path, const char *path, const char *from, const char *to) {
    char *text = NULL;
    size_t len = 0;
    if (dp_file_read_all(src_path, 1 << 24, &text, &len, NULL) != DP_OK) return false;
    char *at = from ? strstr(text, from) : NULL;
    dp_buf b = {0};
    if (at && !to) {
        char *start = at, *end = strchr(at, '\n');
        while (start > text && start[-1] != '\n') start--;
        dp_buf_append(&b, text, (size_t)(start - text));
        dp_buf_puts(&b, end ? end + 1 : "");
    } else if (at) {
        dp_buf_append(&b, text, (size_t)(at - text));
        dp_buf_puts(&b, to);
        dp_buf_puts(&b, at + strlen(from));
    } else {
        dp_buf_append(&b, text, len);
    }
    bool ok = (!from || at) && !b.oom && dp_file_write_all(path, b.data, b.len, NULL) == DP_OK;
    dp_buf_free(&b);
    dp_free(text);
    return ok;
}

/* convert a PEFT directory made from the fixture's adapter_a with one edit; expect a refusal
 * whose one-line reason contains `why` */
static void refuse_peft(const char *fix, const char *base, const char *tmp, const char *what, const char *drop,
                        const char *narrow, const char *cfg_from, const char *cfg_to, const char *why) {
    char src[700], dir[700], out[700], cfg[720], cfg_dst[720];
    snprintf(src, sizeof src, "%s/adapter_a", fix);
    snprintf(dir, sizeof dir, "%s/peft-%s", tmp, what);
    snprintf(out, sizeof out, "%s/out-%s", tmp, what);
    snprintf(cfg, sizeof cfg, "%s/adapter_config.json", src);
    snprintf(cfg_dst, sizeof cfg_dst, "%s/adapter_config.json", dir);
    CHECK(write_peft(src, dir, drop, narrow));
    CHECK(write_edited(cfg, cfg_dst, cfg_from, cfg_to));
    dp_error e = {0};
    dp_status st = dp_convert_lora(dir, out, base, NULL, &e);
    printf("  convert refuses %-14s %s\n", what, e.msg);
    CHECK_MSG(st != DP_OK && one_line(&e, why), "%s: status %d, '%s' (want '%s')", what, (int)st, e.msg, why);
}

/* ---- RDRR adapters with one edit to the manifest (shards untouched) ---- */

static void refuse_manifest(dp_model *m, const char *good, const char *tmp, const char *what, const char *from,
                            const char *to, const char *why, const ref *r, dp_ctx *base_ctx) {
    char dir[700], shards_src[720], shards_dst[720], man_src[720], man_dst[720], cmd[2300];
    snprintf(dir, sizeof dir, "%s/rdrr-%s", tmp, what);
    snprintf(shards_src, sizeof shards_src, "%s/shards", good);
    snprintf(shards_dst, sizeof shards_dst, "%s/shards", dir);
    snprintf(man_src, sizeof man_src, "%s/manifest.json", good);
    snprintf(man_dst, sizeof man_dst, "%s/manifest.json", dir);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp -r '%s' '%s'", dir, shards_src, shards_dst);
    CHECK(system(cmd) == 0);
    CHECK_MSG(write_edited(man_src, man_dst, from, to), "%s: '%s' not in the manifest", what, from);
    dp_error e = {0};
    dp_adapter *a = NULL;
    dp_status st = dp_adapter_load(m, dir, &a, &e);
    printf("  load refuses %-16s %s\n", what, e.msg);
    CHECK_MSG(st != DP_OK && !a && one_line(&e, why), "%s: status %d, '%s' (want '%s')", what, (int)st, e.msg, why);
    dp_adapter_free(a);
    double d = pass_diff(base_ctx, r, r->base);
    CHECK_MSG(d <= TOL, "%s: the base logits after the refusal differ by %g", what, d);
}

/* "sha256:<id>" of the model in dir */
static bool model_id(const char *dir, char *out) {
    dp_rdrr *r = NULL;
    if (dp_rdrr_open(dir, &r, NULL) != DP_OK) return false;
    snprintf(out, 80, "sha256:%s", dp_rdrr_id(r));
    dp_rdrr_free(r);
    return true;
}

static void bad_adapters(const char *fam, const char *fix, const char *base, const char *other_base, const char *ada,
                         dp_model *m, dp_ctx *c, const ref *r) {
    const char *tmp = t_tmpdir("lora-bad");
    refuse_peft(fix, other_base, tmp, "wrong-base", NULL, NULL, NULL, NULL, "base");
    refuse_peft(fix, base, tmp, "wrong-shape", NULL, "base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight",
                NULL, NULL, "shape");
    refuse_peft(fix, base, tmp, "missing-B", "base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight", NULL,
                NULL, NULL, "no lora_B");
    refuse_peft(fix, base, tmp, "unknown-module", NULL, NULL, "\"q_proj\"", "\"q_proj\", \"lm_head\"",
                "unknown target module 'lm_head'");
    refuse_peft(fix, base, tmp, "rank-0", NULL, NULL, "\"r\": 4", "\"r\": 0", "rank 0");
    refuse_peft(fix, base, tmp, "rank-huge", NULL, NULL, "\"r\": 4", "\"r\": 100000", "rank 100000");

    char base_id[80], other_id[80];
    CHECK(model_id(base, base_id) && model_id(other_base, other_id));
    refuse_manifest(m, ada, tmp, "other-base", base_id, other_id, "made for base", r, c);
    refuse_manifest(m, ada, tmp, "rank-edited", "\"rank\": 4", "\"rank\": 2", "the base needs", r, c);
    refuse_manifest(m, ada, tmp, "rank-0", "\"rank\": 4", "\"rank\": 0", "rank 0", r, c);
    refuse_manifest(m, ada, tmp, "rank-huge", "\"rank\": 4", "\"rank\": 1000000", "rank 1000000", r, c);
    refuse_manifest(m, ada, tmp, "alpha-inf", "\"alpha\": 8", "\"alpha\": 1e300", "no finite scale", r, c);
    refuse_manifest(m, ada, tmp, "unknown-target", "\"targets\": [", "\"targets\": [\"token_embd\", ",
                    "unknown target 'token_embd'", r, c);
    refuse_manifest(m, ada, tmp, "unknown-tensor", "\"blk.0.attn_q.lora_a\"", "\"blk.0.attn_q_norm.lora_a\"",
                    "is not the A or B", r, c);
    refuse_manifest(m, ada, tmp, "missing-B", "\"blk.0.attn_q.lora_b\"", NULL, "has lora_a but no lora_b", r, c);
    refuse_manifest(m, ada, tmp, "layer-999", "\"blk.0.attn_q.lora_b\"", "\"blk.999.attn_q.lora_b\"",
                    "is not the A or B", r, c);
    (void)fam;
}

/* ---- one family ---- */

static void check_family(const char *fam, const char *other_fam) {
    char rel[256], fix[600], hf[600], tmp[600], base[700], other[700], ada[700], adb[700], src[700];
    snprintf(rel, sizeof rel, "fixtures/lora/%s", fam);
    const char *p = t_shared(rel);
    CHECK_MSG(p != NULL || !getenv("CI"), "fixtures/lora/%s missing (CI)", fam);
    if (!p) return;
    snprintf(fix, sizeof fix, "%s", p);
    snprintf(rel, sizeof rel, "fixtures/hf-tiny/%s", fam);
    p = t_shared(rel);
    CHECK(p != NULL);
    if (!p) return;
    snprintf(hf, sizeof hf, "%s", p);
    snprintf(tmp, sizeof tmp, "%s", t_tmpdir("lora"));
    snprintf(base, sizeof base, "%s/%s", tmp, fam);
    snprintf(other, sizeof other, "%s/%s", tmp, other_fam);
    snprintf(ada, sizeof ada, "%s/%s-a", tmp, fam);
    snprintf(adb, sizeof adb, "%s/%s-b", tmp, fam);
    dp_error e = {0};
    dp_write_opts o = {0};
    o.recipe = DP_RECIPE_F32;
    CHECK_MSG(dp_convert_hf(hf, base, &o, &e) == DP_OK, "%s: convert base: %s", fam, e.msg);
    snprintf(rel, sizeof rel, "fixtures/hf-tiny/%s", other_fam);
    CHECK_MSG((p = t_shared(rel)) && dp_convert_hf(p, other, &o, &e) == DP_OK, "%s: convert: %s", other_fam, e.msg);
    o.shard_max = 4096; /* adapters over several shards */
    snprintf(src, sizeof src, "%s/adapter_a", fix);
    CHECK_MSG(dp_convert_lora(src, ada, base, &o, &e) == DP_OK, "%s: convert adapter_a: %s", fam, e.msg);
    snprintf(src, sizeof src, "%s/adapter_b", fix);
    CHECK_MSG(dp_convert_lora(src, adb, base, &o, &e) == DP_OK, "%s: convert adapter_b: %s", fam, e.msg);

    ref r = {0};
    CHECK_MSG(read_ref(fix, &r), "%s: reference.safetensors", fam);
    dp_model *m = NULL, *m2 = NULL;
    dp_ctx *c1 = NULL, *c2 = NULL, *ca = NULL;
    dp_adapter *a = NULL, *b = NULL;
    dp_ctx_params cp;
    dp_ctx_params_default(&cp);
    cp.logits_all = 1;
    cp.n_ctx = 64;
    CHECK_MSG(dp_model_load(base, NULL, &m, &e) == DP_OK, "%s: load: %s", fam, e.msg);
    if (!m || !r.ids) goto done;
    CHECK(dp_ctx_new(m, &cp, &c1, &e) == DP_OK && dp_ctx_new(m, &cp, &c2, &e) == DP_OK && dp_ctx_new(m, &cp, &ca, &e) == DP_OK);
    CHECK_MSG(dp_adapter_load(m, ada, &a, &e) == DP_OK, "%s: load a: %s", fam, e.msg);
    CHECK_MSG(dp_adapter_load(m, adb, &b, &e) == DP_OK, "%s: load b: %s", fam, e.msg);
    if (!c1 || !c2 || !ca || !a || !b) goto done;
    CHECK(dp_adapter_rank(a) == 4 && fabsf(dp_adapter_scale(a) - 2.0f) < 1e-6f);

    /* each adapter alone, and the base */
    double d0 = pass_diff(c1, &r, r.base);
    CHECK(dp_ctx_set_adapter(c1, a, 1.0f, 0, &e) == DP_OK);
    double da = pass_diff(c1, &r, r.a);
    CHECK(dp_ctx_set_adapter(c1, b, 1.0f, 0, &e) == DP_OK);
    double db = pass_diff(c1, &r, r.b);
    CHECK(dp_ctx_set_adapter(c1, NULL, 1.0f, 0, &e) == DP_OK);
    double dn = pass_diff(c1, &r, r.base);
    printf("%-8s max |dlogit| vs PEFT: base %.3g, adapter_a %.3g, adapter_b %.3g, base again %.3g\n", fam, d0, da, db, dn);
    CHECK_MSG(d0 <= TOL && da <= TOL && db <= TOL && dn <= TOL, "%s: logits differ from PEFT's", fam);
    /* scale 0 is the base; scale 2 doubles the delta (not the reference: just not the base) */
    CHECK(dp_ctx_set_adapter(c1, a, 0.0f, 0, &e) == DP_OK);
    CHECK_MSG(pass_diff(c1, &r, r.base) <= TOL, "%s: scale 0 is not the base", fam);

    /* a switch resets the sequence unless asked not to; the same adapter and scale is no switch */
    dp_ctx_reset(c1);
    CHECK(dp_ctx_eval(c1, r.ids, 3, NULL, &e) == DP_OK && dp_ctx_pos(c1) == 3);
    CHECK(dp_ctx_set_adapter(c1, a, 0.0f, 0, &e) == DP_OK && dp_ctx_pos(c1) == 3);
    CHECK(dp_ctx_set_adapter(c1, a, 1.0f, DP_ADAPTER_KEEP_CACHE, &e) == DP_OK && dp_ctx_pos(c1) == 3);
    CHECK(dp_ctx_set_adapter(c1, b, 1.0f, 0, &e) == DP_OK && dp_ctx_pos(c1) == 0);
    /* refused scales and flags leave the context as it was */
    CHECK(dp_ctx_eval(c1, r.ids, 2, NULL, &e) == DP_OK);
    CHECK(dp_ctx_set_adapter(c1, a, NAN, 0, &e) == DP_ERR_INVALID_ARG && one_line(&e, "not a finite number"));
    CHECK(dp_ctx_set_adapter(c1, a, INFINITY, 0, &e) == DP_ERR_INVALID_ARG);
    CHECK(dp_ctx_set_adapter(c1, a, 3e38f, 0, &e) == DP_ERR_INVALID_ARG && one_line(&e, "not finite"));
    CHECK(dp_ctx_set_adapter(c1, a, 1.0f, 0x80, &e) == DP_ERR_INVALID_ARG);
    CHECK(dp_ctx_pos(c1) == 2);
    CHECK_MSG(pass_diff(c1, &r, r.b) <= TOL, "%s: adapter b changed by refused switches", fam);

    /* two contexts, two adapters, token by token in turn */
    {
        size_t vocab = r.n_logits / r.n_ids;
        float *g1 = calloc(r.n_logits, sizeof(float)), *g2 = calloc(r.n_logits, sizeof(float));
        CHECK(dp_ctx_set_adapter(c1, a, 1.0f, 0, &e) == DP_OK && dp_ctx_set_adapter(c2, b, 1.0f, 0, &e) == DP_OK);
        for (size_t i = 0; i < r.n_ids && g1 && g2; i++) {
            CHECK(dp_ctx_eval(c1, r.ids + i, 1, g1 + i * vocab, &e) == DP_OK);
            CHECK(dp_ctx_eval(c2, r.ids + i, 1, g2 + i * vocab, &e) == DP_OK);
        }
        double i1 = g1 ? t_max_diff(g1, r.a, r.n_logits) : INFINITY, i2 = g2 ? t_max_diff(g2, r.b, r.n_logits) : INFINITY;
        printf("%-8s interleaved contexts: adapter_a %.3g, adapter_b %.3g\n", fam, i1, i2);
        CHECK_MSG(i1 <= TOL && i2 <= TOL, "%s: interleaved contexts differ from each adapter alone", fam);
        free(g1);
        free(g2);
    }
    /* a batch (dp_batch_eval) applies one adapter: contexts with different ones are refused, and
     * with the same one the cache it writes is the adapter's (the last token evaluated alone
     * after the batched ones gives PEFT's logits) */
    {
        size_t vocab = r.n_logits / r.n_ids;
        dp_ctx_params bp = cp;
        bp.logits_all = 0;
        dp_ctx *cb[2] = {NULL, NULL};
        dp_batch *bt = NULL;
        float *last = calloc(vocab, sizeof(float));
        CHECK(dp_ctx_new(m, &bp, &cb[0], &e) == DP_OK && dp_ctx_new(m, &bp, &cb[1], &e) == DP_OK);
        CHECK(dp_batch_new(m, 2, &bt, &e) == DP_OK);
        if (cb[0] && cb[1] && bt && last) {
            int32_t two[2] = {r.ids[0], r.ids[0]};
            CHECK(dp_ctx_set_adapter(cb[0], a, 1.0f, 0, &e) == DP_OK && dp_ctx_set_adapter(cb[1], b, 1.0f, 0, &e) == DP_OK);
            CHECK(dp_batch_eval(bt, cb, two, 2, &e) == DP_ERR_INVALID_ARG && one_line(&e, "another adapter"));
            CHECK(dp_ctx_set_adapter(cb[1], a, 0.5f, 0, &e) == DP_OK);
            CHECK(dp_batch_eval(bt, cb, two, 2, &e) == DP_ERR_INVALID_ARG && dp_ctx_pos(cb[0]) == 0);
            CHECK(dp_ctx_set_adapter(cb[1], a, 1.0f, 0, &e) == DP_OK);
            for (size_t i = 0; i + 1 < r.n_ids; i++) {
                two[0] = two[1] = r.ids[i];
                CHECK_MSG(dp_batch_eval(bt, cb, two, 2, &e) == DP_OK, "%s: batch_eval: %s", fam, e.msg);
            }
            for (int s = 0; s < 2; s++) { /* the context's one row of logits (it keeps no logits_all) */
                dp_backend *be = cb[s]->be;
                CHECK(dp_ctx_eval(cb[s], &r.ids[r.n_ids - 1], 1, NULL, &e) == DP_OK);
                CHECK(be->i->tensor_read(be, &cb[s]->s.logits, 0, last, vocab * 4u, &e) == DP_OK);
                double d = t_max_diff(last, r.a + (r.n_ids - 1) * vocab, vocab);
                CHECK_MSG(d <= TOL, "%s: after a batch with adapter_a, sequence %d differs from PEFT by %g", fam, s, d);
            }
        }
        free(last);
        dp_batch_free(bt);
        dp_ctx_free(cb[0]);
        dp_ctx_free(cb[1]);
    }
    /* an adapter loaded on another model is refused by the context */
    CHECK(dp_model_load(other, NULL, &m2, &e) == DP_OK);
    if (m2) {
        dp_adapter *x = NULL;
        CHECK(dp_adapter_load(m2, ada, &x, &e) != DP_OK && !x && one_line(&e, "made for base"));
        CHECK(dp_model_load(ada, NULL, &(dp_model *){NULL}, &e) == DP_ERR_INVALID_ARG && one_line(&e, "is a LoRA adapter"));
        CHECK(dp_adapter_load(m, other, &x, &e) == DP_ERR_INVALID_ARG && one_line(&e, "is a model, not a LoRA adapter"));
    }

    bad_adapters(fam, fix, base, other, ada, m, ca, &r);

    /* unloading: contexts switch away, the adapters go, the base is as before */
    CHECK(dp_ctx_set_adapter(c1, NULL, 0, 0, &e) == DP_OK && dp_ctx_set_adapter(c2, NULL, 0, 0, &e) == DP_OK);
    dp_adapter_free(a);
    dp_adapter_free(b);
    a = b = NULL;
    double du = pass_diff(c2, &r, r.base);
    printf("%-8s base after unloading: %.3g\n", fam, du);
    CHECK_MSG(du <= TOL, "%s: base logits after unloading differ by %g", fam, du);
done:
    dp_ctx_free(c1);
    dp_ctx_free(c2);
    dp_ctx_free(ca);
    dp_adapter_free(a);
    dp_adapter_free(b);
    dp_model_free(m);
    dp_model_free(m2);
    free_ref(&r);
}

int main(void) {
    dp_adapter_free(NULL);
    for (size_t i = 0; i < sizeof FAMILIES / sizeof FAMILIES[0]; i++)
        check_family(FAMILIES[i], i == 0 ? "qwen3" : "llama");
    return t_done("test_lora");
}
