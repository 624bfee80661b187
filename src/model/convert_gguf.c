/* convert_gguf.c — GGUF files, as llama.cpp writes them, to RDRR.
 *
 * Architectures: llama (Mixtral is written by llama.cpp as "llama" with experts), gemma2, gemma3,
 * phi3, qwen3. What llama.cpp's converter did to the weights, and what the import does about it:
 *   - llama / Mixtral q and k rows are permuted for GGML's "normal" rope (rotating pairs 2i, 2i+1):
 *     the rows are kept as stored and the description says rope_interleaved;
 *   - Gemma norm weights (every *norm.weight) were stored as 1 + w: kept, norm_plus_one = false;
 *   - llama3 rope scaling exists only as rope_freqs.weight (per-pair frequency divisors): kept as
 *     the "factors" rope scaling; a linear factor comes from rope.scaling.factor (any type but yarn);
 *   - Phi-3 longrope: rope_factors_long/short.weight, rope.scaling.attn_factor (default 1, as in
 *     llama.cpp) and rope.scaling.original_context_length;
 *   - Phi-3's fused attn_qkv (rows q | k | v) and ffn_up (rows gate | up) are split by row ranges;
 *   - experts stacked as 3-D ffn_{gate,up,down}_exps [n_expert][rows][cols] are split per expert
 *     (the older per-expert blk.N.ffn_gate.E.weight layout is read too);
 *   - attention scale: <arch>.attention.scale when present, else llama.cpp's rule (1/sqrt(head_dim);
 *     Gemma 27B: 1/sqrt(hidden / n_head));
 *   - sliding windows: Gemma 2 (pattern 2) and Gemma 3 (pattern 6, rope.freq_base_swa for local
 *     layers) as llama.cpp; Phi-3's window is honoured as the reference implementation does
 *     (llama.cpp disables it); llama and qwen3 have none.
 * Under DP_RECIPE_KEEP every tensor keeps its stored type (quantized blocks are copied byte for
 * byte); other recipes dequantize and requantize. The tokenizer.* metadata is copied into
 * <out>/tokenizer.gguf, a vocabulary-only GGUF the tokenizer loader reads. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "format/gguf.h"
#include "format/quant.h"
#include "model/gguf_out.h"
#include "model/hf.h"
#include "model/write.h"

/* Where one canonical tensor's rows live in the file. */
typedef struct gref {
    const dp_gguf_tensor *t;
    int64_t row0;          /* first row inside the GGUF tensor (fused or stacked tensors) */
} gref;

typedef struct gsrc {
    const dp_model_desc *d;
    const dp_gguf *g;
    const dp_reader *rd;
    gref embd, out_norm, output;
    gref *layer;           /* [n_layers][DP_W_LAYER_COUNT] */
    gref *expert;          /* [n_layers][n_expert][3]: gate, up, down */
    uint8_t *buf;          /* raw rows staged for dequantization */
    size_t cap;
} gsrc;

/* ---- metadata ---- */

typedef struct meta {
    const dp_gguf *g;
    const char *arch;
    dp_error *e;
    dp_status st;
} meta;

static const char *akey(const meta *m, const char *suffix, char *buf, size_t n) {
    snprintf(buf, n, "%s.%s", m->arch, suffix);
    return buf;
}

/* Integer key (full name); absent: dflt, or an error when required. */
static int64_t m_int(meta *m, const char *key, bool required, int64_t dflt, int64_t lo, int64_t hi) {
    int64_t v;
    if (m->st != DP_OK) return dflt;
    if (!dp_gguf_find(m->g, key)) {
        if (required) m->st = dp_err_set(m->e, DP_ERR_FORMAT, "GGUF: missing metadata '%s'", key);
        return dflt;
    }
    if (!dp_gguf_get_i64(m->g, key, &v)) {
        m->st = dp_err_set(m->e, DP_ERR_FORMAT, "GGUF: metadata '%s' must be an integer", key);
        return dflt;
    }
    if (v < lo || v > hi) {
        m->st = dp_err_set(m->e, DP_ERR_FORMAT, "GGUF: metadata '%s' = %lld is out of range [%lld, %lld]", key,
                           (long long)v, (long long)lo, (long long)hi);
        return dflt;
    }
    return v;
}

