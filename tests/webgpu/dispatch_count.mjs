// dispatch_count.mjs — GPU commands per decoded token for each hf-tiny family on the WebGPU
// backend, against the numbers recorded in tests/webgpu/dispatches.json, so that fusion lost
// (a fused backend method no longer taken) shows as a failure instead of a slowdown nobody sees;
// and the calls from the module into the JavaScript host per token (crossings: one per submit
// since the command list, host.h, instead of one per dispatch), so per-command host calls
// coming back fail too.
// A decoded token is one greedy sample + one forward pass of that token; counted over 4 tokens
// after the prompt, divided by 4.
// Where <models>/<name>-lora holds an adapter converted for <name> (a LoRA fixture), the same
// with it set: the adapter's extra dispatches per token against the recorded number, and at most
// 5 per layer (wg_lora.c: rms_norm:lora_xa before each adapted group of products, whose products
// then read the normalised x instead of folding the norm in, and an adapted q/k/v's rope and cache
// writes apart from its products; the op-by-op lora was 3 per projection).
// Usage: [DP_WASM=doppler.wasm] node tests/webgpu/dispatch_count.mjs <converted-models-dir> [--record]
// --record rewrites the JSON with what was measured. Exit: 0 as recorded, 1 different, 77 no WebGPU.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeEngine, out } from './node_engine.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const models = path.resolve(process.argv[2]);
const record = process.argv.includes('--record');
const recFile = path.join(here, 'dispatches.json');
const eng = await nodeEngine();
const want = fs.existsSync(recFile) ? JSON.parse(fs.readFileSync(recFile, 'utf8')) : {};
const got = {};
const STEPS = 4;
let fails = 0;
for (const name of ['llama', 'gemma3', 'gemma2', 'phi3', 'mixtral', 'qwen3']) {
  const m = eng.loadModel(path.join(models, name), 'webgpu');
  const c = m.newContext({ nCtx: 32 });
  const perToken = async () => {
    await c.eval([1, 5, 77, 300, 12]);
    let t = await c.sample({ temperature: 0 });
    await c.eval([t]);
    const s0 = m.gpuStats(), x0 = eng.gpu.stats.crossings;
    for (let k = 0; k < STEPS; k++) {
      t = await c.sample({ temperature: 0 });
      await c.eval([t]);
    }
    const s1 = m.gpuStats(), x1 = eng.gpu.stats.crossings;
    return { dispatches: (s1.dispatches - s0.dispatches) / STEPS, copies: (s1.copies - s0.copies) / STEPS,
             crossings: (x1 - x0) / STEPS };
  };
  got[name] = await perToken();
  const w = want[name];
  const ok = w && w.dispatches === got[name].dispatches && w.copies === got[name].copies &&
             w.crossings === got[name].crossings;
  out(`${name.padEnd(8)} ${got[name].dispatches} dispatches + ${got[name].copies} copies, ${got[name].crossings} host calls per token` +
      (w ? ` (recorded ${w.dispatches} + ${w.copies}, ${w.crossings}) ${ok ? 'ok' : 'DIFFERENT'}` : ' (not recorded)'));
  if (!ok && !record) fails++;
  const loraDir = path.join(models, `${name}-lora`);
  if (fs.existsSync(loraDir)) {   // the same with an adapter
    const a = m.loadAdapter(loraDir);
    c.setAdapter(a, 1);
    const l = await perToken(), extra = l.dispatches - got[name].dispatches;
    got[name].lora_dispatches = l.dispatches;
    const wl = w?.lora_dispatches, within = extra <= 5 * m.nLayers;
    const okl = within && (record || wl === l.dispatches);
    out(`${name.padEnd(8)} with its LoRA fixture: ${l.dispatches} dispatches per token, ${extra} more over ${m.nLayers} layers` +
        ` (${(extra / m.nLayers).toFixed(2)} per layer, at most 5${within ? '' : ': OVER'})` +
        (wl !== undefined ? ` (recorded ${wl}) ${wl === l.dispatches ? 'ok' : 'DIFFERENT'}` : ' (not recorded)'));
    if (!okl) fails++;
    c.setAdapter(null);
    a.free();
  }
  c.free();
  m.free();
}
if (record) fs.writeFileSync(recFile, JSON.stringify(got, null, 2) + '\n');
process.exit(fails ? 1 : 0);
