// matvec-bench.mjs — GPU time of one matrix-vector kernel at a time, outside the engine: random
// q4_K (or q6_K, q8_0) weights of a given shape (enough copies that they stream from memory, not the L2 cache),
// one compute pass of R dispatches between two timestamps, median of T passes. Compares the
// engine's weights_q4_k (f32 x) and weights_q4_k_i8 (8-bit x, its act_pack timed too) kernels with
// kernels in web/bench/mv/q4k.wgsl (read_only: a pass over the same bytes, the roof;
// matvec_u32: the i8 unit over u32 words) and checks each product against a CPU reference on
// the first rows. Candidate kernels go in web/bench/mv/ and a sweep line below.
//   node web/bench/matvec-bench.mjs [--type q4_k|q6_k|q8_0] [--shapes 14336x4096,4096x14336] [--reps 40] [--trials 5] [--only k1,k2]
// Prints one line per kernel, shape and setting: us per dispatch, weight GB/s, error vs reference.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { kernelSources } from '../tools/kernels.mjs';
import { arg, Bench, benchDevice, f16bits as f16, f16value as f16v } from './gpu-bench.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '../..');
const shapes = arg('--shapes', '14336x4096,4096x14336,4096x4096,8192x2048').split(',').map((s) => s.split('x').map(Number));
const REPS = +arg('--reps', 40), TRIALS = +arg('--trials', 5);
const only = arg('--only', '');

const { device } = await benchDevice();
const B = new Bench(device);
const ks = Object.fromEntries(kernelSources(path.join(root, 'kernels')).map((k) => [k.name, k.text]));
const mv = (f) => fs.readFileSync(path.join(here, 'mv', f), 'utf8');
const S = GPUBufferUsage.STORAGE, CD = GPUBufferUsage.COPY_DST, CS = GPUBufferUsage.COPY_SRC;

let seed = 12345;
const rnd = () => { seed = (seed * 1103515245 + 12345) >>> 0; return seed / 4294967296; };
// the weight types: block values, block bytes, random rows (scales kept small), one value (GGML's
// dequantize_row_<type>), the 8-bit x block (QB)
const TYPES = {
  q4_k: { qk: 256, bb: 144, qb: 256,
    fill(a) { const dv = new DataView(a.buffer); for (let b = 0; b < a.length; b += 144) { dv.setUint16(b, f16(0.002 + rnd() * 0.002), true); dv.setUint16(b + 2, f16(0.001 + rnd() * 0.001), true); } },
    value(a, b, j) {
      const chunk = j >> 6, hi = (j % 64) >= 32 ? 1 : 0, sb = chunk * 2 + hi;
      const q = (a[b + 16 + chunk * 32 + (j % 32)] >> (4 * hi)) & 15;
      const s = (i) => a[b + 4 + i];
      let sc, mn;
      if (sb < 4) { sc = s(sb) & 63; mn = s(sb + 4) & 63; } else { sc = (s(sb + 4) & 15) | ((s(sb - 4) >> 6) << 4); mn = (s(sb + 4) >> 4) | ((s(sb) >> 6) << 4); }
      return f16v(a[b] | (a[b + 1] << 8)) * sc * q - f16v(a[b + 2] | (a[b + 3] << 8)) * mn;
    } },
  q6_k: { qk: 256, bb: 210, qb: 256,
    fill(a) { const dv = new DataView(a.buffer); for (let b = 0; b < a.length; b += 210) dv.setUint16(b + 208, f16(0.0005 + rnd() * 0.0005), true); },
    value(a, b, j) {
      const n = j >> 7, t = j % 128, l = t % 32, part = t >> 5, ql = b + 64 * n, qh = b + 128 + 32 * n;
      const lo = part & 1 ? a[ql + l + 32] : a[ql + l], q = ((part >= 2 ? lo >> 4 : lo & 15) | (((a[qh + l] >> (2 * part)) & 3) << 4)) - 32;
      const sc = (a[b + 192 + 8 * n + (l >> 4) + 2 * part] << 24) >> 24;
      return f16v(a[b + 208] | (a[b + 209] << 8)) * sc * q;
    } },
  q8_0: { qk: 32, bb: 34, qb: 32,
    fill(a) { const dv = new DataView(a.buffer); for (let b = 0; b < a.length; b += 34) dv.setUint16(b, f16(0.001 + rnd() * 0.001), true); },
    value(a, b, j) { return f16v(a[b] | (a[b + 1] << 8)) * ((a[b + 2 + j] << 24) >> 24); } },
};
const TYPE = arg('--type', 'q4_k');
const T = TYPES[TYPE];
function rows(m, k) {
  const a = new Uint8Array(m * (k / T.qk) * T.bb);
  for (let i = 0; i < a.length; i++) a[i] = (rnd() * 256) | 0;
  T.fill(a);
  return a;
}

