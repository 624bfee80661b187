/* lora_write.c — writing RDRR adapters for one base model (model/lora.h): from a PEFT LoRA
 * directory (adapter_config.json + adapter_model.safetensors), a GGUF LoRA file (lora_gguf.c),
 * or random (benchmarks). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "format/safetensors.h"
#include "model/hf.h"
#include "model/lora.h"
#include "model/write.h"

#define CONFIG_MAX (16u << 20)
#define PEFT_PREFIX "base_model.model."

/* PEFT's module names of the projections an adapter may target */
static const struct { const char *peft; dp_wrole role; } MODULES[] = {
    {"q_proj", DP_W_Q}, {"k_proj", DP_W_K}, {"v_proj", DP_W_V}, {"o_proj", DP_W_O},
    {"gate_proj", DP_W_GATE}, {"up_proj", DP_W_UP}, {"down_proj", DP_W_DOWN},
};

/* Settings of adapter_config.json that change the arithmetic and that Doppler does not do. */
static dp_status check_unsupported(const dp_json *cfg, dp_error *e) {
    static const char *const flags[] = {"use_dora", "fan_in_fan_out", "use_qalora", "lora_bias"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        bool b = false;
        if (dp_json_bool(dp_json_get(cfg, flags[i]), &b) && b)
            return dp_err_set(e, DP_ERR_UNSUPPORTED, "adapter_config.json: %s is not supported", flags[i]);
    }
    static const char *const maps[] = {"rank_pattern", "alpha_pattern", "modules_to_save"};
    for (size_t i = 0; i < sizeof maps / sizeof maps[0]; i++) {
        const dp_json *v = dp_json_get(cfg, maps[i]);
        if (v && !dp_json_is(v, DP_JSON_NULL) && v->len > 0)
            return dp_err_set(e, DP_ERR_UNSUPPORTED, "adapter_config.json: %s is not supported", maps[i]);
    }
    const char *bias = NULL;
    if (dp_json_str(dp_json_get(cfg, "bias"), &bias) && strcmp(bias, "none"))
        return dp_err_set(e, DP_ERR_UNSUPPORTED, "adapter_config.json: bias \"%s\" is not supported", bias);
    return DP_OK;
}

static dp_status parse_targets(const dp_json *t, uint32_t *targets, dp_error *e) {
    if (!dp_json_is(t, DP_JSON_ARRAY))
        return dp_err_set(e, DP_ERR_UNSUPPORTED, "adapter_config.json: target_modules is not a list of module names");
    for (uint32_t i = 0; i < t->len; i++) {
        const char *name = NULL;
        size_t k = 0;
        if (dp_json_str(dp_json_at(t, i), &name))
            for (; k < sizeof MODULES / sizeof MODULES[0] && strcmp(name, MODULES[k].peft); k++) {}
        if (!name || k == sizeof MODULES / sizeof MODULES[0])
            return dp_err_set(e, DP_ERR_UNSUPPORTED, "adapter_config.json: unknown target module '%s' "
                              "(q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)", name ? name : "?");
        *targets |= 1u << MODULES[k].role;
    }
    return DP_OK;
}

