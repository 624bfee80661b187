/* hf_config.c — Hugging Face config.json (hub field names) onto the normalised description,
 * and hub tensor names onto canonical ones. The only per-family code in the engine. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/hf.h"

typedef struct family_map {
    const char *model_type;
    dp_family family;
} family_map;

static const family_map FAMILIES[] = {
    {"llama", DP_FAMILY_LLAMA}, {"gemma2", DP_FAMILY_GEMMA2}, {"gemma3_text", DP_FAMILY_GEMMA3},
    {"gemma3", DP_FAMILY_GEMMA3}, {"phi3", DP_FAMILY_PHI3}, {"mixtral", DP_FAMILY_MIXTRAL},
    {"qwen3", DP_FAMILY_QWEN3},
};

typedef struct cfg {
    const dp_json *j;
    dp_error *e;
    dp_status st;
} cfg;

static bool has(const cfg *c, const char *key) {
    const dp_json *v = dp_json_get(c->j, key);
    return v && v->type != DP_JSON_NULL;
}

static double req_num(cfg *c, const char *key) {
    double v = 0;
    if (c->st == DP_OK && !dp_json_num(dp_json_get(c->j, key), &v))
        c->st = dp_err_set(c->e, DP_ERR_FORMAT, "config.json: missing or non-numeric field '%s'", key);
    return v;
}

static int req_int(cfg *c, const char *key) {
    int64_t v = 0;
    if (c->st == DP_OK && (!dp_json_i64(dp_json_get(c->j, key), &v) || v < 0 || v > (1LL << 30)))
        c->st = dp_err_set(c->e, DP_ERR_FORMAT, "config.json: missing or invalid integer field '%s'", key);
    return (int)v;
}

static double opt_num(cfg *c, const char *key, double dflt) {
    double v;
    return dp_json_num(dp_json_get(c->j, key), &v) ? v : dflt;
}

/* v as a float field: converting a double outside float's range is undefined behaviour (and
 * would put inf into the model description) */
static float to_f32(cfg *c, double v, const char *key) {
    if (c->st == DP_OK && !(fabs(v) <= FLT_MAX))
        c->st = dp_err_set(c->e, DP_ERR_FORMAT, "config.json: %s is out of range", key);
    return c->st == DP_OK ? (float)v : 0.0f;
}

static int opt_int(cfg *c, const char *key, int dflt) {
    return has(c, key) ? req_int(c, key) : dflt;
}

static void read_factors(cfg *c, const dp_json *rs, const char *key, float *dst, int want, int *n) {
    const dp_json *a = dp_json_get(rs, key);
    if (c->st != DP_OK) return;
    if (want < 0 || want > DP_MAX_ROPE_FACTORS) { /* rot_dim is not validated yet: dst holds 512 */
        c->st = dp_err_set(c->e, DP_ERR_LIMIT, "config.json: rope_scaling.%s: %d factors (max %d)", key, want,
                           DP_MAX_ROPE_FACTORS);
        return;
    }
    if (!dp_json_is(a, DP_JSON_ARRAY) || a->len != (uint32_t)want) {
        c->st = dp_err_set(c->e, DP_ERR_FORMAT, "config.json: rope_scaling.%s must list %d numbers", key, want);
        return;
    }
    for (int i = 0; i < want; i++) {
        double v;
        if (!dp_json_num(&a->u.items[i], &v) || !(v > 0 && v <= FLT_MAX)) { /* a float, finite */
            c->st = dp_err_set(c->e, DP_ERR_FORMAT, "config.json: rope_scaling.%s[%d] invalid", key, i);
            return;
        }
        dst[i] = (float)v;
    }
    *n = want;
}

/* A JSON number as int64_t, saturating: casting an out-of-range double is undefined behaviour. */
static int64_t sat_i64(double v) {
    if (v != v) return 0;
    if (v <= -9.2e18) return INT64_MIN;
    if (v >= 9.2e18) return INT64_MAX;
    return (int64_t)v;
}

/* transformers 5 writes rope settings as rope_parameters — {rope_theta, rope_type, scaling
 * fields}, or per layer type {full_attention: {...}, sliding_attention: {...}} — where older
 * configs have rope_theta, rope_scaling and rope_local_base_freq. layer_type picks the part. */
