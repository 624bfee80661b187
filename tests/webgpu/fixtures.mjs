// fixtures.mjs — what the WebGPU test scripts share: an Engine on Node's WebGPU adapter,
// safetensors files of the shared fixtures (f32 / i32 tensors), the max |difference| of two
// logit arrays.
import fs from 'node:fs';
import { Engine } from '../../web/engine.mjs';
import { nodeWasi } from '../../web/wasi-host.mjs';
import { requestDevice } from '../../web/gpu.mjs';
import { gpuFromNode } from '../../web/node-gpu.mjs';

// The Engine of wasmPath on the WebGPU adapter (exit 77, printing why, when there is none).
export async function webgpuEngine(wasmPath, out) {
  let dev;
  try { dev = await requestDevice(await gpuFromNode()); } catch (e) { out(`skip: ${e.message}`); process.exit(77); }
  return Engine.create({ wasm: fs.readFileSync(wasmPath), wasi: await nodeWasi(), device: dev.device });
}

export function readSafetensors(file) {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const base = 8 + n, t = {};
  for (const [k, v] of Object.entries(header)) {
    if (k === '__metadata__') continue;
    const [a, b] = v.data_offsets;
    const bytes = buf.subarray(base + a, base + b);
    const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
    t[k] = { dtype: v.dtype, shape: v.shape, data: v.dtype === 'I32' ? new Int32Array(ab) : new Float32Array(ab) };
  }
  return t;
}

// max |got - want|; Infinity when the lengths differ or a value is NaN
export const maxDiff = (got, want) => {
  let m = got.length === want.length ? 0 : Infinity;
  for (let i = 0; i < want.length && got.length === want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= m)) m = d;
  }
  return m;
};
