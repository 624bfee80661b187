// gpu.mjs — the WebGPU bridge: implements the "dp_gpu" imports of the WebAssembly module
// (src/backend/webgpu/host.h) on a GPUDevice. The same code runs in a browser and under Node
// with Dawn (the `webgpu` package).
//
// The module refers to buffers, pipelines and bind groups by small integer ids. It hands over
// its dispatches, copies, reads and submits as one command list per submit (encode()).
// Dispatches go into one open command encoder and compute pass; a copy or a read closes the
// pass; submit() finishes the encoder. A read copies into a MAP_READ staging buffer and, after its submit,
// maps it and writes the bytes into the module's memory; settle() awaits every such read (this
// is the step machine's await point).

const STORAGE = 1, UNIFORM = 2;
const NODE = typeof globalThis.process?.versions?.node === 'string';
const NAP_OF = 3;   // waits that settle() judges the next one by

export async function requestDevice(gpu, { powerPreference = 'high-performance', features: want = ['shader-f16', 'subgroups', 'timestamp-query', 'chromium-experimental-subgroup-matrix'] } = {}) {
  const adapter = await gpu.requestAdapter({ powerPreference });
  if (!adapter) throw new Error('WebGPU: no adapter');
  const L = adapter.limits;
  const requiredFeatures = want.filter((f) => adapter.features.has(f));
  const requiredLimits = {
    maxStorageBufferBindingSize: L.maxStorageBufferBindingSize,
    maxBufferSize: L.maxBufferSize,
    maxComputeWorkgroupStorageSize: L.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: L.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: L.maxComputeWorkgroupSizeX,
    maxStorageBuffersPerShaderStage: L.maxStorageBuffersPerShaderStage,
  };
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  const info = adapter.info ?? {};
  // GPUDevice.adapterInfo is recent, and Dawn's Node addon (H200 runs, 2026-12-03/04) either has
  // none or one whose subgroupMatrixConfigs is empty (GPUAdapter.info has them): the subgroup-matrix
  // check below then read no configurations and refused prefill_sgmat. Keep the adapter's too.
  try { Object.defineProperty(device, 'dpAdapterInfo', { value: info }); } catch { /* frozen */ }
  return { adapter, device, info: { vendor: info.vendor, architecture: info.architecture, description: info.description, features: requiredFeatures,
                                    subgroupMatrixConfigs: (info.subgroupMatrixConfigs ?? []).map((c) => `${c.componentType}x${c.M}x${c.N}x${c.K}->${c.resultComponentType}`) } };
}

export class GpuHost {
  constructor(device) {
    this.device = device;
    this.memory = null;          // set by bind()
    this.buffers = new Map();
    this.pipelines = new Map();
    this.layouts = new Map();    // pipeline id -> bind group layout 0
    this.bindGroups = new Map();
    this.modules = new Map();    // WGSL text -> shader module
    this.pipeCache = new Map();  // entry | constants | WGSL -> compute pipeline
    this.names = new Map();      // pipeline id -> 'file:entry' (for traces)
    this.trace = null;           // set to an array to log dispatches ('file:entry x,y,z')
    this.nextId = 1;
    this.encoder = null;
    this.pass = null;
    this.lastPipeline = 0;
    this.pendingCopies = [];     // reads recorded in the open encoder
    this.inflight = [];          // promises of submitted reads
    this.staging = [];           // free MAP_READ buffers
    this.error = null;
    // this.nap, this.waits (the last NAP_OF waits of settle(), ms): sleep through most of a wait
    // instead of polling
    this.setNap(NODE && globalThis.process?.env?.DP_NAP !== '0');
    this.stats = { dispatches: 0, submits: 0, reads: 0, crossings: 0, naps: 0 };  // crossings: calls from the module; naps: settle()s that slept
    // profiling (setProfile): every dispatch in its own pass between two GPU timestamps
    this.profile = false;
    this.prof = new Map();       // 'file:entry' -> { calls, ns }
    this.qcap = 4096;            // timestamps per submit (2 per dispatch)
    this.qn = 0;
    this.qnames = [];
    this.querySet = null;
    this.qbufs = [];             // free { resolve, read } buffer pairs
    device.addEventListener?.('uncapturederror', (ev) => this.fail(ev.error?.message ?? String(ev.error)));
    device.lost?.then((info) => this.fail(`device lost: ${info.message}`));
  }

