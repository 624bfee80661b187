// sgmat-bench.mjs — GPU time of prefill products on subgroup matrices (tensor cores), outside the
// engine, to find what bounds them: kernels/matmul_sgmat.wgsl's `main` (prefill_sgmat=1) and
// `staged` (prefill_sgmat=2) against kernels generated here over the same f16 operands:
//   direct RMxCN / SGRxSGC: each subgroup RM x CN result matrices (16 x 16, f32), loads straight
//     from the storage buffers; SGR x SGC subgroups of 32 per workgroup;
//   splitS ...: k in S slices (S times the workgroups), the slices summed by a second dispatch
//     (timed with it);
//   staged ... kSBK: the same, x and W rows per SBK values of k first copied into workgroup memory
//     (SBK + 8 halves a row) by vec4s; mcopy ...: the copy by 16 x 16 matrices (subgroupMatrixLoad
//     from storage, subgroupMatrixStore into workgroup memory) — RM2xCN4 / 4x2 k32 is `staged`;
//   peak: no memory traffic, 8 result matrices per subgroup multiplied k / 16 times (the rate the
//     matrix units give through WGSL on this device, the roof for the others).
// Every product is checked against doubles on sampled outputs (same f16 inputs).
//   node web/bench/sgmat-bench.mjs [--shapes 512x2048x2048,...] [--reps 4] [--trials 3] [--only name,...]
// (shape n x k x m, n and m multiples of 128, k of 64). Needs chromium-experimental-subgroup-matrix
// with f16 16x16x16 -> f32 and subgroups of 32 (an NVIDIA GPU under Dawn); prints one line per
// shape and kernel: ms per product, TFLOP/s, the ratio to `main`.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { arg, Bench, benchDevice, f16bits, f16value, rnd, shapesArg } from './gpu-bench.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const shapes = shapesArg('512x2048x2048,512x2048x8192,512x8192x2048,512x4096x1024,512x4096x14336,512x14336x4096');
const REPS = +arg('--reps', 4), TRIALS = +arg('--trials', 3);
const only = arg('--only', '').split(',').filter(Boolean);

const { device, adapter } = await benchDevice();
if (!device.features.has('chromium-experimental-subgroup-matrix')) { console.log('sgmat-bench: no subgroup matrices on this device'); process.exit(1); }
if (adapter.info?.subgroupMinSize !== 32 || adapter.info?.subgroupMaxSize !== 32) console.log('# subgroups not fixed at 32: generated kernels assume 32');
const B = new Bench(device);

const HEAD = `enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium_experimental.subgroup_matrix_uniformity);
alias Left = subgroup_matrix_left<f16, 16, 16>;
alias Right = subgroup_matrix_right<f16, 16, 16>;
alias Result = subgroup_matrix_result<f32, 16, 16>;
struct Params { n: u32, k: u32, m: u32, col0: u32, out_stride: u32, accumulate: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
`;