/* r, lora_alpha, use_rslora, target_modules, and the base class when PEFT recorded it. */
static dp_status read_config(const dp_json *cfg, const dp_model_desc *d, dp_lora_desc *a, dp_error *e) {
    const char *type = NULL, *cls = NULL;
    if (!dp_json_str(dp_json_get(cfg, "peft_type"), &type) || strcmp(type, "LORA"))
        return dp_err_set(e, DP_ERR_UNSUPPORTED, "adapter_config.json: peft_type is not \"LORA\"");
    dp_status st = check_unsupported(cfg, e);
    if (st != DP_OK) return st;
    int64_t r = 0;
    if (!dp_json_i64(dp_json_get(cfg, "r"), &r) || r < 0 || r > INT32_MAX)
        return dp_err_set(e, DP_ERR_FORMAT, "adapter_config.json: r is not a non-negative integer");
    a->rank = (int)r;
    if (!dp_json_num(dp_json_get(cfg, "lora_alpha"), &a->alpha))
        return dp_err_set(e, DP_ERR_FORMAT, "adapter_config.json: lora_alpha is not a number");
    const dp_json *rs = dp_json_get(cfg, "use_rslora");
    if (rs && !dp_json_bool(rs, &a->rslora))
        return dp_err_set(e, DP_ERR_FORMAT, "adapter_config.json: use_rslora is not a boolean");
    if ((st = parse_targets(dp_json_get(cfg, "target_modules"), &a->targets, e))) return st;
    /* "LlamaForCausalLM" names family llama, "Gemma3ForCausalLM" gemma3, ... */
    if (dp_json_str(dp_json_get(dp_json_get(cfg, "auto_mapping"), "base_model_class"), &cls)) {
        char fam[64] = {0};
        size_t n = strlen(cls), k = strlen("ForCausalLM");
        bool ok = n > k && n - k < sizeof fam && !strcmp(cls + n - k, "ForCausalLM");
        for (size_t i = 0; ok && i < n - k; i++) fam[i] = (char)tolower((unsigned char)cls[i]);
        if (!ok || strcmp(fam, dp_family_name(d->family)))
            return dp_err_set(e, DP_ERR_FORMAT, "adapter was trained on a %s, the base is a %s model", cls,
                              dp_family_name(d->family));
    }
    a->family = d->family;
    return dp_lora_validate(a, d, e);
}

/* The (layer, role, A or B) of a PEFT tensor name; a refusal names the tensor. */
static dp_status map_name(const dp_model_desc *d, const dp_lora_desc *a, const dp_st_tensor *t, int *layer,
                          dp_wrole *role, bool *is_b, dp_error *e) {
    char hf[512];
    const char *s = t->name;
    size_t n = strlen(s), pre = strlen(PEFT_PREFIX), suf = strlen(".lora_A.weight");
    if (n <= pre + suf || n - pre - suf + sizeof ".weight" > sizeof hf || strncmp(s, PEFT_PREFIX, pre) ||
        (strcmp(s + n - suf, ".lora_A.weight") && strcmp(s + n - suf, ".lora_B.weight")))
        return dp_err_set(e, DP_ERR_UNSUPPORTED, "adapter tensor '%s' is not a LoRA A or B matrix", s);
    *is_b = s[n - suf + 6] == 'B';
    snprintf(hf, sizeof hf, "%.*s.weight", (int)(n - pre - suf), s + pre);
    dp_hf_name nm;
    if (!dp_hf_map_name(d, hf, &nm) || nm.layer < 0 || nm.expert >= 0 || !dp_lora_role_ok(d, nm.role))
        return dp_err_set(e, DP_ERR_UNSUPPORTED, "adapter tensor '%s' targets no projection of the %s base "
                          "that an adapter can change", s, dp_family_name(d->family));
    if (!(a->targets >> nm.role & 1u))
        return dp_err_set(e, DP_ERR_FORMAT, "adapter tensor '%s' is for a module outside target_modules", s);
    int64_t rows, cols;
    dp_model_wshape(d, (dp_wrole)nm.role, &rows, &cols);
    uint64_t want0 = *is_b ? (uint64_t)rows : (uint64_t)a->rank, want1 = *is_b ? (uint64_t)a->rank : (uint64_t)cols;
    if (t->n_dims != 2 || t->shape[0] != want0 || t->shape[1] != want1)
        return dp_err_set(e, DP_ERR_FORMAT, "adapter tensor '%s' has shape [%llu, %llu], the base needs [%llu, %llu]", s,
                          (unsigned long long)t->shape[0], t->n_dims > 1 ? (unsigned long long)t->shape[1] : 0ull,
                          (unsigned long long)want0, (unsigned long long)want1);
    if (t->dtype != DP_DTYPE_F32 && t->dtype != DP_DTYPE_F16 && t->dtype != DP_DTYPE_BF16)
        return dp_err_set(e, DP_ERR_UNSUPPORTED, "adapter tensor '%s' has dtype %s", s, dp_dtype_name(t->dtype));
    *layer = nm.layer;
    *role = (dp_wrole)nm.role;
    return DP_OK;
}