  bind(memory) { this.memory = memory; }

  fail(msg) { if (!this.error) this.error = String(msg).slice(0, 2000); }

  get u8() { return new Uint8Array(this.memory.buffer); }

  str(ptr, len) { return new TextDecoder().decode(this.u8.subarray(ptr, ptr + len)); }

  closePass() {
    if (this.pass) { this.pass.end(); this.pass = null; this.lastPipeline = 0; }
  }

  enc() {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    return this.encoder;
  }

  features() {
    let f = 0;
    if (this.device.features.has('shader-f16')) f |= 1;
    if (this.device.features.has('subgroups')) f |= 2;
    const wgsl = (globalThis.navigator?.gpu ?? globalThis.__dopplerGpu)?.wgslLanguageFeatures;
    if (wgsl?.has('packed_4x8_integer_dot_product')) f |= 4;
    // matmul_sgmat.wgsl's matrices: f16 16x16x16 with f32 results
    const sm = [this.device.adapterInfo?.subgroupMatrixConfigs, this.device.dpAdapterInfo?.subgroupMatrixConfigs]
      .find((l) => l?.length) ?? [];
    if (this.device.features.has('chromium-experimental-subgroup-matrix') &&
        sm.some((c) => c.componentType === 'f16' && c.resultComponentType === 'f32' && c.M === 16 && c.N === 16 && c.K === 16)) f |= 8;
    return f;
  }

  limit(which) {
    const L = this.device.limits;
    const cap = (v) => Math.min(v, 0xfffffffc);
    switch (which) {
      case 0: return cap(L.maxBufferSize);
      case 1: return cap(L.maxStorageBufferBindingSize);
      case 2: return L.maxComputeWorkgroupStorageSize;
      case 3: return L.maxComputeInvocationsPerWorkgroup;
      case 4: return L.maxComputeWorkgroupsPerDimension;
      case 5: return this.device.adapterInfo?.subgroupMinSize ?? this.device.dpAdapterInfo?.subgroupMinSize ?? 0;
      case 6: return L.maxStorageBuffersPerShaderStage;
      case 7: return this.device.adapterInfo?.subgroupMaxSize ?? this.device.dpAdapterInfo?.subgroupMaxSize ?? 0;
      default: return 0;
    }
  }

  bufferCreate(size, usage) {
    try {
      let u = GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
      if (usage & STORAGE) u |= GPUBufferUsage.STORAGE;
      if (usage & UNIFORM) u |= GPUBufferUsage.UNIFORM;
      const b = this.device.createBuffer({ size: Math.max(4, (size + 3) & ~3), usage: u });
      const id = this.nextId++;
      this.buffers.set(id, b);
      return id;
    } catch (e) { this.fail(`createBuffer(${size}): ${e.message}`); return 0; }
  }

  bufferDestroy(id) {
    const b = this.buffers.get(id);
    if (b) { b.destroy(); this.buffers.delete(id); }
  }

  bufferWrite(id, offset, ptr, len) {
    const b = this.buffers.get(id);
    if (!b) { this.fail(`buffer_write: no buffer ${id}`); return; }
    if (len % 4 === 0) {
      this.device.queue.writeBuffer(b, offset, this.memory.buffer, ptr, len);
    } else {
      const padded = new Uint8Array((len + 3) & ~3);
      padded.set(this.u8.subarray(ptr, ptr + len));
      this.device.queue.writeBuffer(b, offset, padded);
    }
  }