static int64_t m_aint(meta *m, const char *suffix, bool required, int64_t dflt, int64_t lo, int64_t hi) {
    char k[160];
    return m_int(m, akey(m, suffix, k, sizeof k), required, dflt, lo, hi);
}

static double m_anum(meta *m, const char *suffix, bool required, double dflt) {
    char k[160];
    double v;
    akey(m, suffix, k, sizeof k);
    if (m->st != DP_OK) return dflt;
    if (!dp_gguf_find(m->g, k)) {
        if (required) m->st = dp_err_set(m->e, DP_ERR_FORMAT, "GGUF: missing metadata '%s'", k);
        return dflt;
    }
    if (!dp_gguf_get_f64(m->g, k, &v) || !isfinite(v)) {
        m->st = dp_err_set(m->e, DP_ERR_FORMAT, "GGUF: metadata '%s' must be a finite number", k);
        return dflt;
    }
    return v;
}

/* Reads a small f32 vector tensor (rope factors) of exactly n values. */
static dp_status read_vec(const gsrc *s, const dp_gguf_tensor *t, float *dst, int n, dp_error *e) {
    if (t->n_dims != 1 || t->ne[0] != (uint64_t)n)
        return dp_err_set(e, DP_ERR_FORMAT, "GGUF: tensor '%s' must have %d values", t->name, n);
    if (dp_dtype_is_quant(t->dtype))
        return dp_err_set(e, DP_ERR_FORMAT, "GGUF: tensor '%s' must be a float tensor", t->name);
    uint8_t raw[DP_MAX_ROPE_FACTORS * 4];
    dp_status st = dp_reader_read(s->rd, t->offset, raw, (size_t)t->size, e);
    if (st != DP_OK) return dp_err_prefix(e, "%s", t->name);
    dp_dequant_row(t->dtype, raw, dst, (size_t)n);
    for (int i = 0; i < n; i++)
        if (!(dst[i] > 0) || !isfinite(dst[i]))
            return dp_err_set(e, DP_ERR_FORMAT, "GGUF: tensor '%s' holds a non-positive factor", t->name);
    return DP_OK;
}

typedef struct arch_info {
    const char *name;
    dp_family family;
} arch_info;

static const arch_info ARCHS[] = {
    {"llama", DP_FAMILY_LLAMA}, {"gemma2", DP_FAMILY_GEMMA2}, {"gemma3", DP_FAMILY_GEMMA3},
    {"phi3", DP_FAMILY_PHI3},   {"qwen3", DP_FAMILY_QWEN3},
};

