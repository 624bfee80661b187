/* export_gguf.c — an RDRR model directory to a GGUF v3 file that llama.cpp loads
 * (dp_export_gguf, declared in gguf_out.h): llama-architecture models (llama, Mixtral) as
 * "llama", Gemma 3 as "gemma3".
 *
 * What is written:
 *   - metadata: general.architecture, <arch>.* hyper-parameters (context_length,
 *     embedding_length, block_count, feed_forward_length, attention.head_count(_kv),
 *     attention.key/value_length, rope.freq_base, rope.dimension_count,
 *     attention.layer_norm_rms_epsilon, vocab_size, expert_count / expert_used_count for MoE,
 *     rope.scaling.type / factor for linear scaling; gemma3: attention.sliding_window,
 *     attention.sliding_window_pattern, rope.freq_base_swa), general.file_type from the
 *     dominant type;
 *   - the tokenizer: the tokenizer.* pairs of <dir>/tokenizer.gguf when the model came from a
 *     GGUF file, else its tokenizer.json when that is byte-level BPE (as llama.cpp's "gpt2"
 *     vocabulary, tokenizer/save_gguf.c), else a stub SentencePiece vocabulary as in the fixtures (<unk>, <s>, </s>, <tN>..
 *     of vocab size, zero scores, token types) with the model's BOS / EOS ids;
 *   - tensors byte for byte in their stored types, under llama.cpp's names; llama q and k rows
 *     are put in llama.cpp's rotary order (each head's two halves interleaved, rows only, so
 *     quantized rows move unchanged) unless the model already has them so (rope_interleaved);
 *     experts are stacked into 3-D ffn_{gate,up,down}_exps; llama3 (and "factors") rope scaling
 *     becomes rope_freqs.weight, computed as llama.cpp's converter does (f32 arithmetic); Gemma's
 *     norm weights (f32) are written as 1 + w, as llama.cpp's converter stores them (a model
 *     imported from GGUF has them so already: norm_plus_one false).
 * What llama.cpp cannot express is refused: for llama, Gemma / Phi-3 / Qwen 3 options (norm
 * offsets, sandwich norms, q/k norms, soft-caps, sliding windows, longrope, partial rotary); for
 * gemma3, an attention scale other than llama.cpp's rule (1 / sqrt(head_dim); 62 layers:
 * 1 / sqrt(hidden / n_head)), soft-caps, or local layers that are not a period's first p - 1. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "format/rdrr.h"
#include "model/gguf_out.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

typedef struct exporter {
    dp_rdrr *m;
    const dp_model_desc *d;
    dp_gguf_out o;
    uint8_t *buf, *tmp;
    size_t cap;
    float rope_factors[DP_MAX_ROPE_FACTORS];
    bool has_rope_factors;
    const char *arch;   /* "llama" or "gemma3" */
} exporter;

/* The period p of the sliding-window layers as llama.cpp sets them (layer i local when
 * i % p < p - 1), 0 when there are none; -1 when the layers follow no such period. */
static int swa_period(const dp_model_desc *d) {
    if (d->sliding_window <= 0) return 0;
    for (int p = 1; p <= d->n_layers + 1; p++) {
        bool ok = true;
        for (int i = 0; i < d->n_layers && ok; i++) ok = (d->layer_local[i] != 0) == (i % p < p - 1);
        if (ok) return p;
    }
    return -1;
}

static const char *llama_refusal(const dp_model_desc *d) {
    if (d->act != DP_ACT_SILU) return "activation is not SiLU";
    if (d->norm_plus_one || d->sandwich_norm || d->qk_norm) return "norm options are not llama's";
    if (d->embed_scale != 1.0f || d->attn_softcap != 0 || d->final_softcap != 0) return "embedding scale or soft-caps set";
    if (d->sliding_window > 0 || d->has_rope_local) return "sliding-window attention";
    if (d->rot_dim != d->head_dim) return "partial rotary dimension";
    if (d->rope.scaling == DP_ROPE_SCALING_LONGROPE) return "longrope scaling";
    if (fabsf(d->attn_scale * sqrtf((float)d->head_dim) - 1.0f) > 1e-6f) return "attention scale is not 1/sqrt(head_dim)";
    if (d->head_dim % 2) return "odd head dimension";
    return NULL;
}

