// lora_parity.mjs — LoRA adapters on the WebGPU backend under Node: for each fixture of
// fixtures/lora, the base and each adapter's logits over the reference ids against PEFT's
// (max |diff| <= tol), two contexts with different adapters evaluated token by token in turn
// (the first fixture over every position, the others over the first 8),
// and the base logits after the adapters are freed; the first fixture also through the command
// line (`node web/doppler.mjs eval --lora DIR`).
// Usage: [DP_WASM=doppler.wasm] node tests/webgpu/lora_parity.mjs <fixtures/lora> <models-dir> <tmp> [names...]
// <models-dir>/<name> is the f32 base, <models-dir>/<name>-a and -b the converted adapters.
// Exit: 0 all match, 1 a mismatch, 77 no WebGPU.
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readSafetensors, maxDiff, webgpuEngine } from './fixtures.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const cli = path.join(here, '../../web/doppler.mjs');
const [fixtures, models, tmp, ...only] = process.argv.slice(2);
const names = only.length ? only : ['llama', 'gemma3', 'qwen3', 'mixtral'];
const tol = Number(process.env.DP_PARITY_TOL ?? 1e-3);
const wasmOpt = process.env.DP_WASM ? ['--wasm', process.env.DP_WASM] : [];
const out = (t) => fs.writeSync(1, t + '\n');

const eng = await webgpuEngine(process.env.DP_WASM ?? path.join(here, '../../web/dist/doppler.wasm'), out);
const fmt = (d) => `${d.toExponential(2)} ${d <= tol ? 'ok' : 'FAIL'}`;

let fails = 0;
fs.mkdirSync(tmp, { recursive: true });
for (const [idx, name] of names.entries()) {
  const ref = readSafetensors(path.join(fixtures, name, 'reference.safetensors'));
  const ids = Array.from(ref.input_ids.data), vocab = ref.logits_base.data.length / ids.length;
  const base = path.resolve(models, name);
  const m = eng.loadModel(base, 'webgpu');
  const a = m.loadAdapter(`${base}-a`), b = m.loadAdapter(`${base}-b`);
  const c1 = m.newContext({ nCtx: ids.length, logitsAll: true });
  const c2 = m.newContext({ nCtx: ids.length, logitsAll: true });
  const pass = async (c, want) => { c.reset(); return maxDiff(await c.eval(ids, { logits: true }), want); };
  const d = [];
  d.push(await pass(c1, ref.logits_base.data));
  c1.setAdapter(a, 1); d.push(await pass(c1, ref.logits_a.data));
  c1.setAdapter(b, 1); d.push(await pass(c1, ref.logits_b.data));
  // interleaved: c1 with a, c2 with b, one token at a time each (every position for the first
  // fixture, the first 8 for the others: a flush per token is slow on SwiftShader)
  c1.setAdapter(a, 1); c2.setAdapter(b, 1);
  const steps = idx === 0 ? ids.length : 8, len = steps * vocab;
  const g1 = new Float32Array(len), g2 = new Float32Array(len);
  for (let i = 0; i < steps; i++) {
    g1.set(await c1.eval([ids[i]], { logits: true }), i * vocab);
    g2.set(await c2.eval([ids[i]], { logits: true }), i * vocab);
  }
  d.push(maxDiff(g1, ref.logits_a.data.subarray(0, len)), maxDiff(g2, ref.logits_b.data.subarray(0, len)));
  c1.setAdapter(null); c2.setAdapter(null);
  a.free(); b.free();
  d.push(await pass(c2, ref.logits_base.data));
  c1.free(); c2.free(); m.free();
  let line = `${name.padEnd(8)} base ${fmt(d[0])}  a ${fmt(d[1])}  b ${fmt(d[2])}  interleaved a ${fmt(d[3])} b ${fmt(d[4])}  base after free ${fmt(d[5])}`;
  if (!d.every((x) => x <= tol)) fails++;
  if (idx === 0) {   // the same through the command line
    const idsFile = path.join(tmp, `${name}.ids`), logitsFile = path.join(tmp, `${name}.logits`);
    fs.writeFileSync(idsFile, ids.join(' '));
    let dc = Infinity;
    try {
      execFileSync(process.execPath, [cli, ...wasmOpt, 'eval', base, '--ids-file', idsFile, '--logits', logitsFile, '--lora', `${base}-b:1`], { stdio: ['ignore', 'inherit', 'inherit'] });
      const buf = fs.readFileSync(logitsFile);
      dc = maxDiff(new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4), ref.logits_b.data);
    } catch (e) { out(`cli: ${e.message}`); }
    line += `  cli --lora ${fmt(dc)}`;
    if (!(dc <= tol)) fails++;
  }
  out(line);
}
process.exit(fails ? 1 : 0);