static dp_status read_rope(gsrc *s, meta *m, dp_model_desc *d) {
    dp_error *e = m->e;
    char k[160];
    dp_gguf_str type = {"linear", 6};
    if (dp_gguf_find(s->g, akey(m, "rope.scaling.type", k, sizeof k)) && !dp_gguf_get_str(s->g, k, &type))
        return dp_err_set(e, DP_ERR_FORMAT, "GGUF: metadata '%s' must be a string", k);
    double factor = m_anum(m, "rope.scaling.factor", false, 0);
    if (factor == 0) factor = m_anum(m, "rope.scale_linear", false, 0);
    if (m->st != DP_OK) return m->st;
    if (!strcmp(type.s, "yarn"))
        return dp_err_set(e, DP_ERR_UNSUPPORTED, "GGUF: yarn rope scaling is not supported");
    if (strcmp(type.s, "linear") && strcmp(type.s, "none") && strcmp(type.s, "longrope"))
        return dp_err_set(e, DP_ERR_UNSUPPORTED, "GGUF: unknown rope scaling type '%s'", type.s);
    if (factor < 0) return dp_err_set(e, DP_ERR_FORMAT, "GGUF: negative rope scaling factor");
    /* llama.cpp applies the factor as a linear frequency scale whatever the type says */
    if (factor != 0 && factor != 1) {
        d->rope.scaling = DP_ROPE_SCALING_LINEAR;
        d->rope.factor = factor;
    }
    int half = d->rot_dim / 2;
    if (half > DP_MAX_ROPE_FACTORS) return dp_err_set(e, DP_ERR_LIMIT, "GGUF: rope dimension count too large");
    const dp_gguf_tensor *ff = dp_gguf_tensor_find(s->g, "rope_freqs.weight");
    const dp_gguf_tensor *fl = dp_gguf_tensor_find(s->g, "rope_factors_long.weight");
    const dp_gguf_tensor *fs = dp_gguf_tensor_find(s->g, "rope_factors_short.weight");
    dp_status st = DP_OK;
    if (ff) {
        if (d->rope.scaling != DP_ROPE_SCALING_NONE)
            return dp_err_set(e, DP_ERR_UNSUPPORTED, "GGUF: rope_freqs.weight together with a rope scaling factor");
        d->rope.scaling = DP_ROPE_SCALING_FACTORS;
        d->rope.n_factors = half;
        if ((st = read_vec(s, ff, d->rope.short_factor, half, e))) return st;
        memcpy(d->rope.long_factor, d->rope.short_factor, (size_t)half * sizeof(float));
    }
    if (fl || fs) {
        if (d->family != DP_FAMILY_PHI3 || !fl || !fs || ff || d->rope.scaling != DP_ROPE_SCALING_NONE)
            return dp_err_set(e, DP_ERR_UNSUPPORTED, "GGUF: rope_factors_long/short are read for phi3 only, as a pair");
        d->rope.scaling = DP_ROPE_SCALING_LONGROPE;
        d->rope.n_factors = half;
        if ((st = read_vec(s, fl, d->rope.long_factor, half, e))) return st;
        if ((st = read_vec(s, fs, d->rope.short_factor, half, e))) return st;
        d->rope.original_max_pos = m_aint(m, "rope.scaling.original_context_length", false, d->max_pos, 1, (int64_t)1 << 30);
        d->rope.attention_factor = m_anum(m, "rope.scaling.attn_factor", false, 1.0);
        if (m->st == DP_OK && !(d->rope.attention_factor > 0))
            return dp_err_set(e, DP_ERR_FORMAT, "GGUF: rope.scaling.attn_factor must be positive");
    }
    return m->st;
}

static void read_tokens(meta *m, dp_model_desc *d) {
    d->bos_id = (int)m_int(m, "tokenizer.ggml.bos_token_id", false, -1, -1, d->vocab - 1);
    static const char *const eos_keys[] = {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id",
                                           "tokenizer.ggml.eom_token_id"};
    for (size_t i = 0; i < sizeof eos_keys / sizeof eos_keys[0]; i++) {
        int id = (int)m_int(m, eos_keys[i], false, -1, -1, d->vocab - 1);
        bool dup = false;
        for (int j = 0; j < d->n_eos; j++) dup |= d->eos_ids[j] == id;
        if (id >= 0 && !dup && d->n_eos < DP_MAX_EOS) d->eos_ids[d->n_eos++] = id;
    }
}

/* Which layers use the sliding window: the pattern key (a period, or one bool per layer). */
static void read_swa_pattern(meta *m, dp_model_desc *d, int dflt) {
    char k[160];
    const dp_gguf_kv *kv = dp_gguf_find(m->g, akey(m, "attention.sliding_window_pattern", k, sizeof k));
    if (kv && kv->type == DP_GGUF_ARRAY) {
        if (kv->n != (uint64_t)d->n_layers) {
            m->st = dp_err_set(m->e, DP_ERR_FORMAT, "GGUF: '%s' must list one value per layer", k);
            return;
        }
        for (int i = 0; i < d->n_layers; i++) {
            int64_t v;
            if (!dp_gguf_arr_i64(kv, (uint64_t)i, &v)) {
                m->st = dp_err_set(m->e, DP_ERR_FORMAT, "GGUF: '%s' holds a non-integer", k);
                return;
            }
            d->layer_local[i] = v != 0;
        }
        return;
    }
    int p = (int)m_int(m, k, false, dflt, 0, 1 << 20);
    for (int i = 0; i < d->n_layers; i++) d->layer_local[i] = p == 0 || i % p < p - 1;
}

