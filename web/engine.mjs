// engine.mjs — Doppler's WebAssembly module with its host: WASI shim + WebGPU bridge, and the
// step machine around the runtime API (web/wasm/api.c). Runs unchanged in a browser and under
// Node; the caller supplies the module bytes, a file system for WASI (nodeFs / memFs) and,
// for the WebGPU backend, a GPUDevice.
//
//   const eng = await Engine.create({ wasm: bytes, fs, device });
//   const model = eng.loadModel('/models/x', 'webgpu');
//   const ctx = model.newContext({ nCtx: 64 });
//   await ctx.eval([2, 17, 9]);                  // records + submits, then awaits the GPU
//   const id = await ctx.sample({ temperature: 0 });
import { Wasi } from './wasi.mjs';
import { GpuHost } from './gpu.mjs';

export class DopplerError extends Error {}

const enc = new TextEncoder();
const dec = new TextDecoder();

export class Engine {
  static async create({ wasm, fs, device = null, stdout, stderr, env = {} }) {
    const eng = new Engine();
    eng.wasi = new Wasi({ fs, stdout, stderr, env, args: ['doppler'] });
    eng.gpu = device ? new GpuHost(device) : null;
    const noGpu = new Proxy({}, { get: (_, name) => () => { if (name === 'limit') return 0; return 0; } });
    const { instance } = await WebAssembly.instantiate(wasm, {
      wasi_snapshot_preview1: eng.wasi.imports(),
      dp_gpu: eng.gpu ? eng.gpu.imports() : noGpu,
    });
    eng.x = instance.exports;
    eng.wasi.start(instance);
    if (eng.gpu) eng.gpu.bind(instance.exports.memory);
    return eng;
  }

  get mem() { return this.x.memory.buffer; }

  cstr(s) {
    const b = enc.encode(s + '\0');
    const p = this.x.dpw_alloc(b.length);
    new Uint8Array(this.mem, p, b.length).set(b);
    return p;
  }

  readStr(p) {
    const u8 = new Uint8Array(this.mem);
    let e = p;
    while (u8[e]) e++;
    return dec.decode(u8.subarray(p, e));
  }

  error() { return this.readStr(this.x.dpw_error()); }

  // Await the GPU: every read recorded so far lands in module memory.
  async settle() {
    if (this.gpu) await this.gpu.settle();
    this.wasi.flushOutput();
  }

  loadModel(dir, backend = 'webgpu', threads = 0) {
    const pd = this.cstr(dir), pb = this.cstr(backend);
    const m = this.x.dpw_model_load(pd, pb, threads);
    this.x.dpw_free(pd);
    this.x.dpw_free(pb);
    if (!m) throw new DopplerError(this.error());
    return new Model(this, m, backend);
  }
}

export class Model {
  constructor(eng, ptr, backend) {
    this.eng = eng;
    this.ptr = ptr;
    this.backend = backend;
    const out = eng.x.dpw_alloc(8 * 8);
    eng.x.dpw_model_info(ptr, out);
    const v = new Float64Array(eng.mem, out, 6);
    [this.vocab, this.nLayers, this.nParams, this.weightBytes, this.bos, this.maxPos] = v;
    eng.x.dpw_free(out);
    this.family = eng.readStr(eng.x.dpw_model_family(ptr));
    this.dtype = eng.readStr(eng.x.dpw_model_dtype(ptr));
  }

  isEos(id) { return this.eng.x.dpw_model_is_eos(this.ptr, id) !== 0; }

  // WebGPU experiment knobs: matvec_rows, matvec_tpr, matvec_unroll, fuse, act_quant (see webgpu.h)
  tune(key, value) {
    const k = this.eng.cstr(key);
    const st = this.eng.x.dpw_tune(this.ptr, k, value);
    this.eng.x.dpw_free(k);
    if (st) throw new DopplerError(this.eng.error());
  }

  gpuStats() {
    const x = this.eng.x, out = x.dpw_alloc(8 * 8);
    x.dpw_gpu_stats(this.ptr, out);
    const v = Array.from(new Float64Array(this.eng.mem, out, 7));
    x.dpw_free(out);
    const [dispatches, copies, submits, reads, pipelines, bindGroups, bytes] = v;
    return { dispatches, copies, submits, reads, pipelines, bindGroups, bytes };
  }

  newContext({ nCtx = 0, nBatch = 0, logitsAll = false } = {}) {
    const c = this.eng.x.dpw_ctx_new(this.ptr, nCtx, nBatch, logitsAll ? 1 : 0);
    if (!c) throw new DopplerError(this.eng.error());
    return new Context(this, c);
  }