// RM x CN result matrices per subgroup, SGR x SGC subgroups; staged: SBK values of k per copy
// (mcopy: the copy by 16 x 16 matrices, loaded from storage and stored into workgroup memory)
// (split: k in that many slices, wid.z each, summed by `reduce` afterwards from slices of out
// n * out_stride apart)
function generated({ rm, cn, sgr, sgc, sbk = 0, mcopy = false, split = 1 }) {
  const br = sgr * rm * 16, bc = sgc * cn * 16, wg = sgr * sgc * 32, srow = sbk + 8;
  const L = [];
  const R = (f) => { for (let r = 0; r < rm; r++) for (let c = 0; c < cn; c++) L.push(f(r, c)); };
  L.push(HEAD);
  if (sbk && mcopy) {
    L.push('@group(0) @binding(2) var<storage, read> WH: array<f16>;');
    L.push('@group(0) @binding(3) var<storage, read> xh: array<f16>;');
    L.push(`var<workgroup> xs: array<f16, ${br * srow}>;`, `var<workgroup> ws: array<f16, ${bc * srow}>;`);
  } else if (sbk) {
    L.push('@group(0) @binding(2) var<storage, read> WH4: array<vec4<f16>>;');
    L.push('@group(0) @binding(3) var<storage, read> xh4: array<vec4<f16>>;');
    L.push(`var<workgroup> xs: array<f16, ${br * srow}>;`, `var<workgroup> ws: array<f16, ${bc * srow}>;`);
  } else {
    L.push('@group(0) @binding(2) var<storage, read> WH: array<f16>;');
    L.push('@group(0) @binding(3) var<storage, read> xh: array<f16>;');
  }
  L.push(`@compute @workgroup_size(${wg})`);
  L.push('fn gen(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_id) sg: u32, @builtin(local_invocation_index) li: u32) {');
  L.push(`  let i0 = wid.y * ${br}u;`, `  let j0 = wid.x * ${bc}u;`);
  L.push(`  let si = (sg / ${sgc}u) * ${rm * 16}u;`, `  let sj = (sg % ${sgc}u) * ${cn * 16}u;`);
  R((r, c) => `  var c${r}${c} = Result();`);
  L.push(`  let k0 = wid.z * (p.k / ${split}u);`, '  let oz = wid.z * p.n * p.out_stride;');
  const mm = (src, stride, base) => {
    for (let r = 0; r < rm; r++) L.push(`    let a${r} = subgroupMatrixLoad<Left, row_major>(&${src[0]}, ${base[0](r)}, ${stride});`);
    for (let c = 0; c < cn; c++) L.push(`    let b${c} = subgroupMatrixLoad<Right, col_major>(&${src[1]}, ${base[1](c)}, ${stride});`);
    R((r, c) => `    c${r}${c} = subgroupMatrixMultiplyAccumulate(a${r}, b${c}, c${r}${c});`);
  };
  if (sbk) {
    L.push(`  for (var kt = k0; kt < k0 + p.k / ${split}u; kt = kt + ${sbk}u) {`);
    if (mcopy) for (const [buf, rows, src, org] of [['xs', br, 'xh', 'i0'], ['ws', bc, 'WH', 'j0']]) {
      const tc = sbk / 16;
      L.push(`    for (var t = sg; t < ${rows / 16 * tc}u; t = t + ${sgr * sgc}u) {`);
      L.push(`      let r = (t / ${tc}u) * 16u;`, `      let q = (t % ${tc}u) * 16u;`);
      L.push(`      let v = subgroupMatrixLoad<Left, row_major>(&${src}, (${org} + r) * p.k + kt + q, p.k);`);
      L.push(`      subgroupMatrixStore<row_major>(&${buf}, r * ${srow}u + q, v, ${srow}u);`);
      L.push('    }');
    }
    else for (const [buf, rows, src, org] of [['xs', br, 'xh4', 'i0'], ['ws', bc, 'WH4', 'j0']]) {
      L.push(`    for (var e = li; e < ${rows * sbk / 4}u; e = e + ${wg}u) {`);
      L.push(`      let r = e / ${sbk / 4}u;`, `      let q = e % ${sbk / 4}u;`);
      L.push(`      let v = ${src}[((${org} + r) * p.k + kt) / 4u + q];`);
      for (let u = 0; u < 4; u++) L.push(`      ${buf}[r * ${srow}u + 4u * q + ${u}u] = v[${u}];`);
      L.push('    }');
    }
    L.push('    workgroupBarrier();');
    L.push(`    for (var kk = 0u; kk < ${sbk}u; kk = kk + 16u) {`);
    mm(['xs', 'ws'], `${srow}u`, [(r) => `(si + ${16 * r}u) * ${srow}u + kk`, (c) => `(sj + ${16 * c}u) * ${srow}u + kk`]);
    L.push('    }', '    workgroupBarrier();', '  }');
  } else {
    L.push(`  for (var kt = k0; kt < k0 + p.k / ${split}u; kt = kt + 16u) {`);
    mm(['xh', 'WH'], 'p.k', [(r) => `(i0 + si + ${16 * r}u) * p.k + kt`, (c) => `(j0 + sj + ${16 * c}u) * p.k + kt`]);
    L.push('  }');
  }
  R((r, c) => `  subgroupMatrixStore<row_major>(&out, oz + (i0 + si + ${16 * r}u) * p.out_stride + j0 + sj + ${16 * c}u, c${r}${c}, p.out_stride);`);
  L.push('}');
  return { code: L.join('\n'), entry: 'gen', br, bc, split };
}

