/* test_gguf_export.c — dp_export_gguf (`doppler export-gguf`).
 *  1. llama-{f32,q4_k_m}.gguf and tests/data/gguf/llama-{q4_0,...,iq4_xs}.gguf imported, exported
 *     again: every tensor of the original file comes
 *     back with its type, shape and bytes (rope_freqs included), the llama.* metadata and the
 *     tokenizer are the original's, and the re-imported model gives identical logits;
 *  2. the Hugging Face checkpoint fixtures/gguf/hf converted to RDRR (q/k in rotate-half order,
 *     llama3 rope parameters) and exported: the tensors equal llama.cpp's converter output
 *     llama-f32.gguf (q/k rows permuted as it does, rope_freqs as it computes them), with the
 *     stub vocabulary; re-imported, the logits match the HF conversion's;
 *  3. hf-tiny/mixtral: experts stacked into ffn_*_exps; re-imported logits match;
 *  4. hf-tiny/gemma3 with llama.cpp's attention scale (query_pre_attn_scalar = head_dim): written
 *     as "gemma3" (norms as 1 + w, the sliding-window period, the local rope base); re-imported,
 *     the logits match the HF conversion's; the fixture as it is (scalar 24) is refused;
 *  5. models llama.cpp's architectures cannot express (gemma2) are refused. */
#include <math.h>
#include <string.h>

#include "doppler.h"
#include "format/gguf.h"
#include "model/gguf_out.h"
#include "model/write.h"
#include "testutil.h"

typedef struct gfile {
    dp_reader r;
    dp_gguf *g;
    bool ok;
} gfile;

static void gopen(gfile *f, const char *path) {
    dp_error e = {0};
    f->g = NULL;
    f->ok = dp_reader_open_file(&f->r, path, &e) == DP_OK;
    if (f->ok && dp_gguf_open(&f->r, &f->g, &e) != DP_OK) {
        dp_reader_close(&f->r);
        f->ok = false;
    }
    CHECK_MSG(f->ok, "%s: %s", path, e.msg);
}

static void gclose(gfile *f) {
    if (!f->ok) return;
    dp_gguf_free(f->g);
    dp_reader_close(&f->r);
}

static uint8_t *tbytes(gfile *f, const dp_gguf_tensor *t) {
    uint8_t *p = malloc((size_t)t->size);
    dp_error e = {0};
    if (p && dp_reader_read(&f->r, t->offset, p, (size_t)t->size, &e) != DP_OK) {
        free(p);
        return NULL;
    }
    return p;
}

/* Every tensor of want is in got with the same type, shape and bytes (rope_freqs: values within
 * rope_tol relative, since llama.cpp computed them with torch's pow). Returns tensors compared. */
static int same_tensors(gfile *want, gfile *got, double rope_tol) {
    int n = 0;
    CHECK(dp_gguf_n_tensors(want->g) == dp_gguf_n_tensors(got->g));
    for (size_t i = 0; i < dp_gguf_n_tensors(want->g); i++) {
        const dp_gguf_tensor *a = dp_gguf_tensor_at(want->g, i);
        const dp_gguf_tensor *b = dp_gguf_tensor_find(got->g, a->name);
        CHECK_MSG(b != NULL, "exported file lacks %s", a->name);
        if (!b) continue;
        CHECK_MSG(a->ggml_type == b->ggml_type && a->n_dims == b->n_dims && !memcmp(a->ne, b->ne, sizeof a->ne),
                  "%s: type/shape differ", a->name);
        if (a->size != b->size) continue;
        uint8_t *x = tbytes(want, a), *y = tbytes(got, b);
        CHECK(x && y);
        if (x && y) {
            if (!strcmp(a->name, "rope_freqs.weight") && rope_tol > 0) {
                double worst = 0;
                for (uint64_t k = 0; k < a->ne[0]; k++) {
                    float u, v;
                    memcpy(&u, x + 4 * k, 4);
                    memcpy(&v, y + 4 * k, 4);
                    double rel = fabs((double)u - (double)v) / fabs((double)u);
                    if (!(rel <= worst)) worst = rel;
                }
                printf("  rope_freqs.weight: max relative difference %.2e\n", worst);
                CHECK_MSG(worst <= rope_tol, "rope_freqs differ by %g", worst);
            } else {
                CHECK_MSG(!memcmp(x, y, (size_t)a->size), "%s: bytes differ", a->name);
            }
            n++;
        }
        free(x);
        free(y);
    }
    return n;
}