const params = (m, k, rb) => { const u = new Uint32Array(64); u[0] = 1; u[1] = k; u[2] = m; u[3] = rb; new Float32Array(u.buffer)[4] = 1; return u; };
const buf = (size, usage, data) => { const b = device.createBuffer({ size: Math.max(16, Math.ceil(size / 16) * 16), usage }); if (data) device.queue.writeBuffer(b, 0, data); return b; };
const qs = device.createQuerySet({ type: 'timestamp', count: 2 });
const qb = buf(16, GPUBufferUsage.QUERY_RESOLVE | CS), qr = buf(16, GPUBufferUsage.MAP_READ | CD);
const pipe = (code, entry, constants) => B.pipeline(code, entry, constants);
const bg = (p, ents) => device.createBindGroup({ layout: p.getBindGroupLayout(0), entries: ents.map(([i, b]) => ({ binding: i, resource: { buffer: b } })) });
// GPU ns of `reps` dispatches of f(pass, i) in one pass, median of TRIALS
async function time(f, reps = REPS) {
  const t = [];
  for (let tr = 0; tr < TRIALS + 1; tr++) {
    const enc = device.createCommandEncoder();
    const ps = enc.beginComputePass({ timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } });
    for (let i = 0; i < reps; i++) f(ps, i);
    ps.end();
    enc.resolveQuerySet(qs, 0, 2, qb, 0);
    enc.copyBufferToBuffer(qb, 0, qr, 0, 16);
    device.queue.submit([enc.finish()]);
    await qr.mapAsync(GPUMapMode.READ);
    const v = new BigUint64Array(qr.getMappedRange().slice(0));
    qr.unmap();
    if (tr) t.push(Number(v[1] - v[0]) / reps);
  }
  return t.sort((a, b) => a - b)[t.length >> 1];
}

