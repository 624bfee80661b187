// run_ops.mjs — drives build-wasm/webgpu_ops_test.wasm (tests/webgpu/ops_test.c) under Node on
// WebGPU: for each case t_begin (records + submits), await the GPU, t_end (compares, prints).
// Usage: node tests/webgpu/run_ops.mjs <module.wasm> [first-case [last-case]]
// Exit status: 0 all passed, 1 a case failed, 77 no WebGPU adapter.
import fs from 'node:fs';
import { Wasi, nodeFs } from '../../web/wasi.mjs';
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
// every kernel file must be valid WGSL on its own
const kdir = new URL('../../kernels/', import.meta.url);
let bad = 0;
for (const f of fs.readdirSync(kdir).filter((f) => f.endsWith('.wgsl')).sort()) {
  const m = dev.device.createShaderModule({ code: fs.readFileSync(new URL(f, kdir), 'utf8') });
  const errs = (await m.getCompilationInfo()).messages.filter((x) => x.type === 'error');
  for (const e of errs) out(`kernels/${f}:${e.lineNum}:${e.linePos}: ${e.message}`);
  bad += errs.length ? 1 : 0;
}
// weights_*.wgsl share everything outside their type-specific part
const shared = (f) => {
  const t = fs.readFileSync(new URL(f, kdir), 'utf8');
  const a = t.indexOf('// ---- type-specific part ----'), b = t.indexOf('// ---- end of type-specific part ----');
  const body = t.slice(t.indexOf('override WG'), a) + t.slice(b);
  return a < 0 || b < 0 ? null : body;
};
const wfiles = fs.readdirSync(kdir).filter((f) => /^weights_.*\.wgsl$/.test(f)).sort();
for (const f of wfiles) {
  if (shared(f) !== shared(wfiles[0])) { out(`kernels/${f}: shared part differs from ${wfiles[0]}`); bad++; }
}
out(bad ? `${bad} kernel files do not compile or drifted` : `kernels: every file compiles; ${wfiles.length} weights_*.wgsl share their skeleton`);
if (bad) process.exit(1);
const host = new GpuHost(dev.device);
const wasi = new Wasi({ fs: nodeFs(fs), stdout: out, stderr: (t) => fs.writeSync(2, t + '\n') });
const { instance } = await WebAssembly.instantiate(fs.readFileSync(wasmPath), {
  wasi_snapshot_preview1: wasi.imports(),
  dp_gpu: host.imports(),
});
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
let fails = 0, ran = 0;
const t0 = performance.now();
for (let i = Number(first); i < Math.min(n, Number(last) + 1); i++) {
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
