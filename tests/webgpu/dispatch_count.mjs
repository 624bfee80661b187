// dispatch_count.mjs — GPU commands per decoded token for each hf-tiny family on the WebGPU
// backend, against the numbers recorded in tests/webgpu/dispatches.json, so that fusion lost
// (a fused backend method no longer taken) shows as a failure instead of a slowdown nobody sees;
// and the calls from the module into the JavaScript host per token (crossings: one per submit
// since the command list, host.h, instead of one per dispatch), so per-command host calls
// coming back fail too.
// Counted twice per family: with the backend's defaults, and with the decode fusions that are
// opt-in (FUSED: the norms folded into the products after them, decode attention in one slice;
// docs/WEBGPU.md) recorded under "fused"; the fused count must also stay below the default one,
// so that a fused path no longer taken fails even after --record.
// A decoded token is one greedy sample + one forward pass of that token; counted over 4 tokens
// after a prompt of 40 ids, divided by 4 (past 32 keys, so that decode attention splits into
// partial + combine unless attn_one_slice takes the keys in one slice).
// Where <models>/<name>-lora holds an adapter converted for <name> (a LoRA fixture), the same
// with it set, in both settings: the adapter's dispatches per token against the recorded number,
// and at most 5 more per layer than the base in the same setting (wg_lora.c: rms_norm:lora_xa
// before each adapted group of products, whose products then read the normalised x instead of
// folding the norm in, and an adapted q/k/v's rope and cache writes apart from its products; the
// op-by-op lora was 3 per projection). Against the fused base that is the stricter bound: there
// the adapter also un-folds the norms in front of its products.
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
const PROMPT = Array.from({ length: 40 }, (_, i) => 1 + (7 * i + 5) % 300);
let fails = 0;
const FUSED = 'fold_norm=1,attn_one_slice=256';   // the opt-in decode fusions
for (const name of ['llama', 'gemma3', 'gemma2', 'phi3', 'mixtral', 'qwen3']) {
  const m = eng.loadModel(path.join(models, name), 'webgpu');
  const c = m.newContext({ nCtx: 64 });
  const perToken = async () => {
    c.reset();
    await c.eval(PROMPT);
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
  const tune = (setting, on) => {
    for (const kv of setting.split(',')) { const [k, v] = kv.split('='); m.tune(k, on ? Number(v) : 0); }
  };
  const line = (label, g, w) => {
    const ok = w && w.dispatches === g.dispatches && w.copies === g.copies && w.crossings === g.crossings;
    out(`${label.padEnd(14)} ${g.dispatches} dispatches + ${g.copies} copies, ${g.crossings} host calls per token` +
        (w ? ` (recorded ${w.dispatches} + ${w.copies}, ${w.crossings}) ${ok ? 'ok' : 'DIFFERENT'}` : ' (not recorded)'));
    if (!ok && !record) fails++;
  };
  const lora = async (label, base, w) => {   // the same with the family's adapter, where it has one
    const loraDir = path.join(models, `${name}-lora`);
    if (!fs.existsSync(loraDir)) return;
    const a = m.loadAdapter(loraDir);
    c.setAdapter(a, 1);
    const l = await perToken(), extra = l.dispatches - base.dispatches;
    base.lora_dispatches = l.dispatches;
    const wl = w?.lora_dispatches, within = extra <= 5 * m.nLayers;
    const okl = within && (record || wl === l.dispatches);
    out(`${label.padEnd(14)} with its LoRA fixture: ${l.dispatches} dispatches per token, ${extra} more over ${m.nLayers} layers` +
        ` (${(extra / m.nLayers).toFixed(2)} per layer, at most 5${within ? '' : ': OVER'})` +
        (wl !== undefined ? ` (recorded ${wl}) ${wl === l.dispatches ? 'ok' : 'DIFFERENT'}` : ' (not recorded)'));
    if (!okl) fails++;
    c.setAdapter(null);
    a.free();
  };
  got[name] = await perToken();
  line(name, got[name], want[name]);
  await lora(name, got[name], want[name]);
  tune(FUSED, true);
  const f = await perToken();
  line(`${name} fused`, f, want[name]?.fused);
  await lora(`${name} fused`, f, want[name]?.fused);
  tune(FUSED, false);
  got[name].fused = f;
  if (f.dispatches >= got[name].dispatches) {
    out(`${name}: ${FUSED} gives ${f.dispatches} dispatches per token, not fewer than the defaults' ${got[name].dispatches}: a fused path not taken`);
    fails++;
  }
  c.free();
  m.free();
}
if (record) fs.writeFileSync(recFile, JSON.stringify(got, null, 2) + '\n');
process.exit(fails ? 1 : 0);
