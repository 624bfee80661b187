#!/bin/sh
# test_webgpu_ops.sh — every WebGPU kernel against the CPU op (tests/webgpu/ops_test.c) in the
# WebAssembly build, under Node on WebGPU (SwiftShader on a machine without a GPU).
# Installs what is missing (web/deps.sh); skips (77) only when that is impossible here.
# The WebAssembly build: tests/webgpu/wasm.sh (once for all WebGPU tests under scripts/test.sh).
set -u
ROOT=${DP_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
TMP=${DP_TMP:-/tmp}/webgpu_ops
mkdir -p "$TMP"
"$ROOT/web/deps.sh" || exit 77
W=$(sh "$ROOT/tests/webgpu/wasm.sh" test "$TMP") || { echo "$W"; exit 1; }
node "$ROOT/tests/webgpu/run_ops.mjs" "$W/webgpu_ops_test.wasm" || exit $?
# the same cases with other matvec workgroup shapes than the automatic ones (16 rows of 16
# lanes, one unit per iteration) and f32 activations (act_quant=0, the backend default: the norms
# before quantized products folded into them, weights_<t>_n)
DP_TUNE=matvec_rows=16,matvec_tpr=16,act_quant=0,matvec_unroll=1 node "$ROOT/tests/webgpu/run_ops.mjs" "$W/webgpu_ops_test.wasm" || exit $?
# ops_test runs with the decode fusions on (t_init: fold_norm=1, attn_one_slice=256; opt-in in
# the backend); here the fused and attention cases with them off, the backend's defaults: the norms
# as their own dispatches and decode attention split at every context length
DP_TUNE=act_quant=0,fold_norm=0,attn_one_slice=0 DP_KINDS=fused,attention node "$ROOT/tests/webgpu/run_ops.mjs" "$W/webgpu_ops_test.wasm" || exit $?
# the folded norms with subgroup row sums (weights_<t>_n_sg)
DP_TUNE=act_quant=0,matvec_sg=1 DP_KINDS=fused node "$ROOT/tests/webgpu/run_ops.mjs" "$W/webgpu_ops_test.wasm" || exit $?
# the products over q4_K / q6_K / q8_0 with 8-bit x and dot4I8Packed (kernels weights_<t>_i8):
# the CPU's activation blocks, so the CPU op's tight tolerance holds
DP_TUNE=matvec_i8=1 DP_KINDS=matmul,fused node "$ROOT/tests/webgpu/run_ops.mjs" "$W/webgpu_ops_test.wasm" || exit $?
# and their row sums by subgroup shuffles (kernels weights_<t>_sg, weights_<t>_i8_sg): SwiftShader's
# subgroups of 4 take the path for rows wider than a subgroup; the LoRA epilogue (_lora entries)
# with 4 lanes per row, fewer than the ranks
DP_TUNE=matvec_sg=1,matvec_i8=0 DP_KINDS=matmul,fused node "$ROOT/tests/webgpu/run_ops.mjs" "$W/webgpu_ops_test.wasm" || exit $?
DP_TUNE=matvec_sg=1,matvec_i8=1,matvec_tpr=4 DP_KINDS=matmul,fused,lora node "$ROOT/tests/webgpu/run_ops.mjs" "$W/webgpu_ops_test.wasm" || exit $?
# the tiled prefill products (n > 8) in 8 x 8 per invocation (matmul_tiled:blocked) in tiles of
# 128 x 128 and 64 x 64 (the default run takes matmul_tiled:main)
DP_TUNE=prefill_tile=128 DP_KINDS=matmul,lora node "$ROOT/tests/webgpu/run_ops.mjs" "$W/webgpu_ops_test.wasm" || exit $?
DP_TUNE=prefill_tile=64 DP_KINDS=matmul node "$ROOT/tests/webgpu/run_ops.mjs" "$W/webgpu_ops_test.wasm" || exit $?
# the 8-bit products packing x in each of their workgroups (matvec_pack: weights_<t>_i8p, the norm
# inside where one comes before them, no main_q / act_pack dispatch): the same blocks, so the same
# bounds, and the dispatch counts ops_test.c expects of them; then with subgroup row sums (_i8p_sg)
DP_TUNE=matvec_i8=1,matvec_pack=1 DP_KINDS=matmul,fused,attention,lora node "$ROOT/tests/webgpu/run_ops.mjs" "$W/webgpu_ops_test.wasm" || exit $?
# the weights in f16 for the subgroup-matrix prefill (dequant_h) against their f32 expansion
node "$ROOT/tests/webgpu/dequant_h.mjs" || exit $?
# prefill attention of 16 rows or more row by row (partial) instead of in row blocks (flash, the
# default on SwiftShader)
DP_TUNE=attn_flash=0 DP_KINDS=attention node "$ROOT/tests/webgpu/run_ops.mjs" "$W/webgpu_ops_test.wasm" || exit $?
DP_TUNE=matvec_sg=1,matvec_i8=1,matvec_pack=1,matvec_tpr=4 DP_KINDS=matmul,fused exec node "$ROOT/tests/webgpu/run_ops.mjs" "$W/webgpu_ops_test.wasm"