static dp_status read_desc(gsrc *s, const char *arch, dp_model_desc *d, dp_error *e) {
    memset(d, 0, sizeof *d);
    bool found = false;
    for (size_t i = 0; i < sizeof ARCHS / sizeof ARCHS[0]; i++)
        if (!strcmp(arch, ARCHS[i].name)) { d->family = ARCHS[i].family; found = true; }
    if (!found)
        return dp_err_set(e, DP_ERR_UNSUPPORTED, "GGUF: unsupported architecture '%s' (supported: llama, gemma2, gemma3, phi3, qwen3)", arch);
    meta m = {s->g, arch, e, DP_OK};
    const dp_gguf_tensor *te = dp_gguf_tensor_find(s->g, "token_embd.weight");
    if (!te) return dp_err_set(e, DP_ERR_NOT_FOUND, "GGUF: no token_embd.weight");
    if (te->n_dims != 2 || te->ne[1] < 1 || te->ne[1] > (1u << 22))
        return dp_err_set(e, DP_ERR_FORMAT, "GGUF: token_embd.weight must be 2-D with at most 2^22 rows");
    d->vocab = (int)te->ne[1];
    d->hidden = (int)m_aint(&m, "embedding_length", true, 0, 1, 1 << 16);
    d->n_layers = (int)m_aint(&m, "block_count", true, 0, 1, DP_MAX_LAYERS);
    d->n_head = (int)m_aint(&m, "attention.head_count", true, 0, 1, 1024);
    d->n_kv_head = (int)m_aint(&m, "attention.head_count_kv", false, d->n_head, 1, 1024);
    if (m.st != DP_OK) return m.st;
    d->head_dim = (int)m_aint(&m, "attention.key_length", false, d->hidden / d->n_head, 1, 1024);
    int vlen = (int)m_aint(&m, "attention.value_length", false, d->head_dim, 1, 1024);
    if (m.st == DP_OK && vlen != d->head_dim)
        return dp_err_set(e, DP_ERR_UNSUPPORTED, "GGUF: key length %d differs from value length %d", d->head_dim, vlen);
    d->rot_dim = (int)m_aint(&m, "rope.dimension_count", false, d->head_dim, 2, d->head_dim);
    d->max_pos = m_aint(&m, "context_length", true, 0, 1, (int64_t)1 << 30);
    d->norm_eps = (float)m_anum(&m, "attention.layer_norm_rms_epsilon", true, 0);
    d->rope.theta = m_anum(&m, "rope.freq_base", false, 10000.0);
    d->n_expert = (int)m_aint(&m, "expert_count", false, 0, 0, 1024);
    d->n_expert_used = (int)m_aint(&m, "expert_used_count", false, 0, 0, d->n_expert);
    d->ffn = (int)m_aint(&m, "feed_forward_length", true, 0, 1, 1 << 20);
    if (d->n_expert > 0) d->ffn = (int)m_aint(&m, "expert_feed_forward_length", false, d->ffn, 1, 1 << 20);
    if (m.st != DP_OK) return m.st;
    if (d->n_expert > 0 && d->family != DP_FAMILY_LLAMA)
        return dp_err_set(e, DP_ERR_UNSUPPORTED, "GGUF: experts in a %s model are not supported", arch);
    if (d->n_expert > 0) d->family = DP_FAMILY_MIXTRAL;
    d->tied_embeddings = dp_gguf_tensor_find(s->g, "output.weight") == NULL;
    d->embed_scale = 1.0f;
    d->act = DP_ACT_SILU;
    d->rope_interleaved = d->family == DP_FAMILY_LLAMA || d->family == DP_FAMILY_MIXTRAL;
    d->attn_scale = 1.0f / sqrtf((float)d->head_dim);
    bool gemma = d->family == DP_FAMILY_GEMMA2 || d->family == DP_FAMILY_GEMMA3;
    if (gemma) {
        d->act = DP_ACT_GELU_TANH;
        d->norm_plus_one = false; /* llama.cpp stored 1 + w */
        d->sandwich_norm = true;
        d->embed_scale = sqrtf((float)d->hidden);
        bool big = d->n_layers == (d->family == DP_FAMILY_GEMMA2 ? 46 : 62); /* llama.cpp's 27B rule */
        if (big) d->attn_scale = 1.0f / sqrtf((float)(d->hidden / d->n_head));
    }
    char k[160];
    if (dp_gguf_find(s->g, akey(&m, "attention.scale", k, sizeof k))) {
        d->attn_scale = (float)m_anum(&m, "attention.scale", true, 0);
        if (m.st == DP_OK && !(d->attn_scale > 0)) return dp_err_set(e, DP_ERR_FORMAT, "GGUF: attention.scale must be positive");
    }
    int64_t swa = 0;
    if (d->family == DP_FAMILY_GEMMA2) {
        d->attn_softcap = (float)m_anum(&m, "attn_logit_softcapping", false, 50.0);
        d->final_softcap = (float)m_anum(&m, "final_logit_softcapping", false, 30.0);
        swa = m_aint(&m, "attention.sliding_window", false, 4096, 0, 1 << 30);
        read_swa_pattern(&m, d, 2);
        double base_swa = m_anum(&m, "rope.freq_base_swa", false, d->rope.theta);
        if (base_swa != d->rope.theta) {
            d->has_rope_local = true;
            d->rope_local.theta = base_swa;
        }
    } else if (d->family == DP_FAMILY_GEMMA3) {
        d->qk_norm = true;
        d->final_softcap = (float)m_anum(&m, "final_logit_softcapping", false, 0.0);
        swa = m_aint(&m, "attention.sliding_window", false, 0, 0, 1 << 30);
        if (swa > 0) read_swa_pattern(&m, d, 6);
        d->has_rope_local = true;
        d->rope_local.theta = m_anum(&m, "rope.freq_base_swa", false, 10000.0);
    } else if (d->family == DP_FAMILY_PHI3) {
        swa = m_aint(&m, "attention.sliding_window", false, 0, 0, 1 << 30);
        if (swa >= d->max_pos) swa = 0; /* never reached */
        for (int i = 0; i < d->n_layers; i++) d->layer_local[i] = swa > 0;
    } else if (d->family == DP_FAMILY_QWEN3) {
        d->qk_norm = true;
    }
    if (m.st != DP_OK) return m.st;
    d->sliding_window = (int)swa;
    if (!swa) memset(d->layer_local, 0, sizeof d->layer_local);
    dp_status st = read_rope(s, &m, d);
    if (st != DP_OK) return st;
    read_tokens(&m, d);
    if (m.st != DP_OK) return m.st;
    return dp_model_validate(d, e);
}

