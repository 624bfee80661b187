// spec_sample.mjs — speculative sampling on WebGPU (temperature > 0, the rejection rule on the
// device): one long seeded generation per case, written to a file whose tokens the CPU test's
// statistics check against the target's exact distribution at every position
// (`test_speculative --sequences`: the randomized probability integral transform of each token is
// uniform exactly when the tokens follow the target, Pearson chi-square over 10 bins at
// significance 0.001). Cases: a q8_0 draft of the target (mostly kept), another family's model
// as the draft (often rejected: the residual path), prompt lookup (q one-hot), and plain GPU
// sampling of the target (calibration: must pass) and of the other model (power: must fail).
// Every speculative run must read back once per target pass; the drafts must see proposals kept,
// the other family's both kept and rejected.
// Usage: [DP_WASM=doppler.wasm] node tests/webgpu/spec_sample.mjs N PROMPT_IDS TARGET DRAFT OTHER OUT
// Exit: 0 sequences written and one readback per pass, 1 otherwise, 77 no WebGPU.
import fs from 'node:fs';
import path from 'node:path';
import { nodeEngine, out } from './node_engine.mjs';

const [nTok, promptText, target, draft, other, outFile] = process.argv.slice(2);
const N = Number(nTok), prompt = promptText.split(/[ ,]+/).filter(Boolean).map(Number);
const eng = await nodeEngine();
const be = eng.newBackend('webgpu');
const tm = eng.loadModel(path.resolve(target), be);
const dm = eng.loadModel(path.resolve(draft), be), om = eng.loadModel(path.resolve(other), be);
const nCtx = prompt.length + N + 1;
const tc = tm.newContext({ nCtx }), dc = dm.newContext({ nCtx }), oc = om.newContext({ nCtx });

const lines = [];
let fails = 0;
// need: 'both' (proposals kept and rejected), 'kept' (some kept), '' (proposals made)
async function sequence(label, ctx, sampling, { spec = null, expect = 'match', need = 'both' } = {}) {
  const got = [];
  const r0 = ctx.model.gpuStats().reads, t0 = performance.now();
  if (spec) spec.resetStats();
  ctx.reset();
  await ctx.generate(prompt, { nMax: N, ignoreEos: true, seed: 1 + lines.length, spec, ...sampling }, (t) => { if (t.id >= 0) got.push(t.id); });
  const s = (performance.now() - t0) / 1000;
  lines.push(`${label} ${sampling.temperature} ${sampling.topK} ${sampling.topP} ${expect} ${prompt.length} ${prompt.join(' ')} ${got.length} ${got.join(' ')}`);
  let note = '';
  if (spec) {
    const st = spec.stats(), reads = ctx.model.gpuStats().reads - r0;
    const ok = reads === st.steps && st.proposed > 0 && (!need || st.accepted > 0) && (need !== 'both' || st.accepted < st.proposed);
    note = `; ${st.steps} target passes, ${st.accepted}/${st.proposed} proposals kept, ${reads} readbacks`;
    if (!ok) { fails++; note += ` (FAIL: want one readback per pass and proposals ${need === 'both' ? 'both kept and rejected' : need ? 'kept' : 'made'})`; }
  }
  out(`${label}: ${got.length} tokens in ${s.toFixed(1)} s${note}`);
}

const topk = { temperature: 0.8, topK: 40, topP: 1 }, flat = { temperature: 1.0, topK: 0, topP: 1 };
const q8 = tc.speculative(dc, { draftMax: 4 }), fam = tc.speculative(oc, { draftMax: 4 });
const look = tc.speculative(null, { draftMax: 4, lookup: 2 });
await sequence('q8_0-draft', tc, topk, { spec: q8, need: 'kept' });
await sequence('other-family-draft', tc, flat, { spec: fam });
await sequence('lookup', tc, { temperature: 0.5, topK: 10, topP: 1 }, { spec: look, need: '' });
await sequence('plain-target', tc, topk);
await sequence('plain-other-family', oc, topk, { expect: 'differ' });
fs.writeFileSync(outFile, lines.join('\n') + '\n');
for (const x of [q8, fam, look, tc, dc, oc, tm, dm, om, be]) x.free();
process.exit(fails ? 1 : 0);
