/* model_desc.c — normalised model description: validation, JSON round trip, rope tables,
 * canonical tensor names. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/model.h"

static const char *const FAMILY_NAMES[DP_FAMILY_COUNT] = {
    "llama", "gemma2", "gemma3", "phi3", "mixtral", "qwen3"};

const char *dp_family_name(dp_family f) {
    return (unsigned)f < DP_FAMILY_COUNT ? FAMILY_NAMES[f] : "unknown";
}

bool dp_family_parse(const char *name, dp_family *f) {
    for (int i = 0; i < DP_FAMILY_COUNT; i++)
        if (!strcmp(name, FAMILY_NAMES[i])) { *f = (dp_family)i; return true; }
    return false;
}

static const char *const ROLE_NAMES[DP_W_LAYER_COUNT] = {
    "attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "attn_q_norm", "attn_k_norm",
    "post_attention_norm", "ffn_norm", "post_ffw_norm", "ffn_gate", "ffn_up", "ffn_down",
    "ffn_gate_inp"};

const char *dp_wrole_name(dp_wrole r) {
    return (unsigned)r < DP_W_LAYER_COUNT ? ROLE_NAMES[r] : "unknown";
}

void dp_tensor_name(char *buf, size_t n, int layer, dp_wrole r, int expert) {
    if (expert >= 0)
        snprintf(buf, n, "blk.%d.%s.%d.weight", layer, dp_wrole_name(r), expert);
    else
        snprintf(buf, n, "blk.%d.%s.weight", layer, dp_wrole_name(r));
}

int dp_model_expert_slot(const dp_model_desc *d, int role) {
    if (d->n_expert <= 0) return -1;
    return role == DP_W_GATE ? 0 : role == DP_W_UP ? 1 : role == DP_W_DOWN ? 2 : -1;
}

bool dp_model_has(const dp_model_desc *d, dp_wrole r) {
    switch (r) {
    case DP_W_Q_NORM: case DP_W_K_NORM: return d->qk_norm;
    case DP_W_POST_ATTN_NORM: case DP_W_POST_FFN_NORM: return d->sandwich_norm;
    case DP_W_ROUTER: return d->n_expert > 0;
    default: return true;
    }
}

void dp_model_wshape(const dp_model_desc *d, dp_wrole r, int64_t *rows, int64_t *cols) {
    int64_t q = (int64_t)d->n_head * d->head_dim, kv = (int64_t)d->n_kv_head * d->head_dim;
    *cols = d->hidden;
    switch (r) {
    case DP_W_Q: *rows = q; break;
    case DP_W_K: case DP_W_V: *rows = kv; break;
    case DP_W_O: *rows = d->hidden; *cols = q; break;
    case DP_W_Q_NORM: case DP_W_K_NORM: *rows = 1; *cols = d->head_dim; break;
    case DP_W_GATE: case DP_W_UP: *rows = d->ffn; break;
    case DP_W_DOWN: *rows = d->hidden; *cols = d->ffn; break;
    case DP_W_ROUTER: *rows = d->n_expert; break;
    default: *rows = 1; break; /* norms over hidden */
    }
}

/* A field outside its range, named as in the description's JSON (the words a user can look up),
 * with its value and the range. */
#define CHECK_RANGE(field, name, lo, hi)                                                   \
    if (!((field) >= (lo) && (field) <= (hi)))                                             \
        return dp_err_set(e, DP_ERR_FORMAT, "model: %s is %g, outside [%g, %g]", name,     \
                          (double)(field), (double)(lo), (double)(hi))

