// ids.mjs — the token-id page (ids.html): fetches doppler.wasm and a model into memory,
// generates ids on WebGPU on the page's thread, for parity tests against the native tool (the
// chat a person uses is index.html). Query parameters (tests/webgpu/browser_e2e.mjs):
// ?model=URL&ids=1,2,3&n=16&auto=1 runs at load; the result line ("ids: ...") goes to #result
// and #result gets data-done="1" (or data-error="1" with the message).
import { Engine } from './engine.mjs';
import { browserWasi } from './wasi-host.mjs';
import { requestDevice } from './gpu.mjs';
import { manifestFiles } from './model-store.mjs';

// manifest.json and every file it lists, as path -> bytes under mount
async function fetchModel(url, mount, onProgress) {
  const base = url.endsWith('/') ? url : url + '/';
  const get = async (rel) => {
    const r = await fetch(base + rel);
    if (!r.ok) throw Object.assign(new Error(`${base + rel}: HTTP ${r.status}`), { status: r.status });
    return new Uint8Array(await r.arrayBuffer());
  };
  const files = {};
  const manifest = await get('manifest.json');
  files[`${mount}/manifest.json`] = manifest;
  const list = manifestFiles(JSON.parse(new TextDecoder().decode(manifest)));
  let done = 0;
  for (const f of list) {
    try { files[`${mount}/${f.path}`] = await get(f.path); } catch (e) { if (!(f.optional && e.status === 404)) throw e; }
    done += files[`${mount}/${f.path}`]?.length ?? 0;
    onProgress(done);
  }
  return files;
}

const $ = (id) => document.getElementById(id);
const log = (t) => { $('log').textContent += t + '\n'; };

async function generate() {
  const result = $('result');
  result.textContent = '';
  delete result.dataset.done;
  delete result.dataset.error;
  try {
    if (!navigator.gpu) throw new Error('this browser has no WebGPU (navigator.gpu)');
    const dev = await requestDevice(navigator.gpu);
    log(`adapter: ${[dev.info.vendor, dev.info.architecture, dev.info.description].filter(Boolean).join(' ')} features=[${dev.info.features}]`);
    const wasm = await (await fetch('dist/doppler.wasm')).arrayBuffer();
    const t0 = performance.now();
    const dir = '/model';
    const files = await fetchModel(new URL($('model').value, location.href).href, dir, (d) => { $('log').dataset.progress = String(d); });
    log(`fetched model (${Object.keys(files).length} files) in ${(performance.now() - t0).toFixed(0)} ms`);
    const eng = await Engine.create({ wasm, wasi: await browserWasi(files, { stdout: log, stderr: log }), device: dev.device });
    const model = eng.loadModel(dir, 'webgpu');
    log(`model: ${model.family} ${model.dtype}, ${model.nLayers} layers, vocab ${model.vocab}`);
    const ids = $('ids').value.split(/[\s,]+/).filter(Boolean).map(Number);
    const n = Number($('n').value);
    const ctx = model.newContext({ nCtx: ids.length + n });
    const sp = $('greedy').checked ? { temperature: 0 } : { temperature: 0.8, topK: 40, topP: 0.95, seed: 1 };
    const out = [...ids];
    const t1 = performance.now();
    await ctx.generate(ids, { nMax: n, ignoreEos: true, ...sp }, (t) => {
      out.push(t.id);
      result.textContent = `ids: ${out.join(' ')}`;
    });
    const dt = (performance.now() - t1) / 1000;
    log(`${n} tokens in ${dt.toFixed(2)} s (${(n / dt).toFixed(1)} tok/s); GPU totals: ${JSON.stringify(model.gpuStats())}`);
    result.dataset.done = '1';
  } catch (e) {
    result.textContent = `error: ${e.message}`;
    result.dataset.error = '1';
    log(e.stack ?? String(e));
  }
}

$('go').addEventListener('click', generate);
const q = new URLSearchParams(location.search);
if (q.has('model')) $('model').value = q.get('model');
if (q.has('ids')) $('ids').value = q.get('ids');
if (q.has('n')) $('n').value = q.get('n');
if (q.get('greedy') === '0') $('greedy').checked = false;
if (q.get('auto') === '1') generate();
