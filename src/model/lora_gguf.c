/* lora_gguf.c — LoRA adapters in GGUF as llama.cpp's convert_lora_to_gguf.py writes them, read
 * for one base model (model/lora.h; written to RDRR by dp_convert_lora).
 *
 * The file: general.type "adapter", adapter.type "lora", adapter.lora.alpha (f32; absent or 0
 * means a scale of 1, as llama.cpp applies it), general.architecture of the base, and per adapted
 * projection two tensors named after the base tensor, blk.N.<name>.weight.lora_a (ne [cols, rank],
 * PEFT's lora_A) and blk.N.<name>.weight.lora_b (ne [rank, rows], PEFT's lora_B), f32 by default
 * (f16, bf16 or q8_0 with --outtype). For llama and Mixtral the converter permutes B's q and k rows
 * as it permutes the base's (GGML's rope); they are put into the base model's order. The rank is
 * the tensors' (one rank for the whole adapter); rsLoRA is not recorded in the file (llama.cpp
 * always scales by alpha / rank). Token-embedding adapters and norm tensors are refused. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "format/gguf.h"
#include "format/quant.h"
#include "model/lora.h"

struct dp_lora_gguf {
    const dp_model_desc *d;
    dp_reader rd;
    bool rd_open;
    dp_gguf *g;
    bool interleaved;              /* q/k rows in GGML's rope order (llama, Mixtral files) */
    const dp_gguf_tensor **ab;     /* [n_layers][DP_W_LAYER_COUNT][A, B] */
    uint8_t *raw;                  /* the largest tensor's bytes */
};

static bool str_is(const dp_gguf *g, const char *key, const char *want, dp_gguf_str *got) {
    return dp_gguf_get_str(g, key, got) && !strcmp(got->s, want);
}

/* The file's architecture against the base's family (llama.cpp writes Mixtral as "llama"). */
static dp_status check_arch(const dp_gguf *g, const dp_model_desc *d, bool *interleaved, dp_error *e) {
    dp_gguf_str arch = {0};
    if (!dp_gguf_get_str(g, "general.architecture", &arch))
        return dp_err_set(e, DP_ERR_FORMAT, "GGUF adapter: no general.architecture");
    bool llama = !strcmp(arch.s, "llama");
    bool ok = llama ? d->family == DP_FAMILY_LLAMA || d->family == DP_FAMILY_MIXTRAL
                    : !strcmp(arch.s, dp_family_name(d->family));
    if (!ok)
        return dp_err_set(e, DP_ERR_FORMAT, "GGUF adapter: made for a '%s' model, the base is %s", arch.s,
                          dp_family_name(d->family));
    *interleaved = llama;
    return DP_OK;
}

/* One tensor: its (layer, role, A or B) and shape against the base; the rank it implies. */
static dp_status map_tensor(const dp_model_desc *d, const dp_gguf_tensor *t, int *layer, dp_wrole *role,
                            bool *is_b, int64_t *rank, dp_error *e) {
    char nm[128];
    const char *s = t->name, *w = strstr(s, ".weight.lora_");
    size_t n = strlen(s);
    if (!w || n >= sizeof nm || strlen(w) != strlen(".weight.lora_a"))
        return dp_err_set(e, DP_ERR_UNSUPPORTED, "GGUF adapter tensor '%s' is not a LoRA A or B matrix", s);
    snprintf(nm, sizeof nm, "%.*s%s", (int)(w - s), s, w + strlen(".weight"));
    if (!dp_lora_parse_name(nm, layer, role, is_b) || *layer >= d->n_layers || !dp_lora_role_ok(d, (int)*role))
        return dp_err_set(e, DP_ERR_UNSUPPORTED, "GGUF adapter tensor '%s' targets no projection of the %s base "
                          "that an adapter can change", s, dp_family_name(d->family));
    if (t->dtype != DP_DTYPE_F32 && t->dtype != DP_DTYPE_F16 && t->dtype != DP_DTYPE_BF16 && t->dtype != DP_DTYPE_Q8_0)
        return dp_err_set(e, DP_ERR_UNSUPPORTED, "GGUF adapter tensor '%s' has type %s (f32, f16, bf16, q8_0)", s,
                          dp_dtype_name(t->dtype));
    int64_t rows, cols;
    dp_model_wshape(d, *role, &rows, &cols);
    uint64_t len = *is_b ? (uint64_t)rows : (uint64_t)cols; /* A: ne [cols, rank]; B: ne [rank, rows] */
    *rank = (int64_t)(*is_b ? t->ne[0] : t->ne[1]);
    if (t->n_dims != 2 || (*is_b ? t->ne[1] : t->ne[0]) != len || *rank < 1 || *rank > DP_LORA_MAX_RANK)
        return dp_err_set(e, DP_ERR_FORMAT, "GGUF adapter tensor '%s' has ne [%llu, %llu], the base needs %s", s,
                          (unsigned long long)t->ne[0], (unsigned long long)t->ne[1],
                          *is_b ? "[rank, rows]" : "[cols, rank]");
    return DP_OK;
}