static const dp_json *rope_params(const dp_json *j, const char *layer_type) {
    const dp_json *rp = dp_json_get(j, "rope_parameters");
    if (!dp_json_is(rp, DP_JSON_OBJECT)) return NULL;
    const dp_json *part = dp_json_get(rp, layer_type);
    if (dp_json_is(part, DP_JSON_OBJECT)) return part;
    return dp_json_get(rp, "full_attention") || dp_json_get(rp, "sliding_attention") ? NULL : rp;
}

/* a rope base: the old top-level key, else rope_parameters' rope_theta for that layer type */
static double rope_theta(cfg *c, const char *key, const char *layer_type, double def) {
    const dp_json *rp = rope_params(c->j, layer_type);
    if (rp) {
        cfg sub = {rp, c->e, c->st};
        def = opt_num(&sub, "rope_theta", def);
        c->st = sub.st;
    }
    return opt_num(c, key, def);
}

static void read_rope_scaling(cfg *c, dp_model_desc *d) {
    const dp_json *rs = dp_json_get(c->j, "rope_scaling");
    if (!rs || rs->type == DP_JSON_NULL) rs = rope_params(c->j, "full_attention");
    if (!rs || rs->type == DP_JSON_NULL) return;
    if (rs->type != DP_JSON_OBJECT) {
        c->st = dp_err_set(c->e, DP_ERR_FORMAT, "config.json: rope_scaling must be an object or null");
        return;
    }
    const char *type = NULL;
    if (!dp_json_str(dp_json_get(rs, "rope_type"), &type)) dp_json_str(dp_json_get(rs, "type"), &type);
    if (!type || !strcmp(type, "default")) return;
    cfg sub = {rs, c->e, c->st};
    dp_rope_desc *r = &d->rope;
    if (!strcmp(type, "linear")) {
        r->scaling = DP_ROPE_SCALING_LINEAR;
        r->factor = req_num(&sub, "factor");
    } else if (!strcmp(type, "llama3")) {
        r->scaling = DP_ROPE_SCALING_LLAMA3;
        r->factor = req_num(&sub, "factor");
        r->low_freq_factor = req_num(&sub, "low_freq_factor");
        r->high_freq_factor = req_num(&sub, "high_freq_factor");
        r->original_max_pos = sat_i64(req_num(&sub, "original_max_position_embeddings"));
    } else if (!strcmp(type, "longrope") || !strcmp(type, "su")) {
        r->scaling = DP_ROPE_SCALING_LONGROPE;
        r->original_max_pos = sat_i64(opt_num(&sub, "original_max_position_embeddings",
                                              opt_num(c, "original_max_position_embeddings", 0)));
        r->attention_factor = opt_num(&sub, "attention_factor", 0);
        read_factors(&sub, rs, "short_factor", r->short_factor, d->rot_dim / 2, &r->n_factors);
        read_factors(&sub, rs, "long_factor", r->long_factor, d->rot_dim / 2, &r->n_factors);
    } else {
        sub.st = dp_err_set(c->e, DP_ERR_UNSUPPORTED, "config.json: unsupported rope_scaling type '%s'", type);
    }
    c->st = sub.st;
}

static void read_eos(cfg *c, dp_model_desc *d) {
    const dp_json *v = dp_json_get(c->j, "eos_token_id");
    int64_t id;
    if (dp_json_i64(v, &id)) {
        if (id >= 0 && id < d->vocab) d->eos_ids[d->n_eos++] = (int)id;
    } else if (dp_json_is(v, DP_JSON_ARRAY)) {
        for (uint32_t i = 0; i < v->len && d->n_eos < DP_MAX_EOS; i++)
            if (dp_json_i64(&v->u.items[i], &id) && id >= 0 && id < d->vocab) d->eos_ids[d->n_eos++] = (int)id;
    }
    d->bos_id = -1;
    if (dp_json_i64(dp_json_get(c->j, "bos_token_id"), &id) && id >= 0 && id < d->vocab) d->bos_id = (int)id;
}

