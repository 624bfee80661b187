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
import { arg, Bench, benchDevice, rnd, shapesArg } from './gpu-bench.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const shapes = shapesArg('512x2048x2048,512x2048x8192,512x4096x4096,512x4096x14336');
const REPS = +arg('--reps', 4), TRIALS = +arg('--trials', 3);

const { device } = await benchDevice();
const B = new Bench(device);
const code = fs.readFileSync(path.join(here, '../../kernels/matmul_tiled.wgsl'), 'utf8');
const KERNELS = [
  { name: 'main (64x64, 4x4)', entry: 'main', tile: 64, constants: {} },
  { name: 'blocked 64x64 (8x8)', entry: 'blocked', tile: 64, constants: { TX: 8, TY: 8 } },
  { name: 'blocked 128x128 (8x8)', entry: 'blocked', tile: 128, constants: { TX: 16, TY: 16 } },
];
for (const k of KERNELS) k.pipe = await B.pipeline(code, k.entry, k.constants);

for (const [n, k, m] of shapes) {
  const x = new Float32Array(n * k).map(rnd), w = new Float32Array(m * k).map(rnd);
  const bx = B.upload(x), bw = B.upload(w);
  const uni = B.uniform([n, k, m, 0, m, 0, 0, 0]);
  const outs = [];
  let base = 0;
  for (const kr of KERNELS) {
    const out = B.output(n * m * 4);
    const bg = B.bindGroup(kr.pipe, [uni, out, bw, bx]);
    const best = await B.time(kr.pipe, bg, [Math.ceil(m / kr.tile), Math.ceil(n / kr.tile)], REPS, TRIALS);
    const o = await B.readBack(out, n * m * 4);
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
