// spec.mjs — speculative decoding on WebGPU (the target and its draft on one backend): greedy
// output identical, id for id, to plain greedy decode of the target on the same device, for each
// pair given, and one readback per speculative step (the verdict: accepted count + tokens), none
// per proposed token. Pairs: "target:draft" model folders (draft "lookup" = prompt lookup).
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
  const [target, draft] = pair.split(':');
  const be = eng.newBackend('webgpu');
  const m = eng.loadModel(path.resolve(target), be);
  const d = draft === 'lookup' ? null : eng.loadModel(path.resolve(draft), be);
  const nCtx = prompt.length + n + 1;
  const c = m.newContext({ nCtx });
  const dc = d ? d.newContext({ nCtx }) : null;
  const plain = await generate(c, {});
  const r0 = m.gpuStats().reads;
  const spec = c.speculative(dc, { draftMax: 4, lookup: 2 });
  const got = await generate(c, { spec });
  const reads = m.gpuStats().reads - r0, st = spec.stats();
  const same = got.length === plain.length && got.every((x, i) => x === plain[i]);
  const oneRead = reads === st.steps && st.steps > 0 && (draft === 'lookup' || st.steps < n);
  out(`${same && oneRead ? 'ok  ' : 'FAIL'} ${path.basename(target)} + ${draft === 'lookup' ? 'lookup' : path.basename(draft)}: ` +
      `${same ? 'identical to plain greedy' : `DIFFERENT: ${got.join(' ')} vs ${plain.join(' ')}`}; ` +
      `${st.emitted} tokens in ${st.steps} target passes, ${st.accepted}/${st.proposed} accepted, ${reads} readbacks`);
  if (!same || !oneRead) fails++;
  spec.free();
  if (dc) dc.free();
  c.free();
  if (d) d.free();
  m.free();
  be.free();
}
process.exit(fails ? 1 : 0);