static const char *gemma3_refusal(const dp_model_desc *d) {
    /* llama.cpp's gemma3: f_attention_scale by its rule, embeddings scaled by sqrt(hidden),
       GELU (tanh), sandwich and q/k norms, NeoX rope over the whole head */
    const float rule = d->n_layers == 62 ? 1.0f / sqrtf((float)(d->hidden / d->n_head)) : 1.0f / sqrtf((float)d->head_dim);
    if (d->act != DP_ACT_GELU_TANH || !d->sandwich_norm || !d->qk_norm) return "activation or norms are not Gemma 3's";
    if (fabsf(d->attn_scale / rule - 1.0f) > 1e-6f) return "attention scale is not llama.cpp's rule for gemma3";
    if (fabsf(d->embed_scale / sqrtf((float)d->hidden) - 1.0f) > 1e-6f) return "embedding scale is not sqrt(hidden)";
    if (d->attn_softcap != 0 || d->final_softcap != 0) return "soft-caps set";
    if (d->rot_dim != d->head_dim || d->rope_interleaved) return "partial or interleaved rotary embedding";
    if (d->rope.scaling != DP_ROPE_SCALING_NONE && d->rope.scaling != DP_ROPE_SCALING_LINEAR) return "rope scaling other than linear";
    if (d->has_rope_local && d->rope_local.scaling != DP_ROPE_SCALING_NONE) return "scaled local rope";
    if (swa_period(d) < 0) return "sliding-window layers without a period";
    return NULL;
}

static dp_status check_exportable(const dp_model_desc *d, dp_error *e) {
    const char *why = NULL;
    if (d->family == DP_FAMILY_GEMMA3) why = gemma3_refusal(d);
    else if (d->family != DP_FAMILY_LLAMA && d->family != DP_FAMILY_MIXTRAL) why = "only llama, mixtral and gemma3 models map onto llama.cpp's architectures";
    else why = llama_refusal(d);
    if (why) return dp_err_set(e, DP_ERR_UNSUPPORTED, "cannot write this %s model as GGUF: %s", dp_family_name(d->family), why);
    return DP_OK;
}

/* llama.cpp's convert_hf_to_gguf.py LlamaModel.generate_extra_tensors, in f32 as torch does. */
static void llama3_factors(const dp_model_desc *d, float *out) {
    const dp_rope_desc *r = &d->rope;
    int dim = d->rot_dim;
    double low_wl = (double)r->original_max_pos / r->low_freq_factor;
    double high_wl = (double)r->original_max_pos / r->high_freq_factor;
    for (int i = 0; i < dim / 2; i++) {
        float freq = 1.0f / powf((float)r->theta, (float)(2 * i) / (float)dim);
        float wl = (float)(2.0 * M_PI) / freq;
        if (wl < high_wl) out[i] = 1.0f;
        else if (wl > low_wl) out[i] = (float)r->factor;
        else {
            float smooth = ((float)r->original_max_pos / wl - (float)r->low_freq_factor) /
                           (float)(r->high_freq_factor - r->low_freq_factor);
            out[i] = 1.0f / ((1.0f - smooth) / (float)r->factor + smooth);
        }
    }
}

static uint32_t file_type(const dp_model_desc *d, dp_dtype main) {
    (void)d;
    switch (main) { /* llama_ftype values */
    case DP_DTYPE_F32: return 0;
    case DP_DTYPE_F16: return 1;
    case DP_DTYPE_Q8_0: return 7;
    case DP_DTYPE_Q4_K: return 15; /* Q4_K_M */
    case DP_DTYPE_Q5_K: return 17; /* Q5_K_M */
    case DP_DTYPE_Q6_K: return 18;
    case DP_DTYPE_Q4_0: return 2;
    case DP_DTYPE_Q4_1: return 3;
    case DP_DTYPE_Q5_0: return 8;
    case DP_DTYPE_Q5_1: return 9;
    case DP_DTYPE_Q2_K: return 10;
    case DP_DTYPE_Q3_K: return 12; /* Q3_K_M */
    case DP_DTYPE_IQ4_NL: return 25;
    case DP_DTYPE_IQ4_XS: return 30;
    case DP_DTYPE_BF16: return 32;
    default: return 0;
    }
}