dp_status dp_model_from_hf_config(const dp_json *j, dp_model_desc *d, dp_error *e) {
    if (!dp_json_is(j, DP_JSON_OBJECT)) return dp_err_set(e, DP_ERR_FORMAT, "config.json: not a JSON object");
    const dp_json *text = dp_json_get(j, "text_config"); /* multimodal Gemma 3 wraps the LM */
    if (dp_json_is(text, DP_JSON_OBJECT)) j = text;
    const char *mt = NULL;
    if (!dp_json_str(dp_json_get(j, "model_type"), &mt))
        return dp_err_set(e, DP_ERR_FORMAT, "config.json: missing field 'model_type'");
    bool found = false;
    memset(d, 0, sizeof *d);
    for (size_t i = 0; i < sizeof FAMILIES / sizeof FAMILIES[0]; i++)
        if (!strcmp(mt, FAMILIES[i].model_type)) { d->family = FAMILIES[i].family; found = true; }
    if (!found) return dp_err_set(e, DP_ERR_UNSUPPORTED, "config.json: unsupported model_type '%s' (supported: llama, gemma2, gemma3, phi3, mixtral, qwen3)", mt);

    cfg c = {j, e, DP_OK};
    bool gemma = d->family == DP_FAMILY_GEMMA2 || d->family == DP_FAMILY_GEMMA3;
    d->vocab = req_int(&c, "vocab_size");
    d->hidden = req_int(&c, "hidden_size");
    d->n_layers = req_int(&c, "num_hidden_layers");
    d->n_head = req_int(&c, "num_attention_heads");
    d->ffn = req_int(&c, "intermediate_size");
    d->norm_eps = to_f32(&c, req_num(&c, "rms_norm_eps"), "rms_norm_eps");
    if (c.st != DP_OK) return c.st;
    if (d->n_head <= 0 || d->n_layers > DP_MAX_LAYERS)
        return dp_err_set(e, DP_ERR_FORMAT, "config.json: num_attention_heads/num_hidden_layers out of range");
    d->n_kv_head = opt_int(&c, "num_key_value_heads", d->n_head);
    d->head_dim = opt_int(&c, "head_dim", d->hidden / d->n_head);
    double prf = opt_num(&c, "partial_rotary_factor", 1.0);
    const dp_json *rs = dp_json_get(j, "rope_scaling");
    if (!rs) rs = rope_params(j, "full_attention");
    double v;
    if (dp_json_num(dp_json_get(rs, "partial_rotary_factor"), &v)) prf = v;
    double rot = (double)d->head_dim * prf;
    d->rot_dim = rot >= 0 && rot <= (double)(1 << 30) ? (int)rot : -1; /* -1: validation rejects it */
    d->max_pos = sat_i64(opt_num(&c, "max_position_embeddings", 4096));
    d->rope.theta = rope_theta(&c, "rope_theta", "full_attention", 10000.0);
    d->tied_embeddings = has(&c, "tie_word_embeddings") ? dp_json_get(j, "tie_word_embeddings")->type == DP_JSON_TRUE : gemma;
    d->embed_scale = 1.0f;
    d->attn_scale = 1.0f / sqrtf((float)d->head_dim);

    const char *act = "silu";
    if (!dp_json_str(dp_json_get(j, "hidden_activation"), &act)) dp_json_str(dp_json_get(j, "hidden_act"), &act);
    if (!strcmp(act, "silu") || !strcmp(act, "swish")) d->act = DP_ACT_SILU;
    else if (!strcmp(act, "gelu_pytorch_tanh") || !strcmp(act, "gelu_tanh")) d->act = DP_ACT_GELU_TANH;
    else return dp_err_set(e, DP_ERR_UNSUPPORTED, "config.json: unsupported activation '%s'", act);

    if (gemma) {
        d->norm_plus_one = true;
        d->sandwich_norm = true;
        d->embed_scale = sqrtf((float)d->hidden);
        d->attn_scale = 1.0f / sqrtf((float)opt_num(&c, "query_pre_attn_scalar", d->head_dim));
        d->attn_softcap = to_f32(&c, opt_num(&c, "attn_logit_softcapping", 0), "attn_logit_softcapping");
        d->final_softcap = to_f32(&c, opt_num(&c, "final_logit_softcapping", 0), "final_logit_softcapping");
        d->sliding_window = opt_int(&c, "sliding_window", 0);
        int pattern = d->family == DP_FAMILY_GEMMA2 ? 2 : opt_int(&c, "sliding_window_pattern", 6);
        if (pattern <= 0) return dp_err_set(e, DP_ERR_FORMAT, "config.json: sliding_window_pattern must be positive");
        const dp_json *lt = dp_json_get(j, "layer_types");
        for (int i = 0; i < d->n_layers; i++) {
            const char *s;
            if (dp_json_is(lt, DP_JSON_ARRAY) && dp_json_str(dp_json_at(lt, (size_t)i), &s))
                d->layer_local[i] = !strcmp(s, "sliding_attention");
            else
                d->layer_local[i] = (i + 1) % pattern != 0;
        }
        if (d->family == DP_FAMILY_GEMMA3) {
            d->qk_norm = true;
            d->has_rope_local = true;
            d->rope_local.theta = rope_theta(&c, "rope_local_base_freq", "sliding_attention", 10000.0);
        }
    } else {
        bool use_sw = d->family != DP_FAMILY_QWEN3 || dp_json_is(dp_json_get(j, "use_sliding_window"), DP_JSON_TRUE);
        if (use_sw) d->sliding_window = opt_int(&c, "sliding_window", 0);
        if (d->sliding_window >= d->max_pos) d->sliding_window = 0; /* never reached */
        for (int i = 0; i < d->n_layers && d->sliding_window; i++) d->layer_local[i] = 1;
        if (d->family == DP_FAMILY_QWEN3) d->qk_norm = true;
        if (d->family == DP_FAMILY_MIXTRAL) {
            d->n_expert = req_int(&c, "num_local_experts");
            d->n_expert_used = req_int(&c, "num_experts_per_tok");
        }
    }
    if (c.st != DP_OK) return c.st;
    read_rope_scaling(&c, d);
    if (c.st != DP_OK) return c.st;
    read_eos(&c, d);
    return dp_model_validate(d, e);
}

