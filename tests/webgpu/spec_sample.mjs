// spec_sample.mjs — speculative sampling on WebGPU (temperature > 0, the rejection rule on the
// device): many draws at a fixed context, each a fresh generation of two tokens with its own
// seed, counted per token id; the counts go to a file that the CPU test's statistics check
// against the target's exact distributions (`test_speculative --counts`, Pearson chi-square at
// significance 0.001). Cases: a q8_0 draft of the target (mostly kept), another family's model
// as the draft (mostly rejected: the residual path), prompt lookup (q one-hot), and plain GPU
// sampling of the target (calibration: must match) and of the other model (power: must not).
// Every speculative run must read back once per target pass.
// Usage: [DP_WASM=doppler.wasm] node tests/webgpu/spec_sample.mjs N PROMPT_IDS TARGET DRAFT OTHER COUNTS_OUT
// Exit: 0 counts written and one readback per pass, 1 otherwise, 77 no WebGPU.
import fs from 'node:fs';
import path from 'node:path';
import { nodeEngine, out } from './node_engine.mjs';

const [nDraws, promptText, target, draft, other, countsOut] = process.argv.slice(2);
const N = Number(nDraws), prompt = promptText.split(/[ ,]+/).filter(Boolean).map(Number);
const eng = await nodeEngine();
const be = eng.newBackend('webgpu');
const tm = eng.loadModel(path.resolve(target), be);
const dm = eng.loadModel(path.resolve(draft), be), om = eng.loadModel(path.resolve(other), be);
const nCtx = prompt.length + 4;
const tc = tm.newContext({ nCtx }), dc = dm.newContext({ nCtx }), oc = om.newContext({ nCtx });
const vocab = tm.vocab;

async function gen(ctx, ids, opts) {
  const got = [];
  ctx.reset();
  await ctx.generate(ids, { ignoreEos: true, ...opts }, (t) => { if (t.id >= 0) got.push(t.id); });
  return got;
}

// lookup proposes what followed the earlier occurrence of the prompt's last two tokens: make that
// token the target's likeliest next one (as the CPU test does), so that proposals are sometimes kept
async function lookupPrompt() {
  const seq = prompt.slice(), n = seq.length;
  const at = seq.slice(0, n - 2).findLastIndex((_, i) => seq[i] === seq[n - 2] && seq[i + 1] === seq[n - 1]);
  if (at < 0) throw new Error('the prompt has no earlier occurrence of its last two tokens');
  for (let it = 0; it < 8; it++) {
    const [x] = await gen(tc, seq, { nMax: 1 });
    if (seq[at + 2] === x) break;
    seq[at + 2] = x;
  }
  return seq;
}

const lines = [];
let fails = 0;
async function draws(label, ctx, ids, sampling, { spec = null, nMax = 2, expect = 'match' } = {}) {
  const c1 = new Array(vocab).fill(0), c2 = new Array(vocab).fill(0);
  const r0 = ctx.model.gpuStats().reads, t0 = performance.now();
  if (spec) spec.resetStats();
  for (let i = 0; i < N; i++) {
    const got = await gen(ctx, ids, { nMax, seed: 1 + i + 7919 * lines.length, spec, ...sampling });
    c1[got[0]]++;
    if (nMax > 1) c2[got[1]]++;
  }
  const s = (performance.now() - t0) / 1000;
  const head = `${label} ${sampling.temperature} ${sampling.topK} ${sampling.topP}`;
  lines.push(`${head} 1 ${expect} ${ids.length} ${ids.join(' ')} ${N} ${c1.join(' ')}`);
  if (nMax > 1) lines.push(`${head} 2 ${expect} ${ids.length} ${ids.join(' ')} ${N} ${c2.join(' ')}`);
  let note = '';
  if (spec) {
    const st = spec.stats(), reads = ctx.model.gpuStats().reads - r0;
    const ok = reads === st.steps && st.proposed > 0 && st.accepted > 0 && st.accepted < st.proposed;
    note = `; ${st.emitted} tokens in ${st.steps} target passes, ${st.accepted}/${st.proposed} accepted, ${reads} readbacks`;
    if (!ok) { fails++; note += ' (FAIL: want one readback per pass and proposals both kept and rejected)'; }
  }
  out(`${label}: ${N} draws in ${s.toFixed(1)} s${note}`);
}

const topk = { temperature: 0.8, topK: 40, topP: 0.95 }, flat = { temperature: 1.0, topK: 0, topP: 0.9 };
const q8 = tc.speculative(dc, { draftMax: 3 }), fam = tc.speculative(oc, { draftMax: 3 });
await draws('q8_0-draft', tc, prompt, topk, { spec: q8 });
await draws('other-family-draft', tc, prompt, flat, { spec: fam });
const lp = await lookupPrompt(), look = tc.speculative(null, { draftMax: 3, lookup: 2 });
await draws('lookup', tc, lp, topk, { spec: look });
await draws('plain-target', tc, prompt, topk);
await draws('plain-other-family', oc, prompt, topk, { nMax: 1, expect: 'differ' });
fs.writeFileSync(countsOut, lines.join('\n') + '\n');
for (const s of [q8, fam, look]) s.free();
for (const x of [tc, dc, oc, tm, dm, om, be]) x.free();
process.exit(fails ? 1 : 0);