/* The stub vocabulary of the fixtures: <unk>, <s>, </s>, <t3>, ... with BOS / EOS placed at the
 * model's ids. */
static void stub_tokenizer(exporter *x) {
    const dp_model_desc *d = x->d;
    int bos = d->bos_id, eos = d->n_eos > 0 ? d->eos_ids[0] : -1;
    size_t n = (size_t)d->vocab;
    float *scores = dp_calloc(n, sizeof(float));
    int32_t *types = dp_calloc(n, sizeof(int32_t));
    if (!scores || !types) {
        x->o.kv.oom = true;
        dp_free(scores);
        dp_free(types);
        return;
    }
    dp_gguf_out_str(&x->o, "tokenizer.ggml.model", "llama");
    dp_gguf_out_arr_str_begin(&x->o, "tokenizer.ggml.tokens", n);
    for (size_t i = 0; i < n; i++) {
        char t[32];
        int id = (int)i;
        if (id == bos) snprintf(t, sizeof t, "<s>");
        else if (id == eos) snprintf(t, sizeof t, "</s>");
        else if (id == 0) snprintf(t, sizeof t, "<unk>");
        else snprintf(t, sizeof t, "<t%d>", id);
        types[i] = id == bos || id == eos ? 3 : id == 0 ? 2 : 1;
        dp_gguf_out_arr_put(&x->o, t, strlen(t));
    }
    dp_gguf_out_arr(&x->o, "tokenizer.ggml.scores", DP_GGUF_F32, scores, n);
    dp_gguf_out_arr(&x->o, "tokenizer.ggml.token_type", DP_GGUF_I32, types, n);
    if (bos >= 0) dp_gguf_out_u32(&x->o, "tokenizer.ggml.bos_token_id", (uint32_t)bos);
    if (eos >= 0) dp_gguf_out_u32(&x->o, "tokenizer.ggml.eos_token_id", (uint32_t)eos);
    if (bos != 0 && eos != 0) dp_gguf_out_u32(&x->o, "tokenizer.ggml.unknown_token_id", 0);
    dp_gguf_out_bool(&x->o, "tokenizer.ggml.add_bos_token", false);
    dp_free(scores);
    dp_free(types);
}

/* tokenizer.* pairs of <dir>/tokenizer.gguf (left there by GGUF import); false when absent. */
static dp_status copy_tokenizer(exporter *x, const char *dir, bool *copied, dp_error *e) {
    *copied = false;
    char *path = dp_path_join(dir, "tokenizer.gguf");
    if (!path) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    if (!dp_file_exists(path)) {
        dp_free(path);
        return DP_OK;
    }
    dp_reader r;
    dp_gguf *g = NULL;
    dp_status st = dp_reader_open_file(&r, path, e);
    if (st == DP_OK) {
        st = dp_gguf_open(&r, &g, e);
        for (size_t i = 0; st == DP_OK && i < dp_gguf_n_kv(g); i++) {
            const dp_gguf_kv *kv = dp_gguf_kv_at(g, i);
            if (!strncmp(kv->key, "tokenizer.", 10) && dp_gguf_out_copy(&x->o, kv)) *copied = true;
        }
        dp_gguf_free(g);
        dp_reader_close(&r);
    }
    if (st != DP_OK) dp_err_prefix(e, "%s", path);
    dp_free(path);
    return st;
}

/* the model's own byte-level BPE tokenizer (tokenizer.json beside the manifest), so llama.cpp
 * tokenizes text as Doppler does; false when there is none or it is another kind */
static dp_status model_tokenizer(exporter *x, const char *dir, bool *written, dp_error *e) {
    *written = false;
    char *path = dp_path_join(dir, "tokenizer.json");
    if (!path) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    dp_tokenizer *t = NULL;
    dp_status st = dp_file_exists(path) ? dp_tokenizer_load(dir, &t, e) : DP_OK;
    if (st == DP_OK && t) st = dp_tokenizer_to_gguf(t, &x->o, written, e);
    dp_tokenizer_free(t);
    dp_free(path);
    return st;
}

