// js_api.mjs — the JS API (web/index.mjs) under Node on WebGPU (Dawn; SwiftShader here):
//  1. the example of web/README.md, run as written against the package `npm pack` makes
//     (unpacked into a scratch node_modules/doppler-web beside web/node_modules' dependencies):
//     it must print readable text twice (a completion, then a stream) and the usage;
//  2. weights stream to the GPU: loading a synthetic model of ~170 MB must leave the module's
//     memory (WebAssembly.Memory) well below the model's size (under half of it);
//  3. requests are checked: bad fields and context overflow give EngineError 400s.
// Usage: node tests/webgpu/js_api.mjs <doppler tool> <wasm dist dir> <scratch dir>
// Exit: 0 pass, 1 fail, 77 no WebGPU.
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '../..'), web = path.join(root, 'web');
const [tool, distDir, tmp] = process.argv.slice(2);
const out = (t) => fs.writeSync(1, t + '\n');
let fails = 0;
const check = (ok, what) => { out(`${ok ? 'ok' : 'FAIL'}: ${what}`); if (!ok) fails++; };
// most characters of readable text are letters, spaces and punctuation
const readable = (t) => t.trim().length >= 8 && (t.match(/[A-Za-z .,;:'"!?\n-]/g) ?? []).length / t.length > 0.85 && /[A-Za-z]{2,}/.test(t);

// ---- 1. the README example against the packed package -----------------------------------
fs.rmSync(tmp, { recursive: true, force: true });
const app = path.join(tmp, 'app'), pkg = path.join(app, 'node_modules/doppler-web');
fs.mkdirSync(pkg, { recursive: true });
fs.mkdirSync(path.join(web, 'dist'), { recursive: true });
const wasmHere = path.join(web, 'dist/doppler.wasm');
if (path.resolve(distDir) !== path.resolve(web, 'dist')) fs.copyFileSync(path.join(distDir, 'doppler.wasm'), wasmHere);
const packOut = execFileSync('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: web, encoding: 'utf8' });
const packed = JSON.parse(packOut)[0];
const names = packed.files.map((f) => f.path);
check(['index.mjs', 'worker.mjs', 'dist/doppler.wasm', 'README.md', 'package.json'].every((f) => names.includes(f)),
      `npm pack: ${packed.filename}, ${names.length} files (${names.join(' ')})`);
execFileSync('tar', ['xzf', path.join(tmp, packed.filename), '-C', pkg, '--strip-components=1']);
for (const dep of ['webgpu', '@webgpu', '@bjorn3']) {
  fs.mkdirSync(path.dirname(path.join(app, 'node_modules', dep)), { recursive: true });
  if (fs.existsSync(path.join(web, 'node_modules', dep))) fs.symlinkSync(path.join(web, 'node_modules', dep), path.join(app, 'node_modules', dep));
}
const readme = fs.readFileSync(path.join(web, 'README.md'), 'utf8');
const m = /<!-- example[^>]*-->\s*```js\n([\s\S]*?)```/.exec(readme);
check(!!m, 'web/README.md has the example block');
if (m) {
  fs.writeFileSync(path.join(app, 'example.mjs'), m[1]);
  const t0 = Date.now();
  const r = spawnSync('node', [path.join(app, 'example.mjs')], { cwd: root, encoding: 'utf8', timeout: 900000 });
  out(`example (${((Date.now() - t0) / 1000).toFixed(1)} s, exit ${r.status}):\n${r.stdout}\n${r.stderr.split('\n').slice(-8).join('\n')}`);
  if (/no adapter|WebGPU:/.test(r.stderr) && r.status) { out('skip: no WebGPU adapter'); process.exit(77); }
  const lines = r.stdout.split('\n');
  const usageAt = lines.findIndex((l) => l.includes('prompt_tokens'));
  const usageEnd = lines.findIndex((l, i) => i >= usageAt && l === '}');   // console.log of the usage object
  const first = lines.slice(0, lines[usageAt - 1] === '{' ? usageAt - 1 : usageAt).join('\n'), streamed = lines.slice(usageEnd + 1).join('\n');
  check(r.status === 0, 'the example exits 0');
  check(usageAt > 0 && readable(first), `the completion is readable text: ${JSON.stringify(first.slice(0, 80))}`);
  check(/completion_tokens: \d+/.test(r.stdout), 'the usage is printed');
  check(readable(streamed), `the stream is readable text: ${JSON.stringify(streamed.trim().slice(0, 80))}`);
  check(/Loading onto the GPU/.test(r.stderr) && /Ready/.test(r.stderr), 'onProgress reported the load');
}

// ---- 2 and 3: in this process ---------------------------------------------------------
const { Engine } = await import(path.join(web, 'engine.mjs'));
const { nodeWasi } = await import(path.join(web, 'wasi-host.mjs'));
const { requestDevice } = await import(path.join(web, 'gpu.mjs'));
const { gpuFromNode } = await import(path.join(web, 'node-gpu.mjs'));
const { createEngine } = await import(path.join(web, 'index.mjs'));
let dev;
try { dev = await requestDevice(await gpuFromNode()); } catch (e) { out(`skip: ${e.message}`); process.exit(77); }

const big = path.join(tmp, 'big');
fs.writeFileSync(path.join(tmp, 'big.json'), JSON.stringify({
  architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: 8192, hidden_size: 1024, num_hidden_layers: 6,
  num_attention_heads: 8, num_key_value_heads: 8, head_dim: 128, intermediate_size: 2816, max_position_embeddings: 512,
  rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: true, bos_token_id: 0, eos_token_id: 1,
}));
execFileSync(tool, ['synth', '--family', 'llama', '--config', path.join(tmp, 'big.json'), '--dtype', 'f16', big]);
const shardBytes = fs.readdirSync(path.join(big, 'shards')).reduce((n, f) => n + fs.statSync(path.join(big, 'shards', f)).size, 0);
const largestShard = Math.max(...fs.readdirSync(path.join(big, 'shards')).map((f) => fs.statSync(path.join(big, 'shards', f)).size));
const eng = await Engine.create({ wasm: fs.readFileSync(path.join(distDir, 'doppler.wasm')), wasi: await nodeWasi(), device: dev.device });
const before = eng.mem.byteLength;
const t1 = Date.now();
const model = eng.loadModel(big, 'webgpu');
const c = model.newContext({ nCtx: 8 });
await eng.settle();
const after = eng.mem.byteLength;
out(`synthetic model: ${(model.weightBytes / 1e6).toFixed(1)} MB of weights in ${fs.readdirSync(path.join(big, 'shards')).length} shards ` +
    `(largest ${(largestShard / 1e6).toFixed(1)} MB), loaded in ${((Date.now() - t1) / 1000).toFixed(1)} s; ` +
    `wasm memory ${(before / 1e6).toFixed(1)} MB before, ${(after / 1e6).toFixed(1)} MB after`);
check(model.weightBytes >= 0.9 * shardBytes && shardBytes > 100e6, 'the synthetic model is over 100 MB');
check(after < model.weightBytes / 2, `wasm memory stays under half the model (${(after / 1e6).toFixed(1)} MB < ${(model.weightBytes / 2e6).toFixed(1)} MB)`);
check(after < largestShard, 'wasm memory is smaller than one shard (no shard is held whole)');
c.free();
model.free();

// requests are checked before anything runs
const engine = await createEngine(path.join(root, 'models/fable-21m-q4_k_m'), { wasm: path.join(distDir, 'doppler.wasm'), nCtx: 64 });
const msgs = [{ role: 'user', content: 'Hi' }];
const bad = async (req, code, what) => {
  try { await engine.chat.completions.create(req); check(false, `${what}: accepted`); } catch (e) {
    check(e.name === 'EngineError' && e.status === 400 && e.code === code, `${what}: ${e.code} ${e.status} (${e.message})`);
  }
};
await bad({ messages: [] }, 'invalid_request', 'no messages');
await bad({ messages: [{ role: 'robot', content: 'x' }] }, 'invalid_request', 'unknown role');
await bad({ messages: msgs, max_tokens: -1 }, 'invalid_request', 'negative max_tokens');
await bad({ messages: msgs, temperature: 'hot' }, 'invalid_request', 'temperature of the wrong type');
await bad({ messages: msgs, n: 2 }, 'invalid_request', 'n = 2');
await bad({ messages: [{ role: 'user', content: 'word '.repeat(80) }], max_tokens: 8 }, 'context_length_exceeded', 'prompt over the context');
const ok = await engine.chat.completions.create({ messages: msgs, max_tokens: 2, temperature: 0 });
check(ok.object === 'chat.completion' && ok.usage.completion_tokens >= 1, `still answers after refusals (${ok.usage.completion_tokens} tokens)`);
// a device lost mid-stream: the stream ends with EngineError device_lost, no text after it
const s = await engine.chat.completions.create({ messages: msgs, max_tokens: 8, temperature: 0, stream: true });
let afterLoss = 0, lostErr = null, destroyed = false;
try {
  for await (const ch of s) {
    if (destroyed && ch.choices[0]?.delta?.content) afterLoss++;
    if (!destroyed && ch.choices[0]?.delta?.content !== undefined) { engine.eng.gpu.device.destroy(); destroyed = true; }
  }
} catch (e) { lostErr = e; }
check(lostErr?.code === 'device_lost' && afterLoss === 0, `device lost mid-stream: ${lostErr?.code} (${lostErr?.message}), ${afterLoss} chunks of text after it`);
let again = null;
try { await engine.chat.completions.create({ messages: msgs, max_tokens: 2 }); } catch (e) { again = e; }
check(again?.code === 'device_lost', `after the loss, requests are refused (${again?.code})`);

out(fails ? `FAIL: ${fails} checks` : 'ok: all checks passed');
process.exit(fails ? 1 : 0);
