/* synth.c — deterministic random-weight models of any supported family and size, written
 * straight to RDRR. The shapes are those of public checkpoints; the weights are a hash of
 * (tensor, row, column), so any row range can be produced independently. MoE models get uneven
 * routing (router_skew), each expert in shards of its own, and their quantized tensors as
 * blocks drawn straight from a generator seeded by (tensor, row): every expert's bytes differ. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/hf.h"
#include "model/write.h"
#include "tokenizer/tokenizer.h"

typedef struct shape {
    const char *name;
    const char *family;
    int vocab, hidden, layers, heads, kv_heads, head_dim, ffn, experts, experts_used;
    bool tied;
    long max_pos;
} shape;

static const shape SHAPES[] = {
    {"tiny", NULL, 2048, 256, 4, 4, 2, 64, 512, 4, 2, false, 4096},
    {"gemma-3-1b", "gemma3", 262144, 1152, 26, 4, 1, 256, 6912, 0, 0, true, 32768},
    {"gemma-2-2b", "gemma2", 256000, 2304, 26, 8, 4, 256, 9216, 0, 0, true, 8192},
    {"llama-3.2-1b", "llama", 128256, 2048, 16, 32, 8, 64, 8192, 0, 0, true, 131072},
    {"llama-3.2-3b", "llama", 128256, 3072, 28, 24, 8, 128, 8192, 0, 0, true, 131072},
    {"llama-3.1-8b", "llama", 128256, 4096, 32, 32, 8, 128, 14336, 0, 0, false, 131072},
    {"phi-3.5-mini", "phi3", 32064, 3072, 32, 32, 32, 96, 8192, 0, 0, false, 131072},
    {"mixtral-8x7b", "mixtral", 32000, 4096, 32, 32, 8, 128, 14336, 8, 2, false, 32768},
    {"mixtral-tiny", "mixtral", 2048, 256, 4, 4, 2, 64, 512, 8, 2, false, 4096},
    {"qwen3-0.6b", "qwen3", 151936, 1024, 28, 16, 8, 128, 3072, 0, 0, true, 40960},
    {"qwen3-8b", "qwen3", 151936, 4096, 36, 32, 8, 128, 12288, 0, 0, false, 40960},
};

const char *const *dp_synth_shapes(void) {
    static const char *names[sizeof SHAPES / sizeof SHAPES[0] + 1];
    for (size_t i = 0; i < sizeof SHAPES / sizeof SHAPES[0]; i++) names[i] = SHAPES[i].name;
    return names;
}

/* The shape as a Hugging Face config.json, so synthesized and converted models share one
 * mapping path. */
