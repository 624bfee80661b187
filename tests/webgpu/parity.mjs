// parity.mjs — hf-tiny parity of the WebGPU backend under Node: for each fixture, one forward
// pass over the reference input ids against the reference logits (max |diff| <= tol) and greedy
// decoding against the reference greedy ids (with the backend's defaults and again with the opt-in
// decode fusions, fold_norm=1,attn_one_slice=256), in one process (one device, so SwiftShader compiles
// each pipeline once); the first fixture also goes through the command line
// (`node web/doppler.mjs eval` / `run --greedy --print-ids`).
// Usage: [DP_WASM=doppler.wasm] node tests/webgpu/parity.mjs <fixtures/hf-tiny> <converted-models-dir> <tmp> [names...]
// The converted models are <converted-models-dir>/<name> (doppler convert --dtype f32).
// Exit: 0 all match, 1 a mismatch, 77 no WebGPU.
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readSafetensors, maxDiff, webgpuEngine } from './fixtures.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const cli = path.join(here, '../../web/doppler.mjs');
const [fixtures, models, tmp, ...only] = process.argv.slice(2);
const names = only.length ? only : ['llama', 'gemma3', 'gemma2', 'phi3', 'mixtral', 'qwen3'];
const tol = Number(process.env.DP_PARITY_TOL ?? 2e-3);
const wasmOpt = process.env.DP_WASM ? ['--wasm', process.env.DP_WASM] : [];
const out = (t) => fs.writeSync(1, t + '\n');
const FUSED = 'fold_norm=1,attn_one_slice=256';   // the opt-in decode fusions (docs/WEBGPU.md)

const eng = await webgpuEngine(process.env.DP_WASM ?? path.join(here, '../../web/dist/doppler.wasm'), out);

let fails = 0;
fs.mkdirSync(tmp, { recursive: true });
for (const [idx, name] of names.entries()) {
  const ref = readSafetensors(path.join(fixtures, name, 'reference.safetensors'));
  const ids = Array.from(ref.input_ids.data);
  const model = path.resolve(models, name);
  let line = `${name.padEnd(8)}`;
  const m = eng.loadModel(model, 'webgpu');
  const c = m.newContext({ nCtx: ids.length, logitsAll: true });
  const got = await c.eval(ids, { logits: true });
  c.free();
  const md = maxDiff(got, ref.logits.data);
  const okLogits = md <= tol;
  line += ` logits max|d| ${md.toExponential(2)} (tol ${tol.toExponential(0)}) ${okLogits ? 'ok' : 'FAIL'}`;
  let okGreedy = true;
  if (name !== 'phi3') {   // phi3 greedy ids are not authoritative (fixtures/README.md)
    const plen = ref.greedy_prompt_len.data[0];
    const want2 = Array.from(ref.greedy_ids.data);
    // with the backend's defaults, then with the opt-in decode fusions (FUSED)
    for (const fused of [false, true]) {
      for (const kv of FUSED.split(',')) { const [k, v] = kv.split('='); m.tune(k, fused ? Number(v) : 0); }
      const g = m.newContext({ nCtx: want2.length });
      const res = want2.slice(0, plen);
      await g.generate(res.slice(), { nMax: want2.length - plen, ignoreEos: true }, (t) => { res.push(t.id); });
      g.free();
      const ok = res.join(' ') === want2.join(' ');
      okGreedy &&= ok;
      line += ` greedy${fused ? ' fused' : ''} ${ok ? 'ok' : `FAIL\n  got  ${res.join(' ')}\n  want ${want2.join(' ')}`}`;
    }
  }
  m.free();
  if (idx === 0) {   // the same through the command line
    const idsFile = path.join(tmp, `${name}.ids`), logitsFile = path.join(tmp, `${name}.logits`);
    fs.writeFileSync(idsFile, ids.join(' '));
    let okCli = false;
    try {
      execFileSync(process.execPath, [cli, ...wasmOpt, 'eval', model, '--ids-file', idsFile, '--logits', logitsFile], { stdio: ['ignore', 'inherit', 'inherit'] });
      const b = fs.readFileSync(logitsFile);
      okCli = maxDiff(new Float32Array(b.buffer, b.byteOffset, b.length / 4), ref.logits.data) <= tol;
      const plen = ref.greedy_prompt_len.data[0];
      const want2 = Array.from(ref.greedy_ids.data);
      const res = execFileSync(process.execPath, [cli, ...wasmOpt, 'run', model, '--ids', want2.slice(0, plen).join(' '), '-n', String(want2.length - plen), '--greedy', '--print-ids', '--ignore-eos'], { encoding: 'utf8' }).trim();
      okCli = okCli && res === want2.join(' ');
    } catch (e) { out(`cli: ${e.message}`); }
    line += ` cli ${okCli ? 'ok' : 'FAIL'}`;
    if (!okCli) fails++;
  }
  if (!okLogits || !okGreedy) fails++;
  out(line);
}
process.exit(fails ? 1 : 0);