/* The llama.* hyper-parameters of want are in got with equal values. */
static void same_metadata(gfile *want, gfile *got) {
    int n = 0;
    for (size_t i = 0; i < dp_gguf_n_kv(want->g); i++) {
        const dp_gguf_kv *a = dp_gguf_kv_at(want->g, i);
        if (strncmp(a->key, "llama.", 6)) continue;
        double x = 0, y = 0;
        CHECK(dp_gguf_get_f64(want->g, a->key, &x));
        CHECK_MSG(dp_gguf_get_f64(got->g, a->key, &y) && x == y, "%s: %g vs %g", a->key, x, y);
        n++;
    }
    CHECK(n >= 10);
}

static float *eval(const char *dir, const int32_t *ids, int n, int *vocab) {
    dp_error e = {0};
    dp_model *m = NULL;
    dp_ctx *c = NULL;
    dp_ctx_params cp;
    dp_ctx_params_default(&cp);
    cp.logits_all = 1;
    float *out = NULL;
    if (dp_model_load(dir, NULL, &m, &e) == DP_OK && dp_ctx_new(m, &cp, &c, &e) == DP_OK) {
        *vocab = dp_model_n_vocab(m);
        out = malloc((size_t)n * (size_t)*vocab * sizeof(float));
        if (dp_ctx_eval(c, ids, n, out, &e) != DP_OK) {
            free(out);
            out = NULL;
        }
    }
    CHECK_MSG(out != NULL, "%s: %s", dir, e.msg);
    dp_ctx_free(c);
    dp_model_free(m);
    return out;
}

static bool import(const char *gguf, const char *dir) {
    dp_error e = {0};
    dp_write_opts o = {0};
    o.recipe = DP_RECIPE_KEEP;
    bool ok = dp_convert_gguf(gguf, dir, &o, &e) == DP_OK;
    CHECK_MSG(ok, "import %s: %s", gguf, e.msg);
    return ok;
}

static bool export(const char *dir, const char *gguf) {
    dp_error e = {0};
    bool ok = dp_export_gguf(dir, gguf, &e) == DP_OK;
    CHECK_MSG(ok, "export %s: %s", dir, e.msg);
    return ok;
}

static int read_ids(int32_t *ids, int max) {
    const char *p = t_shared("fixtures/gguf/ids.txt");
    FILE *f = p ? fopen(p, "r") : NULL;
    int n = 0;
    if (!f) return 0;
    while (n < max && fscanf(f, "%d", &ids[n]) == 1) n++;
    fclose(f);
    return n;
}

/* Logits of two models on ids agree within tol (0: identical). */
static void same_logits(const char *what, const char *a, const char *b, const int32_t *ids, int n, double tol) {
    int v1 = 0, v2 = 0;
    float *x = eval(a, ids, n, &v1), *y = eval(b, ids, n, &v2);
    if (x && y && v1 == v2) {
        double d = t_max_diff(x, y, (size_t)n * v1);
        printf("%s: max |dlogit| %.3g (bound %g)\n", what, d, tol);
        CHECK_MSG(d <= tol, "%s: logits differ by %g", what, d);
    } else {
        CHECK(0);
    }
    free(x);
    free(y);
}

/* dir/llama-<type>.gguf, found by find (t_shared or t_data) */
static void round_trip(const char *(*find)(const char *), const char *dir, const char *type,
                       const int32_t *ids, int n) {
    char rel[96], src[600], tmp[600], a[700], b[700], out[700];
    snprintf(rel, sizeof rel, "%s/llama-%s.gguf", dir, type);
    const char *p = find(rel);
    CHECK_MSG(p || find == t_shared, "%s missing", rel);
    if (!p) return;
    snprintf(src, sizeof src, "%s", p);
    snprintf(tmp, sizeof tmp, "%s", t_tmpdir("gguf_export"));
    snprintf(a, sizeof a, "%s/%s-a", tmp, type);
    snprintf(b, sizeof b, "%s/%s-b", tmp, type);
    snprintf(out, sizeof out, "%s/%s.gguf", tmp, type);
    if (!import(src, a) || !export(a, out)) return;
    gfile orig, exp;
    gopen(&orig, src);
    gopen(&exp, out);
    if (orig.ok && exp.ok) {
        printf("llama-%s.gguf -> RDRR -> GGUF:\n", type);
        int k = same_tensors(&orig, &exp, 0);
        printf("  %d tensors identical in type, shape and bytes\n", k);
        same_metadata(&orig, &exp);
        const dp_gguf_kv *t1 = dp_gguf_find(orig.g, "tokenizer.ggml.tokens"), *t2 = dp_gguf_find(exp.g, "tokenizer.ggml.tokens");
        CHECK(t1 && t2 && t1->n == t2->n);
    }
    gclose(&orig);
    gclose(&exp);
    if (import(out, b)) {
        char what[64];
        snprintf(what, sizeof what, "  re-imported %s vs first import", type);
        same_logits(what, a, b, ids, n, 0);
    }
}

