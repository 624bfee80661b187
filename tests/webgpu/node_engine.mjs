// node_engine.mjs — the Engine on Node's WebGPU (Dawn; SwiftShader without a GPU) that the
// WebGPU tests share: DP_WASM or web/dist/doppler.wasm; exits 77 when there is no WebGPU.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from '../../web/engine.mjs';
import { nodeWasi } from '../../web/wasi-host.mjs';
import { requestDevice } from '../../web/gpu.mjs';
import { gpuFromNode } from '../../web/node-gpu.mjs';

export const out = (t) => fs.writeSync(1, t + '\n');

// device: another engine's (eng.gpu.device): a second gpuFromNode() would drop the first GPU
// object, and Dawn's instance with it, under the first engine; opts: Engine.create's other
// options (wasmHash)
export async function nodeEngine({ device = null, ...opts } = {}) {
  let dev = device && { device };
  try { dev ??= await requestDevice(await gpuFromNode()); } catch (e) { out(`skip: ${e.message}`); process.exit(77); }
  const here = path.dirname(fileURLToPath(import.meta.url));
  const wasmPath = process.env.DP_WASM ?? path.join(here, '../../web/dist/doppler.wasm');
  return Engine.create({ wasm: fs.readFileSync(wasmPath), wasi: await nodeWasi(), device: dev.device, ...opts });
}
