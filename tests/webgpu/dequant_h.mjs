// dequant_h.mjs — weights_<type>:dequant_h (the weights in f16 for the subgroup-matrix prefill,
// kernels/weights_common.wgsl) against weights_<type>:dequant (f32) on random rows of each type,
// here where the prefill path that uses it cannot run (SwiftShader has no subgroup matrices):
// every value within f16 rounding of the f32 one (values past f16's range clamped), padding rows
// (r >= m) zero, the chunk offset r0 honoured.
//   node tests/webgpu/dequant_h.mjs
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Bench, benchDevice, f16value } from '../../web/bench/gpu-bench.mjs';
import { kernelSources } from '../../web/tools/kernels.mjs';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { device } = await benchDevice();
const B = new Bench(device);
const src = Object.fromEntries(kernelSources(path.join(root, 'kernels')).map((k) => [k.name, k.text]));
// [type, values per block, bytes per block, byte offsets of f16 scales to keep finite]
const TYPES = [['q4_k', 256, 144, [0, 2]], ['q6_k', 256, 210, [208]], ['q8_0', 32, 34, [0]], ['q5_k', 256, 176, [0, 2]],
               ['q4_0', 32, 18, [0]], ['f16', 1, 2, [0]]];
let seed = 7, failed = 0;
const byte = () => { seed = (seed * 1103515245 + 12345) >>> 0; return seed >>> 24; };
for (const [type, qk, bb, scales] of TYPES) {
  const k = 512, m = 37, r0 = 5, n = 40;   // rows r0 .. r0 + n of m: 8 padding rows
  const rowBytes = k / qk * bb;
  const w = new Uint8Array(Math.ceil(m * rowBytes / 4) * 4).map(byte);
  for (let b = 0; b < m * rowBytes; b += bb) for (const s of scales) { w[b + s] = byte(); w[b + s + 1] = 0x20 + (byte() & 7); }  // |scale| ~ 2^-7..2^-5
  const wb = B.upload(w);
  const uni = B.uniform([n, k, m, rowBytes, 0x3f800000, 0, r0, ...new Array(25).fill(0)]);
  const code = src[`weights_${type}`];
  const deq = await B.pipeline(code, 'dequant'), deqh = await B.pipeline(code, 'dequant_h');
  const of = B.output(n * k * 4), oh = B.output(n * k * 2);
  const e = device.createCommandEncoder(), pass = e.beginComputePass();
  pass.setPipeline(deq); pass.setBindGroup(0, B.bindGroup(deq, [uni, of, wb])); pass.dispatchWorkgroups(Math.ceil(n * k / 256));
  pass.setPipeline(deqh); pass.setBindGroup(0, B.bindGroup(deqh, [uni, oh, wb])); pass.dispatchWorkgroups(Math.ceil(n * k / 2 / 256));
  pass.end();
  device.queue.submit([e.finish()]);
  const f = await B.readBack(of, n * k * 4), h = new Uint16Array((await B.readBack(oh, n * k * 2)).buffer);
  let bad = 0, first = '';
  for (let t = 0; t < n * k; t++) {
    const r = r0 + Math.floor(t / k), want = r < m ? Math.max(-65504, Math.min(65504, f[t])) : 0, got = f16value(h[t]);
    if (!Number.isFinite(f[t]) && r < m) continue;
    if (Math.abs(got - want) > Math.abs(want) * 2 ** -10 + 2 ** -24) { if (!bad++) first = ` (first: row ${r} value ${t % k}: ${got} for ${want})`; }
  }
  console.log(`dequant_h ${type.padEnd(5)} ${n} rows x ${k} from row ${r0} of ${m}: ${bad ? `${bad} wrong${first}` : 'ok'}`);
  if (bad) failed++;
  for (const b of [wb, uni, of, oh]) b.destroy();
}
process.exit(failed ? 1 : 0);