const PEAK = `${HEAD}
@group(0) @binding(2) var<storage, read> WH: array<f16>;
@group(0) @binding(3) var<storage, read> xh: array<f16>;
@compute @workgroup_size(128)
fn peak(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_id) sg: u32) {
  let a0 = subgroupMatrixLoad<Left, row_major>(&xh, 0u, p.k);
  let a1 = subgroupMatrixLoad<Left, row_major>(&xh, 16u * p.k, p.k);
  let b0 = subgroupMatrixLoad<Right, col_major>(&WH, 0u, p.k);
  let b1 = subgroupMatrixLoad<Right, col_major>(&WH, 16u * p.k, p.k);
  let b2 = subgroupMatrixLoad<Right, col_major>(&WH, 32u * p.k, p.k);
  let b3 = subgroupMatrixLoad<Right, col_major>(&WH, 48u * p.k, p.k);
  var c0 = Result(); var c1 = Result(); var c2 = Result(); var c3 = Result();
  var c4 = Result(); var c5 = Result(); var c6 = Result(); var c7 = Result();
  for (var kt = 0u; kt < p.k; kt = kt + 16u) {
    c0 = subgroupMatrixMultiplyAccumulate(a0, b0, c0); c1 = subgroupMatrixMultiplyAccumulate(a0, b1, c1);
    c2 = subgroupMatrixMultiplyAccumulate(a0, b2, c2); c3 = subgroupMatrixMultiplyAccumulate(a0, b3, c3);
    c4 = subgroupMatrixMultiplyAccumulate(a1, b0, c4); c5 = subgroupMatrixMultiplyAccumulate(a1, b1, c5);
    c6 = subgroupMatrixMultiplyAccumulate(a1, b2, c6); c7 = subgroupMatrixMultiplyAccumulate(a1, b3, c7);
  }
  let o = ((wid.y * 65535u + wid.x) * 4u + sg) * 2048u;
  subgroupMatrixStore<row_major>(&out, o, c0, 16u); subgroupMatrixStore<row_major>(&out, o + 256u, c1, 16u);
  subgroupMatrixStore<row_major>(&out, o + 512u, c2, 16u); subgroupMatrixStore<row_major>(&out, o + 768u, c3, 16u);
  subgroupMatrixStore<row_major>(&out, o + 1024u, c4, 16u); subgroupMatrixStore<row_major>(&out, o + 1280u, c5, 16u);
  subgroupMatrixStore<row_major>(&out, o + 1536u, c6, 16u); subgroupMatrixStore<row_major>(&out, o + 1792u, c7, 16u);
}`;

// out[t] = the sum of the split slices of part (a split-k product's reduction)
const REDUCE = `${HEAD}
@group(0) @binding(2) var<storage, read> part: array<f32>;
override S: u32 = 2u;
@compute @workgroup_size(256)
fn reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let t = wid.x * 256u + li;
  if (t >= p.n * p.m) { return; }
  var s = 0.0;
  for (var z = 0u; z < S; z = z + 1u) { s = s + part[z * p.n * p.m + t]; }
  out[t] = s;
}`;

const prod = fs.readFileSync(path.join(here, '../../kernels/matmul_sgmat.wgsl'), 'utf8');
const KERNELS = [
  { name: 'main (prefill_sgmat=1)', code: prod, entry: 'main', br: 64, bc: 64 },
  { name: 'staged (prefill_sgmat=2)', code: prod, entry: 'staged', br: 128, bc: 128 },
  ...[[2, 2, 2, 2], [4, 4, 2, 2]].map(([rm, cn, sgr, sgc]) =>
    ({ name: `direct ${rm}x${cn} / ${sgr}x${sgc}`, ...generated({ rm, cn, sgr, sgc }) })),
  ...[[2, 2, 2, 2, 32], [4, 4, 2, 2, 32]].map(([rm, cn, sgr, sgc, sbk]) =>
    ({ name: `staged ${rm}x${cn} / ${sgr}x${sgc} k${sbk}`, ...generated({ rm, cn, sgr, sgc, sbk }) })),
  ...[[2, 4, 4, 2, 64], [2, 2, 2, 2, 32], [2, 2, 2, 2, 64], [4, 4, 2, 2, 32], [4, 2, 2, 2, 32]].map(([rm, cn, sgr, sgc, sbk]) =>
    ({ name: `mcopy ${rm}x${cn} / ${sgr}x${sgc} k${sbk}`, ...generated({ rm, cn, sgr, sgc, sbk, mcopy: true }) })),
  ...[[2, 2, 2, 2, 0, 2], [2, 2, 2, 2, 0, 4], [2, 4, 4, 2, 32, 2], [2, 4, 4, 2, 32, 4]].map(([rm, cn, sgr, sgc, sbk, split]) =>
    ({ name: `split${split} ${sbk ? 'mcopy' : 'direct'} ${rm}x${cn} / ${sgr}x${sgc}`, ...generated({ rm, cn, sgr, sgc, sbk, mcopy: sbk > 0, split }) })),
].filter((kr) => !only.length || only.some((o) => kr.name.startsWith(o)));
for (const kr of KERNELS) {
  try {
    kr.pipe = await B.pipeline(kr.code, kr.entry);
    if (kr.split > 1) kr.reduce = await B.pipeline(REDUCE, 'reduce', { S: kr.split });
  } catch (e) { kr.pipe = null; console.log(`${kr.name}: does not compile: ${e.message}`); }
}