/* The values of one adapter matrix (f32, rank x cols for A, rows x rank for B) into dst. */
typedef dp_status (*lora_values_fn)(void *ud, int layer, dp_wrole r, bool is_b, float *dst, dp_error *e);

/* Every (layer, role) the adapter holds (has(ud, layer, role)), A then B, layer by layer. */
static dp_status write_tensors(const dp_model_desc *d, const dp_lora_desc *a, bool (*has)(void *, int, dp_wrole),
                               lora_values_fn values, void *ud, dp_rdrr_writer *w, dp_error *e) {
    float *buf = NULL;
    size_t cap = 0;
    dp_status s = DP_OK;
    for (int l = 0; l < d->n_layers && s == DP_OK; l++)
        for (int r = 0; r < DP_W_LAYER_COUNT && s == DP_OK; r++) {
            if (!has(ud, l, (dp_wrole)r)) continue;
            int64_t rows, cols;
            dp_model_wshape(d, (dp_wrole)r, &rows, &cols);
            for (int k = 0; k < 2 && s == DP_OK; k++) {
                char name[96];
                uint64_t ne0 = k ? (uint64_t)a->rank : (uint64_t)cols, ne1 = k ? (uint64_t)rows : (uint64_t)a->rank;
                if (ne0 * ne1 > cap) {
                    dp_free(buf);
                    cap = (size_t)(ne0 * ne1);
                    if (!(buf = dp_malloc(cap * sizeof(float)))) {
                        s = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
                        break;
                    }
                }
                dp_lora_tensor_name(name, sizeof name, l, (dp_wrole)r, k == 1);
                dp_rdrr_tensor_desc td = {name, DP_DTYPE_F32, {ne0, ne1}, k ? "lora_b" : "lora_a", l, -1};
                if ((s = values(ud, l, (dp_wrole)r, k == 1, buf, e)) == DP_OK) s = dp_rdrr_writer_add_mem(w, &td, buf, e);
            }
        }
    dp_free(buf);
    return s;
}

/* Writes the adapter's tensors and its manifest into out_dir. */
static dp_status write_adapter(const dp_model_desc *d, const dp_lora_desc *a, const char *source, bool (*has)(void *, int, dp_wrole),
                               lora_values_fn values, void *ud, const char *out_dir, uint64_t shard_max, dp_error *e) {
    dp_rdrr_writer *w = NULL;
    dp_buf json = {0};
    dp_status s = dp_rdrr_writer_new(out_dir, shard_max, &w, e);
    if (s == DP_OK) s = write_tensors(d, a, has, values, ud, w, e);
    if (s == DP_OK) {
        dp_lora_to_json(a, source, &json);
        s = json.oom ? dp_err_set(e, DP_ERR_NOMEM, "out of memory") : dp_rdrr_writer_finish(w, json.data, NULL, e);
    }
    dp_buf_free(&json);
    dp_rdrr_writer_free(w);
    return s;
}

/* ---- from PEFT ---- */

typedef struct peft_src {
    const dp_model_desc *d;
    int rank;
    const dp_st *st;
    const dp_st_tensor **ab;   /* [n_layers][DP_W_LAYER_COUNT][A, B] */
} peft_src;

static bool peft_has(void *ud, int l, dp_wrole r) {
    const peft_src *p = ud;
    const dp_st_tensor **t = &p->ab[((size_t)l * DP_W_LAYER_COUNT + (size_t)r) * 2];
    return t[0] || t[1];
}

