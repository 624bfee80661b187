// nap.mjs — the Node host's settle() sleeps through most of a steady wait for the GPU instead of
// letting Dawn's addon poll (web/gpu.mjs, setNap): Dawn's Node addon resolves a mapAsync by
// polling on every turn of the event loop, so an await spins a core and makes garbage for as long
// as the GPU works. One job (a kernel long enough to take ~0.4 s or more on this device, then a
// read of its result) waited for 6 times with napping off, then with it on until three waits in
// a row have napped (the host's `naps` stat; at most 12 jobs): the garbage collections during
// those three waits must fall to under half per second of the polling run's last three, the
// waits must not grow by more than 50 % (a sleep overshooting the work), and every read must
// bring back the kernel's result. Napping engages only when the last three waits were steady
// (within 2x); under ctest's parallel load the other SwiftShader tests can make them vary more,
// so a failed measurement is taken again, up to 3 times: a host that never naps, or naps without
// fewer collections, fails all three.
// Usage: node tests/webgpu/nap.mjs. Exit: 0 ok, 1 failed, 77 no WebGPU.
import { PerformanceObserver } from 'node:perf_hooks';
import { GpuHost, requestDevice } from '../../web/gpu.mjs';
import { gpuFromNode } from '../../web/node-gpu.mjs';

const out = (t) => process.stdout.write(t + '\n');
let device;
try { ({ device } = await requestDevice(await gpuFromNode())); } catch (e) { out(`skip: ${e.message}`); process.exit(77); }
const host = new GpuHost(device);
const mem = new WebAssembly.Memory({ initial: 1 });
host.bind(mem);
const u8 = () => new Uint8Array(mem.buffer);
const put = (s, at) => { const b = new TextEncoder().encode(s); u8().set(b, at); return b.length; };
const code = `// nap
@group(0) @binding(0) var<uniform> p: vec4<u32>;
@group(0) @binding(1) var<storage, read_write> o: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  var s = 0.0;
  for (var i = 0u; i < p.x; i = i + 1u) { s = s + sin(f32(i) * 1e-3); }
  if (g.x == 0u) { o[0] = s; o[1] = f32(p.x); }
}`;
const pipe = host.pipelineCreate(0, put(code, 0), 4096, put('main', 4096), 4200, 0);
const uni = host.bufferCreate(16, 2), buf = host.bufferCreate(64, 1);
new Uint32Array(mem.buffer, 8192, 8).set([0, uni, 0, 16, 1, buf, 0, 64]);
const bg = host.bindGroupCreate(pipe, 8192, 2);
if (!pipe || !bg || host.error) { out(`FAIL setup: ${host.error}`); process.exit(1); }
const job = async (iters) => {   // one submit, one read, one settle: (wait ms, result ok)
  new Uint32Array(mem.buffer, 12288, 4).set([iters, 0, 0, 0]);
  host.bufferWrite(uni, 0, 12288, 16);
  host.dispatch(pipe, bg, 64, 1, 1);
  host.read(buf, 0, 8, 16384);
  host.submit();
  const t0 = performance.now();
  await host.settle();
  const t1 = performance.now();
  return { t0, t1, ok: new Float32Array(mem.buffer, 16384, 2)[1] === iters };
};
let iters = 4096;   // to ~0.4-0.5 s a wait, timed after a first job (the pipeline's compile)
await job(iters);
for (let r = 0; r < 12; r++) {
  const { t0, t1 } = await job(iters);
  if (t1 - t0 >= 400) break;
  iters = Math.min(Math.round(iters * Math.min(16, 500 / Math.max(t1 - t0, 1))), 1 << 26);
}
const gcs = [];
new PerformanceObserver((l) => { for (const e of l.getEntries()) gcs.push(e.startTime); }).observe({ entryTypes: ['gc'] });
const run = async (nap) => {   // the last 3 waits (napping: the last 3 in a row that napped)
  host.setNap(nap);
  let bad = 0, win = [];
  for (let r = 0; r < (nap ? 12 : 6); r++) {
    const n0 = host.stats.naps;
    const j = await job(iters);
    if (!j.ok) bad++;
    if (nap && host.stats.naps === n0) win = [];
    else win.push([j.t0, j.t1]);
    if (win.length > 3) win.shift();
    if (r >= 5 && win.length === 3) break;
  }
  await new Promise((res) => setTimeout(res, 50));   // the observer's entries arrive later
  const ms = win.reduce((a, [t0, t1]) => a + t1 - t0, 0);
  const n = gcs.filter((t) => win.some(([a, b]) => t >= a && t <= b)).length;
  return { ms, n, bad, naps: win.length, rate: ms ? n / (ms / 1000) : Infinity };
};
let fails = 0;
for (let attempt = 1; attempt <= 3; attempt++) {
  const off = await run(false), on = await run(true);
  host.setNap(true);
  out(`attempt ${attempt}: ${iters} iterations a job; polling: ${off.n} collections in ${off.ms.toFixed(0)} ms of waiting ` +
      `(${off.rate.toFixed(1)}/s); napping: ${on.naps} napped waits, ${on.n} collections in ${on.ms.toFixed(0)} ms (${on.rate.toFixed(1)}/s)`);
  const checks = [
    [off.bad === 0 && on.bad === 0, 'every read brought back the result', true],
    [off.n >= 2, 'polling collects garbage while it waits (else this test measures nothing)'],
    [on.naps === 3, 'napping engaged on three waits in a row of the steady job'],
    [on.rate < off.rate / 2, 'napping: under half the collections per second of waiting'],
    [on.ms <= off.ms * 1.5, `napping: the waits not longer (${on.ms.toFixed(0)} vs ${off.ms.toFixed(0)} ms)`],
  ];
  fails = 0;
  let hard = false;
  for (const [ok, what, always] of checks) {
    out(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
    if (!ok) { fails++; hard ||= !!always; }
  }
  if (!fails || hard) break;
}
process.exit(fails ? 1 : 0);
