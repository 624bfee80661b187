/* test_hf_config.c — config.json as transformers 5 writes it (rope_parameters instead of
 * rope_theta / rope_scaling / rope_local_base_freq) gives the same model description as the
 * older spelling, for a plain, a llama3-scaled and a Gemma 3 (per layer type) config. */
#include <string.h>

#include "base/json.h"
#include "model/model.h"
#include "testutil.h"

static bool parse(const char *text, dp_model_desc *d) {
    dp_json_doc *doc = NULL;
    dp_error e = {0};
    bool ok = dp_json_parse(text, strlen(text), &doc, &e) == DP_OK && dp_model_from_hf_config(dp_json_root(doc), d, &e) == DP_OK;
    CHECK_MSG(ok, "%s", e.msg);
    dp_json_free(doc);
    return ok;
}

#define LLAMA "\"model_type\":\"llama\",\"vocab_size\":64,\"hidden_size\":64,\"num_hidden_layers\":2," \
              "\"num_attention_heads\":4,\"num_key_value_heads\":2,\"intermediate_size\":128,\"rms_norm_eps\":1e-5"
#define GEMMA3 "\"model_type\":\"gemma3_text\",\"vocab_size\":64,\"hidden_size\":64,\"num_hidden_layers\":6," \
               "\"num_attention_heads\":4,\"num_key_value_heads\":1,\"head_dim\":16,\"intermediate_size\":128," \
               "\"rms_norm_eps\":1e-6,\"sliding_window\":8,\"hidden_activation\":\"gelu_pytorch_tanh\""
#define L3 "\"factor\":8.0,\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,\"original_max_position_embeddings\":64"

static void same(const char *old_cfg, const char *new_cfg, double theta, double local_theta, dp_rope_scaling sc) {
    dp_model_desc a, b;
    if (!parse(old_cfg, &a) || !parse(new_cfg, &b)) return;
    CHECK_MSG(a.rope.theta == theta && b.rope.theta == theta, "theta %g / %g, want %g", a.rope.theta, b.rope.theta, theta);
    CHECK(a.rope.scaling == sc && b.rope.scaling == sc);
    CHECK(a.rope.factor == b.rope.factor && a.rope.original_max_pos == b.rope.original_max_pos);
    CHECK(a.rope.low_freq_factor == b.rope.low_freq_factor && a.rope.high_freq_factor == b.rope.high_freq_factor);
    CHECK(a.has_rope_local == b.has_rope_local);
    if (a.has_rope_local)
        CHECK_MSG(a.rope_local.theta == local_theta && b.rope_local.theta == local_theta, "local theta %g / %g",
                  a.rope_local.theta, b.rope_local.theta);
}

int main(void) {
    same("{" LLAMA ",\"rope_theta\":500000.0}",
         "{" LLAMA ",\"rope_parameters\":{\"rope_theta\":500000.0,\"rope_type\":\"default\"}}", 500000, 0, DP_ROPE_SCALING_NONE);
    same("{" LLAMA ",\"rope_theta\":500000.0,\"rope_scaling\":{\"rope_type\":\"llama3\"," L3 "}}",
         "{" LLAMA ",\"rope_parameters\":{\"rope_theta\":500000.0,\"rope_type\":\"llama3\"," L3 "}}", 500000, 0,
         DP_ROPE_SCALING_LLAMA3);
    same("{" GEMMA3 ",\"rope_theta\":1000000.0,\"rope_local_base_freq\":10000.0}",
         "{" GEMMA3 ",\"rope_parameters\":{\"full_attention\":{\"rope_theta\":1000000.0,\"rope_type\":\"default\"},"
         "\"sliding_attention\":{\"rope_theta\":10000.0,\"rope_type\":\"default\"}}}",
         1000000, 10000, DP_ROPE_SCALING_NONE);
    /* neither spelling: the defaults */
    dp_model_desc d;
    if (parse("{" LLAMA "}", &d)) CHECK(d.rope.theta == 10000.0);
    return t_done("test_hf_config");
}