static dp_status peft_values(void *ud, int l, dp_wrole r, bool is_b, float *dst, dp_error *e) {
    const peft_src *p = ud;
    const dp_st_tensor **t = &p->ab[((size_t)l * DP_W_LAYER_COUNT + (size_t)r) * 2];
    if (!t[0] || !t[1])
        return dp_err_set(e, DP_ERR_NOT_FOUND, "adapter has lora_%c but no lora_%c for %s of layer %d", t[0] ? 'A' : 'B',
                          t[0] ? 'B' : 'A', dp_wrole_name(r), l);
    dp_status s = dp_st_read_f32(p->st, t[is_b], dst, e);
    /* PEFT's q / k rows are in rotate-half order; a base imported from a llama GGUF keeps GGML's */
    return s == DP_OK && is_b ? dp_lora_rope_rows(p->d, r, false, dst, p->rank, e) : s;
}

static dp_status convert(const char *peft_dir, const char *out_dir, const char *base_dir, const dp_write_opts *o,
                         dp_rdrr *base, dp_model_desc *d, dp_error *e) {
    char *cfg_path = dp_path_join(peft_dir, "adapter_config.json");
    char *st_path = dp_path_join(peft_dir, "adapter_model.safetensors");
    char *text = NULL;
    size_t len = 0;
    dp_json_doc *doc = NULL;
    dp_st *st = NULL;
    const dp_st_tensor **ab = NULL;
    dp_lora_desc a = {0};
    dp_status s = (!cfg_path || !st_path) ? dp_err_set(e, DP_ERR_NOMEM, "out of memory") : DP_OK;
    if (s == DP_OK) s = dp_model_from_json(dp_rdrr_model(base), d, e);
    if (s != DP_OK) dp_err_prefix(e, "base %s", base_dir);
    if (s == DP_OK && (s = dp_file_read_all(cfg_path, CONFIG_MAX, &text, &len, e)) == DP_OK)
        s = dp_json_parse(text, len, &doc, e);
    if (s == DP_OK && (s = read_config(dp_json_root(doc), d, &a, e)) != DP_OK) dp_err_prefix(e, "%s", peft_dir);
    snprintf(a.base, sizeof a.base, "sha256:%s", dp_rdrr_id(base));
    if (s == DP_OK) s = dp_st_open(st_path, &st, e);
    if (s == DP_OK && !(ab = dp_calloc((size_t)d->n_layers * DP_W_LAYER_COUNT * 2, sizeof *ab)))
        s = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    for (size_t i = 0; s == DP_OK && i < dp_st_count(st); i++) {
        const dp_st_tensor *t = dp_st_at(st, i);
        int layer = 0;
        dp_wrole role = DP_W_Q;
        bool is_b = false;
        if ((s = map_name(d, &a, t, &layer, &role, &is_b, e))) break;
        ab[((size_t)layer * DP_W_LAYER_COUNT + (size_t)role) * 2 + is_b] = t;
    }
    if (s == DP_OK && dp_st_count(st) == 0) s = dp_err_set(e, DP_ERR_NOT_FOUND, "%s holds no tensors", st_path);
    peft_src src = {d, a.rank, st, ab};
    if (s == DP_OK)
        s = write_adapter(d, &a, o && o->source ? o->source : peft_dir, peft_has, peft_values, &src, out_dir,
                          o ? o->shard_max : 0, e);
    dp_free(ab);
    dp_st_free(st);
    dp_json_free(doc);
    dp_free(text);
    dp_free(cfg_path);
    dp_free(st_path);
    return s;
}

/* ---- from GGUF (llama.cpp's convert_lora_to_gguf.py) ---- */

static dp_status convert_gguf(const char *path, const char *out_dir, const char *base_dir, const dp_write_opts *o,
                              dp_rdrr *base, dp_model_desc *d, dp_error *e) {
    dp_lora_desc a = {0};
    dp_lora_gguf *x = NULL;
    dp_status s = dp_model_from_json(dp_rdrr_model(base), d, e);
    if (s != DP_OK) dp_err_prefix(e, "base %s", base_dir);
    if (s == DP_OK) s = dp_lora_gguf_open(path, d, &a, &x, e);
    snprintf(a.base, sizeof a.base, "sha256:%s", dp_rdrr_id(base));
    if (s == DP_OK)
        s = write_adapter(d, &a, o && o->source ? o->source : path, dp_lora_gguf_has, dp_lora_gguf_values, x, out_dir,
                          o ? o->shard_max : 0, e);
    dp_lora_gguf_free(x);
    return s;
}