/* ---- tensors ---- */

static gref *ref_for(gsrc *s, const dp_wtensor *t) {
    if (t->role == DP_HF_EMBED) return &s->embd;
    if (t->role == DP_HF_OUTPUT_NORM) return &s->out_norm;
    if (t->role == DP_HF_OUTPUT) return &s->output;
    if (t->expert >= 0) {
        size_t k = (size_t)dp_model_expert_slot(s->d, t->role);
        return &s->expert[((size_t)t->layer * (size_t)s->d->n_expert + (size_t)t->expert) * 3 + k];
    }
    return &s->layer[(size_t)t->layer * DP_W_LAYER_COUNT + (size_t)t->role];
}

static bool g_native(void *ud, const dp_wtensor *t, dp_dtype *dtype) {
    gref *r = ref_for(ud, t);
    if (!r->t) return false;
    *dtype = r->t->dtype;
    return true;
}

static dp_status g_rows_raw(void *ud, const dp_wtensor *t, int64_t row0, int64_t n, void *dst, dp_error *e) {
    gsrc *s = ud;
    gref *r = ref_for(s, t);
    uint64_t rb;
    if (!r->t) return dp_err_set(e, DP_ERR_NOT_FOUND, "GGUF has no tensor for %s", t->name);
    if (!dp_dtype_row_bytes(r->t->dtype, r->t->ne[0], &rb))
        return dp_err_set(e, DP_ERR_FORMAT, "GGUF: tensor '%s' has a bad row length", r->t->name);
    /* the reader checked the whole tensor lies inside the file, so these products fit */
    uint64_t off = r->t->offset + (uint64_t)(r->row0 + row0) * rb;
    dp_status st = dp_reader_read(s->rd, off, dst, (size_t)((uint64_t)n * rb), e);
    return st == DP_OK ? DP_OK : dp_err_prefix(e, "%s", r->t->name);
}

