// paging-plan.mjs — what a GPU budget means for a MoE model (docs/PAGING.md), for
// web/bench/paging-device.sh: for each budget, the device slots Doppler's WebGPU pager makes of
// it (src/runtime/experts.c: the dense tensors first, then slots of one expert's gate + up + down,
// each 256-aligned) and llama.cpp's --n-cpu-moe N that gives llama.cpp the same VRAM for weights
// (llama.cpp keeps the experts of the first N layers on the CPU and, with -ngl 99, everything
// else on the GPU but token_embd, which always stays on the CPU: so N is the fewest layers whose
// experts must stay on the CPU for the rest to fit in budget - (dense - token_embd), taking the
// last layers' experts first, as llama.cpp does). One JSON line per budget.
// Budgets: bytes with a K/M/G/T suffix (powers of 1024), 0 (unlimited: every weight on the GPU,
// N = 0), or P% (the dense tensors + P % of the expert bytes).
// Usage: node web/bench/paging-plan.mjs <model-dir> <budget>...
import fs from 'node:fs';
import path from 'node:path';

const [dir, ...budgets] = process.argv.slice(2);
if (!dir || !budgets.length) { console.error('usage: paging-plan.mjs <model-dir> <budget>...'); process.exit(2); }
const m = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
const al = (n) => Math.ceil(n / 256) * 256;
const layers = m.model.n_layers;
let dense = 0, embd = 0, experts = 0;
const slot = new Map(), perLayer = new Array(layers).fill(0);
for (const [name, t] of Object.entries(m.tensors)) {
  const size = t.spans.reduce((a, s) => a + s.size, 0);
  const x = /^blk\.(\d+)\.ffn_(gate|up|down)\.(\d+)\.weight$/.exec(name);
  if (!x) { dense += size; if (name === 'token_embd.weight') embd = size; continue; }
  experts += size;
  perLayer[Number(x[1])] += size;
  const key = `${x[1]}.${x[3]}`;
  slot.set(key, (slot.get(key) ?? 0) + al(size));
}
if (!slot.size) { console.error(`${dir}: no experts (not a MoE model)`); process.exit(2); }
const slotBytes = Math.max(...slot.values()), total = dense + experts;
const UNITS = { K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };
for (const b of budgets) {
  let bytes;
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(b), unit = /^(\d+(?:\.\d+)?)([KMGT]?)$/i.exec(b);
  if (pct) bytes = Math.floor(dense + (experts * Number(pct[1])) / 100);
  else if (unit) bytes = Math.floor(Number(unit[1]) * (UNITS[unit[2].toUpperCase()] ?? 1));
  else { console.error(`bad budget '${b}'`); process.exit(2); }
  const paged = bytes > 0 && bytes < total;
  const line = { budget: b, gpu_mem: paged ? bytes : 0, model_bytes: total, dense_bytes: dense, expert_bytes: experts, slot_bytes: slotBytes };
  if (paged) {
    if (bytes < dense) line.error = `below the ${dense} bytes of dense weights`;
    line.device_slots = Math.min(Math.floor(Math.max(0, bytes - dense) / slotBytes), slot.size);
    line.expert_share = +(line.device_slots / slot.size).toFixed(3);
  }
  // llama.cpp: the last layers' experts on the GPU while they fit
  let room = paged ? bytes - (dense - embd) : Infinity, onGpu = 0;
  for (let l = layers - 1; l >= 0 && perLayer[l] <= room; l--) { room -= perLayer[l]; onGpu++; }
  line.n_cpu_moe = layers - onGpu;
  line.llama_gpu_weight_bytes = dense - embd + perLayer.slice(layers - onGpu).reduce((a, v) => a + v, 0);
  console.log(JSON.stringify(line));
}