static bool convert_hf(const char *hf, const char *dir) {
    dp_error e = {0};
    dp_write_opts o = {0};
    o.recipe = DP_RECIPE_F32;
    bool ok = dp_convert_hf(hf, dir, &o, &e) == DP_OK;
    CHECK_MSG(ok, "convert %s: %s", hf, e.msg);
    return ok;
}

/* HF checkpoint -> RDRR -> GGUF equals llama.cpp's converter output. */
static void from_hf(const int32_t *ids, int n) {
    const char *p = t_shared("fixtures/gguf/hf");
    char hf[600], ref[600], tmp[600], a[700], b[700], out[700];
    if (!p) return;
    snprintf(hf, sizeof hf, "%s", p);
    if (!(p = t_shared("fixtures/gguf/llama-f32.gguf"))) return;
    snprintf(ref, sizeof ref, "%s", p);
    snprintf(tmp, sizeof tmp, "%s", t_tmpdir("gguf_export_hf"));
    snprintf(a, sizeof a, "%s/hf", tmp);
    snprintf(b, sizeof b, "%s/back", tmp);
    snprintf(out, sizeof out, "%s/hf.gguf", tmp);
    if (!convert_hf(hf, a) || !export(a, out)) return;
    gfile want, got;
    gopen(&want, ref);
    gopen(&got, out);
    if (want.ok && got.ok) {
        printf("gguf/hf -> RDRR -> GGUF vs llama.cpp's llama-f32.gguf:\n");
        int k = same_tensors(&want, &got, 1e-6);
        printf("  %d tensors identical (q/k permuted as llama.cpp does)\n", k);
        CHECK(k == 22); /* 21 weights + rope_freqs */
        same_metadata(&want, &got);
        /* the stub vocabulary is the fixture's */
        const dp_gguf_kv *t1 = dp_gguf_find(want.g, "tokenizer.ggml.tokens"), *t2 = dp_gguf_find(got.g, "tokenizer.ggml.tokens");
        CHECK(t1 && t2 && t1->n == t2->n);
        for (uint64_t i = 0; t1 && t2 && i < t1->n && i < t2->n; i++) {
            dp_gguf_str x, y;
            CHECK(dp_gguf_arr_str(t1, i, &x) && dp_gguf_arr_str(t2, i, &y) && !strcmp(x.s, y.s));
        }
    }
    gclose(&want);
    gclose(&got);
    if (import(out, b)) same_logits("  re-imported vs the HF conversion", a, b, ids, n, 1e-4);
}

/* hf-tiny mixtral: experts stacked on export, split again on import. */
static void mixtral(void) {
    const char *p = t_shared("fixtures/hf-tiny/mixtral");
    char hf[600], tmp[600], a[700], b[700], out[700];
    if (!p) return;
    snprintf(hf, sizeof hf, "%s", p);
    snprintf(tmp, sizeof tmp, "%s", t_tmpdir("gguf_export_moe"));
    snprintf(a, sizeof a, "%s/hf", tmp);
    snprintf(b, sizeof b, "%s/back", tmp);
    snprintf(out, sizeof out, "%s/moe.gguf", tmp);
    if (!convert_hf(hf, a) || !export(a, out)) return;
    gfile got;
    gopen(&got, out);
    if (got.ok) {
        const dp_gguf_tensor *t = dp_gguf_tensor_find(got.g, "blk.0.ffn_gate_exps.weight");
        CHECK(t && t->n_dims == 3 && t->ne[2] == 8);
        uint64_t ne = 0;
        CHECK(dp_gguf_get_u64(got.g, "llama.expert_count", &ne) && ne == 8);
    }
    gclose(&got);
    int32_t ids[16] = {1, 5, 9, 17, 33, 2, 44, 7, 100, 3, 8, 60, 21, 90, 11, 4};
    if (import(out, b)) same_logits("hf-tiny/mixtral -> GGUF -> RDRR vs the HF conversion", a, b, ids, 16, 1e-4);
}

/* whole file at path into a new buffer (NUL-terminated), NULL when unreadable */
static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *b = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (b = dp_malloc((size_t)n + 1)) &&
            fread(b, 1, (size_t)n, f) == (size_t)n) {
            b[n] = 0;
            *len = (size_t)n;
        } else {
            dp_free(b);
            b = NULL;
        }
    }
    fclose(f);
    return b;
}

static bool spit(const char *path, const char *b, size_t len) {
    FILE *f = fopen(path, "wb");
    bool ok = f && fwrite(b, 1, len, f) == len;
    if (f) ok = fclose(f) == 0 && ok;
    return ok;
}

/* hf-tiny gemma3 as "gemma3": refused as it is (its attention scale is not llama.cpp's rule);
 * with query_pre_attn_scalar = head_dim, written and re-imported with the same logits. */
