/* synth.c — deterministic random-weight models of any supported family and size, written
 * straight to RDRR. The shapes are those of public checkpoints; the weights are a hash of
 * (tensor, row, column), so any row range can be produced independently. */
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
} synth_src;

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
        synth_src s = {d};
        dp_wsource src = {&s, synth_rows, NULL, NULL, true};
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
