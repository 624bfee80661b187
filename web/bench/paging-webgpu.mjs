// paging-webgpu.mjs — WebGPU decode speed of a MoE model at one GPU budget (docs/PAGING.md),
// for web/bench/paging-device.sh: loads the model with gpuMem (0: unlimited), evaluates a
// prompt (DP_PROMPT ids, default 4 tokens), then greedy decode steps through the library's loop
// (as `bench` tg), the first step untimed (warm-up), until N steps or SECONDS of decoding have
// passed; prints one JSON line:
// tg tok/s over the timed steps, load seconds, and the paging counters of the timed steps only
// (uses, device/RAM hit rates, bytes paged to the device and read from the shards per token,
// wait ms per token).
// Progress goes to stderr as it happens ("[12.3 s] prompt done"), so that a run that dies or is
// killed says how far it got. DP_TRACE=1: an error's stack too.
// Usage: node web/bench/paging-webgpu.mjs <model> <gpu-mem bytes|0> <n> <seconds> [ram-cache bytes]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from '../engine.mjs';
import { nodeWasi } from '../wasi-host.mjs';
import { requestDevice } from '../gpu.mjs';
import { gpuFromNode } from '../node-gpu.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const [model, gpuMemArg, nArg, secArg, ramArg] = process.argv.slice(2);
const gpuMem = Number(gpuMemArg), n = Number(nArg), seconds = Number(secArg), ramCache = Number(ramArg ?? 0);
const now = () => performance.now() / 1000;
const T0 = now();
const progress = (what) => process.stderr.write(`[${(now() - T0).toFixed(1)} s] ${path.basename(model)} gpu_mem ${gpuMem}: ${what}\n`);
const line = { model: path.basename(model), gpu_mem: gpuMem, ram_cache: ramCache };
let device = null;
try {
  let info;
  ({ device, info } = await requestDevice(await gpuFromNode()));
  line.hardware = [info.vendor, info.architecture, info.description].filter(Boolean).join(' ');
  const eng = await Engine.create({ wasm: fs.readFileSync(process.env.DP_WASM ?? path.join(here, '../dist/doppler.wasm')), wasi: await nodeWasi(), device });
  let t = now();
  const m = eng.loadModel(path.resolve(model), 'webgpu', 0, { gpuMem, ramCache });
  await eng.settle();
  line.load_s = +(now() - t).toFixed(2);
  line.size_gib = +(m.weightBytes / 1024 ** 3).toFixed(2);
  progress(`loaded in ${line.load_s} s (${m.pagingStats().deviceSlots} device slots)`);
  const c = m.newContext({ nCtx: n + 8 });
  // nMax: the prompt's token, the warm-up's, then n timed steps that each evaluate (a step that
  // reaches nMax emits without evaluating)
  const g = c.generator({ nMax: n + 2, ignoreEos: true });
  t = now();
  // DP_PROMPT: the prompt's ids (default 4 tokens; one token pages only 2 experts per layer
  // before decoding instead of up to 8, i.e. 7 instead of 27 GB on the Mixtral-8x7B shape)
  const prompt = (process.env.DP_PROMPT ?? '1 415 1291 349').trim().split(/\s+/).map(Number);
  line.prompt_n = prompt.length;
  await g.prompt(prompt);
  line.prompt_s = +(now() - t).toFixed(2);
  progress(`prompt (${prompt.length} tokens) in ${line.prompt_s} s`);
  t = now();
  await g.step();   // warm-up: pipelines, first page-ins
  line.warmup_s = +(now() - t).toFixed(2);
  progress(`warm-up step in ${line.warmup_s} s`);
  const s0 = m.pagingStats();
  t = now();
  let steps = 0;
  while (steps < n && now() - t < seconds) {
    await g.step();
    steps++;
    if (steps % 4 === 0 || steps === n) progress(`${steps} steps in ${(now() - t).toFixed(1)} s`);
  }
  const dt = now() - t, s1 = m.pagingStats();
  const d = (k) => s1[k] - s0[k], per = (k) => (steps ? d(k) / steps : 0);
  line.tg = { n: steps, tps: +(steps / dt).toFixed(3), s: +dt.toFixed(2) };
  if (s1.paged) {
    const uses = d('uses') || 1;
    line.paging = { policy: s1.policy, device_slots: s1.deviceSlots, ram_slots: s1.ramSlots, slot_mib: +(s1.slotBytes / 1048576).toFixed(1),
                    uses_per_token: per('uses'), device_hit_rate: +(d('deviceHits') / uses).toFixed(3), ram_hit_rate: +(d('ramHits') / uses).toFixed(3),
                    device_mib_per_token: +(per('deviceBytes') / 1048576).toFixed(1), source_mib_per_token: +(per('sourceBytes') / 1048576).toFixed(1),
                    wait_ms_per_token: +(1e3 * per('waitS')).toFixed(1), top2_share: +s1.top2Share.toFixed(3) };
  }
  const gs = m.gpuStats();
  line.gpu_bytes = gs.bytes;
  g.free(); c.free(); m.free();
} catch (e) {
  line.error = String(e.message ?? e).split("\n")[0];
  if (process.env.DP_TRACE) console.error(e.stack);
}
console.log(JSON.stringify(line));
// the GPU idle and the device gone before exit: Node + Dawn exiting with a live device sometimes
// segfaulted here (SwiftShader, about 1 run in 4), after the line above was out
try { await device?.queue.onSubmittedWorkDone(); device?.destroy(); } catch { /* exiting anyway */ }
process.exit(line.error ? 1 : 0);
