#!/bin/sh
# test_webgpu_paging.sh — MoE expert paging on the WebGPU backend through the Node host
# (tests/webgpu/paging.mjs): logits with a gpu_mem of 2 expert slots per layer (and of one slot)
# bit-identical to the unpaged WebGPU run on hf-tiny/mixtral (f32) and on a synthesized 8-expert
# q4_k_m model (doppler synth --shape mixtral-tiny); corrupted and removed expert shards while
# the model runs give a clear error, then the same logits once repaired; `bench --gpu-mem`
# reports the figures. Installs what is missing (web/deps.sh); skips (77) only when that is
# impossible here or the fixtures are absent, and fails instead of skipping when CI is set.
set -u
ROOT=${DP_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
SHARED=${DP_SHARED:-$ROOT/../shared}
TOOL=${DP_TOOL:-$ROOT/build/doppler}
TMP=${DP_TMP:-/tmp}/webgpu_paging
skip() { echo "skip: $1"; [ -n "${CI:-}" ] && exit 1; exit 77; }
[ -d "$SHARED/fixtures/hf-tiny/mixtral" ] || skip "no $SHARED/fixtures/hf-tiny/mixtral"
[ -x "$TOOL" ] || skip "no doppler tool at $TOOL"
"$ROOT/web/deps.sh" || skip "web/deps.sh cannot install the WebGPU host"
[ -x "$ROOT/web/node_modules/.bin/wasm-opt" ] || skip "no web/node_modules/.bin/wasm-opt (binaryen): the module cannot wait for the GPU"
mkdir -p "$TMP"
W=$(sh "$ROOT/tests/webgpu/wasm.sh" lib "$TMP") || { echo "$W"; exit 1; }
rm -rf "$TMP/mixtral" "$TMP/synth"
"$TOOL" convert "$SHARED/fixtures/hf-tiny/mixtral" "$TMP/mixtral" --dtype f32 >/dev/null 2>&1 || { echo "convert mixtral failed"; exit 1; }
"$TOOL" synth --shape mixtral-tiny --quant q4_k_m "$TMP/synth" >/dev/null 2>&1 || { echo "synth mixtral-tiny failed"; exit 1; }
# ~94 MB (hidden 1024, 2 layers of 8 experts): big enough that loading it grows the module's memory
printf '%s' '{"model_type":"mixtral","vocab_size":8000,"hidden_size":1024,"num_hidden_layers":2,"num_attention_heads":8,"num_key_value_heads":2,"head_dim":128,"intermediate_size":2816,"tie_word_embeddings":false,"max_position_embeddings":4096,"bos_token_id":1,"eos_token_id":2,"rms_norm_eps":1e-5,"rope_theta":1000000.0,"hidden_act":"silu","num_local_experts":8,"num_experts_per_tok":2}' >"$TMP/grow.json"
rm -rf "$TMP/grow"
"$TOOL" synth --config "$TMP/grow.json" --quant q4_k_m "$TMP/grow" >/dev/null 2>&1 || { echo "synth grow failed"; exit 1; }
DP_WASM="$W/dist/doppler.wasm" node "$ROOT/tests/webgpu/paging.mjs" "hf-tiny=$TMP/mixtral" "synth=$TMP/synth" "grow=$TMP/grow"
rc=$?
[ $rc = 77 ] && skip "no WebGPU adapter"
exit $rc
