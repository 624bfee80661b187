/* lora.c — LoRA adapter names, roles and the manifest's "model" object (lora.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/lora.h"

static const dp_wrole ROLES[] = {DP_W_Q, DP_W_K, DP_W_V, DP_W_O, DP_W_GATE, DP_W_UP, DP_W_DOWN};
#define N_ROLES (sizeof ROLES / sizeof ROLES[0])

bool dp_lora_role_ok(const dp_model_desc *d, int r) {
    bool known = false;
    for (size_t i = 0; i < N_ROLES; i++) known |= (int)ROLES[i] == r;
    return known && dp_model_has(d, (dp_wrole)r) && dp_model_expert_slot(d, r) < 0;
}

void dp_lora_tensor_name(char *buf, size_t n, int layer, dp_wrole r, bool is_b) {
    snprintf(buf, n, "blk.%d.%s.lora_%c", layer, dp_wrole_name(r), is_b ? 'b' : 'a');
}

bool dp_lora_parse_name(const char *name, int *layer, dp_wrole *r, bool *is_b) {
    int l = -1, pos = 0;
    if (sscanf(name, "blk.%d.%n", &l, &pos) != 1 || pos == 0 || l < 0 || l >= DP_MAX_LAYERS) return false;
    const char *rest = name + pos;
    for (size_t i = 0; i < N_ROLES; i++) {
        const char *rn = dp_wrole_name(ROLES[i]);
        size_t k = strlen(rn);
        if (strncmp(rest, rn, k) || strncmp(rest + k, ".lora_", 6)) continue;
        const char *ab = rest + k + 6;
        if ((ab[0] != 'a' && ab[0] != 'b') || ab[1] != '\0') return false;
        *layer = l;
        *r = ROLES[i];
        *is_b = ab[0] == 'b';
        return true;
    }
    return false;
}

float dp_lora_scale(const dp_lora_desc *a) {
    return (float)(a->alpha / (a->rslora ? sqrt((double)a->rank) : (double)a->rank));
}

dp_status dp_lora_validate(const dp_lora_desc *a, const dp_model_desc *d, dp_error *e) {
    int max = d->hidden < DP_LORA_MAX_RANK ? d->hidden : DP_LORA_MAX_RANK;
    if (a->rank < 1 || a->rank > max)
        return dp_err_set(e, DP_ERR_FORMAT, "adapter: rank %d is outside [1, %d]", a->rank, max);
    if (!isfinite(a->alpha) || !isfinite(dp_lora_scale(a)))
        return dp_err_set(e, DP_ERR_FORMAT, "adapter: lora_alpha %g gives no finite scale", a->alpha);
    if (a->family != d->family)
        return dp_err_set(e, DP_ERR_FORMAT, "adapter: made for a %s model, the base is %s", dp_family_name(a->family),
                          dp_family_name(d->family));
    for (int r = 0; r < DP_W_LAYER_COUNT; r++)
        if ((a->targets >> r & 1u) && !dp_lora_role_ok(d, r))
            return dp_err_set(e, DP_ERR_UNSUPPORTED, "adapter: target %s cannot be adapted in a %s model",
                              dp_wrole_name((dp_wrole)r), dp_family_name(d->family));
    if (a->targets >> DP_W_LAYER_COUNT)
        return dp_err_set(e, DP_ERR_FORMAT, "adapter: unknown target bits");
    return DP_OK;
}

void dp_lora_to_json(const dp_lora_desc *a, const char *source, dp_buf *out) {
    /* "scale" is derived (informational): null where it is not a finite number (rank 0, or an
     * alpha whose scale overflows a float), since JSON has no inf */
    double scale = (double)dp_lora_scale(a);
    dp_buf_printf(out, "{\"adapter\": \"lora\", \"base\": \"%s\", \"family\": \"%s\", \"rank\": %d, "
                  "\"alpha\": %.17g, \"use_rslora\": %s, \"scale\": ",
                  a->base, dp_family_name(a->family), a->rank, a->alpha, a->rslora ? "true" : "false");
    if (isfinite(scale)) dp_buf_printf(out, "%.9g", scale);
    else dp_buf_puts(out, "null");
    dp_buf_puts(out, ", \"targets\": [");
    int k = 0;
    for (int r = 0; r < DP_W_LAYER_COUNT; r++)
        if (a->targets >> r & 1u) dp_buf_printf(out, "%s\"%s\"", k++ ? ", " : "", dp_wrole_name((dp_wrole)r));
    dp_buf_puts(out, "], \"source\": ");
    dp_json_write_str(out, source ? source : "", source ? strlen(source) : 0);
    dp_buf_puts(out, "}");
}