static dp_status g_rows_f32(void *ud, const dp_wtensor *t, int64_t row0, int64_t n, float *dst, dp_error *e) {
    gsrc *s = ud;
    gref *r = ref_for(s, t);
    uint64_t rb;
    if (!r->t) return dp_err_set(e, DP_ERR_NOT_FOUND, "GGUF has no tensor for %s", t->name);
    if (!dp_dtype_row_bytes(r->t->dtype, r->t->ne[0], &rb))
        return dp_err_set(e, DP_ERR_FORMAT, "GGUF: tensor '%s' has a bad row length", r->t->name);
    size_t need = (size_t)((uint64_t)n * rb);
    if (need > s->cap) {
        uint8_t *nb = dp_realloc(s->buf, need);
        if (!nb) return dp_err_set(e, DP_ERR_NOMEM, "out of memory reading %s", r->t->name);
        s->buf = nb;
        s->cap = need;
    }
    dp_status st = g_rows_raw(ud, t, row0, n, s->buf, e);
    if (st != DP_OK) return st;
    for (int64_t i = 0; i < n; i++)
        dp_dequant_row(r->t->dtype, s->buf + (size_t)i * rb, dst + i * t->cols, (size_t)t->cols);
    return DP_OK;
}

/* t must be [cols] / [cols, rows] / [cols, rows, n3] in GGUF order (ne[0] fastest). */
static dp_status check_shape(const dp_gguf_tensor *t, int64_t rows, int64_t cols, int64_t n3, dp_error *e) {
    bool ok = t->ne[0] == (uint64_t)cols && t->ne[1] == (uint64_t)rows && t->ne[2] == (uint64_t)n3 && t->ne[3] == 1;
    if (n3 > 1) ok = ok && t->n_dims == 3;
    else if (rows > 1) ok = ok && t->n_dims == 2;
    if (!ok)
        return dp_err_set(e, DP_ERR_FORMAT, "GGUF: tensor '%s' is [%llu, %llu, %llu], expected [%lld, %lld, %lld]", t->name,
                          (unsigned long long)t->ne[0], (unsigned long long)t->ne[1], (unsigned long long)t->ne[2],
                          (long long)cols, (long long)rows, (long long)n3);
    return DP_OK;
}

static dp_status set_ref(gref *r, const dp_gguf_tensor *t, int64_t row0, dp_error *e) {
    if (r->t) return dp_err_set(e, DP_ERR_FORMAT, "GGUF: tensor '%s' maps onto a tensor already given", t->name);
    *r = (gref){t, row0};
    return DP_OK;
}

