// paging.mjs — MoE expert paging on the WebGPU backend (docs/PAGING.md) under Node:
//  1. logits of a prompt (one batch) and of decode steps after it, with a gpu_mem that leaves 2
//     expert slots per layer (LFU), and with one slot in all (LRU: every layer's experts in
//     groups of one), are bit-identical to the unpaged WebGPU run; the pool has the slots the
//     budget names, and experts were paged (device bytes, reads from the shards) and hit;
//  2. a layer's expert shards corrupted while the model runs: the next evaluation that pages
//     one in fails with 'hash mismatch' naming the layer and expert, never with other logits;
//     the bytes restored, the logits are the same again; shards removed (models whose experts
//     have shards of their own): 'not found', then the same logits once they are back;
//  3. (hf-tiny) `node web/doppler.mjs bench --gpu-mem` reports the paging figures (JSON "paging"); `run
//     --gpu-mem --ram-cache` (the library's token loop) prints the unpaged run's ids;
//  4. shards are verified with Node's SHA-256 (web/host-hash.mjs), and an engine made to use the
//     module's own C SHA-256 pages to the same logits;
//  5. grow=<dir>: a model of ~100 MB loaded on the CPU backend inside the module, so that its
//     memory grows while it reads files: with node:wasi's fast calls on, Node 20 segfaulted here
//     (the H200's 16G paging run; web/wasi-host.mjs).
// Usage: [DP_WASM=doppler.wasm] node tests/webgpu/paging.mjs <tag>=<model-dir> ... [grow=<model-dir>]
// Exit: 0 all pass, 1 a failure, 77 no WebGPU.
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { nodeEngine, out } from './node_engine.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const cli = path.join(here, '../../web/doppler.mjs');
const PROMPT = [1, 17, 42, 99, 7, 310, 5, 64];
const STEPS = [11, 200];
let fails = 0;
const check = (ok, what) => { if (!ok) { fails++; out(`FAIL ${what}`); } return ok; };
const t0 = Date.now(), secs = () => `[${((Date.now() - t0) / 1000).toFixed(0)} s]`;

// The manifest's figures the budgets come from: bytes of the dense tensors, the size of one
// device slot (an expert's gate, up, down, each 256-aligned: src/runtime/experts.c), layers,
// and for each layer-0 expert the shard file and offset of its gate.
function layout(dir) {
  const m = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  const al = (n) => Math.ceil(n / 256) * 256;
  let dense = 0;
  const slot = new Map(), denseShards = new Set(), l0 = [];
  const file = (t) => path.join(dir, 'shards', `${m.shards[t.spans[0].shard].hash.replace('sha256:', '')}.bin`);
  for (const [name, t] of Object.entries(m.tensors)) {
    const size = t.spans.reduce((a, s) => a + s.size, 0);
    const x = /^blk\.(\d+)\.ffn_(gate|up|down)\.(\d+)\.weight$/.exec(name);
    if (!x) { dense += size; for (const s of t.spans) denseShards.add(s.shard); continue; }
    const key = `${x[1]}.${x[3]}`;
    slot.set(key, (slot.get(key) ?? 0) + al(size));
    if (x[1] === '0' && x[2] === 'gate') l0.push({ file: file(t), off: t.spans[0].offset, shard: t.spans[0].shard });
  }
  // layer 0's experts in shards no dense tensor uses: they can be removed while the model runs
  const own = l0.every((g) => !denseShards.has(g.shard)) && new Set(l0.map((g) => g.file)).size === l0.length;
  return { dense, slot: Math.max(...slot.values()), layers: m.model.n_layers, vocab: m.model.vocab_size, l0, own };
}

// The logits of PROMPT (one batch) then of each of STEPS: one Float32Array.
async function logitsOf(model) {
  const c = model.newContext({ nCtx: 32, logitsAll: true });
  try {
    const parts = [await c.eval(PROMPT, { logits: true })];
    for (const id of STEPS) parts.push(await c.eval([id], { logits: true }));
    const all = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    let o = 0;
    for (const p of parts) { all.set(p, o); o += p.length; }
    return all;
  } finally { c.free(); }
}
const same = (a, b) => a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;