/* "<arch>.<key>" in buf */
static const char *akey(const exporter *x, const char *key, char *buf, size_t size) {
    snprintf(buf, size, "%s.%s", x->arch, key);
    return buf;
}

static void put_metadata(exporter *x, dp_dtype main) {
    const dp_model_desc *d = x->d;
    dp_gguf_out *o = &x->o;
    bool quant = false;
    char k[96];
    for (size_t i = 0; i < dp_rdrr_n_tensors(x->m); i++) quant |= dp_dtype_is_quant(dp_rdrr_tensor_at(x->m, i)->dtype);
    dp_gguf_out_str(o, "general.architecture", x->arch);
    dp_gguf_out_str(o, "general.name", "doppler-export");
    dp_gguf_out_u32(o, "general.file_type", file_type(d, main));
    if (quant) dp_gguf_out_u32(o, "general.quantization_version", 2);
    dp_gguf_out_u32(o, akey(x, "vocab_size", k, sizeof k), (uint32_t)d->vocab);
    dp_gguf_out_u32(o, akey(x, "context_length", k, sizeof k), (uint32_t)d->max_pos);
    dp_gguf_out_u32(o, akey(x, "embedding_length", k, sizeof k), (uint32_t)d->hidden);
    dp_gguf_out_u32(o, akey(x, "block_count", k, sizeof k), (uint32_t)d->n_layers);
    dp_gguf_out_u32(o, akey(x, "feed_forward_length", k, sizeof k), (uint32_t)d->ffn);
    dp_gguf_out_u32(o, akey(x, "attention.head_count", k, sizeof k), (uint32_t)d->n_head);
    dp_gguf_out_u32(o, akey(x, "attention.head_count_kv", k, sizeof k), (uint32_t)d->n_kv_head);
    dp_gguf_out_u32(o, akey(x, "attention.key_length", k, sizeof k), (uint32_t)d->head_dim);
    dp_gguf_out_u32(o, akey(x, "attention.value_length", k, sizeof k), (uint32_t)d->head_dim);
    dp_gguf_out_f32(o, akey(x, "rope.freq_base", k, sizeof k), (float)d->rope.theta);
    dp_gguf_out_u32(o, akey(x, "rope.dimension_count", k, sizeof k), (uint32_t)d->rot_dim);
    dp_gguf_out_f32(o, akey(x, "attention.layer_norm_rms_epsilon", k, sizeof k), d->norm_eps);
    if (d->rope.scaling == DP_ROPE_SCALING_LINEAR) {
        dp_gguf_out_str(o, akey(x, "rope.scaling.type", k, sizeof k), "linear");
        dp_gguf_out_f32(o, akey(x, "rope.scaling.factor", k, sizeof k), (float)d->rope.factor);
    }
    if (d->n_expert > 0) {
        dp_gguf_out_u32(o, akey(x, "expert_count", k, sizeof k), (uint32_t)d->n_expert);
        dp_gguf_out_u32(o, akey(x, "expert_used_count", k, sizeof k), (uint32_t)d->n_expert_used);
    }
    if (d->family == DP_FAMILY_GEMMA3 && d->sliding_window > 0) {
        dp_gguf_out_u32(o, akey(x, "attention.sliding_window", k, sizeof k), (uint32_t)d->sliding_window);
        dp_gguf_out_u32(o, akey(x, "attention.sliding_window_pattern", k, sizeof k), (uint32_t)swa_period(d));
        dp_gguf_out_f32(o, akey(x, "rope.freq_base_swa", k, sizeof k),
                        (float)(d->has_rope_local ? d->rope_local.theta : d->rope.theta));
    }
}

static dp_status need(exporter *x, const char *name, const dp_rdrr_tensor **t, dp_error *e) {
    *t = dp_rdrr_find(x->m, name);
    return *t ? DP_OK : dp_err_set(e, DP_ERR_NOT_FOUND, "model has no tensor '%s'", name);
}

static void declare(exporter *x, const char *name, const dp_rdrr_tensor *t, uint64_t n3) {
    uint64_t ne[4] = {t->ne[0], t->ne[1], n3, 1};
    uint32_t nd = n3 > 1 ? 3 : t->ne[1] > 1 ? 2 : 1;
    dp_gguf_out_tensor(&x->o, name, t->dtype, nd, ne);
}

