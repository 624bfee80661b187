// prefill_parity.mjs — the prefill products on subgroup matrices (--tune prefill_sgmat=1,
// kernels/matmul_sgmat.wgsl: f16 operands, f32 sums) against the fallback (the tiled f32 product)
// on the same model and prompt: the logits of every prompt row, max |sgmat - fallback| over
// max |fallback| within tol, and the arg max of each row the same in at least 95 % of the rows.
// --on 2: the tiles staged through workgroup memory (prefill_sgmat=2, matmul_sgmat:staged).
// Usage: [DP_WASM=doppler.wasm] node tests/webgpu/prefill_parity.mjs <model-dir>... [--n 64] [--tol 3e-2] [--on 1|2]
// Exit: 0 every model within tolerance, 1 one is not (or fails to run), 77 the device has no
// subgroup matrices (1 when CI is set: then this test could not run its real part).
import { nodeEngine, out } from './node_engine.mjs';

const args = process.argv.slice(2);
let n = 64, tol = 3e-2, on = 1;
const dirs = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--n') n = Number(args[++i]);
  else if (args[i] === '--tol') tol = Number(args[++i]);
  else if (args[i] === '--on') on = Number(args[++i]);
  else dirs.push(args[i]);
}
const eng = await nodeEngine();
let fails = 0;
for (const dir of dirs) {
  const m = eng.loadModel(dir, 'webgpu');
  try { m.tune('prefill_sgmat', on); m.tune('prefill_sgmat', 0); } catch (e) {
    out(`skip: ${e.message}`);
    process.exit(process.env.CI ? 1 : 77);
  }
  const ids = Array.from({ length: n }, (_, i) => 1 + ((i * 7919 + 13) % (m.vocab - 1)));
  const run = async (v) => {
    m.tune('prefill_sgmat', v);
    const c = m.newContext({ nCtx: n + 8, nBatch: n, logitsAll: true });
    try { return await c.eval(ids, { logits: true }); } finally { c.free(); }
  };
  try {
    const ref = await run(0), got = await run(on);
    const V = m.vocab;
    let me = 0, mr = 0, same = 0;
    for (let r = 0; r < n; r++) {
      let ar = 0, ag = 0;
      for (let v = 0; v < V; v++) {
        const a = ref[r * V + v], b = got[r * V + v];
        const d = Math.abs(a - b);
        if (!(d <= me)) me = d;
        if (Math.abs(a) > mr) mr = Math.abs(a);
        if (a > ref[r * V + ar]) ar = v;
        if (b > got[r * V + ag]) ag = v;
      }
      if (ar === ag) same++;
    }
    const rel = me / Math.max(mr, 1e-6);
    const ok = rel <= tol && same >= 0.95 * n;
    out(`${dir}: prefill_sgmat=${on}, ${n} rows, max |sgmat - tiled| / max |tiled| = ${rel.toExponential(2)} (tol ${tol}), ` +
        `arg max same in ${same}/${n} rows ${ok ? 'ok' : 'FAIL'}`);
    if (!ok) fails++;
  } catch (e) {
    out(`${dir}: FAIL ${e.message}`);
    fails++;
  }
  m.free();
}
process.exit(fails ? 1 : 0);
