// shared_backend.mjs — models and contexts on one WebGPU backend (Engine.newBackend, the wasm
// API's dpw_backend_new) give exactly the logits and tokens they give alone: two contexts of a
// target (llama) and one of a draft of another family (qwen3), interleaved step by step, against
// each sequence on a model with a backend of its own. Also: a failing call throws a
// DopplerError carrying the library's status code.
// Usage: [DP_WASM=doppler.wasm] node tests/webgpu/shared_backend.mjs <converted-models-dir>
// Exit: 0 identical, 1 a difference, 77 no WebGPU.
import path from 'node:path';
import { DopplerError } from '../../web/engine.mjs';
import { nodeEngine, out } from './node_engine.mjs';

const models = path.resolve(process.argv[2]);
const eng = await nodeEngine();

const N_STEPS = 5;
const seqs = [
  { model: 'llama', prompt: [1, 5, 77, 300, 12, 9, 40] },
  { model: 'llama', prompt: [3, 200, 18, 7, 99] },
  { model: 'qwen3', prompt: [2, 44, 150, 8, 61, 230] },
];

// One step of a sequence: its prompt (step < 0) or a greedy token fed back; logits of every row.
async function step(ctx, s, r, k) {
  if (k < 0) { r.logits.push(await ctx.eval(s.prompt, { logits: true })); return; }
  const t = await ctx.sample({ temperature: 0 });
  r.tokens.push(t);
  r.logits.push(await ctx.eval([t], { logits: true }));
}

const fresh = () => seqs.map(() => ({ logits: [], tokens: [] }));
const alone = fresh();
for (const [i, s] of seqs.entries()) {
  const m = eng.loadModel(path.join(models, s.model), 'webgpu');
  const c = m.newContext({ nCtx: 32, logitsAll: true });
  for (let k = -1; k < N_STEPS; k++) await step(c, s, alone[i], k);
  c.free();
  m.free();
}

const be = eng.newBackend('webgpu');
const loaded = {};
for (const s of seqs) loaded[s.model] ??= eng.loadModel(path.join(models, s.model), be);
const ctxs = seqs.map((s) => loaded[s.model].newContext({ nCtx: 32, logitsAll: true }));
const shared = fresh();
for (let k = -1; k < N_STEPS; k++)
  for (const [i, s] of seqs.entries()) await step(ctxs[i], s, shared[i], k);

let fails = 0;
const same = (a, b) => a.length === b.length && a.every((x, j) => Object.is(x, b[j]));
for (const [i, s] of seqs.entries()) {
  const ok = same(alone[i].tokens, shared[i].tokens) &&
             alone[i].logits.every((l, j) => same(Array.from(l), Array.from(shared[i].logits[j])));
  out(`sequence ${i} (${s.model}): ${ok ? 'identical' : 'DIFFERENT'} (tokens ${shared[i].tokens.join(' ')})`);
  if (!ok) fails++;
}
try {
  await ctxs[0].eval([1 << 30]);
  out('eval of an id outside the vocabulary did not fail'); fails++;
} catch (e) {
  const ok = e instanceof DopplerError && e.status === 1 && e.statusName === 'invalid argument';
  out(`DopplerError: status ${e.status} (${e.statusName}): ${e.message} ${ok ? 'ok' : 'FAIL'}`);
  if (!ok) fails++;
}
for (const c of ctxs) c.free();
for (const m of Object.values(loaded)) m.free();
be.free();
process.exit(fails ? 1 : 0);