/* Opens base_dir's manifest and description (refusing an adapter given as the base). */
static dp_status open_base(const char *base_dir, dp_rdrr **base, dp_model_desc **d, dp_error *e) {
    if (!(*d = dp_calloc(1, sizeof **d))) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    dp_status s = dp_rdrr_open(base_dir, base, e);
    if (s == DP_OK && dp_lora_is_adapter(dp_rdrr_model(*base)))
        s = dp_err_set(e, DP_ERR_INVALID_ARG, "--base %s is a LoRA adapter, not a model", base_dir);
    return s;
}

dp_status dp_convert_lora(const char *peft_dir, const char *out_dir, const char *base_dir, const dp_write_opts *o,
                          dp_error *e) {
    if (!peft_dir || !out_dir || !base_dir) return dp_err_set(e, DP_ERR_INVALID_ARG, "convert lora: NULL argument");
    dp_rdrr *base = NULL;
    dp_model_desc *d = NULL;
    dp_status s = open_base(base_dir, &base, &d, e);
    size_t n = strlen(peft_dir);
    if (s == DP_OK && n > 5 && !strcmp(peft_dir + n - 5, ".gguf")) s = convert_gguf(peft_dir, out_dir, base_dir, o, base, d, e);
    else if (s == DP_OK) s = convert(peft_dir, out_dir, base_dir, o, base, d, e);
    dp_rdrr_free(base);
    dp_free(d);
    return s;
}

/* ---- random ---- */

typedef struct rand_src {
    const dp_model_desc *d;
    const dp_lora_desc *a;
    uint64_t state;
} rand_src;

static bool rand_has(void *ud, int l, dp_wrole r) {
    (void)l;
    return ((const rand_src *)ud)->a->targets >> r & 1u;
}

/* uniform in +-1/sqrt(row length), like PyTorch's default init of a linear layer */
static dp_status rand_values(void *ud, int l, dp_wrole r, bool is_b, float *dst, dp_error *e) {
    (void)l;
    (void)e;
    rand_src *p = ud;
    int64_t rows, cols;
    dp_model_wshape(p->d, r, &rows, &cols);
    int64_t len = is_b ? p->a->rank : cols, n = (is_b ? rows : p->a->rank) * len;
    float bound = 1.0f / sqrtf((float)len);
    for (int64_t i = 0; i < n; i++) {
        p->state ^= p->state << 13;
        p->state ^= p->state >> 7;
        p->state ^= p->state << 17;
        dst[i] = bound * (2.0f * (float)(p->state >> 40) / 16777216.0f - 1.0f);
    }
    return DP_OK;
}

dp_status dp_synth_lora(const char *base_dir, const char *out_dir, int rank, const dp_write_opts *o, dp_error *e) {
    if (!base_dir || !out_dir) return dp_err_set(e, DP_ERR_INVALID_ARG, "synth lora: NULL argument");
    dp_rdrr *base = NULL;
    dp_model_desc *d = NULL;
    dp_lora_desc a = {0};
    dp_status s = open_base(base_dir, &base, &d, e);
    if (s == DP_OK) s = dp_model_from_json(dp_rdrr_model(base), d, e);
    if (s == DP_OK) {
        snprintf(a.base, sizeof a.base, "sha256:%s", dp_rdrr_id(base));
        a.family = d->family;
        a.rank = rank;
        a.alpha = 2.0 * rank;
        for (int r = 0; r < DP_W_LAYER_COUNT; r++)
            if (dp_lora_role_ok(d, r)) a.targets |= 1u << r;
        s = dp_lora_validate(&a, d, e);
    }
    rand_src src = {d, &a, 0x9E3779B97F4A7C15ull};
    if (s == DP_OK) s = write_adapter(d, &a, "synth", rand_has, rand_values, &src, out_dir, o ? o->shard_max : 0, e);
    dp_rdrr_free(base);
    dp_free(d);
    return s;
}