// An evaluation that must fail: the error's status name and a part of its message.
async function mustFail(model, statusName, text, what) {
  try {
    await logitsOf(model);
    check(false, `${what}: evaluated without an error`);
  } catch (e) {
    check(e.statusName === statusName && String(e.message).includes(text) && /paging layer \d+ expert \d+/.test(e.message),
      `${what}: got '${e.statusName}': ${e.message} (want '${statusName}' with '${text}')`);
    out(`${secs()}   ${what}: ${e.statusName}: ${e.message}`);
  }
}

const flip = (f, off) => { const fd = fs.openSync(f, 'r+'); const b = Buffer.alloc(1); fs.readSync(fd, b, 0, 1, off); b[0] ^= 0x5a; fs.writeSync(fd, b, 0, 1, off); fs.closeSync(fd); };

const eng = await nodeEngine();
check(eng.hash.native, 'shards are not hashed with the host\'s SHA-256 under Node');
for (const arg of process.argv.slice(2)) {
  const [tag, dir] = arg.split('=');
  if (tag === 'grow') {
    const sentinel = () => 42;
    const m = eng.loadModel(dir, 'cpu', 1);
    try {
      const c = m.newContext({ nCtx: 16, logitsAll: true });
      const lg = await c.eval(PROMPT.slice(0, 4), { logits: true });
      c.free();
      const mib = eng.mem.byteLength / 1048576;
      check(mib > 64 && lg.length > 0 && lg.every(Number.isFinite) && typeof sentinel === 'function',
        `grow: module memory ${mib} MiB, ${lg.length} logits, sentinel ${typeof sentinel}`);
      out(`${secs()} grow: ${(m.weightBytes / 1048576).toFixed(0)} MiB of weights in the module's memory (${mib.toFixed(0)} MiB), logits finite`);
    } finally { m.free(); }
    continue;
  }
  const L = layout(dir);
  const ref = await (async () => { const m = eng.loadModel(dir, 'webgpu'); try { return await logitsOf(m); } finally { m.free(); } })();
  out(`${secs()} ${tag}: ${L.layers} layers, dense ${L.dense} bytes, device slot ${L.slot} bytes; unpaged logits ${ref.length}`);
  for (const [slots, policy] of [[2 * L.layers, 'lfu'], [1, 'lru']]) {
    const m = eng.loadModel(dir, 'webgpu', 0, { gpuMem: L.dense + slots * L.slot, expertPolicy: policy });
    try {
      const got = await logitsOf(m), s = m.pagingStats();
      let at = -1;
      for (let i = 0; i < ref.length && at < 0; i++) if (Object.is(ref[i], got[i]) === false) at = i;
      check(same(ref, got), `${tag} ${slots} slots ${policy}: logits differ from the unpaged run (first at ${at}: ${ref[at]} vs ${got[at]})`);
      check(s.paged && s.deviceSlots === slots && s.policy === policy, `${tag}: stats ${JSON.stringify(s)} (want ${slots} device slots, ${policy})`);
      check(s.deviceBytes > 0 && s.sourceReads > 0 && s.uses === s.deviceHits + s.ramHits + s.sourceReads,
        `${tag}: no paging counted: ${JSON.stringify(s)}`);
      if (slots > 1) check(s.deviceHits > 0, `${tag}: no device hits with ${slots} slots: ${JSON.stringify(s)}`);
      out(`${secs()}   ${slots} device slots (${policy}): bit-identical ${same(ref, got)}; ${s.uses} uses, device hits ${s.deviceHits}, RAM hits ${s.ramHits}, reads ${s.sourceReads}, ${s.deviceBytes} bytes to the device`);
    } finally { m.free(); }
  }
  if (tag === 'synth') { // the module's own SHA-256 (what browsers use): the same logits, paged
    const e2 = await nodeEngine({ device: eng.gpu.device, wasmHash: true });
    const m = e2.loadModel(dir, 'webgpu', 0, { gpuMem: L.dense + L.slot });
    try {
      check(!e2.hash.native && same(await logitsOf(m), ref), `${tag}: the module's SHA-256 (wasmHash) pages to other logits or is not used`);
      out(`${secs()}   the module's own SHA-256: the same logits with one device slot`);
    } finally { m.free(); }
  }
  // budgets refused with the sizes named
  for (const [opts, status, text] of [[{ gpuMem: L.dense - 4 }, 'over a limit', `${L.dense} bytes of dense weights`],
                                       [{ gpuMem: L.dense + L.slot - 4 }, 'invalid argument', `(one takes ${L.slot} bytes)`],
                                       [{ ramCache: 1 << 20 }, 'unsupported', 'give a gpu_mem below']]) {
    let got = null;
    try { eng.loadModel(dir, 'webgpu', 0, opts).free(); } catch (e) { got = e; }
    check(got && got.statusName === status && got.message.includes(text), `${tag} ${JSON.stringify(opts)}: ${got ? `${got.statusName}: ${got.message}` : 'loaded'} (want ${status}, '${text}')`);
  }
  // damage under a model holding one device slot: every use of a layer-0 expert pages it in
  const m = eng.loadModel(dir, 'webgpu', 0, { gpuMem: L.dense + L.slot });
  try {
    // calls into a context while its evaluation is suspended (waiting for its routing) throw and
    // change nothing: the suspended pass still gives the unpaged logits of the prompt
    const c = m.newContext({ nCtx: 32, logitsAll: true });
    try {
      const p = c.eval(PROMPT, { logits: true });
      check(p instanceof Promise, `${tag}: a paged evaluation did not wait`);
      const refused = await Promise.all([() => c.eval([STEPS[0]], { logits: true }), () => c.free()].map(async (f) => {
        try { await f(); return null; } catch (e) { return e; } }));
      check(refused.every((e) => e && /suspended/.test(e.message)), `${tag}: calls during a suspended evaluation: ${refused.map((e) => e?.message ?? 'accepted')}`);
      const got = await p, want = ref.subarray(0, got.length);
      check(same(got, want), `${tag}: the suspended evaluation's logits changed under the refused calls`);
      out(`${secs()}   calls during a suspended evaluation refused: ${refused[0]?.message}; its logits unchanged ${same(got, want)}`);
    } finally { c.free(); }
    for (const g of L.l0) flip(g.file, g.off + 7);
    await mustFail(m, 'hash mismatch', 'SHA-256', `${tag} corrupted`);
    for (const g of L.l0) flip(g.file, g.off + 7);
    check(same(await logitsOf(m), ref), `${tag}: not the same logits after the repair`);
    if (L.own) {
      for (const g of L.l0) fs.renameSync(g.file, `${g.file}.keep`);
      await mustFail(m, 'not found', 'missing', `${tag} removed`);
      for (const g of L.l0) fs.renameSync(`${g.file}.keep`, g.file);
      check(same(await logitsOf(m), ref), `${tag}: not the same logits after the restore`);
    }
  } finally { m.free(); }
  // the command line's figures and token loop (one model: a new process compiles the kernels again)
  if (tag !== 'hf-tiny') continue;
  const wasm = process.env.DP_WASM ? ['--wasm', process.env.DP_WASM] : [];
  const j = JSON.parse(execFileSync(process.execPath, [cli, ...wasm, 'bench', dir, '-p', '0', '-n', '2', '-r', '1', '--json', '--gpu-mem', String(L.dense + 2 * L.layers * L.slot)], { encoding: 'utf8' }).trim().split('\n').at(-1));
  check(j.paging && j.paging.device_slots === 2 * L.layers && j.paging.tokens > 0 && j.paging.device_bytes_per_token > 0,
    `${tag}: bench --gpu-mem: ${JSON.stringify(j.paging)}`);
  out(`${secs()}   bench --gpu-mem: ${JSON.stringify(j.paging)}`);
  // the library's token loop (Context.generate) on a paged model: the ids of the unpaged run
  const ids = (extra) => execFileSync(process.execPath, [cli, ...wasm, 'run', dir, '--ids', '1 17 42', '-n', '6', '--greedy', '--print-ids', ...extra], { encoding: 'utf8' }).trim();
  const a = ids([]), b = ids(['--gpu-mem', String(L.dense + L.slot), '--ram-cache', String(4 * L.slot)]);
  check(a === b && a.split(' ').length === 9, `${tag}: run --gpu-mem printed '${b}', unpaged '${a}'`);
  out(`${secs()}   run --gpu-mem (1 device slot, 4 RAM slots): ${b} (unpaged: the same)`);
}
out(fails ? `${fails} FAILED` : 'all passed');
process.exit(fails ? 1 : 0);