  // Compiles WGSL on the device without keeping it: the compiler's errors as
  // ["line:column: message", ...] (empty when it compiles). Errors stay out of the host's sticky
  // error (an error scope catches the validation error a bad module raises).
  async compileErrors(code) {
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ code });
    const info = await module.getCompilationInfo();
    const scoped = await this.device.popErrorScope();
    const errs = info.messages.filter((m) => m.type === 'error').map((m) => `${m.lineNum}:${m.linePos}: ${m.message.split('\n')[0]}`);
    if (!errs.length && scoped) errs.push(scoped.message.split('\n')[0]);
    return errs;
  }

  pipelineCreate(wgslPtr, wgslLen, entryPtr, entryLen, cPtr, cLen) {
    try {
      const code = this.str(wgslPtr, wgslLen);
      let module = this.modules.get(code);
      if (!module) {
        module = this.device.createShaderModule({ code });
        this.modules.set(code, module);
      }
      const constants = {};
      const ctext = this.str(cPtr, cLen);
      for (const kv of ctext.split(',').filter(Boolean)) {
        const [k, v] = kv.split('=');
        constants[k.trim()] = Number(v);
      }
      const entryPoint = this.str(entryPtr, entryLen);
      // the same pipeline for every backend on this device (a second model reuses it)
      const key = `${entryPoint}|${ctext}|${code}`;
      let p = this.pipeCache.get(key);
      if (!p) {
        p = this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint, constants } });
        this.pipeCache.set(key, p);
      }
      const id = this.nextId++;
      this.pipelines.set(id, p);
      this.names.set(id, `${/^\/\/ (\S+)\.wgsl/.exec(code)?.[1] ?? '?'}:${entryPoint}${ctext ? '(' + ctext + ')' : ''}`);
      this.layouts.set(id, p.getBindGroupLayout(0));
      return id;
    } catch (e) { this.fail(`createComputePipeline: ${e.message}`); return 0; }
  }

  bindGroupCreate(pipeline, ptr, n) {
    try {
      const v = new Uint32Array(this.memory.buffer, ptr, n * 4);
      const entries = [];
      for (let i = 0; i < n; i++) {
        const buffer = this.buffers.get(v[4 * i + 1]);
        if (!buffer) { this.fail(`bind group: no buffer ${v[4 * i + 1]}`); return 0; }
        entries.push({ binding: v[4 * i], resource: { buffer, offset: v[4 * i + 2], size: v[4 * i + 3] } });
      }
      const bg = this.device.createBindGroup({ layout: this.layouts.get(pipeline), entries });
      const id = this.nextId++;
      this.bindGroups.set(id, bg);
      return id;
    } catch (e) { this.fail(`createBindGroup: ${e.message}`); return 0; }
  }

  // Per-dispatch GPU time by kernel (needs the timestamp-query feature): on changes what
  // dispatch() records; profileReport() returns the totals so far.
  setProfile(on) {
    this.profile = on && this.device.features.has('timestamp-query');
    if (this.profile && !this.querySet) this.querySet = this.device.createQuerySet({ type: 'timestamp', count: this.qcap });
    return this.profile;
  }

  profileReport() {
    return [...this.prof.entries()].map(([name, v]) => ({ name, calls: v.calls, ms: v.ns / 1e6, us_per_call: v.ns / 1e3 / v.calls }))
      .sort((a, b) => b.ms - a.ms);
  }

  profileReset() { this.prof.clear(); }

  dispatch(pipeline, bindGroup, x, y, z) {
    if (this.profile && this.qn + 2 <= this.qcap) {
      this.closePass();
      const q = this.qn;
      const ps = this.enc().beginComputePass({ timestampWrites: { querySet: this.querySet, beginningOfPassWriteIndex: q, endOfPassWriteIndex: q + 1 } });
      ps.setPipeline(this.pipelines.get(pipeline));
      ps.setBindGroup(0, this.bindGroups.get(bindGroup));
      ps.dispatchWorkgroups(x, y, z);
      ps.end();
      this.qn += 2;
      this.qnames.push(this.names.get(pipeline));
      this.stats.dispatches++;
      return;
    }
    if (!this.pass) this.pass = this.enc().beginComputePass();
    if (pipeline !== this.lastPipeline) { this.pass.setPipeline(this.pipelines.get(pipeline)); this.lastPipeline = pipeline; }
    this.pass.setBindGroup(0, this.bindGroups.get(bindGroup));
    this.pass.dispatchWorkgroups(x, y, z);
    this.stats.dispatches++;
    if (this.trace) this.trace.push(`${this.names.get(pipeline)} ${x},${y},${z}`);
  }

  copy(src, srcOff, dst, dstOff, size) {
    this.closePass();
    this.enc().copyBufferToBuffer(this.buffers.get(src), srcOff, this.buffers.get(dst), dstOff, size);
  }

  read(buffer, offset, size, dst) {
    this.closePass();
    let si = this.staging.findIndex((s) => s.size >= size && s.size <= Math.max(size * 2, 4096));
    const st = si >= 0 ? this.staging.splice(si, 1)[0] : this.device.createBuffer({ size: Math.max(size, 4), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.enc().copyBufferToBuffer(this.buffers.get(buffer), offset, st, 0, size);
    this.pendingCopies.push({ st, size, dst });
    this.stats.reads++;
  }

  submit() {
    this.closePass();
    let prof = null;
    if (this.qn) {   // resolve this submit's timestamps
      const bytes = this.qn * 8;
      const pair = this.qbufs.pop() ?? {
        resolve: this.device.createBuffer({ size: this.qcap * 8, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC }),
        read: this.device.createBuffer({ size: this.qcap * 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }),
      };
      this.enc().resolveQuerySet(this.querySet, 0, this.qn, pair.resolve, 0);
      this.enc().copyBufferToBuffer(pair.resolve, 0, pair.read, 0, bytes);
      prof = { pair, bytes, names: this.qnames };
      this.qn = 0;
      this.qnames = [];
    }
    if (this.encoder) {
      this.device.queue.submit([this.encoder.finish()]);
      this.encoder = null;
      this.stats.submits++;
    }
    for (const { st, size, dst } of this.pendingCopies) {
      this.inflight.push(st.mapAsync(GPUMapMode.READ, 0, size).then(() => {
        this.u8.set(new Uint8Array(st.getMappedRange(0, size)), dst);
        st.unmap();
        if (this.staging.length < 8) this.staging.push(st); else st.destroy();
      }, (e) => { this.fail(`readback: ${e.message}`); st.destroy(); }));
    }
    this.pendingCopies = [];
    if (prof) {
      const { pair, bytes, names } = prof;
      this.inflight.push(pair.read.mapAsync(GPUMapMode.READ, 0, bytes).then(() => {
        const t = new BigInt64Array(pair.read.getMappedRange(0, bytes).slice(0));
        pair.read.unmap();
        this.qbufs.push(pair);
        names.forEach((name, i) => {
          const ns = Number(t[2 * i + 1] - t[2 * i]);
          const e = this.prof.get(name) ?? { calls: 0, ns: 0 };
          e.calls++;
          e.ns += ns > 0 ? ns : 0;
          this.prof.set(name, e);
        });
      }, (e) => this.fail(`profile readback: ${e.message}`)));
    }
  }

  errorTake(ptr, cap) {
    if (!this.error) return 0;
    const b = new TextEncoder().encode(this.error);
    const n = Math.min(b.length, cap - 1);
    this.u8.set(b.subarray(0, n), ptr);
    this.u8[ptr + n] = 0;
    this.error = null;
    return n;
  }

  // Await every read submitted so far (and the queue, so asynchronous errors have arrived).
  // Napping (setNap; on by default under Node): Dawn's Node addon resolves a mapAsync by polling
  // on every turn of the event loop, so an await spins a core and makes garbage (~130 MB/s on the
  // 2-core VM, a collection every ~150 ms) for as long as the GPU works. While the last NAP_OF
  // waits were steady (the longest at most twice the shortest: a decode loop), settle first
  // sleeps in Atomics.wait for 0.8 x the shortest of them, where nothing polls, and then awaits
  // the rest. A wait much shorter than the ones before it (the sampler alone, after the last
  // token) waits up to that sleep: at most once after a steady run.
  async settle() {
    const list = this.inflight;
    this.inflight = [];
    const t0 = performance.now();
    const w = this.waits;
    if (this.nap && list.length && w.length === NAP_OF) {
      const lo = Math.min(...w);
      if (Math.max(...w) <= 2 * lo && lo > 0.1) {
        Atomics.wait(this.nap, 0, 0, 0.8 * lo);
        this.stats.naps++;
      }
    }
    await Promise.all(list);
    if (!list.length) await this.device.queue.onSubmittedWorkDone();
    else if (this.nap) {
      if (w.length === NAP_OF) w.shift();
      w.push(performance.now() - t0);
    }
  }

  // Napping in settle() (above): it blocks the thread, so only where that is allowed and the
  // host polls (Node; a browser's WebGPU resolves its promises without polling).
  setNap(on) {
    this.nap = on && typeof SharedArrayBuffer === 'function' ? new Int32Array(new SharedArrayBuffer(4)) : null;
    this.waits = [];
  }

  // Runs a command list of the module (host.h, DP_GPU_CMD_*): n u32 words at ptr.
  encode(ptr, n) {
    const v = new Uint32Array(this.memory.buffer, ptr, n);
    for (let i = 0; i < n;) {
      switch (v[i]) {
        case 1: this.dispatch(v[i + 1], v[i + 2], v[i + 3], v[i + 4], v[i + 5]); i += 6; break;
        case 2: this.copy(v[i + 1], v[i + 2], v[i + 3], v[i + 4], v[i + 5]); i += 6; break;
        case 3: this.read(v[i + 1], v[i + 2], v[i + 3], v[i + 4]); i += 5; break;
        case 4: this.bufferWrite(v[i + 1], v[i + 2], v[i + 3], v[i + 4]); i += 5; break;
        case 5: this.submit(); i += 1; break;
        default: this.fail(`encode: unknown command ${v[i]} at word ${i}`); return;
      }
    }
  }

  imports() {
    const st = this.stats;
    return {
      features: () => { st.crossings++; return this.features(); },
      limit: (w) => { st.crossings++; return this.limit(w); },
      buffer_create: (s, u) => { st.crossings++; return this.bufferCreate(s >>> 0, u); },
      buffer_destroy: (id) => { st.crossings++; this.bufferDestroy(id); },
      buffer_write: (id, off, ptr, len) => { st.crossings++; this.bufferWrite(id, off >>> 0, ptr >>> 0, len >>> 0); },
      pipeline_create: (a, b, c, d, e, f) => { st.crossings++; return this.pipelineCreate(a >>> 0, b >>> 0, c >>> 0, d >>> 0, e >>> 0, f >>> 0); },
      bind_group_create: (p, ptr, n) => { st.crossings++; return this.bindGroupCreate(p, ptr >>> 0, n); },
      bind_group_destroy: (id) => { st.crossings++; this.bindGroups.delete(id); },
      encode: (ptr, n) => { st.crossings++; this.encode(ptr >>> 0, n >>> 0); },
      error: (ptr, cap) => { st.crossings++; return this.errorTake(ptr >>> 0, cap >>> 0); },
      // the Engine replaces it with an asyncify wait (web/asyncify.mjs); a bare host cannot wait
      wait: () => { st.crossings++; this.fail('wait: this host cannot wait for the GPU inside a call'); return 1; },
    };
  }
}