static void shape_config(const shape *s, const char *family, dp_buf *b) {
    static const char *const model_type[] = {"llama", "gemma2", "gemma3_text", "phi3", "mixtral", "qwen3"};
    dp_family f = DP_FAMILY_LLAMA;
    dp_family_parse(family, &f);
    dp_buf_printf(b, "{\"model_type\":\"%s\",\"vocab_size\":%d,\"hidden_size\":%d,\"num_hidden_layers\":%d,"
                     "\"num_attention_heads\":%d,\"num_key_value_heads\":%d,\"head_dim\":%d,"
                     "\"intermediate_size\":%d,\"tie_word_embeddings\":%s,\"max_position_embeddings\":%ld,"
                     "\"bos_token_id\":1,\"eos_token_id\":2",
                  model_type[f], s->vocab, s->hidden, s->layers, s->heads, s->kv_heads, s->head_dim, s->ffn,
                  s->tied ? "true" : "false", s->max_pos);
    switch (f) {
    case DP_FAMILY_LLAMA:
        dp_buf_puts(b, ",\"rms_norm_eps\":1e-5,\"rope_theta\":500000.0,\"hidden_act\":\"silu\","
                       "\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8.0,\"low_freq_factor\":1.0,"
                       "\"high_freq_factor\":4.0,\"original_max_position_embeddings\":8192}");
        break;
    case DP_FAMILY_GEMMA2:
        dp_buf_printf(b, ",\"rms_norm_eps\":1e-6,\"rope_theta\":10000.0,\"hidden_activation\":\"gelu_pytorch_tanh\","
                         "\"query_pre_attn_scalar\":%d,\"sliding_window\":4096,\"attn_logit_softcapping\":50.0,"
                         "\"final_logit_softcapping\":30.0", s->head_dim);
        break;
    case DP_FAMILY_GEMMA3:
        dp_buf_printf(b, ",\"rms_norm_eps\":1e-6,\"rope_theta\":1000000.0,\"rope_local_base_freq\":10000.0,"
                         "\"hidden_activation\":\"gelu_pytorch_tanh\",\"query_pre_attn_scalar\":%d,"
                         "\"sliding_window\":512,\"sliding_window_pattern\":6", s->head_dim);
        break;
    case DP_FAMILY_PHI3: {
        dp_buf_puts(b, ",\"rms_norm_eps\":1e-5,\"rope_theta\":10000.0,\"hidden_act\":\"silu\","
                       "\"original_max_position_embeddings\":4096,\"rope_scaling\":{\"type\":\"longrope\",\"short_factor\":[");
        for (int i = 0; i < s->head_dim / 2; i++) dp_buf_printf(b, "%s%.4f", i ? "," : "", 1.0 + 0.01 * i);
        dp_buf_puts(b, "],\"long_factor\":[");
        for (int i = 0; i < s->head_dim / 2; i++) dp_buf_printf(b, "%s%.4f", i ? "," : "", 1.0 + 0.5 * i);
        dp_buf_puts(b, "]}");
        break;
    }
    case DP_FAMILY_MIXTRAL:
        dp_buf_printf(b, ",\"rms_norm_eps\":1e-5,\"rope_theta\":1000000.0,\"hidden_act\":\"silu\","
                         "\"num_local_experts\":%d,\"num_experts_per_tok\":%d",
                      s->experts ? s->experts : 8, s->experts_used ? s->experts_used : 2);
        break;
    case DP_FAMILY_QWEN3:
        dp_buf_puts(b, ",\"rms_norm_eps\":1e-6,\"rope_theta\":1000000.0,\"hidden_act\":\"silu\"");
        break;
    default: break;
    }
    dp_buf_puts(b, "}");
}

static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t name_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

typedef struct synth_src {
    const dp_model_desc *d;
    double skew;        /* MoE: router preference strength (0: none) */
} synth_src;

/* ---- MoE models: uneven routing ----
 * A router is linear in the normalised hidden state h, so an expert can only be preferred for
 * every token if h has a direction every token shares. Synthesized MoE models keep one: hidden
 * coordinate 0 of every embedding row is the constant SKEW_C * the norm of the row's other values,
 * and nothing ever writes it (row 0 of every attention output and expert down matrix is zero),
 * so h[0] > 0 at every layer, large at the first and shrinking as the residual stream grows.
 * Column 0 of the router then holds a per-expert bias: expert e of layer l gets
 * skew * log(1 / (rank + 1)) / sqrt(hidden), rank a per-layer permutation of the experts (a
 * Zipf-shaped preference), added to the random part's logits (standard deviation about 1). */
#define SKEW_C 0.3f

static bool moe_skewed(const synth_src *s) { return s->d->n_expert > 0 && s->skew > 0; }

/* Rank of expert x in layer l's preference order (0: most preferred). */
static int expert_rank(int l, int x, int n) {
    return (int)((uint64_t)(x + (int)(mix((uint64_t)l * 0x51ED27ull) % (uint64_t)n)) % (uint64_t)n);
}

