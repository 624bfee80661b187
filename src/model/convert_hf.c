/* convert_hf.c — a Hugging Face checkpoint directory (config.json + safetensors) to RDRR. */
#include <stdio.h>
#include <string.h>

#include "format/safetensors.h"
#include "model/hf.h"
#include "model/write.h"

#define CONFIG_MAX (16u << 20)
#define TOKENIZER_MAX (256u << 20)

/* Where one canonical tensor's rows live in the checkpoint. */
typedef struct src_ref {
    const dp_st_tensor *st;
    int64_t row_offset;   /* first row inside the hub tensor (fused qkv / gate_up) */
} src_ref;

typedef struct hf_src {
    const dp_model_desc *d;
    dp_st *st;
    src_ref embd, out_norm, output;
    src_ref *layer;       /* [n_layers][DP_W_LAYER_COUNT] */
    src_ref *expert;      /* [n_layers][n_expert][3] */
    /* cache of the last hub tensor read as f32 */
    const dp_st_tensor *cached;
    float *cache;
} hf_src;

static src_ref *ref_for(hf_src *h, const dp_wtensor *t) {
    if (t->role == DP_HF_EMBED) return &h->embd;
    if (t->role == DP_HF_OUTPUT_NORM) return &h->out_norm;
    if (t->role == DP_HF_OUTPUT) return &h->output;
    if (t->expert >= 0) {
        size_t k = (size_t)dp_model_expert_slot(h->d, t->role);
        return &h->expert[((size_t)t->layer * (size_t)h->d->n_expert + (size_t)t->expert) * 3 + k];
    }
    return &h->layer[(size_t)t->layer * DP_W_LAYER_COUNT + (size_t)t->role];
}

static dp_status hf_rows(void *ud, const dp_wtensor *t, int64_t row0, int64_t n, float *dst, dp_error *e) {
    hf_src *h = ud;
    src_ref *r = ref_for(h, t);
    if (!r->st) return dp_err_set(e, DP_ERR_NOT_FOUND, "checkpoint has no tensor for %s", t->name);
    if (h->cached != r->st) {
        dp_free(h->cache);
        h->cached = NULL;
        h->cache = dp_malloc((size_t)dp_st_numel(r->st) * sizeof(float));
        if (!h->cache) return dp_err_set(e, DP_ERR_NOMEM, "out of memory reading %s", r->st->name);
        dp_status st = dp_st_read_f32(h->st, r->st, h->cache, e);
        if (st != DP_OK) return st;
        h->cached = r->st;
    }
    memcpy(dst, h->cache + (size_t)(r->row_offset + row0) * (size_t)t->cols, (size_t)(n * t->cols) * sizeof(float));
    return DP_OK;
}

/* Check a hub tensor's shape is [rows, cols] (vectors: [cols]). */
static dp_status check_shape(const dp_st_tensor *st, int64_t rows, int64_t cols, dp_error *e) {
    bool ok = (st->n_dims == 2 && (int64_t)st->shape[0] == rows && (int64_t)st->shape[1] == cols) ||
              (rows == 1 && st->n_dims == 1 && (int64_t)st->shape[0] == cols);
    if (!ok) return dp_err_set(e, DP_ERR_FORMAT, "tensor '%s' has shape [%llu%s], expected [%lld, %lld]", st->name,
                               (unsigned long long)st->shape[0], st->n_dims > 1 ? ", ..." : "", (long long)rows, (long long)cols);
    if (st->dtype != DP_DTYPE_F32 && st->dtype != DP_DTYPE_F16 && st->dtype != DP_DTYPE_BF16)
        return dp_err_set(e, DP_ERR_UNSUPPORTED, "tensor '%s' has dtype %s", st->name, dp_dtype_name(st->dtype));
    return DP_OK;
}

