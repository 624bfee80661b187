// run_ops.mjs — drives build-wasm/webgpu_ops_test.wasm (tests/webgpu/ops_test.c) under Node on
// WebGPU: for each case t_begin (records + submits), await the GPU, t_end (compares, prints).
// Usage: node tests/webgpu/run_ops.mjs <module.wasm> [first-case [last-case]]
// Exit status: 0 all passed, 1 a case failed, 77 no WebGPU adapter.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { kernelSources, kernelLine } from '../../web/tools/kernels.mjs';
import { nodeWasi } from '../../web/wasi-host.mjs';
import { hostHash } from '../../web/host-hash.mjs';
import { GpuHost, requestDevice } from '../../web/gpu.mjs';
import { gpuFromNode } from '../../web/node-gpu.mjs';

const out = (t) => fs.writeSync(1, t + '\n');  // synchronous: nothing is lost if Dawn crashes
const [wasmPath, first = '0', last = '1000000'] = process.argv.slice(2);
let dev;
try {
  dev = await requestDevice(await gpuFromNode());
} catch (e) {
  console.log(`skip: ${e.message}`);
  process.exit(77);
}
out(`adapter: ${dev.info.vendor} ${dev.info.architecture} ${dev.info.description} features=[${dev.info.features}]`);
// every kernel (as embedded: kernels/weights/<type>.wgsl + weights_common.wgsl) must be valid WGSL
const kernels = kernelSources(fileURLToPath(new URL('../../kernels/', import.meta.url)));
let bad = 0, skipped = 0;
for (const k of kernels) {
  // kernels for optional device features compile only where the device has them
  if (/^enable chromium_experimental_subgroup_matrix;/m.test(k.text) && !dev.device.features.has('chromium-experimental-subgroup-matrix')) {
    out(`${k.name}: not compiled here (the device lacks chromium-experimental-subgroup-matrix; web/bench/speed-device.sh checks it on a GPU)`);
    skipped++;
    continue;
  }
  const m = dev.device.createShaderModule({ code: k.text });
  const errs = (await m.getCompilationInfo()).messages.filter((x) => x.type === 'error');
  for (const e of errs) out(`${kernelLine(k, e.lineNum)}:${e.linePos}: ${e.message} (kernel ${k.name})`);
  bad += errs.length ? 1 : 0;
}
out(bad ? `${bad} kernels do not compile` : `kernels: all ${kernels.length - skipped} compile${skipped ? ` (${skipped} not compiled here)` : ""}`);
if (bad) process.exit(1);
const host = new GpuHost(dev.device);
const wasi = await nodeWasi();
const hh = await hostHash();
const { instance } = await WebAssembly.instantiate(fs.readFileSync(wasmPath), {
  wasi_snapshot_preview1: wasi.imports(),
  dp_gpu: host.imports(),
  dp_host: hh.imports,
});
hh.bind(instance.exports.memory);
wasi.start(instance);
host.bind(instance.exports.memory);
const x = instance.exports;
const n = x.t_init();
if (n < 0) { wasi.flushOutput(); process.exit(1); }
// DP_TUNE="matvec_rows=8,matvec_tpr=16": run every case with other WebGPU knobs
for (const kv of (process.env.DP_TUNE ?? '').split(',').filter(Boolean)) {
  const [k, v] = kv.split('=');
  const b = new TextEncoder().encode(k + '\0');
  const ptr = x.t_alloc(b.length);
  new Uint8Array(instance.exports.memory.buffer).set(b, ptr);
  const r = x.t_tune(ptr, Number(v));
  out(`tune ${k}=${v}: ${r === 0 ? 'ok' : 'FAILED'}`);
  if (r) process.exit(1);
}
// DP_KINDS="matmul,fused": only the cases of those kinds (ops_test.c's kind_name)
const kinds = (process.env.DP_KINDS ?? '').split(',').filter(Boolean);
const kindOf = (i) => {
  const p = x.t_kind(i), m = new Uint8Array(instance.exports.memory.buffer);
  let e = p;
  while (m[e]) e++;
  return new TextDecoder().decode(m.subarray(p, e));
};
let fails = 0, ran = 0;
const t0 = performance.now();
for (let i = Number(first); i < Math.min(n, Number(last) + 1); i++) {
  if (kinds.length && !kinds.includes(kindOf(i))) continue;
  const tc = performance.now();
  const r = x.t_begin(i);
  if (r === 0) break;
  await host.settle();
  fails += x.t_end(i);
  ran++;
  if (process.env.DP_TIMING) out(`    ${(performance.now() - tc).toFixed(0)} ms`);
}
x.t_stats();
wasi.flushOutput();
out(`${ran} cases, ${fails} failed, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
process.exit(fails ? 1 : 0);
