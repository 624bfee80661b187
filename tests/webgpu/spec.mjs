// spec.mjs — speculative decoding on WebGPU (the target and its draft on one backend): greedy
// output identical, id for id, to plain greedy decode of the target on the same device, for each
// pair given, and one readback per speculative step (the verdict: accepted count + tokens), none
// per proposed token. Pairs: "target:draft[:tune]" model folders (draft "lookup" = prompt lookup;
// tune: key=value,... for the backend, e.g. submit_every=16 — submits part-way through a step).
// Usage: [DP_WASM=doppler.wasm] node tests/webgpu/spec.mjs N PROMPT_IDS target:draft...
// Exit: 0 all identical with one readback per step, 1 otherwise, 77 no WebGPU.
import path from 'node:path';
import { nodeEngine, out } from './node_engine.mjs';

const [nGen, promptText, ...pairs] = process.argv.slice(2);
const n = Number(nGen), prompt = promptText.split(/[ ,]+/).filter(Boolean).map(Number);
const eng = await nodeEngine();

async function generate(ctx, opts) {
  const ids = [];
  ctx.reset();
  await ctx.generate(prompt, { nMax: n, ignoreEos: true, ...opts }, (t) => { if (t.id >= 0) ids.push(t.id); });
  return ids;
}

let fails = 0;
for (const pair of pairs) {
  const [target, draft, tune] = pair.split(':');
  const be = eng.newBackend('webgpu');
  const m = eng.loadModel(path.resolve(target), be);
  m.tuneSetting(tune);
  const d = draft === 'lookup' ? null : eng.loadModel(path.resolve(draft), be);
  const nCtx = prompt.length + n + 1;
  const c = m.newContext({ nCtx });
  const dc = d ? d.newContext({ nCtx }) : null;
  const plain = await generate(c, {});
  const g0 = m.gpuStats(), r0 = g0.reads;
  const spec = c.speculative(dc, { draftMax: 4, lookup: 2 });
  const got = await generate(c, { spec });
  const g1 = m.gpuStats(), reads = g1.reads - r0, st = spec.stats();
  // with submit_every=N a speculative step goes to the device in pieces of N dispatches (paced):
  // over the run (the prompt's pass, not paced, is one submit among hundreds) at most N + 1 per
  // submit on average; unpaced, a step's target pass alone is one submit (~15 on average here)
  const every = Number(/submit_every=(\d+)/.exec(tune ?? '')?.[1] ?? 0);
  const perSubmit = (g1.dispatches - g0.dispatches) / Math.max(1, g1.submits - g0.submits);
  const split = !every || perSubmit <= every + 1;
  const same = got.length === plain.length && got.every((x, i) => x === plain[i]);
  const oneRead = reads === st.steps && st.steps > 0 && (draft === 'lookup' || st.steps < n);
  out(`${same && oneRead && split ? 'ok  ' : 'FAIL'} ${path.basename(target)} + ${draft === 'lookup' ? 'lookup' : path.basename(draft)}: ` +
      `${same ? 'identical to plain greedy' : `DIFFERENT: ${got.join(' ')} vs ${plain.join(' ')}`}; ` +
      `${st.emitted} tokens in ${st.steps} target passes, ${st.accepted}/${st.proposed} accepted, ${reads} readbacks` +
      (tune ? `, ${tune}: ${perSubmit.toFixed(1)} dispatches per submit` : ''));
  if (!same || !oneRead || !split) fails++;
  spec.free();
  if (dc) dc.free();
  c.free();
  if (d) d.free();
  m.free();
  be.free();
}
process.exit(fails ? 1 : 0);