static dp_status map_tensors(hf_src *h, dp_error *e) {
    const dp_model_desc *d = h->d;
    int64_t q = (int64_t)d->n_head * d->head_dim, kv = (int64_t)d->n_kv_head * d->head_dim;
    for (size_t i = 0; i < dp_st_count(h->st); i++) {
        const dp_st_tensor *st = dp_st_at(h->st, i);
        dp_hf_name nm;
        if (strstr(st->name, "rotary_emb.inv_freq")) continue; /* derived, not a weight */
        if (!dp_hf_map_name(d, st->name, &nm))
            return dp_err_set(e, DP_ERR_UNSUPPORTED, "tensor '%s' is not part of a %s model", st->name, dp_family_name(d->family));
        dp_status s = DP_OK;
        int64_t rows = 1, cols = d->hidden;
        if (nm.role == DP_HF_FUSED_QKV) {
            s = check_shape(st, q + 2 * kv, d->hidden, e);
            src_ref *L = &h->layer[(size_t)nm.layer * DP_W_LAYER_COUNT];
            L[DP_W_Q] = (src_ref){st, 0};
            L[DP_W_K] = (src_ref){st, q};
            L[DP_W_V] = (src_ref){st, q + kv};
            if (s != DP_OK) return s;
            continue;
        }
        if (nm.role == DP_HF_FUSED_GATE_UP) {
            s = check_shape(st, 2 * (int64_t)d->ffn, d->hidden, e);
            src_ref *L = &h->layer[(size_t)nm.layer * DP_W_LAYER_COUNT];
            L[DP_W_GATE] = (src_ref){st, 0};
            L[DP_W_UP] = (src_ref){st, d->ffn};
            if (s != DP_OK) return s;
            continue;
        }
        dp_wtensor t = {st->name, nm.layer, nm.expert, nm.role, 0, 0, DP_DTYPE_F32};
        if (nm.role == DP_HF_EMBED || nm.role == DP_HF_OUTPUT) rows = d->vocab;
        else if (nm.role != DP_HF_OUTPUT_NORM) dp_model_wshape(d, (dp_wrole)nm.role, &rows, &cols);
        if (nm.role < DP_HF_EMBED && !dp_model_has(d, (dp_wrole)nm.role))
            return dp_err_set(e, DP_ERR_UNSUPPORTED, "tensor '%s' is not used by a %s model", st->name, dp_family_name(d->family));
        if ((s = check_shape(st, rows, cols, e))) return s;
        src_ref *r = ref_for(h, &t);
        if (r->st) return dp_err_set(e, DP_ERR_FORMAT, "tensor '%s' maps onto a tensor already given", st->name);
        *r = (src_ref){st, 0};
    }
    if (d->tied_embeddings && h->output.st)
        return dp_err_set(e, DP_ERR_FORMAT, "config says tie_word_embeddings but the checkpoint has lm_head.weight");
    if (!d->tied_embeddings && !h->output.st)
        return dp_err_set(e, DP_ERR_NOT_FOUND, "checkpoint has no lm_head.weight (and tie_word_embeddings is false)");
    if (!h->embd.st) return dp_err_set(e, DP_ERR_NOT_FOUND, "checkpoint has no model.embed_tokens.weight");
    if (!h->out_norm.st) return dp_err_set(e, DP_ERR_NOT_FOUND, "checkpoint has no model.norm.weight");
    for (int l = 0; l < d->n_layers; l++)
        for (int r = 0; r < DP_W_LAYER_COUNT; r++) {
            if (!dp_model_has(d, (dp_wrole)r) || dp_model_expert_slot(d, r) >= 0) continue;
            if (!h->layer[(size_t)l * DP_W_LAYER_COUNT + (size_t)r].st)
                return dp_err_set(e, DP_ERR_NOT_FOUND, "checkpoint has no %s for layer %d", dp_wrole_name((dp_wrole)r), l);
        }
    for (size_t i = 0; i < (size_t)d->n_layers * (size_t)d->n_expert * 3; i++)
        if (!h->expert[i].st)
            return dp_err_set(e, DP_ERR_NOT_FOUND, "checkpoint lacks expert %zu of layer %zu", (i / 3) % (size_t)d->n_expert,
                              i / 3 / (size_t)d->n_expert);
    return DP_OK;
}

/* Copy tokenizer files next to the manifest; returns the manifest's tokenizer object text. */
static dp_status copy_tokenizer(const char *src, const char *dst, dp_buf *tok, dp_error *e) {
    static const char *const files[] = {"tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "tokenizer.model"};
    const size_t n = sizeof files / sizeof files[0];
    for (size_t i = 0; i < n; i++) {
        char *from = dp_path_join(src, files[i]), *to = dp_path_join(dst, files[i]);
        dp_status st = DP_OK;
        if (!from || !to) st = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
        else if (dp_file_exists(from)) {
            char *data = NULL;
            size_t len = 0;
            st = dp_file_read_all(from, TOKENIZER_MAX, &data, &len, e);
            if (st == DP_OK) st = dp_file_write_all(to, data, len, e);
            dp_free(data);
        }
        dp_free(from);
        dp_free(to);
        if (st != DP_OK) return st;
    }
    return dp_tokenizer_files_json(dst, files, n, tok, e);
}

dp_status dp_convert_hf(const char *hf_dir, const char *out_dir, const dp_write_opts *o, dp_error *e) {
    char *cfg_path = dp_path_join(hf_dir, "config.json");
    char *text = NULL;
    size_t len = 0;
    dp_json_doc *doc = NULL;
    dp_model_desc *d = dp_calloc(1, sizeof *d);
    hf_src h = {0};
    dp_buf tok = {0};
    dp_status st = (!cfg_path || !d) ? dp_err_set(e, DP_ERR_NOMEM, "out of memory") : DP_OK;
    if (st == DP_OK) st = dp_file_read_all(cfg_path, CONFIG_MAX, &text, &len, e);
    if (st == DP_OK) st = dp_json_parse(text, len, &doc, e);
    if (st != DP_OK) dp_err_prefix(e, "%s", cfg_path ? cfg_path : "config.json");
    if (st == DP_OK) st = dp_model_from_hf_config(dp_json_root(doc), d, e);
    if (st == DP_OK) st = dp_st_open(hf_dir, &h.st, e);
    if (st == DP_OK) {
        h.d = d;
        h.layer = dp_calloc((size_t)d->n_layers * DP_W_LAYER_COUNT, sizeof(src_ref));
        h.expert = dp_calloc((size_t)d->n_layers * (size_t)(d->n_expert ? d->n_expert : 1) * 3, sizeof(src_ref));
        if (!h.layer || !h.expert) st = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    }
    if (st == DP_OK) st = map_tensors(&h, e);
    if (st == DP_OK) st = dp_mkdir_p(out_dir, e);
    if (st == DP_OK) st = copy_tokenizer(hf_dir, out_dir, &tok, e);
    if (st == DP_OK) {
        dp_write_opts wo = *o;
        wo.source = o->source ? o->source : hf_dir;
        wo.tokenizer_json = tok.data;
        if (wo.recipe == DP_RECIPE_KEEP) wo.recipe = DP_RECIPE_F32;
        dp_wsource src = {&h, hf_rows, NULL, NULL, false, false};
        st = dp_model_write(d, out_dir, &wo, &src, e);
    }
    dp_buf_free(&tok);
    dp_free(h.cache);
    dp_free(h.layer);
    dp_free(h.expert);
    dp_st_free(h.st);
    dp_json_free(doc);
    dp_free(text);
    dp_free(cfg_path);
    dp_free(d);
    return st;
}