static dp_status map_layer_tensor(gsrc *s, const dp_gguf_tensor *t, int layer, const char *rest, dp_error *e) {
    const dp_model_desc *d = s->d;
    gref *L = &s->layer[(size_t)layer * DP_W_LAYER_COUNT];
    int64_t q = (int64_t)d->n_head * d->head_dim, kv = (int64_t)d->n_kv_head * d->head_dim;
    dp_status st;
    if (!strcmp(rest, "attn_qkv.weight")) {
        if ((st = check_shape(t, q + 2 * kv, d->hidden, 1, e))) return st;
        if ((st = set_ref(&L[DP_W_Q], t, 0, e)) || (st = set_ref(&L[DP_W_K], t, q, e))) return st;
        return set_ref(&L[DP_W_V], t, q + kv, e);
    }
    if (d->family == DP_FAMILY_PHI3 && !strcmp(rest, "ffn_up.weight") && t->ne[1] == 2 * (uint64_t)d->ffn) {
        if ((st = check_shape(t, 2 * (int64_t)d->ffn, d->hidden, 1, e))) return st;
        if ((st = set_ref(&L[DP_W_GATE], t, 0, e))) return st;
        return set_ref(&L[DP_W_UP], t, d->ffn, e);
    }
    static const dp_wrole ER[3] = {DP_W_GATE, DP_W_UP, DP_W_DOWN};
    static const char *const EXPS[3] = {"ffn_gate_exps.weight", "ffn_up_exps.weight", "ffn_down_exps.weight"};
    for (int k = 0; k < 3; k++) {
        int64_t rows, cols;
        dp_model_wshape(d, ER[k], &rows, &cols);
        int x = -1, pos = 0;
        char pat[48];
        snprintf(pat, sizeof pat, "%s.%%d.weight%%n", dp_wrole_name(ER[k]));
        if (!strcmp(rest, EXPS[k])) {
            if (d->n_expert == 0) break;
            if ((st = check_shape(t, rows, cols, d->n_expert, e))) return st;
            for (x = 0; x < d->n_expert; x++) {
                gref *r = &s->expert[((size_t)layer * (size_t)d->n_expert + (size_t)x) * 3 + (size_t)k];
                if ((st = set_ref(r, t, (int64_t)x * rows, e))) return st;
            }
            return DP_OK;
        }
        if (sscanf(rest, pat, &x, &pos) == 1 && pos > 0 && rest[pos] == '\0') {
            if (x < 0 || x >= d->n_expert) break;
            if ((st = check_shape(t, rows, cols, 1, e))) return st;
            return set_ref(&s->expert[((size_t)layer * (size_t)d->n_expert + (size_t)x) * 3 + (size_t)k], t, 0, e);
        }
    }
    for (int r = 0; r < DP_W_LAYER_COUNT; r++) {
        char nm[64];
        snprintf(nm, sizeof nm, "%s.weight", dp_wrole_name((dp_wrole)r));
        if (strcmp(rest, nm)) continue;
        if (!dp_model_has(d, (dp_wrole)r) || dp_model_expert_slot(d, r) >= 0) break;
        int64_t rows, cols;
        dp_model_wshape(d, (dp_wrole)r, &rows, &cols);
        if ((st = check_shape(t, rows, cols, 1, e))) return st;
        return set_ref(&L[r], t, 0, e);
    }
    return dp_err_set(e, DP_ERR_UNSUPPORTED, "GGUF: tensor '%s' is not part of a %s model", t->name, dp_family_name(d->family));
}

static dp_status map_tensors(gsrc *s, dp_error *e) {
    const dp_model_desc *d = s->d;
    dp_status st;
    for (size_t i = 0; i < dp_gguf_n_tensors(s->g); i++) {
        const dp_gguf_tensor *t = dp_gguf_tensor_at(s->g, i);
        int layer = -1, pos = 0;
        if (!strcmp(t->name, "token_embd.weight")) {
            if ((st = check_shape(t, d->vocab, d->hidden, 1, e)) || (st = set_ref(&s->embd, t, 0, e))) return st;
        } else if (!strcmp(t->name, "output_norm.weight")) {
            if ((st = check_shape(t, 1, d->hidden, 1, e)) || (st = set_ref(&s->out_norm, t, 0, e))) return st;
        } else if (!strcmp(t->name, "output.weight")) {
            if ((st = check_shape(t, d->vocab, d->hidden, 1, e)) || (st = set_ref(&s->output, t, 0, e))) return st;
        } else if (!strcmp(t->name, "rope_freqs.weight") || !strcmp(t->name, "rope_factors_long.weight") ||
                   !strcmp(t->name, "rope_factors_short.weight")) {
            continue; /* read into the description */
        } else if (sscanf(t->name, "blk.%d.%n", &layer, &pos) == 1 && pos > 0 && layer >= 0 && layer < d->n_layers) {
            if ((st = map_layer_tensor(s, t, layer, t->name + pos, e))) return st;
        } else {
            return dp_err_set(e, DP_ERR_UNSUPPORTED, "GGUF: tensor '%s' is not part of a %s model", t->name,
                              dp_family_name(d->family));
        }
    }
    if (!s->out_norm.t) return dp_err_set(e, DP_ERR_NOT_FOUND, "GGUF: no output_norm.weight");
    for (int l = 0; l < d->n_layers; l++)
        for (int r = 0; r < DP_W_LAYER_COUNT; r++) {
            if (!dp_model_has(d, (dp_wrole)r) || dp_model_expert_slot(d, r) >= 0) continue;
            if (!s->layer[(size_t)l * DP_W_LAYER_COUNT + (size_t)r].t)
                return dp_err_set(e, DP_ERR_NOT_FOUND, "GGUF: no blk.%d.%s.weight", l, dp_wrole_name((dp_wrole)r));
        }
    for (size_t i = 0; i < (size_t)d->n_layers * (size_t)d->n_expert * 3; i++)
        if (!s->expert[i].t)
            return dp_err_set(e, DP_ERR_NOT_FOUND, "GGUF: no %s of expert %zu in layer %zu",
                              dp_wrole_name(i % 3 == 0 ? DP_W_GATE : i % 3 == 1 ? DP_W_UP : DP_W_DOWN),
                              (i / 3) % (size_t)d->n_expert, i / 3 / (size_t)d->n_expert);
    return DP_OK;
}