/* Row r of t is all zeros (the hidden coordinate nobody writes). */
static bool zero_row(const synth_src *s, const dp_wtensor *t, int64_t r) {
    return moe_skewed(s) && r == 0 && (t->role == DP_W_O || (t->role == DP_W_DOWN && t->expert >= 0));
}

static dp_status synth_rows(void *ud, const dp_wtensor *t, int64_t row0, int64_t n, float *dst, dp_error *e) {
    (void)e;
    synth_src *s = ud;
    bool norm = t->rows == 1 || t->role == DP_HF_OUTPUT_NORM;
    /* weights uniform in [-a, a] with std 1/sqrt(cols); norms near 1 (near 0 for 1+w) */
    float a = t->role == DP_HF_EMBED ? 1.0f : sqrtf(3.0f / (float)t->cols);
    float base = norm ? (s->d->norm_plus_one ? 0.0f : 1.0f) : 0.0f;
    if (norm) a = 0.05f;
    uint64_t th = name_hash(t->name);
    for (int64_t r = 0; r < n; r++) {
        uint64_t rh = mix(th ^ (uint64_t)(row0 + r) * 0x9E3779B97F4A7C15ull);
        float *out = dst + r * t->cols;
        for (int64_t c = 0; c < t->cols; c++) {
            uint64_t v = mix(rh + (uint64_t)c);
            float u = (float)(v >> 40) * (1.0f / 16777216.0f); /* [0,1) */
            out[c] = base + a * (2.0f * u - 1.0f);
        }
        if (!moe_skewed(s)) continue;
        if (zero_row(s, t, row0 + r)) memset(out, 0, (size_t)t->cols * sizeof *out);
        else if (t->role == DP_HF_EMBED) out[0] = SKEW_C * a * sqrtf(1.0f / 3.0f) * sqrtf((float)t->cols);
        else if (t->role == DP_W_ROUTER) /* h[0] at the first layer: SKEW_C sqrt(hidden / (1 + SKEW_C^2)) */
            out[0] = (float)(s->skew * log(1.0 / (expert_rank(t->layer, (int)(row0 + r), (int)t->rows) + 1)) /
                             (SKEW_C * sqrt((double)t->cols / (1.0 + SKEW_C * SKEW_C))));
    }
    return DP_OK;
}

/* ---- quantized blocks straight from the generator (MoE models: Mixtral-sized ones in seconds
 * per GiB instead of quantizing floats). Values have the float path's spread (std about
 * 1/sqrt(cols)), every block different. */
static uint64_t rng_next(uint64_t *st) {
    *st += 0x9E3779B97F4A7C15ull;
    return mix(*st);
}

static void put_f16(uint8_t *p, float f) {
    uint16_t h = dp_f32_to_f16(f);
    memcpy(p, &h, 2);
}

static void fill_random(uint8_t *p, size_t n, uint64_t *st) {
    for (size_t i = 0; i + 8 <= n; i += 8) {
        uint64_t v = rng_next(st);
        memcpy(p + i, &v, 8);
    }
}