dp_status dp_model_validate(const dp_model_desc *d, dp_error *e) {
    if ((unsigned)d->family >= DP_FAMILY_COUNT) return dp_err_set(e, DP_ERR_UNSUPPORTED, "model: unknown family");
    CHECK_RANGE(d->vocab, "vocab_size", 1, 1 << 22);
    CHECK_RANGE(d->hidden, "hidden_size", 1, 1 << 16);
    CHECK_RANGE(d->n_layers, "n_layers", 1, DP_MAX_LAYERS);
    CHECK_RANGE(d->n_head, "n_heads", 1, 1024);
    CHECK_RANGE(d->n_kv_head, "n_kv_heads", 1, d->n_head);
    CHECK_RANGE(d->head_dim, "head_dim", 2, 1024);
    CHECK_RANGE(d->rot_dim, "rot_dim", 2, d->head_dim);
    CHECK_RANGE(d->ffn, "ffn_size", 1, 1 << 20);
    CHECK_RANGE(d->max_pos, "max_position_embeddings", 1, (int64_t)1 << 30);
    CHECK_RANGE(d->norm_eps, "norm_eps", 0.0f, 1.0f);
    CHECK_RANGE(d->sliding_window, "sliding_window", 0, 1 << 30);
    CHECK_RANGE(d->n_expert, "n_experts", 0, 1024);
    CHECK_RANGE(d->n_eos, "the number of eos_ids", 0, DP_MAX_EOS);
    CHECK_RANGE(d->bos_id, "bos_id", -1, d->vocab - 1);
    if (d->n_head % d->n_kv_head) return dp_err_set(e, DP_ERR_FORMAT, "model: n_heads (%d) is not a multiple of n_kv_heads (%d)", d->n_head, d->n_kv_head);
    if (d->rot_dim % 2) return dp_err_set(e, DP_ERR_FORMAT, "model: rot_dim must be even");
    if (d->n_expert > 0) CHECK_RANGE(d->n_expert_used, "n_experts_used", 1, d->n_expert);
    if (!(d->attn_scale > 0) || !isfinite(d->attn_scale) || !(d->embed_scale > 0) || !isfinite(d->embed_scale))
        return dp_err_set(e, DP_ERR_FORMAT, "model: attn_scale (%g) and embed_scale (%g) must be positive and finite "
                          "(config.json: query_pre_attn_scalar must be positive)", (double)d->attn_scale,
                          (double)d->embed_scale);
    if (!(d->attn_softcap >= 0) || !isfinite(d->attn_softcap) || !(d->final_softcap >= 0) || !isfinite(d->final_softcap))
        return dp_err_set(e, DP_ERR_FORMAT, "model: attn_softcap (%g) and final_softcap (%g) must be finite and not negative",
                          (double)d->attn_softcap, (double)d->final_softcap);
    if (!(d->rope.theta > 0) || (d->has_rope_local && !(d->rope_local.theta > 0)))
        return dp_err_set(e, DP_ERR_FORMAT, "model: rope theta must be positive");
    const dp_rope_desc *rs[2] = {&d->rope, &d->rope_local};
    for (int i = 0; i < 2; i++) {
        const dp_rope_desc *r = rs[i];
        if ((r->scaling == DP_ROPE_SCALING_LONGROPE || r->scaling == DP_ROPE_SCALING_FACTORS) &&
            r->n_factors != d->rot_dim / 2)
            return dp_err_set(e, DP_ERR_FORMAT, "model: rope needs %d factors, has %d", d->rot_dim / 2, r->n_factors);
        if ((r->scaling == DP_ROPE_SCALING_LLAMA3 || r->scaling == DP_ROPE_SCALING_LONGROPE) && r->original_max_pos <= 0)
            return dp_err_set(e, DP_ERR_FORMAT, "model: rope scaling needs original_max_position_embeddings");
        if ((r->scaling == DP_ROPE_SCALING_LLAMA3 || r->scaling == DP_ROPE_SCALING_LINEAR) && !(r->factor > 0))
            return dp_err_set(e, DP_ERR_FORMAT, "model: rope scaling factor must be positive");
        if (r->scaling == DP_ROPE_SCALING_LLAMA3 && !(r->high_freq_factor > r->low_freq_factor))
            return dp_err_set(e, DP_ERR_FORMAT, "model: llama3 rope needs high_freq_factor > low_freq_factor");
    }
    for (int i = 0; i < d->n_eos; i++) CHECK_RANGE(d->eos_ids[i], "an eos_id", 0, d->vocab - 1);
    return DP_OK;
}

/* ---- rope ---- */

