/* fuzz_model_json.c — src/model/model.h: the input is parsed as JSON, and the root (and, when the
 * root is an object, each of its object members, such as a manifest's "model") goes through both
 * mappings onto the model description: dp_model_from_hf_config (a Hugging Face config.json) and
 * dp_model_from_json (the RDRR manifest's "model" object). Whatever either accepts must pass
 * dp_model_validate, survive a to_json/from_json round trip unchanged, and give rope tables. The
 * same objects go through dp_lora_from_json (a LoRA adapter manifest's "model"): what it accepts
 * must read back unchanged from dp_lora_to_json, and its scale and validation must not crash. */
#include <math.h>

#include "fuzz_common.h"

#include "model/hf.h"
#include "model/lora.h"
#include "model/model.h"

static void check_desc(const dp_model_desc *d) {
    dp_error e = {0};
    if (dp_model_validate(d, &e) != DP_OK) {
        fprintf(stderr, "fuzz_model_json: accepted description fails validation: %s\n", e.msg);
        abort();
    }
    /* the manifest form of the description reads back as the same description */
    dp_buf b = {0};
    dp_model_to_json(d, &b);
    if (b.oom) {
        dp_buf_free(&b);
        return;
    }
    dp_json_doc *doc = NULL;
    if (dp_json_parse(b.data, b.len, &doc, &e) != DP_OK) {
        fprintf(stderr, "fuzz_model_json: dp_model_to_json wrote bad JSON: %s\n%s\n", e.msg, b.data);
        abort();
    }
    dp_model_desc *d2 = malloc(sizeof *d2);
    if (!d2) abort();
    if (dp_model_from_json(dp_json_root(doc), d2, &e) != DP_OK) {
        fprintf(stderr, "fuzz_model_json: round trip refused: %s\n%s\n", e.msg, b.data);
        abort();
    }
    dp_json_free(doc);
    dp_buf_free(&b);
    if (d2->vocab != d->vocab || d2->n_layers != d->n_layers || d2->head_dim != d->head_dim ||
        d2->rot_dim != d->rot_dim || d2->rope.scaling != d->rope.scaling ||
        d2->rope.n_factors != d->rope.n_factors || d2->n_eos != d->n_eos ||
        memcmp(d2->layer_local, d->layer_local, sizeof d->layer_local) != 0) {
        fprintf(stderr, "fuzz_model_json: description changed in a JSON round trip\n");
        abort();
    }
    free(d2);
    float inv[DP_MAX_ROPE_FACTORS + 1], ms;
    for (int local = 0; local < 2; local++) {
        dp_model_rope_freqs(d, local, 1, inv, &ms);
        dp_model_rope_freqs(d, local, d->max_pos, inv, &ms);
    }
    /* tensor names and shapes of every layer role */
    for (int r = 0; r < DP_W_LAYER_COUNT; r++) {
        char name[128];
        int64_t rows, cols;
        dp_tensor_name(name, sizeof name, d->n_layers - 1, (dp_wrole)r, d->n_expert - 1);
        dp_model_wshape(d, (dp_wrole)r, &rows, &cols);
        fz_sink((uint32_t)dp_model_has(d, (dp_wrole)r) + (uint32_t)rows + (uint32_t)cols);
        dp_hf_name hn;
        fz_sink((uint32_t)dp_hf_map_name(d, "model.layers.0.self_attn.q_proj.weight", &hn));
    }
}

static void try_lora(const dp_json *v, const dp_model_desc *base) {
    dp_lora_desc a, a2;
    dp_error e = {0};
    if (dp_lora_from_json(v, &a, &e) != DP_OK) {
        if (!e.msg[0]) abort();
        return;
    }
    fz_sink((uint32_t)dp_lora_is_adapter(v) + (uint32_t)isfinite(dp_lora_scale(&a)));
    if (base) fz_sink((uint32_t)dp_lora_validate(&a, base, &e));
    dp_buf b = {0};
    dp_lora_to_json(&a, "fuzz", &b);
    dp_json_doc *doc = NULL;
    if (!b.oom && dp_json_parse(b.data, b.len, &doc, &e) != DP_OK) {
        fprintf(stderr, "fuzz_model_json: dp_lora_to_json wrote bad JSON: %s\n", e.msg);
        abort();
    }
    if (doc && (dp_lora_from_json(dp_json_root(doc), &a2, &e) != DP_OK || strcmp(a.base, a2.base) ||
                a.family != a2.family || a.rank != a2.rank || a.targets != a2.targets || a.rslora != a2.rslora ||
                !(a.alpha == a2.alpha || (isnan(a.alpha) && isnan(a2.alpha))))) {
        fprintf(stderr, "fuzz_model_json: adapter description changed in a JSON round trip\n");
        abort();
    }
    dp_json_free(doc);
    dp_buf_free(&b);
}

static void try_obj(const dp_json *v) {
    dp_model_desc *d = calloc(1, sizeof *d);
    if (!d) abort();
    dp_error e = {0};
    dp_status st = dp_model_from_hf_config(v, d, &e);
    /* factor lists live inside the struct, where AddressSanitizer cannot see an overflow */
    if (d->rope.n_factors < 0 || d->rope.n_factors > DP_MAX_ROPE_FACTORS) abort();
    if (st == DP_OK) check_desc(d);
    else if (!e.msg[0]) abort();
    memset(&e, 0, sizeof e);
    memset(d, 0, sizeof *d);
    st = dp_model_from_json(v, d, &e);
    if (d->rope.n_factors < 0 || d->rope.n_factors > DP_MAX_ROPE_FACTORS) abort();
    if (st == DP_OK) check_desc(d);
    else if (!e.msg[0]) abort();
    try_lora(v, st == DP_OK ? d : NULL);
    free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_begin(size);
    dp_json_doc *doc = NULL;
    dp_error e = {0};
    if (dp_json_parse((const char *)data, size, &doc, &e) == DP_OK) {
        const dp_json *root = dp_json_root(doc);
        try_obj(root);
        if (root->type == DP_JSON_OBJECT)
            for (uint32_t i = 0; i < root->len && i < 8; i++)
                if (root->u.items[i].type == DP_JSON_OBJECT) try_obj(&root->u.items[i]);
        dp_json_free(doc);
    }
    fz_end();
    return 0;
}