/* Read t into x->buf (grown as needed); q/k rows reordered into llama.cpp's rotary order. */
static dp_status load(exporter *x, const dp_rdrr_tensor *t, bool permute, dp_error *e) {
    if (t->size > x->cap) {
        uint8_t *nb = dp_realloc(x->buf, (size_t)t->size), *nt = NULL;
        if (nb) x->buf = nb;
        if (nb) nt = dp_realloc(x->tmp, (size_t)t->size);
        if (nt) x->tmp = nt;
        if (!nb || !nt) return dp_err_set(e, DP_ERR_NOMEM, "out of memory for '%s'", t->name);
        x->cap = (size_t)t->size;
    }
    dp_status st = dp_rdrr_read_tensor(x->m, t, permute ? x->tmp : x->buf, e);
    if (st != DP_OK || !permute) return st;
    /* GGUF row 2j + p of a head is row p * hd/2 + j of the same head in rotate-half order */
    int64_t hd = x->d->head_dim, rows = (int64_t)t->ne[1];
    size_t rb = (size_t)(t->size / t->ne[1]);
    for (int64_t r = 0; r < rows; r++) {
        int64_t h = r / hd, i = r % hd, src = h * hd + (i % 2) * (hd / 2) + i / 2;
        memcpy(x->buf + (size_t)r * rb, x->tmp + (size_t)src * rb, rb);
    }
    return DP_OK;
}

/* Gemma's norm weights as llama.cpp stores them: 1 + w, in f32 */
static dp_status plus_one(exporter *x, const dp_rdrr_tensor *t, dp_error *e) {
    if (t->dtype != DP_DTYPE_F32)
        return dp_err_set(e, DP_ERR_UNSUPPORTED, "norm weight '%s' is %s: only f32 norms take Gemma's + 1 here", t->name,
                          dp_dtype_name(t->dtype));
    float *w = (float *)(void *)x->buf;
    for (uint64_t i = 0; i < t->size / 4; i++) w[i] = 1.0f + w[i];
    return DP_OK;
}

static dp_status emit(exporter *x, const dp_rdrr_tensor *t, bool permute, dp_error *e) {
    dp_status st = load(x, t, permute, e);
    if (st == DP_OK && x->d->norm_plus_one && strstr(t->name, "norm.weight")) st = plus_one(x, t, e);
    if (st == DP_OK) st = dp_gguf_out_write(&x->o, x->buf, (size_t)t->size, e);
    if (st == DP_OK) st = dp_gguf_out_end_tensor(&x->o, e);
    return st;
}

/* The tensors in GGUF order; declare (pass 0) or write (pass 1). */
static dp_status tensors(exporter *x, int pass, dp_error *e) {
    const dp_model_desc *d = x->d;
    const dp_rdrr_tensor *t;
    dp_status st = DP_OK;
    static const char *const MAIN[3] = {"token_embd.weight", "output_norm.weight", "output.weight"};
    for (int i = 0; i < 3 && st == DP_OK; i++) {
        if (i == 2 && d->tied_embeddings) continue;
        if ((st = need(x, MAIN[i], &t, e))) break;
        if (pass == 0) declare(x, MAIN[i], t, 1);
        else st = emit(x, t, false, e);
    }
    if (st == DP_OK && x->has_rope_factors) {
        uint64_t ne[4] = {(uint64_t)d->rot_dim / 2, 1, 1, 1};
        size_t n = (size_t)d->rot_dim / 2 * sizeof(float);
        if (pass == 0) dp_gguf_out_tensor(&x->o, "rope_freqs.weight", DP_DTYPE_F32, 1, ne);
        else if ((st = dp_gguf_out_write(&x->o, x->rope_factors, n, e)) == DP_OK) st = dp_gguf_out_end_tensor(&x->o, e);
    }
    char name[128], gname[128];
    static const dp_wrole ER[3] = {DP_W_GATE, DP_W_UP, DP_W_DOWN};
    for (int l = 0; l < d->n_layers && st == DP_OK; l++) {
        for (int r = 0; r < DP_W_LAYER_COUNT && st == DP_OK; r++) {
            if (!dp_model_has(d, (dp_wrole)r) || dp_model_expert_slot(d, r) >= 0) continue;
            dp_tensor_name(name, sizeof name, l, (dp_wrole)r, -1);
            if ((st = need(x, name, &t, e))) break;
            bool permute = (r == DP_W_Q || r == DP_W_K) && !d->rope_interleaved && d->family != DP_FAMILY_GEMMA3; /* gemma3: NeoX rope */
            if (pass == 0) declare(x, name, t, 1);
            else st = emit(x, t, permute, e);
        }
        for (int k = 0; k < 3 && d->n_expert > 0 && st == DP_OK; k++) {
            const dp_rdrr_tensor *t0 = NULL;
            snprintf(gname, sizeof gname, "blk.%d.%s_exps.weight", l, dp_wrole_name(ER[k]));
            for (int xe = 0; xe < d->n_expert && st == DP_OK; xe++) {
                dp_tensor_name(name, sizeof name, l, ER[k], xe);
                if ((st = need(x, name, &t, e))) break;
                if (xe == 0) {
                    t0 = t;
                    if (pass == 0) declare(x, gname, t, (uint64_t)d->n_expert);
                } else if (t->dtype != t0->dtype || t->size != t0->size) {
                    st = dp_err_set(e, DP_ERR_UNSUPPORTED, "the experts of %s differ in type (GGUF stacks them)", gname);
                    break;
                }
                if (pass == 1 && (st = load(x, t, false, e)) == DP_OK)
                    st = dp_gguf_out_write(&x->o, x->buf, (size_t)t->size, e);
            }
            if (pass == 1 && st == DP_OK) st = dp_gguf_out_end_tensor(&x->o, e);
        }
    }
    return st;
}