// the roof: 1056 workgroups (8 per SM of a 132-SM GPU) of 4 subgroups, k / 16 rounds of 8 products
if (!only.length || only.includes('peak')) {
  try {
    const pipe = await B.pipeline(PEAK, 'peak');
    const k = 8192, groups = 1056;
    const xh = B.upload(new Uint16Array(32 * k).map(() => f16bits(rnd() * 0.01)));
    const wh = B.upload(new Uint16Array(64 * k).map(() => f16bits(rnd() * 0.01)));
    const uni = B.uniform([32, k, 64, 0, 0, 0, 0, 0]);
    const out = B.output(groups * 4 * 2048 * 4);
    const bg = B.bindGroup(pipe, [uni, out, wh, xh]);
    await B.time(pipe, bg, [groups, 1, 1], 400, 2);   // 0.3-1.5 s: the clocks up before anything is timed
    const ms = await B.time(pipe, bg, [groups, 1, 1], REPS, TRIALS);
    const flop = groups * 4 * (k / 16) * 8 * 2 * 16 * 16 * 16;
    console.log(`peak (8 result matrices a subgroup, no loads) ${ms.toFixed(3)} ms ${(flop / ms / 1e9).toFixed(1).padStart(7)} TFLOP/s`);
    for (const b of [xh, wh, uni, out]) b.destroy();
  } catch (e) { console.log(`peak: ${e.message}`); }
}

for (const [n, k, m] of shapes) {
  if (n % 128 || m % 128 || k % 64) { console.log(`${n}x${k}x${m}: n and m must be multiples of 128, k of 64`); continue; }
  const xb = new Uint16Array(n * k).map(() => f16bits(rnd())), wb = new Uint16Array(m * k).map(() => f16bits(rnd()));
  const bx = B.upload(xb), bw = B.upload(wb);
  const uni = B.uniform([n, k, m, 0, m, 0, 0, 0]);
  const out = B.output(n * m * 4);
  let base = 0;
  for (const kr of KERNELS) {
    if (!kr.pipe) continue;
    if (kr.split > 1 && k % (kr.split * 32)) continue;
    const part = kr.split > 1 ? B.output(kr.split * n * m * 4) : null;
    const bg = B.bindGroup(kr.pipe, [uni, part ?? out, bw, bx]);
    const after = part ? [[kr.reduce, B.bindGroup(kr.reduce, [uni, out, part]), [n * m / 256, 1, 1]]] : [];
    const ms = await B.time(kr.pipe, bg, [m / kr.bc, n / kr.br, kr.split ?? 1], REPS, TRIALS, after);
    part?.destroy();
    const o = await B.readBack(out, n * m * 4);
    let err = 0;
    for (let t = 0; t < 32; t++) {
      const i = (t * 7919) % n, j = (t * 104729) % m;
      let s = 0;
      for (let c = 0; c < k; c++) s += f16value(xb[i * k + c]) * f16value(wb[j * k + c]);
      err = Math.max(err, Math.abs(s - o[i * m + j]) / Math.sqrt(k));
    }
    if (!base) base = ms;
    console.log(`${n}x${k}x${m} ${kr.name.padEnd(26)} ${ms.toFixed(3)} ms ${(2 * n * k * m / ms / 1e9).toFixed(1).padStart(7)} TFLOP/s ` +
                `x${(base / ms).toFixed(2)} err/sqrt(k) ${err.toExponential(1)}${err > 1e-3 ? ' WRONG' : ''}`);
  }
  for (const b of [bx, bw, uni, out]) b.destroy();
}
process.exit(0);