/* ---- tokenizer ---- */

/* Copies general.architecture and every tokenizer.* pair into <out>/tokenizer.gguf; returns
 * the manifest's tokenizer object text in tok. */
static dp_status write_tokenizer(const dp_gguf *g, const char *arch, const char *out_dir, dp_buf *tok, dp_error *e) {
    dp_gguf_out o = {0};
    size_t n = 0;
    dp_gguf_out_str(&o, "general.architecture", arch);
    for (size_t i = 0; i < dp_gguf_n_kv(g); i++) {
        const dp_gguf_kv *kv = dp_gguf_kv_at(g, i);
        if (!strncmp(kv->key, "tokenizer.", 10) && dp_gguf_out_copy(&o, kv)) n++;
    }
    dp_status st = DP_OK;
    if (n > 0) {
        char *path = dp_path_join(out_dir, "tokenizer.gguf");
        if (!path) st = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
        if (st == DP_OK) st = dp_gguf_out_open(&o, path, e);
        if (st == DP_OK) st = dp_gguf_out_close(&o, e);
        dp_free(path);
    }
    dp_gguf_out_free(&o);
    static const char *const name = "tokenizer.gguf";
    if (st == DP_OK) st = dp_tokenizer_files_json(out_dir, &name, n > 0 ? 1 : 0, tok, e);
    return st;
}

/* ---- entry point ---- */

dp_status dp_convert_gguf(const char *gguf_path, const char *out_dir, const dp_write_opts *o, dp_error *e) {
    dp_reader rd;
    dp_gguf *g = NULL;
    gsrc s = {0};
    dp_buf tok = {0};
    dp_model_desc *d = dp_calloc(1, sizeof *d);
    if (!d) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    dp_status st = dp_reader_open_file(&rd, gguf_path, e);
    if (st != DP_OK) {
        dp_free(d);
        return st;
    }
    st = dp_gguf_open(&rd, &g, e);
    dp_gguf_str arch = {"", 0};
    if (st == DP_OK && !dp_gguf_get_str(g, "general.architecture", &arch))
        st = dp_err_set(e, DP_ERR_FORMAT, "GGUF: missing string 'general.architecture'");
    s.g = g;
    s.rd = &rd;
    s.d = d;
    if (st == DP_OK) st = read_desc(&s, arch.s, d, e);
    if (st == DP_OK) {
        s.layer = dp_calloc((size_t)d->n_layers * DP_W_LAYER_COUNT, sizeof(gref));
        s.expert = dp_calloc((size_t)d->n_layers * (size_t)(d->n_expert ? d->n_expert : 1) * 3, sizeof(gref));
        if (!s.layer || !s.expert) st = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    }
    if (st == DP_OK) st = map_tensors(&s, e);
    if (st != DP_OK) dp_err_prefix(e, "%s", gguf_path);
    if (st == DP_OK) st = dp_mkdir_p(out_dir, e);
    if (st == DP_OK) st = write_tokenizer(g, arch.s, out_dir, &tok, e);
    if (st == DP_OK) {
        dp_write_opts wo = *o;
        wo.source = o->source ? o->source : gguf_path;
        wo.tokenizer_json = tok.data;
        dp_wsource src = {&s, g_rows_f32, g_native, g_rows_raw, false, false};
        st = dp_model_write(d, out_dir, &wo, &src, e);
    }
    dp_buf_free(&tok);
    dp_free(s.buf);
    dp_free(s.layer);
    dp_free(s.expert);
    dp_gguf_free(g);
    dp_reader_close(&rd);
    dp_free(d);
    return st;
}