bool dp_lora_is_adapter(const dp_json *model_obj) {
    return dp_json_get(model_obj, "adapter") != NULL;
}

static bool is_hex64(const char *s) {
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return s[64] == '\0';
}

dp_status dp_lora_from_json(const dp_json *o, dp_lora_desc *a, dp_error *e) {
    memset(a, 0, sizeof *a);
    const char *kind = NULL, *base = NULL, *fam = NULL;
    int64_t rank = 0;
    if (!dp_json_str(dp_json_get(o, "adapter"), &kind) || strcmp(kind, "lora"))
        return dp_err_set(e, DP_ERR_UNSUPPORTED, "adapter: \"adapter\" is not \"lora\"");
    if (!dp_json_str(dp_json_get(o, "base"), &base) || strncmp(base, "sha256:", 7) || !is_hex64(base + 7))
        return dp_err_set(e, DP_ERR_FORMAT, "adapter: \"base\" is not \"sha256:<64 lowercase hex>\"");
    snprintf(a->base, sizeof a->base, "%s", base);
    if (!dp_json_str(dp_json_get(o, "family"), &fam) || !dp_family_parse(fam, &a->family))
        return dp_err_set(e, DP_ERR_FORMAT, "adapter: \"family\" missing or unknown");
    if (!dp_json_i64(dp_json_get(o, "rank"), &rank) || rank < 0 || rank > INT32_MAX)
        return dp_err_set(e, DP_ERR_FORMAT, "adapter: \"rank\" is not a non-negative integer");
    a->rank = (int)rank;
    if (!dp_json_num(dp_json_get(o, "alpha"), &a->alpha))
        return dp_err_set(e, DP_ERR_FORMAT, "adapter: \"alpha\" is not a number");
    if (!dp_json_bool(dp_json_get(o, "use_rslora"), &a->rslora))
        return dp_err_set(e, DP_ERR_FORMAT, "adapter: \"use_rslora\" is not a boolean");
    const dp_json *t = dp_json_get(o, "targets");
    if (!dp_json_is(t, DP_JSON_ARRAY)) return dp_err_set(e, DP_ERR_FORMAT, "adapter: \"targets\" is not an array");
    for (uint32_t i = 0; i < t->len; i++) {
        const char *name = NULL;
        int r = 0;
        if (dp_json_str(dp_json_at(t, i), &name))
            for (r = 0; r < DP_W_LAYER_COUNT && strcmp(name, dp_wrole_name((dp_wrole)r)); r++) {}
        if (!name || r == DP_W_LAYER_COUNT)
            return dp_err_set(e, DP_ERR_FORMAT, "adapter: unknown target '%s'", name ? name : "(not a string)");
        a->targets |= 1u << r;
    }
    return DP_OK;
}

dp_status dp_lora_rope_rows(const dp_model_desc *d, dp_wrole r, bool interleaved, float *b, int rank, dp_error *e) {
    if ((r != DP_W_Q && r != DP_W_K) || interleaved == d->rope_interleaved) return DP_OK;
    int64_t rows, cols, hd = d->head_dim;
    dp_model_wshape(d, r, &rows, &cols);
    float *tmp = dp_malloc((size_t)rows * (size_t)rank * sizeof(float));
    if (!tmp) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    memcpy(tmp, b, (size_t)rows * (size_t)rank * sizeof(float));
    /* GGML row 2j + p of a head is row p * hd/2 + j of the same head in rotate-half order */
    for (int64_t g = 0; g < rows; g++) {
        int64_t h = g / hd, i = g % hd, hf = h * hd + (i % 2) * (hd / 2) + i / 2;
        int64_t to = interleaved ? hf : g, from = interleaved ? g : hf;
        memcpy(b + to * rank, tmp + from * rank, (size_t)rank * sizeof(float));
    }
    dp_free(tmp);
    return DP_OK;
}
