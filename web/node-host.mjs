// node-host.mjs — createEngine under Node: the module on Dawn's WebGPU (node-gpu.mjs;
// SwiftShader without a GPU), WASI from node:wasi. A model is a local RDRR directory (a path or
// file: URL, loaded in place) or an http(s) URL, downloaded once into a cache folder
// (node-store.mjs) and loaded from there afterwards without a network request.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from './engine.mjs';
import { ChatEngine, classifyError } from './chat-engine.mjs';
import { requestDevice } from './gpu.mjs';
import { gpuFromNode } from './node-gpu.mjs';
import { nodeWasi } from './wasi-host.mjs';
import { downloadModel, modelKey } from './model-store.mjs';
import { dirStore } from './node-store.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

// opts: onProgress({ phase, loaded, total, rate, secondsLeft, text }), wasm (path of
// doppler.wasm), cacheDir, nCtx, backend ('webgpu' | 'cpu'), gpuMem, ramCache, expertPolicy
export async function createNodeEngine(modelUrl, { onProgress = null, wasm = null, cacheDir = undefined, nCtx = 0, backend = 'webgpu', gpuMem = 0, ramCache = 0, expertPolicy = '' } = {}) {
  const url = String(modelUrl);
  let dir;
  if (/^https?:\/\//.test(url)) {
    const store = dirStore(cacheDir), key = modelKey(url);
    if ((await store.size(key, 'manifest.json')) == null) await downloadModel(url, store, { onProgress });
    dir = store.dir(key);
  } else {
    dir = path.resolve(url.startsWith('file:') ? fileURLToPath(url) : url);
  }
  const bytes = fs.readFileSync(wasm ?? path.join(here, 'dist/doppler.wasm'));
  let device = null;
  if (backend === 'webgpu') {
    try { device = (await requestDevice(await gpuFromNode())).device; } catch (e) { throw classifyError(new Error(`WebGPU: ${e.message}`)); }
  }
  onProgress?.({ phase: 'load', loaded: 0, total: 0, text: 'Loading onto the GPU' });
  const eng = await Engine.create({ wasm: bytes, wasi: await nodeWasi(), device });
  const ce = await ChatEngine.open({ eng, dir, device, name: path.basename(dir.replace(/\/+$/, '')), nCtx, paging: { gpuMem, ramCache, expertPolicy } });
  onProgress?.({ phase: 'ready', loaded: 1, total: 1, text: 'Ready' });
  return ce;
}