void dp_model_rope_freqs(const dp_model_desc *d, bool local, int64_t n_ctx, float *inv_freq,
                         float *mscale) {
    const dp_rope_desc *r = (local && d->has_rope_local) ? &d->rope_local : &d->rope;
    int half = d->rot_dim / 2;
    *mscale = 1.0f;
    const float *ext = NULL;
    if (r->scaling == DP_ROPE_SCALING_LONGROPE) {
        ext = n_ctx > r->original_max_pos ? r->long_factor : r->short_factor;
        double factor = (double)d->max_pos / (double)r->original_max_pos;
        if (r->attention_factor > 0) *mscale = (float)r->attention_factor;
        else if (factor > 1.0) *mscale = (float)sqrt(1.0 + log(factor) / log((double)r->original_max_pos));
    }
    if (r->scaling == DP_ROPE_SCALING_FACTORS) ext = r->short_factor;
    for (int i = 0; i < half; i++) {
        /* HF computes base ** (2i/dim) and its reciprocal in f32 */
        float expo = (float)(2 * i) / (float)d->rot_dim;
        float f = 1.0f / powf((float)r->theta, expo);
        if (ext) f = 1.0f / (ext[i] * powf((float)r->theta, expo));
        if (r->scaling == DP_ROPE_SCALING_LINEAR) f = (float)(f / r->factor);
        if (r->scaling == DP_ROPE_SCALING_LLAMA3) {
            double low_wl = (double)r->original_max_pos / r->low_freq_factor;
            double high_wl = (double)r->original_max_pos / r->high_freq_factor;
            double wl = 2.0 * M_PI / f;
            if (wl > low_wl) f = (float)(f / r->factor);
            else if (wl >= high_wl) {
                double smooth = ((double)r->original_max_pos / wl - r->low_freq_factor) /
                                (r->high_freq_factor - r->low_freq_factor);
                f = (float)((1.0 - smooth) * f / r->factor + smooth * f);
            }
        }
        inv_freq[i] = f;
    }
}

/* ---- JSON ---- */

static void put_rope(dp_buf *b, const char *key, const dp_rope_desc *r) {
    static const char *const kinds[] = {"none", "linear", "llama3", "longrope", "factors"};
    dp_buf_printf(b, "\"%s\":{\"theta\":%.17g,\"scaling\":\"%s\",\"factor\":%.17g,"
                     "\"low_freq_factor\":%.17g,\"high_freq_factor\":%.17g,"
                     "\"original_max_position_embeddings\":%lld,\"attention_factor\":%.17g",
                  key, r->theta, kinds[r->scaling], r->factor, r->low_freq_factor,
                  r->high_freq_factor, (long long)r->original_max_pos, r->attention_factor);
    const float *lists[2] = {r->short_factor, r->long_factor};
    const char *names[2] = {"short_factor", "long_factor"};
    for (int l = 0; l < 2; l++) {
        dp_buf_printf(b, ",\"%s\":[", names[l]);
        for (int i = 0; i < r->n_factors; i++) dp_buf_printf(b, "%s%.9g", i ? "," : "", (double)lists[l][i]);
        dp_buf_puts(b, "]");
    }
    dp_buf_puts(b, "}");
}

void dp_model_to_json(const dp_model_desc *d, dp_buf *b) {
    dp_buf_printf(b, "{\"family\":\"%s\",\"vocab_size\":%d,\"hidden_size\":%d,\"n_layers\":%d,"
                     "\"n_heads\":%d,\"n_kv_heads\":%d,\"head_dim\":%d,\"ffn_size\":%d,\"rot_dim\":%d,"
                     "\"max_position_embeddings\":%lld,\"norm_eps\":%.9g,\"norm_plus_one\":%s,"
                     "\"sandwich_norm\":%s,\"qk_norm\":%s,\"activation\":\"%s\",\"embed_scale\":%.9g,"
                     "\"attn_scale\":%.9g,\"attn_softcap\":%.9g,\"final_softcap\":%.9g,"
                     "\"sliding_window\":%d,\"rope_interleaved\":%s,\"n_experts\":%d,"
                     "\"n_experts_used\":%d,\"tied_embeddings\":%s,\"bos_id\":%d,",
                  dp_family_name(d->family), d->vocab, d->hidden, d->n_layers, d->n_head,
                  d->n_kv_head, d->head_dim, d->ffn, d->rot_dim, (long long)d->max_pos,
                  (double)d->norm_eps, d->norm_plus_one ? "true" : "false",
                  d->sandwich_norm ? "true" : "false", d->qk_norm ? "true" : "false",
                  d->act == DP_ACT_GELU_TANH ? "gelu_tanh" : "silu", (double)d->embed_scale,
                  (double)d->attn_scale, (double)d->attn_softcap, (double)d->final_softcap,
                  d->sliding_window, d->rope_interleaved ? "true" : "false", d->n_expert,
                  d->n_expert_used, d->tied_embeddings ? "true" : "false", d->bos_id);
    dp_buf_puts(b, "\"eos_ids\":[");
    for (int i = 0; i < d->n_eos; i++) dp_buf_printf(b, "%s%d", i ? "," : "", d->eos_ids[i]);
    dp_buf_puts(b, "],\"layer_local\":[");
    for (int i = 0; i < d->n_layers; i++) dp_buf_printf(b, "%s%d", i ? "," : "", d->layer_local[i]);
    dp_buf_puts(b, "],");
    put_rope(b, "rope", &d->rope);
    if (d->has_rope_local) {
        dp_buf_puts(b, ",");
        put_rope(b, "rope_local", &d->rope_local);
    }
    dp_buf_puts(b, "}");
}