static dp_status read_tensors(dp_lora_gguf *x, dp_lora_desc *a, dp_error *e) {
    const dp_model_desc *d = x->d;
    uint64_t biggest = 0;
    for (size_t i = 0; i < dp_gguf_n_tensors(x->g); i++) {
        const dp_gguf_tensor *t = dp_gguf_tensor_at(x->g, i);
        int layer = 0;
        dp_wrole role = DP_W_Q;
        bool is_b = false;
        int64_t rank = 0;
        dp_status s = map_tensor(d, t, &layer, &role, &is_b, &rank, e);
        if (s != DP_OK) return s;
        if (a->rank && rank != a->rank)
            return dp_err_set(e, DP_ERR_UNSUPPORTED, "GGUF adapter tensor '%s' has rank %lld, others %d (one rank "
                              "per adapter)", t->name, (long long)rank, a->rank);
        a->rank = (int)rank;
        a->targets |= 1u << role;
        x->ab[((size_t)layer * DP_W_LAYER_COUNT + (size_t)role) * 2 + is_b] = t;
        if (t->size > biggest) biggest = t->size;
    }
    if (a->rank == 0) return dp_err_set(e, DP_ERR_NOT_FOUND, "GGUF adapter holds no LoRA tensors");
    for (int l = 0; l < d->n_layers; l++)
        for (int r = 0; r < DP_W_LAYER_COUNT; r++) {
            const dp_gguf_tensor **p = &x->ab[((size_t)l * DP_W_LAYER_COUNT + (size_t)r) * 2];
            if (!p[0] != !p[1])
                return dp_err_set(e, DP_ERR_NOT_FOUND, "GGUF adapter has lora_%c but no lora_%c for %s of layer %d",
                                  p[0] ? 'a' : 'b', p[0] ? 'b' : 'a', dp_wrole_name((dp_wrole)r), l);
        }
    if (!(x->raw = dp_malloc((size_t)biggest))) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    return DP_OK;
}

dp_status dp_lora_gguf_open(const char *path, const dp_model_desc *d, dp_lora_desc *a, dp_lora_gguf **out,
                            dp_error *e) {
    *out = NULL;
    dp_lora_gguf *x = dp_calloc(1, sizeof *x);
    if (!x) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    x->d = d;
    dp_gguf_str v = {0};
    double alpha = 0;
    dp_status s = dp_reader_open_file(&x->rd, path, e);
    x->rd_open = s == DP_OK;
    if (s == DP_OK) s = dp_gguf_open(&x->rd, &x->g, e);
    if (s == DP_OK && !str_is(x->g, "general.type", "adapter", &v))
        s = dp_err_set(e, DP_ERR_FORMAT, "GGUF: general.type is '%s', not 'adapter' (a model, not a LoRA adapter?)",
                       v.s ? v.s : "");
    if (s == DP_OK && !str_is(x->g, "adapter.type", "lora", &v))
        s = dp_err_set(e, DP_ERR_UNSUPPORTED, "GGUF adapter: adapter.type is '%s', not 'lora'", v.s ? v.s : "");
    if (s == DP_OK && dp_gguf_find(x->g, "adapter.lora.alpha") && !dp_gguf_get_f64(x->g, "adapter.lora.alpha", &alpha))
        s = dp_err_set(e, DP_ERR_FORMAT, "GGUF adapter: adapter.lora.alpha is not a number");
    if (s == DP_OK) s = check_arch(x->g, d, &x->interleaved, e);
    if (s == DP_OK && !(x->ab = dp_calloc((size_t)d->n_layers * DP_W_LAYER_COUNT * 2, sizeof *x->ab)))
        s = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    memset(a, 0, sizeof *a);
    if (s == DP_OK) s = read_tensors(x, a, e);
    if (s == DP_OK) {
        a->family = d->family;
        a->alpha = alpha == 0 ? (double)a->rank : alpha; /* llama.cpp: no alpha, scale 1 */
        s = dp_lora_validate(a, d, e);
    }
    if (s != DP_OK) {
        dp_err_prefix(e, "%s", path);
        dp_lora_gguf_free(x);
        return s;
    }
    *out = x;
    return DP_OK;
}

bool dp_lora_gguf_has(void *ud, int layer, dp_wrole r) {
    const dp_lora_gguf *x = ud;
    return x->ab[((size_t)layer * DP_W_LAYER_COUNT + (size_t)r) * 2] != NULL;
}

dp_status dp_lora_gguf_values(void *ud, int layer, dp_wrole r, bool is_b, float *dst, dp_error *e) {
    dp_lora_gguf *x = ud;
    const dp_gguf_tensor *t = x->ab[((size_t)layer * DP_W_LAYER_COUNT + (size_t)r) * 2 + is_b];
    dp_status s = dp_reader_read(&x->rd, t->offset, x->raw, (size_t)t->size, e);
    if (s != DP_OK) return dp_err_prefix(e, "%s", t->name);
    dp_dequant_row(t->dtype, x->raw, dst, (size_t)(t->ne[0] * t->ne[1]));
    for (uint64_t i = 0; i < t->ne[0] * t->ne[1]; i++)
        if (!isfinite(dst[i])) return dp_err_set(e, DP_ERR_FORMAT, "GGUF adapter tensor '%s' holds a non-finite value", t->name);
    return is_b ? dp_lora_rope_rows(x->d, r, x->interleaved, dst, (int)t->ne[0], e) : DP_OK;
}

void dp_lora_gguf_free(dp_lora_gguf *x) {
    if (!x) return;
    dp_gguf_free(x->g);
    if (x->rd_open) dp_reader_close(&x->rd);
    dp_free(x->ab);
    dp_free(x->raw);
    dp_free(x);
}