dp_status dp_export_gguf(const char *model_dir, const char *out_path, dp_error *e) {
    exporter x;
    memset(&x, 0, sizeof x);
    dp_model_desc *d = dp_calloc(1, sizeof *d);
    if (!d) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    x.d = d;
    dp_status st = dp_rdrr_open(model_dir, &x.m, e);
    if (st == DP_OK) st = dp_model_from_json(dp_rdrr_model(x.m), d, e);
    if (st == DP_OK) st = check_exportable(d, e);
    if (st == DP_OK) {
        x.arch = d->family == DP_FAMILY_GEMMA3 ? "gemma3" : "llama";
        if (d->rope.scaling == DP_ROPE_SCALING_LLAMA3) llama3_factors(d, x.rope_factors);
        if (d->rope.scaling == DP_ROPE_SCALING_FACTORS)
            memcpy(x.rope_factors, d->rope.short_factor, (size_t)d->rot_dim / 2 * sizeof(float));
        x.has_rope_factors = d->rope.scaling == DP_ROPE_SCALING_LLAMA3 || d->rope.scaling == DP_ROPE_SCALING_FACTORS;
        /* dominant stored type of the layer matrices, for general.file_type */
        uint64_t bytes[DP_DTYPE_COUNT] = {0};
        for (size_t i = 0; i < dp_rdrr_n_tensors(x.m); i++) {
            const dp_rdrr_tensor *t = dp_rdrr_tensor_at(x.m, i);
            if (t->layer >= 0 && t->ne[1] > 1) bytes[t->dtype] += t->size;
        }
        dp_dtype main = DP_DTYPE_F32;
        for (int t = 0; t < DP_DTYPE_COUNT; t++)
            if (bytes[t] > bytes[main]) main = (dp_dtype)t;
        put_metadata(&x, main);
        bool copied = false;
        st = copy_tokenizer(&x, model_dir, &copied, e);
        if (st == DP_OK && !copied) st = model_tokenizer(&x, model_dir, &copied, e);
        if (st == DP_OK && !copied) stub_tokenizer(&x);
    }
    if (st == DP_OK) st = tensors(&x, 0, e);
    if (st == DP_OK) st = dp_gguf_out_open(&x.o, out_path, e);
    if (st == DP_OK) st = tensors(&x, 1, e);
    if (st == DP_OK) st = dp_gguf_out_close(&x.o, e);
    dp_gguf_out_free(&x.o);
    dp_free(x.buf);
    dp_free(x.tmp);
    dp_rdrr_free(x.m);
    dp_free(d);
    return st;
}