/* q4_K: w = d * sc * q - dmin * m; sc in [8, 15], m = sc * 15/16, dmin = 8 d: w ~ d sc (q - 7.5). */
static void block_q4k(uint8_t *b, float sd, uint64_t *st) {
    uint64_t r = rng_next(st);
    uint8_t sc[8], m[8];
    for (int j = 0; j < 8; j++) {
        sc[j] = (uint8_t)(8 + ((r >> (4 * j)) & 7));
        m[j] = (uint8_t)((sc[j] * 15 + 8) / 16);
    }
    float d = sd / (11.5f * 4.6f);
    put_f16(b, d);
    put_f16(b + 2, 8 * d);
    uint8_t *s = b + 4;
    for (int j = 0; j < 4; j++) {
        s[j] = sc[j];
        s[j + 4] = m[j];
    }
    for (int j = 4; j < 8; j++) {
        s[j + 4] = (uint8_t)((sc[j] & 0xF) | ((m[j] & 0xF) << 4));
        s[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
        s[j] |= (uint8_t)((m[j] >> 4) << 6);
    }
    fill_random(b + 16, 128, st);
}

/* q6_K: w = d * scale * (q - 32), scales in [8, 15]. */
static void block_q6k(uint8_t *b, float sd, uint64_t *st) {
    fill_random(b, 192, st); /* ql, qh: any bits are a valid 6-bit q */
    uint64_t r = rng_next(st);
    for (int j = 0; j < 16; j++) b[192 + j] = (uint8_t)(8 + ((r >> (4 * j)) & 7));
    put_f16(b + 208, sd / (11.5f * 18.5f));
}

/* q8_0: w = d * q, q uniform in [-128, 127]. */
static void block_q80(uint8_t *b, float sd, uint64_t *st) {
    put_f16(b, sd / 74.0f);
    fill_random(b + 2, 32, st);
}

static bool synth_native(void *ud, const dp_wtensor *t, dp_dtype *dtype) {
    const synth_src *s = ud;
    if (s->d->n_expert <= 0 || t->role == DP_HF_EMBED || /* the embedding's constant column needs floats */
        (t->dtype != DP_DTYPE_Q4_K && t->dtype != DP_DTYPE_Q6_K && t->dtype != DP_DTYPE_Q8_0))
        return false;
    *dtype = t->dtype;
    return true;
}

static dp_status synth_rows_raw(void *ud, const dp_wtensor *t, int64_t row0, int64_t n, void *dst, dp_error *e) {
    const synth_src *s = ud;
    uint64_t rb = 0;
    if (!dp_dtype_row_bytes(t->dtype, (uint64_t)t->cols, &rb))
        return dp_err_set(e, DP_ERR_INVALID_ARG, "synth: '%s' rows do not fit %s blocks", t->name, dp_dtype_name(t->dtype));
    size_t bb = t->dtype == DP_DTYPE_Q4_K ? 144 : t->dtype == DP_DTYPE_Q6_K ? 210 : 34;
    float sd = 1.0f / sqrtf((float)t->cols);
    uint64_t th = name_hash(t->name);
    for (int64_t r = 0; r < n; r++) {
        uint8_t *out = (uint8_t *)dst + (uint64_t)r * rb;
        if (zero_row(s, t, row0 + r)) {
            memset(out, 0, (size_t)rb);
            continue;
        }
        uint64_t st = mix(th ^ (uint64_t)(row0 + r) * 0x9E3779B97F4A7C15ull);
        for (size_t o = 0; o < rb; o += bb) {
            if (t->dtype == DP_DTYPE_Q4_K) block_q4k(out + o, sd, &st);
            else if (t->dtype == DP_DTYPE_Q6_K) block_q6k(out + o, sd, &st);
            else block_q80(out + o, sd, &st);
        }
    }
    return DP_OK;
}

/* Copy a tokenizer into the model directory under the name the loader looks for, after checking
 * its ids fit the model's vocabulary. */
static dp_status add_tokenizer(const char *path, const dp_model_desc *d, const char *out_dir, dp_buf *tokj,
                               dp_error *e) {
    dp_tokenizer *t = NULL;
    dp_status st = dp_tokenizer_load(path, &t, e);
    if (st != DP_OK) return st;
    int32_t n = dp_tokenizer_n_vocab(t);
    const char *desc = dp_tokenizer_describe(t);
    bool gguf = strstr(desc, "GGUF") != NULL;
    dp_tokenizer_free(t);
    if (n > d->vocab)
        return dp_err_set(e, DP_ERR_INVALID_ARG, "synth: tokenizer has %d tokens, the model's vocabulary only %d", n, d->vocab);
    size_t len = strlen(path);
    const char *name = len > 5 && !strcmp(path + len - 5, ".json") ? "tokenizer.json"
                       : (gguf || (len > 5 && !strcmp(path + len - 5, ".gguf"))) ? "tokenizer.gguf"
                                                                                   : "tokenizer.model";
    char *data = NULL, *to = NULL;
    size_t n_bytes = 0;
    if ((st = dp_mkdir_p(out_dir, e)) == DP_OK && (st = dp_file_read_all(path, 1u << 30, &data, &n_bytes, e)) == DP_OK) {
        to = dp_path_join(out_dir, name);
        st = to ? dp_file_write_all(to, data, n_bytes, e) : dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    }
    dp_free(data);
    dp_free(to);
    if (st == DP_OK) st = dp_tokenizer_files_json(out_dir, &name, 1, tokj, e);
    return st;
}

dp_status dp_synth(const char *family, const char *shape_name, const char *config_path, const char *out_dir,
                   const dp_write_opts *o, dp_error *e) {
    dp_buf cfg = {0};
    char *text = NULL;
    size_t len = 0;
    dp_status st = DP_OK;
    if (config_path) {
        st = dp_file_read_all(config_path, 16u << 20, &text, &len, e);
        if (st != DP_OK) return st;
    } else {
        const shape *s = NULL;
        const char *name = shape_name ? shape_name : "tiny";
        for (size_t i = 0; i < sizeof SHAPES / sizeof SHAPES[0]; i++)
            if (!strcmp(SHAPES[i].name, name)) s = &SHAPES[i];
        if (!s) return dp_err_set(e, DP_ERR_NOT_FOUND, "synth: unknown shape '%s'", name);
        const char *fam = family ? family : (s->family ? s->family : "llama");
        dp_family f;
        if (!dp_family_parse(fam, &f)) return dp_err_set(e, DP_ERR_UNSUPPORTED, "synth: unknown family '%s'", fam);
        if (s->family && family && strcmp(s->family, family))
            return dp_err_set(e, DP_ERR_INVALID_ARG, "synth: shape '%s' is a %s model, not %s", name, s->family, family);
        shape_config(s, fam, &cfg);
        if (cfg.oom) return dp_err_set(e, DP_ERR_NOMEM, "synth: out of memory");
        text = cfg.data;
        len = cfg.len;
        cfg.data = NULL;
    }
    dp_json_doc *doc = NULL;
    dp_model_desc *d = dp_calloc(1, sizeof *d);
    if (!d) st = dp_err_set(e, DP_ERR_NOMEM, "synth: out of memory");
    if (st == DP_OK) st = dp_json_parse(text, len, &doc, e);
    if (st == DP_OK) st = dp_model_from_hf_config(dp_json_root(doc), d, e);
    if (st == DP_OK && family && config_path) {
        dp_family f;
        if (!dp_family_parse(family, &f) || f != d->family)
            st = dp_err_set(e, DP_ERR_INVALID_ARG, "synth: config is a %s model, not %s", dp_family_name(d->family), family);
    }
    dp_buf tokj = {0};
    dp_write_opts wo = *o;
    if (st == DP_OK && o->tokenizer_file) st = add_tokenizer(o->tokenizer_file, d, out_dir, &tokj, e);
    if (tokj.data) wo.tokenizer_json = tokj.data;
    if (st == DP_OK) {
        synth_src s = {d, o->router_skew == 0 ? DP_SYNTH_ROUTER_SKEW : o->router_skew < 0 ? 0 : o->router_skew};
        dp_wsource src = {&s, synth_rows, synth_native, synth_rows_raw, true, true};
        if (d->n_expert > 0) wo.expert_shards = true;
        if (!wo.source) wo.source = "synthetic";
        if (wo.recipe == DP_RECIPE_KEEP) wo.recipe = DP_RECIPE_F32;
        st = dp_model_write(d, out_dir, &wo, &src, e);
    }
    dp_buf_free(&tokj);
    dp_json_free(doc);
    dp_free(d);
    dp_free(text);
    dp_buf_free(&cfg);
    return st;
}