static void gemma3(void) {
    const char *p = t_shared("fixtures/hf-tiny/gemma3");
    char src[600], tmp[600], hf[700], a[700], b[700], out[700], f[800];
    if (!p) return;
    snprintf(src, sizeof src, "%s", p);
    snprintf(tmp, sizeof tmp, "%s", t_tmpdir("gguf_export_gemma3"));
    snprintf(hf, sizeof hf, "%s/hf", tmp);
    snprintf(a, sizeof a, "%s/rdrr", tmp);
    snprintf(b, sizeof b, "%s/back", tmp);
    snprintf(out, sizeof out, "%s/g3.gguf", tmp);
    dp_error e = {0};
    if (!convert_hf(src, a)) return;
    CHECK(dp_export_gguf(a, out, &e) == DP_ERR_UNSUPPORTED);
    printf("hf-tiny/gemma3 (query_pre_attn_scalar 24) refused: %s\n", e.msg);
    /* the same checkpoint with llama.cpp's scale */
    CHECK(dp_mkdir_p(hf, &e) == DP_OK);
    static const char *const files[] = {"model.safetensors", "config.json"};
    for (int i = 0; i < 2; i++) {
        size_t len = 0;
        snprintf(f, sizeof f, "%s/%s", src, files[i]);
        char *data = slurp(f, &len);
        CHECK_MSG(data != NULL, "read %s", f);
        if (!data) return;
        char *q = i == 1 ? strstr(data, "\"query_pre_attn_scalar\": 24") : NULL;
        if (i == 1) {
            CHECK_MSG(q != NULL, "%s: no query_pre_attn_scalar 24", f);
            if (q) memcpy(q + strlen("\"query_pre_attn_scalar\": "), "32", 2); /* head_dim */
        }
        snprintf(f, sizeof f, "%s/%s", hf, files[i]);
        CHECK(spit(f, data, len));
        dp_free(data);
    }
    if (!convert_hf(hf, a) || !export(a, out)) return;
    gfile got;
    gopen(&got, out);
    if (got.ok) {
        dp_gguf_str as;
        CHECK(dp_gguf_get_str(got.g, "general.architecture", &as) && !strcmp(as.s, "gemma3"));
        uint64_t v = 0;
        CHECK(dp_gguf_get_u64(got.g, "gemma3.attention.sliding_window_pattern", &v) && v == 3);
        CHECK(dp_gguf_get_u64(got.g, "gemma3.attention.sliding_window", &v) && v == 8);
        CHECK(dp_gguf_tensor_find(got.g, "blk.0.post_ffw_norm.weight") && dp_gguf_tensor_find(got.g, "blk.5.attn_k_norm.weight"));
        CHECK(!dp_gguf_tensor_find(got.g, "output.weight")); /* tied */
    }
    gclose(&got);
    int32_t ids[16] = {2, 5, 9, 17, 33, 2, 44, 7, 100, 3, 8, 60, 21, 90, 11, 4};
    if (import(out, b)) same_logits("hf-tiny/gemma3 -> GGUF (gemma3) -> RDRR vs the HF conversion", a, b, ids, 16, 1e-4);
}

static void refused(void) {
    const char *p = t_shared("fixtures/hf-tiny/gemma2");
    char hf[600], a[700], out[700];
    if (!p) return;
    snprintf(hf, sizeof hf, "%s", p);
    const char *tmp = t_tmpdir("gguf_export_refuse");
    snprintf(a, sizeof a, "%s/g2", tmp);
    snprintf(out, sizeof out, "%s/g2.gguf", tmp);
    if (!convert_hf(hf, a)) return;
    dp_error e = {0};
    CHECK(dp_export_gguf(a, out, &e) == DP_ERR_UNSUPPORTED);
    printf("gemma2 refused: %s\n", e.msg);
    CHECK(!dp_file_exists(out));
    CHECK(dp_export_gguf("/nonexistent-dir", out, &e) == DP_ERR_NOT_FOUND || e.status != DP_OK);
}

int main(void) {
    int32_t ids[64];
    int n = read_ids(ids, 64);
    if (n <= 0) {
        printf("test_gguf_export: fixtures absent, skipped\n");
        return TEST_SKIP;
    }
    round_trip(t_shared, "fixtures/gguf", "f32", ids, n);
    round_trip(t_shared, "fixtures/gguf", "q4_k_m", ids, n);
    /* the types Doppler reads from GGUF without a quantizer of its own go back out unchanged */
    static const char *const gguf_only[] = {"q4_0", "q4_1", "q5_0", "q5_1", "iq4_nl",
                                            "q2_k", "q3_k", "iq4_xs"};
    for (size_t i = 0; i < sizeof gguf_only / sizeof gguf_only[0]; i++)
        round_trip(t_data, "gguf", gguf_only[i], ids, n);
    from_hf(ids, n);
    mixtral();
    gemma3();
    refused();
    return t_done("test_gguf_export");
}
