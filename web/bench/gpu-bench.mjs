// gpu-bench.mjs — what the kernel benches outside the engine share (matvec-bench.mjs,
// tiled-bench.mjs, sgmat-bench.mjs; tests/webgpu/dequant_h.mjs): the device (the engine's requestDevice, so the same features and limits),
// random inputs, buffers up and back, and the GPU time of R dispatches in one compute pass.
import { gpuFromNode } from '../node-gpu.mjs';
import { requestDevice } from '../gpu.mjs';

export const arg = (k, d) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : d; };
export const shapesArg = (d) => arg('--shapes', d).split(',').map((s) => s.split('x').map(Number));

export async function benchDevice() {
  const gpu = await gpuFromNode();
  const { adapter, device, info } = await requestDevice(gpu);
  console.log(`# ${info.vendor} ${info.architecture} ${info.description} features ${info.features.join(' ')}`);
  device.addEventListener?.('uncapturederror', (e) => console.log('# uncaptured:', e.error.message));
  return { adapter, device, info };
}

let seed = 12345;
export const rnd = () => { seed = (seed * 1103515245 + 12345) >>> 0; return seed / 4294967296 * 2 - 1; };   // [-1, 1)

// f32 -> f16 bits (round to nearest; normal range and zero only) and back
const f32s = new Float32Array(1), u32s = new Uint32Array(f32s.buffer);
export function f16bits(v) {
  f32s[0] = v;
  const x = u32s[0], e = ((x >>> 23) & 0xff) - 112;
  if (e <= 0) return (x >>> 16) & 0x8000;
  const h = ((x >>> 16) & 0x8000) | (e << 10) | ((x >>> 13) & 0x3ff);
  return h + ((x >>> 12) & 1);
}
export function f16value(h) {
  const e = (h >> 10) & 31, m = h & 1023;
  return (h & 0x8000 ? -1 : 1) * (e ? (1 + m / 1024) * 2 ** (e - 15) : m / 1024 * 2 ** -14);
}

export class Bench {
  constructor(device) {
    this.device = device;
    this.stamps = device.features.has('timestamp-query');
    if (this.stamps) {
      this.qs = device.createQuerySet({ type: 'timestamp', count: 2 });
      this.qres = device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
      this.qread = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    }
  }

  upload(a) {
    const b = this.device.createBuffer({ size: Math.ceil(a.byteLength / 4) * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    this.device.queue.writeBuffer(b, 0, a);
    return b;
  }

  uniform(words) {
    const b = this.device.createBuffer({ size: Math.max(32, words.length * 4), usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    this.device.queue.writeBuffer(b, 0, new Uint32Array(words));
    return b;
  }

  output(bytes) { return this.device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }); }

  bindGroup(pipe, buffers) {   // buffers[i] at binding i
    return this.device.createBindGroup({ layout: pipe.getBindGroupLayout(0),
      entries: buffers.map((b, i) => b && { binding: i, resource: { buffer: b } }).filter(Boolean) });
  }

  async readBack(buf, size) {
    const st = this.device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const e = this.device.createCommandEncoder();
    e.copyBufferToBuffer(buf, 0, st, 0, size);
    this.device.queue.submit([e.finish()]);
    await st.mapAsync(GPUMapMode.READ);
    const r = new Float32Array(st.getMappedRange().slice(0));
    st.destroy();
    return r;
  }

  // ms per dispatch: reps dispatches of pipe over groups [x, y, z] in one pass (each followed by
  // the [pipe, bindGroup, groups] steps of after, if any), timed by GPU timestamps where the device
  // has them (else by the host around the submit and its wait), best of trials passes after one
  // to warm up
  async time(pipe, bg, groups, reps, trials, after = []) {
    const d = this.device;
    let best = Infinity;
    for (let t = 0; t <= trials; t++) {
      const e = d.createCommandEncoder();
      const pass = e.beginComputePass(this.stamps ? { timestampWrites: { querySet: this.qs, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } } : undefined);
      for (let r = 0; r < reps; r++) {
        pass.setPipeline(pipe);
        pass.setBindGroup(0, bg);
        pass.dispatchWorkgroups(...groups);
        for (const [ap, abg, ag] of after) { pass.setPipeline(ap); pass.setBindGroup(0, abg); pass.dispatchWorkgroups(...ag); }
      }
      pass.end();
      if (this.stamps) { e.resolveQuerySet(this.qs, 0, 2, this.qres, 0); e.copyBufferToBuffer(this.qres, 0, this.qread, 0, 16); }
      const t0 = performance.now();
      d.queue.submit([e.finish()]);
      let ms;
      if (this.stamps) {
        await this.qread.mapAsync(GPUMapMode.READ);
        const ts = new BigInt64Array(this.qread.getMappedRange().slice(0));
        this.qread.unmap();
        ms = Number(ts[1] - ts[0]) / 1e6;
      } else {
        await d.queue.onSubmittedWorkDone();
        ms = performance.now() - t0;
      }
      if (t > 0) best = Math.min(best, ms / reps);
    }
    return best;
  }

  // a compute pipeline, or the compiler's / validation's message as a thrown Error
  async pipeline(code, entryPoint, constants = {}) {
    const d = this.device;
    d.pushErrorScope('validation');
    const module = d.createShaderModule({ code });
    const ci = await module.getCompilationInfo?.();
    const errs = (ci?.messages ?? []).filter((m) => m.type === 'error');
    const scoped = await d.popErrorScope();
    if (errs.length || scoped) throw new Error((errs[0] ? `${errs[0].lineNum}:${errs[0].linePos} ${errs[0].message}` : scoped.message).split('\n')[0]);
    return d.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint, constants } });
  }
}
