// tiled-bench.mjs — GPU time of the prefill products without the matrix units, outside the engine:
// kernels/matmul_tiled.wgsl's `main` (64 x 64 tiles, 4 x 4 values per invocation) against
// `blocked` (8 x 8 per invocation; tiles of 64 x 64 and 128 x 128) on random f32 x [n, k] and
// W [m, k]: R dispatches in one compute pass, the pass timed by GPU timestamps where the device
// has them (else by the host around a submit and its wait), best of T passes. Checks that
// `blocked` gives `main`'s results to the bit and both a double-precision reference on sampled
// values.
//   node web/bench/tiled-bench.mjs [--shapes 512x2048x2048,512x2048x8192] [--reps 4] [--trials 3]
// (shape: n x k x m). Prints one line per shape and kernel: ms per product, GFLOP/s, and the ratio
// to `main`.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gpuFromNode } from '../node-gpu.mjs';
import { requestDevice } from '../gpu.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const arg = (k, d) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : d; };
const shapes = arg('--shapes', '512x2048x2048,512x2048x8192,512x4096x4096,512x4096x14336').split(',').map((s) => s.split('x').map(Number));
const REPS = +arg('--reps', 4), TRIALS = +arg('--trials', 3);

const { device, info } = await requestDevice(await gpuFromNode());
console.log(`# ${info.vendor} ${info.architecture} ${info.description}`);
device.addEventListener?.('uncapturederror', (e) => console.log('# uncaptured:', e.error.message));
const code = fs.readFileSync(path.join(here, '../../kernels/matmul_tiled.wgsl'), 'utf8');
const module = device.createShaderModule({ code });
const S = GPUBufferUsage.STORAGE, CD = GPUBufferUsage.COPY_DST, CS = GPUBufferUsage.COPY_SRC;
const stamps = device.features.has('timestamp-query');
const qs = stamps ? device.createQuerySet({ type: 'timestamp', count: 2 }) : null;
const qres = stamps ? device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | CS }) : null;
const qread = stamps ? device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | CD }) : null;
const KERNELS = [
  { name: 'main (64x64, 4x4)', entry: 'main', tile: 64, constants: {} },
  { name: 'blocked 64x64 (8x8)', entry: 'blocked', tile: 64, constants: { TX: 8, TY: 8 } },
  { name: 'blocked 128x128 (8x8)', entry: 'blocked', tile: 128, constants: { TX: 16, TY: 16 } },
];
for (const k of KERNELS) k.pipe = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: k.entry, constants: k.constants } });

let seed = 12345;
const rnd = () => { seed = (seed * 1103515245 + 12345) >>> 0; return seed / 4294967296 * 2 - 1; };
const upload = (a) => { const b = device.createBuffer({ size: a.byteLength, usage: S | CD }); device.queue.writeBuffer(b, 0, a); return b; };
async function readBack(buf, size) {
  const st = device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | CD });
  const e = device.createCommandEncoder();
  e.copyBufferToBuffer(buf, 0, st, 0, size);
  device.queue.submit([e.finish()]);
  await st.mapAsync(GPUMapMode.READ);
  const r = new Float32Array(st.getMappedRange().slice(0));
  st.destroy();
  return r;
}

for (const [n, k, m] of shapes) {
  const x = new Float32Array(n * k).map(rnd), w = new Float32Array(m * k).map(rnd);
  const bx = upload(x), bw = upload(w);
  const uni = device.createBuffer({ size: 32, usage: GPUBufferUsage.UNIFORM | CD });
  device.queue.writeBuffer(uni, 0, new Uint32Array([n, k, m, 0, m, 0, 0, 0]));
  const outs = [];
  let base = 0;
  for (const kr of KERNELS) {
    const out = device.createBuffer({ size: n * m * 4, usage: S | CS });
    const bg = device.createBindGroup({ layout: kr.pipe.getBindGroupLayout(0), entries: [
      { binding: 0, resource: { buffer: uni } }, { binding: 1, resource: { buffer: out } },
      { binding: 2, resource: { buffer: bw } }, { binding: 3, resource: { buffer: bx } }] });
    let best = Infinity;
    for (let t = 0; t <= TRIALS; t++) {   // trial 0 warms up
      const e = device.createCommandEncoder();
      const pass = e.beginComputePass(stamps ? { timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } } : undefined);
      pass.setPipeline(kr.pipe);
      pass.setBindGroup(0, bg);
      for (let r = 0; r < REPS; r++) pass.dispatchWorkgroups(Math.ceil(m / kr.tile), Math.ceil(n / kr.tile));
      pass.end();
      if (stamps) { e.resolveQuerySet(qs, 0, 2, qres, 0); e.copyBufferToBuffer(qres, 0, qread, 0, 16); }
      const t0 = performance.now();
      device.queue.submit([e.finish()]);
      let ms;
      if (stamps) {
        await qread.mapAsync(GPUMapMode.READ);
        const ts = new BigInt64Array(qread.getMappedRange().slice(0));
        qread.unmap();
        ms = Number(ts[1] - ts[0]) / 1e6;
      } else {
        await device.queue.onSubmittedWorkDone();
        ms = performance.now() - t0;
      }
      if (t > 0) best = Math.min(best, ms / REPS);
    }
    const o = await readBack(out, n * m * 4);
    outs.push(o);
    let same = true, ref = 0;
    if (outs.length > 1) for (let i = 0; i < n * m && same; i++) same = o[i] === outs[0][i];
    for (let t = 0; t < 64; t++) {
      const i = (t * 7919) % n, j = (t * 104729) % m;
      let s = 0;
      for (let c = 0; c < k; c++) s += x[i * k + c] * w[j * k + c];
      ref = Math.max(ref, Math.abs(s - o[i * m + j]) / Math.max(1, Math.abs(s)));
    }
    if (!base) base = best;
    console.log(`${n}x${k}x${m} ${kr.name.padEnd(22)} ${best.toFixed(3)} ms ${(2 * n * k * m / best / 1e6).toFixed(1).padStart(8)} GFLOP/s ` +
                `x${(base / best).toFixed(2)} ${outs.length > 1 ? (same ? 'same as main' : 'DIFFERS from main') : ''} vs double ${ref.toExponential(1)}`);
    out.destroy();
  }
  bx.destroy(); bw.destroy(); uni.destroy();
}
process.exit(0);