for (const [m, k] of shapes) {
  const rb = k / T.qk * T.bb, bytes = m * rb, nsets = Math.min(64, Math.max(1, Math.ceil(256e6 / bytes)));
  const host = rows(m, k);
  const W = []; for (let i = 0; i < nsets; i++) W.push(buf(bytes, S | CD, host));
  const x = new Float32Array(k); for (let i = 0; i < k; i++) x[i] = rnd() * 2 - 1;
  const xb = buf(k * 4, S | CD, x), out = buf(m * 4, S | CS), xqo = buf(k / T.qb * ((T.qb / 4 + T.qb / 32 + 4) >> 2 << 2) * 4, S | CS);
  const pb = buf(256, GPUBufferUsage.UNIFORM | CD, params(m, k, rb));
  const NR = 32, ref = []; // reference rows
  for (let r = 0; r < NR; r++) { let s = 0; for (let c = 0; c < k; c++) s += T.value(host, r * rb + Math.floor(c / T.qk) * T.bb, c % T.qk) * x[c]; ref.push(s); }
  const refMax = Math.max(...ref.map(Math.abs));
  console.log(`\n## ${TYPE} ${m} x ${k}: ${(bytes / 1e6).toFixed(1)} MB, ${nsets} copies`);
  const grid = (rows) => { const n = Math.ceil(m / rows); return n > 65535 ? [65535, Math.ceil(n / 65535)] : [n, 1]; };
  const report = async (name, p, consts, rows, ents, pre) => {
    const g = grid(rows), bgs = W.map((w) => bg(p, ents(w)));
    if (pre) await pre();
    const enc = device.createCommandEncoder(), ps = enc.beginComputePass();
    ps.setPipeline(p); ps.setBindGroup(0, bgs[0]); ps.dispatchWorkgroups(g[0], g[1], 1); ps.end(); device.queue.submit([enc.finish()]);
    const o = await B.readBack(out, NR * 4);
    let err = 0; for (let r = 0; r < NR; r++) err = Math.max(err, Math.abs(o[r] - ref[r]));
    const ns = await time((ps, i) => { ps.setPipeline(p); ps.setBindGroup(0, bgs[i % nsets]); ps.dispatchWorkgroups(g[0], g[1], 1); });
    console.log(`${name.padEnd(16)} ${consts.padEnd(22)} ${(ns / 1e3).toFixed(1).padStart(7)} us ${(bytes / ns).toFixed(0).padStart(5)} GB/s  err ${(err / refMax).toExponential(1)}`);
  };
  const sweep = async (name, code, entry, cfgs, ents, pre) => {
    if (only && !only.split(',').includes(name)) return;
    for (const c of cfgs) {
      const [wg, tpr, unr] = c;
      try { await report(name, await pipe(code, entry, { WG: wg, TPR: tpr, UNR: unr }), `WG=${wg},TPR=${tpr},UNR=${unr}`, wg / tpr, ents, pre); }
      catch (e) { console.log(`${name} WG=${wg},TPR=${tpr},UNR=${unr}: FAILED ${e.message}`); }
    }
  };
  const units16 = k / ({ q4_k: 16, q6_k: 16, q8_0: 8 })[TYPE];
  const eng = []; // the engine's choice (ops_matmul.c wg_matvec_config) and neighbours
  { let tpr = 32; while (tpr < 256 && m * tpr / 256 < 2048 && units16 / (tpr * 2) >= 2) tpr *= 2; eng.push([256, tpr, 4]); if (tpr > 32) eng.push([256, 32, 4]); eng.push([256, tpr, 1]); }
  await sweep('read', mv('q4k.wgsl'), 'read_only', [[256, 32, 1], [256, 64, 1]], (w) => [[0, pb], [1, out], [2, w]]);
  await sweep('engine_f32', ks[`weights_${TYPE}`], 'matvec', eng, (w) => [[0, pb], [1, out], [2, w], [3, xb]]);
  const i8 = ks[`weights_${TYPE}_i8`];
  if (i8) {
    const ap = await pipe(i8, 'act_pack', {});
    const apg = bg(ap, [[0, pb], [7, xqo], [3, xb]]);
    const pack = async () => { const e = device.createCommandEncoder(), ps = e.beginComputePass(); ps.setPipeline(ap); ps.setBindGroup(0, apg); ps.dispatchWorkgroups(Math.ceil(k / 1024)); ps.end(); device.queue.submit([e.finish()]); };
    if (!only || only.includes('engine_i8')) console.log(`act_pack (engine)  ${(await time((ps) => { ps.setPipeline(ap); ps.setBindGroup(0, apg); ps.dispatchWorkgroups(Math.ceil(k / 1024)); }, 20) / 1e3).toFixed(1)} us`);
    await sweep('engine_i8', i8, 'matvec', TYPE === 'q4_k' ? [[256, 32, 2], [256, 32, 1], [256, 64, 2]] : [...eng, [256, 16, 4], [256, 32, 2], [256, 64, 4], [256, 128, 4], [256, 256, 4], [256, 32, 8]], (w) => [[0, pb], [1, out], [2, w], [3, xqo]], pack);
  }
  if (i8 && TYPE === 'q4_k') await sweep('engine_i8_u32', mv('q4k.wgsl'), 'matvec_u32', [[256, 32, 1]], (w) => [[0, pb], [1, out], [2, w], [3, xqo]]);
  for (const w of W) w.destroy();
}
process.exit(0);