/* ---- tensor names ---- */

typedef struct name_map {
    const char *hf;   /* suffix after "model.layers.N." */
    int role;         /* dp_wrole, or one of the fused kinds */
} name_map;

static const name_map LAYER_NAMES[] = {
    {"input_layernorm.weight", DP_W_ATTN_NORM},
    {"self_attn.q_proj.weight", DP_W_Q},
    {"self_attn.k_proj.weight", DP_W_K},
    {"self_attn.v_proj.weight", DP_W_V},
    {"self_attn.o_proj.weight", DP_W_O},
    {"self_attn.q_norm.weight", DP_W_Q_NORM},
    {"self_attn.k_norm.weight", DP_W_K_NORM},
    {"pre_feedforward_layernorm.weight", DP_W_FFN_NORM},
    {"post_feedforward_layernorm.weight", DP_W_POST_FFN_NORM},
    {"mlp.gate_proj.weight", DP_W_GATE},
    {"mlp.up_proj.weight", DP_W_UP},
    {"mlp.down_proj.weight", DP_W_DOWN},
    {"block_sparse_moe.gate.weight", DP_W_ROUTER},
    {"self_attn.qkv_proj.weight", DP_HF_FUSED_QKV},
    {"mlp.gate_up_proj.weight", DP_HF_FUSED_GATE_UP},
};

bool dp_hf_map_name(const dp_model_desc *d, const char *hf, dp_hf_name *out) {
    out->layer = -1;
    out->expert = -1;
    out->role = -1;
    if (!strcmp(hf, "model.embed_tokens.weight")) { out->role = DP_HF_EMBED; return true; }
    if (!strcmp(hf, "model.norm.weight")) { out->role = DP_HF_OUTPUT_NORM; return true; }
    if (!strcmp(hf, "lm_head.weight")) { out->role = DP_HF_OUTPUT; return true; }
    int layer = -1, pos = 0;
    if (sscanf(hf, "model.layers.%d.%n", &layer, &pos) != 1 || pos == 0 || layer < 0 || layer >= d->n_layers)
        return false;
    const char *rest = hf + pos;
    out->layer = layer;
    if (!strcmp(rest, "post_attention_layernorm.weight")) {
        out->role = d->sandwich_norm ? DP_W_POST_ATTN_NORM : DP_W_FFN_NORM;
        return true;
    }
    for (size_t i = 0; i < sizeof LAYER_NAMES / sizeof LAYER_NAMES[0]; i++)
        if (!strcmp(rest, LAYER_NAMES[i].hf)) { out->role = LAYER_NAMES[i].role; return true; }
    int expert = -1, wn = 0, p2 = 0;
    if (sscanf(rest, "block_sparse_moe.experts.%d.w%d.weight%n", &expert, &wn, &p2) == 2 &&
        rest[p2] == '\0' && expert >= 0 && expert < d->n_expert && wn >= 1 && wn <= 3) {
        out->expert = expert;
        out->role = wn == 1 ? DP_W_GATE : wn == 3 ? DP_W_UP : DP_W_DOWN;
        return true;
    }
    return false;
}