  // A LoRA adapter converted for this model (doppler convert <peft-dir> <out> --base <model>).
  loadAdapter(dir) {
    const p = this.eng.cstr(dir);
    const a = this.eng.x.dpw_adapter_load(this.ptr, p);
    this.eng.x.dpw_free(p);
    if (!a) throw new DopplerError(this.eng.error());
    return new Adapter(this, a);
  }

  free() { this.eng.x.dpw_model_free(this.ptr); this.ptr = 0; }
}

// Free after every context using it has switched away, and before its model.
export class Adapter {
  constructor(model, ptr) { this.model = model; this.ptr = ptr; }
  free() { this.model.eng.x.dpw_adapter_free(this.ptr); this.ptr = 0; }
}

export class Context {
  constructor(model, ptr) {
    this.model = model;
    this.eng = model.eng;
    this.ptr = ptr;
    this.scratch = this.eng.x.dpw_alloc(4 * 4096);   // ids / token staging
    this.scratchCap = 4096;
  }

  get pos() { return this.eng.x.dpw_ctx_pos(this.ptr); }

  // Apply adapter (null: none) at scale to the following evaluations; a change resets the
  // sequence unless keepCache (dp_ctx_set_adapter).
  setAdapter(adapter, scale = 1, { keepCache = false } = {}) {
    const st = this.eng.x.dpw_ctx_set_adapter(this.ptr, adapter ? adapter.ptr : 0, scale, keepCache ? 1 : 0);
    if (st) throw new DopplerError(this.eng.error());
  }
  reset() { this.eng.x.dpw_ctx_reset(this.ptr); }

  ids(list) {
    const x = this.eng.x;
    if (list.length > this.scratchCap) {
      x.dpw_free(this.scratch);
      this.scratchCap = list.length;
      this.scratch = x.dpw_alloc(4 * list.length);
    }
    new Int32Array(this.eng.mem, this.scratch, list.length).set(list);
    return this.scratch;
  }

  // One step: records + submits the forward pass of ids; with logits = true resolves to a
  // Float32Array [ids.length * vocab] (the context needs logitsAll).
  async eval(ids, { logits = false, wait = true } = {}) {
    const x = this.eng.x;
    const n = ids.length, vocab = this.model.vocab;
    const bytes = logits ? n * vocab * 4 : 0;
    const out = logits ? x.dpw_alloc(bytes) : 0;
    try {
      const st = x.dpw_ctx_eval(this.ptr, this.ids(ids), n, out);
      if (st) throw new DopplerError(this.eng.error());
      if (wait || logits) await this.eng.settle();
      return logits ? new Float32Array(this.eng.mem.slice(out, out + bytes)) : null;
    } finally {
      if (out) x.dpw_free(out);
    }
  }

  // One step: samples from the last evaluated row on the device; resolves to the token id
  // (the only readback of a decode step).
  async sample(opts = {}) {
    this.sampleStart(opts);
    return this.sampleResult();
  }

  // The two halves of sample(): record + submit the sampler (and its 4-byte read), then await
  // it. Between them the caller may record the next step with evalSampled().
  sampleStart({ temperature = 0, topK = 0, topP = 1, seed = 0 } = {}) {
    const st = this.eng.x.dpw_ctx_sample(this.ptr, temperature, topK, topP, seed, this.scratch);
    if (st) throw new DopplerError(this.eng.error());
    return this;
  }

  async sampleResult() {
    await this.eng.settle();
    return new Int32Array(this.eng.mem, this.scratch, 1)[0];
  }

  // One decode step on the token sampled last, which stays on the device: no wait.
  evalSampled() {
    const st = this.eng.x.dpw_ctx_eval_sampled(this.ptr);
    if (st) throw new DopplerError(this.eng.error());
  }

  // Greedy/sampled generation of n tokens after the evaluated prompt, pipelined: step N+1 is
  // recorded and submitted before step N's token is read back. onToken(id) may return false to
  // stop (the step already queued is then wasted).
  async generate(n, sampling, onToken) {
    for (let g = 0; g < n; g++) {
      this.sampleStart(sampling);
      if (g + 1 < n) this.evalSampled();
      const tok = await this.sampleResult();
      if (onToken(tok) === false) break;
    }
  }

  free() {
    this.eng.x.dpw_free(this.scratch);
    this.eng.x.dpw_ctx_free(this.ptr);
    this.ptr = 0;
  }
}