typedef struct jreader {
    const dp_json *obj;
    dp_error *e;
    dp_status st;
} jreader;

static double j_num(jreader *r, const char *key) {
    double v = 0;
    if (r->st == DP_OK && !dp_json_num(dp_json_get(r->obj, key), &v))
        r->st = dp_err_set(r->e, DP_ERR_FORMAT, "model: missing or non-numeric field '%s'", key);
    return v;
}

/* a float field: converting a double outside float's range is undefined behaviour */
static float j_f32(jreader *r, const char *key) {
    double v = j_num(r, key);
    if (r->st == DP_OK && !(fabs(v) <= FLT_MAX))
        r->st = dp_err_set(r->e, DP_ERR_FORMAT, "model: field '%s' is out of range", key);
    return r->st == DP_OK ? (float)v : 0.0f;
}

static int j_int(jreader *r, const char *key) {
    int64_t v = 0;
    if (r->st == DP_OK && (!dp_json_i64(dp_json_get(r->obj, key), &v) || v < -1 || v > (1LL << 30)))
        r->st = dp_err_set(r->e, DP_ERR_FORMAT, "model: missing or invalid integer field '%s'", key);
    return (int)v;
}

static bool j_bool(jreader *r, const char *key) {
    bool v = false;
    if (r->st == DP_OK && !dp_json_bool(dp_json_get(r->obj, key), &v))
        r->st = dp_err_set(r->e, DP_ERR_FORMAT, "model: missing boolean field '%s'", key);
    return v;
}

static const char *j_str(jreader *r, const char *key) {
    const char *s = "";
    if (r->st == DP_OK && !dp_json_str(dp_json_get(r->obj, key), &s))
        r->st = dp_err_set(r->e, DP_ERR_FORMAT, "model: missing string field '%s'", key);
    return s;
}

static int j_list(jreader *r, const char *key, int max, float *f, int *ints) {
    const dp_json *a = dp_json_get(r->obj, key);
    if (r->st != DP_OK) return 0;
    if (!dp_json_is(a, DP_JSON_ARRAY) || a->len > (uint32_t)max) {
        r->st = dp_err_set(r->e, DP_ERR_FORMAT, "model: field '%s' must be an array of at most %d", key, max);
        return 0;
    }
    for (uint32_t i = 0; i < a->len; i++) {
        double v;
        if (!dp_json_num(&a->u.items[i], &v)) {
            r->st = dp_err_set(r->e, DP_ERR_FORMAT, "model: '%s' holds a non-number", key);
            return 0;
        }
        if (f && !(fabs(v) <= FLT_MAX)) {
            r->st = dp_err_set(r->e, DP_ERR_FORMAT, "model: '%s' holds a number out of range", key);
            return 0;
        }
        if (f) f[i] = (float)v;
        if (ints) {
            if (v != floor(v) || v < -1 || v > 1e9) {
                r->st = dp_err_set(r->e, DP_ERR_FORMAT, "model: '%s' holds a non-integer", key);
                return 0;
            }
            ints[i] = (int)v;
        }
    }
    return (int)a->len;
}

/* A JSON number as int64_t, saturating: casting an out-of-range double is undefined behaviour. */
static int64_t sat_i64(double v) {
    if (v != v) return 0;
    if (v <= -9.2e18) return INT64_MIN;
    if (v >= 9.2e18) return INT64_MAX;
    return (int64_t)v;
}

