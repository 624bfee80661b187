// native-ref.mjs — the parity gate's CPU reference computed by the native tool (`doppler eval`
// for logits, `doppler run --greedy --print-ids` for greedy ids), for models whose weights do not
// fit in wasm32's 4 GiB (the Llama-3.1-8B shape: 4.6 GiB of Q4_K_M). Node only.
//
// nativeCpuModel(bin, dir, threads) has the shape of the Model that compareParity (kernels.mjs)
// reads: vocab, newContext({ nCtx, logitsAll }) -> { eval(ids, {logits}), generate(ids, opts, cb),
// free() }, free(). Greedy only: the gate asks for nothing else.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// Bytes of a model's weight shards (the manifest's shard list).
export function modelWeightBytes(dir) {
  const m = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  return (m.shards ?? []).reduce((s, x) => s + (Number(x.size) || 0), 0);
}

export function nativeCpuModel(bin, dir, threads = 0) {
  const man = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  const vocab = man.model?.vocab_size;
  if (!Number.isInteger(vocab) || vocab <= 0) throw new Error(`${dir}: manifest has no model.vocab_size`);
  const tool = (args) => execFileSync(bin, args, { maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'pipe'] });
  const t = threads > 0 ? ['-t', String(threads)] : [];
  // the gate asks the reference the same questions for every candidate: answer each once
  const memo = new Map();
  const once = (key, f) => { if (!memo.has(key)) memo.set(key, f()); return memo.get(key); };
  const newContext = () => ({
    eval: (ids) => once(`eval ${ids}`, () => evalOnce(ids)),
    async generate(ids, opts, cb) {
      const out = await once(`gen ${opts.nMax} ${!!opts.ignoreEos} ${ids}`, () => generateOnce(ids, opts));
      for (const id of out) cb({ id });
    },
    free() {},
  });
  async function evalOnce(ids) {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dp-ref-'));
    try {
      fs.writeFileSync(path.join(tmp, 'ids'), ids.join(' '));
      tool(['eval', dir, '--ids-file', path.join(tmp, 'ids'), '--logits', path.join(tmp, 'logits'), ...t]);
      const b = fs.readFileSync(path.join(tmp, 'logits'));
      if (b.length !== ids.length * vocab * 4) throw new Error(`doppler eval wrote ${b.length} bytes, not ${ids.length} x ${vocab} logits`);
      return new Float32Array(b.buffer, b.byteOffset, b.length / 4).slice();
    } finally { fs.rmSync(tmp, { recursive: true, force: true }); }
  }
  async function generateOnce(ids, opts) {
    const out = tool(['run', dir, '--ids', ids.join(' '), '-n', String(opts.nMax), '--greedy', '--print-ids',
      ...(opts.ignoreEos ? ['--ignore-eos'] : []), ...t]).toString().trim().split(/\s+/).map(Number);
    return out.slice(ids.length);
  }
  return { vocab, newContext, free() {} };
}