static void get_rope(jreader *parent, const char *key, dp_rope_desc *r) {
    jreader jr = {dp_json_get(parent->obj, key), parent->e, parent->st};
    if (jr.st != DP_OK) return;
    if (!dp_json_is(jr.obj, DP_JSON_OBJECT)) {
        parent->st = dp_err_set(parent->e, DP_ERR_FORMAT, "model: missing object '%s'", key);
        return;
    }
    memset(r, 0, sizeof *r);
    r->theta = j_num(&jr, "theta");
    const char *kind = j_str(&jr, "scaling");
    static const char *const kinds[] = {"none", "linear", "llama3", "longrope", "factors"};
    bool found = false;
    for (int i = 0; i < 5; i++)
        if (!strcmp(kind, kinds[i])) { r->scaling = (dp_rope_scaling)i; found = true; }
    if (jr.st == DP_OK && !found) jr.st = dp_err_set(jr.e, DP_ERR_UNSUPPORTED, "model: unknown rope scaling '%s'", kind);
    r->factor = j_num(&jr, "factor");
    r->low_freq_factor = j_num(&jr, "low_freq_factor");
    r->high_freq_factor = j_num(&jr, "high_freq_factor");
    r->original_max_pos = sat_i64(j_num(&jr, "original_max_position_embeddings"));
    r->attention_factor = j_num(&jr, "attention_factor");
    int ns = j_list(&jr, "short_factor", DP_MAX_ROPE_FACTORS, r->short_factor, NULL);
    int nl = j_list(&jr, "long_factor", DP_MAX_ROPE_FACTORS, r->long_factor, NULL);
    if (jr.st == DP_OK && ns != nl) jr.st = dp_err_set(jr.e, DP_ERR_FORMAT, "model: rope factor lists differ in length");
    r->n_factors = ns;
    parent->st = jr.st;
}

dp_status dp_model_from_json(const dp_json *obj, dp_model_desc *out, dp_error *e) {
    if (!dp_json_is(obj, DP_JSON_OBJECT)) return dp_err_set(e, DP_ERR_FORMAT, "model: not an object");
    dp_model_desc *d = dp_calloc(1, sizeof *d);
    if (!d) return dp_err_set(e, DP_ERR_NOMEM, "model: out of memory");
    jreader r = {obj, e, DP_OK};
    const char *fam = j_str(&r, "family");
    if (r.st == DP_OK && !dp_family_parse(fam, &d->family))
        r.st = dp_err_set(e, DP_ERR_UNSUPPORTED, "model: unknown family '%s'", fam);
    d->vocab = j_int(&r, "vocab_size");
    d->hidden = j_int(&r, "hidden_size");
    d->n_layers = j_int(&r, "n_layers");
    d->n_head = j_int(&r, "n_heads");
    d->n_kv_head = j_int(&r, "n_kv_heads");
    d->head_dim = j_int(&r, "head_dim");
    d->ffn = j_int(&r, "ffn_size");
    d->rot_dim = j_int(&r, "rot_dim");
    d->max_pos = sat_i64(j_num(&r, "max_position_embeddings"));
    d->norm_eps = j_f32(&r, "norm_eps");
    d->norm_plus_one = j_bool(&r, "norm_plus_one");
    d->sandwich_norm = j_bool(&r, "sandwich_norm");
    d->qk_norm = j_bool(&r, "qk_norm");
    const char *act = j_str(&r, "activation");
    if (!strcmp(act, "gelu_tanh")) d->act = DP_ACT_GELU_TANH;
    else if (!strcmp(act, "silu")) d->act = DP_ACT_SILU;
    else if (r.st == DP_OK) r.st = dp_err_set(e, DP_ERR_UNSUPPORTED, "model: unknown activation '%s'", act);
    d->embed_scale = j_f32(&r, "embed_scale");
    d->attn_scale = j_f32(&r, "attn_scale");
    d->attn_softcap = j_f32(&r, "attn_softcap");
    d->final_softcap = j_f32(&r, "final_softcap");
    d->sliding_window = j_int(&r, "sliding_window");
    d->rope_interleaved = j_bool(&r, "rope_interleaved");
    d->n_expert = j_int(&r, "n_experts");
    d->n_expert_used = j_int(&r, "n_experts_used");
    d->tied_embeddings = j_bool(&r, "tied_embeddings");
    d->bos_id = j_int(&r, "bos_id");
    d->n_eos = j_list(&r, "eos_ids", DP_MAX_EOS, NULL, d->eos_ids);
    int local[DP_MAX_LAYERS];
    int nl = j_list(&r, "layer_local", DP_MAX_LAYERS, NULL, local);
    if (r.st == DP_OK && nl != d->n_layers)
        r.st = dp_err_set(e, DP_ERR_FORMAT, "model: layer_local has %d entries for %d layers", nl, d->n_layers);
    for (int i = 0; i < nl && r.st == DP_OK; i++) d->layer_local[i] = local[i] != 0;
    get_rope(&r, "rope", &d->rope);
    d->has_rope_local = dp_json_get(obj, "rope_local") != NULL;
    if (d->has_rope_local) get_rope(&r, "rope_local", &d->rope_local);
    if (r.st == DP_OK) r.st = dp_model_validate(d, e);
    if (r.st == DP_OK) *out = *d;
    dp_free(d);
    return r.st;
}
