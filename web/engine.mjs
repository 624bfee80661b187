// engine.mjs — Doppler's WebAssembly module with its host: WASI shim + WebGPU bridge, and the
// step machine around the runtime API (web/wasm/api.c). Runs unchanged in a browser and under
// Node; the caller supplies the module bytes, a WASI (wasi-host.mjs: nodeWasi / browserWasi)
// and, for the WebGPU backend, a GPUDevice.
//
//   const eng = await Engine.create({ wasm: bytes, wasi: await nodeWasi(), device });
//   const model = eng.loadModel('/models/x', 'webgpu');
//   const be = eng.newBackend('webgpu');          // or one backend shared by several models
//   const draft = eng.loadModel('/models/d', be); // (speculative decoding, server slots)
//   const ctx = model.newContext({ nCtx: 64 });
//   await ctx.eval([2, 17, 9]);                  // records + submits, then awaits the GPU
//   const id = await ctx.sample({ temperature: 0 });
//   ctx.reset();
//   const stop = await ctx.generate([2, 17, 9], { nMax: 16 }, (t) => out(t.id, t.text));
//                                                // the library's token loop (dp_gen), pipelined
//   const spec = ctx.speculative(draftModel.newContext({ nCtx: 64 }), { draftMax: 4 });
//   await ctx.generate(ids, { nMax: 16, spec }, onStep); // speculative (greedy or sampled)
import { GpuHost } from './gpu.mjs';
import { Asyncify } from './asyncify.mjs';
import { hostHash } from './host-hash.mjs';

// A failing call: message is the library's one-line reason, status its dp_status code
// (DopplerError.status names: 'invalid argument', 'out of memory', ... as statusName).
const STATUS_NAMES = ['ok', 'invalid argument', 'out of memory', 'I/O error', 'bad format', 'unsupported',
                      'hash mismatch', 'not found', 'over a limit', 'internal error'];
export class DopplerError extends Error {
  constructor(message, status) {
    super(message);
    this.name = 'DopplerError';
    this.status = status;
    this.statusName = STATUS_NAMES[status] ?? `status ${status}`;
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export class Engine {
  // wasmHash: verify shards with the module's own SHA-256 even where the host has a faster one
  // (host-hash.mjs: Node's crypto by default under Node).
  static async create({ wasm, wasi, device = null, wasmHash = false }) {
    if (!wasi) throw new Error('Engine.create: no wasi (wasi-host.mjs: nodeWasi() or browserWasi(files))');
    const eng = new Engine();
    eng.wasi = wasi;
    eng.gpu = device ? new GpuHost(device) : null;
    const noGpu = new Proxy({}, { get: (_, name) => () => { if (name === 'limit') return 0; return 0; } });
    // a paged MoE model waits for its routing mid-pass (src/backend/webgpu/host.h dp_gpu_wait)
    eng.as = new Asyncify();
    const gpuImports = eng.gpu ? eng.gpu.imports() : noGpu;
    if (eng.gpu) gpuImports.wait = eng.as.suspending(() => eng.gpu.settle(), (why) => eng.gpu.fail(`wait: ${why}`));
    eng.hash = await hostHash({ wasmHash });
    const { instance } = await WebAssembly.instantiate(wasm, {
      wasi_snapshot_preview1: eng.wasi.imports(),
      dp_gpu: gpuImports,
      dp_host: eng.hash.imports,
    });
    // While an evaluation is suspended (waiting for the GPU mid-pass) the module's state belongs
    // to it: any other call would write into its scratch, sample a half-made row or free what it
    // runs on. Such calls throw instead; allocation and the error strings stay usable.
    const idle = new Set(['memory', 'dpw_alloc', 'dpw_free', 'dpw_error', 'dpw_error_status']);
    eng.x = new Proxy(instance.exports, {
      get(x, name) {
        const v = x[name];
        if (typeof v !== 'function' || !eng.as.waiting || idle.has(name) || String(name).startsWith('asyncify_')) return v;
        return () => eng.idle(String(name));
      },
    });
    eng.hash.bind(instance.exports.memory);
    eng.wasi.start(instance);
    eng.as.bind(instance.exports);
    if (eng.gpu) eng.gpu.bind(instance.exports.memory);
    return eng;
  }

  get mem() { return this.x.memory.buffer; }

  // Throws when an evaluation is suspended (see create()); what: the call refused.
  idle(what) {
    if (this.as.waiting) throw new DopplerError(`${what}: an evaluation is suspended waiting for the GPU; await it first`, 1);
  }

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

  // The last failing call as a DopplerError; status: what the call returned (0: read the
  // module's last error status, for calls that return a handle).
  fail(status = 0) { return new DopplerError(this.error(), status || this.x.dpw_error_status()); }

  // Export `name` of a call that evaluates (a paged model waits for the GPU inside it, see
  // asyncify.mjs): throws the module's error on a nonzero status; returns undefined, or a
  // Promise when the call waited (await suits both).
  step(name, ...args) {
    const check = (st) => { if (st) throw this.fail(st); };
    const r = this.as.call(name, ...args);
    if (r instanceof Promise) return r.then(check);
    check(r);
    return undefined;
  }

  // Await the GPU: every read recorded so far lands in module memory.
  async settle() {
    if (this.gpu) await this.gpu.settle();
    this.wasi.flushOutput();
  }

  // A tokenizer: a model directory, tokenizer.json, tiktoken or GGUF file (dp_tokenizer_load).
  loadTokenizer(path) {
    const p = this.cstr(path);
    const t = this.x.dpw_tokenizer_load(p);
    this.x.dpw_free(p);
    if (!t) throw this.fail();
    return new Tokenizer(this, t);
  }

  // A backend that several models (and their contexts) share: 'cpu' or 'webgpu'. Free it
  // after every model on it.
  newBackend(kind = 'webgpu', threads = 0) {
    const pk = this.cstr(kind);
    const b = this.x.dpw_backend_new(pk, threads);
    this.x.dpw_free(pk);
    if (!b) throw this.fail();
    return new Backend(this, b, kind);
  }

  // backend: a kind ('webgpu', 'cpu': the model gets a backend of its own) or a Backend.
  // A kernel registry (src/backend/webgpu/wg_registry.h): the built-in kernels, to which
  // candidates may be added; Model.useKernels(reg) makes a WebGPU model's pipelines from it.
  kernels() { return new KernelRegistry(this); }

  // the lines of a "op\tentry\tkey\ttext\tsource" list returned by the module (freed here)
  takeEntries(p) {
    if (!p) throw new DopplerError('out of memory');
    const text = this.readStr(p);
    this.x.dpw_free(p);
    return text.split('\n').filter(Boolean).map((l) => {
      const [op, entry, key, text_sha256, source] = l.split('\t');
      return { op, entry, key, text_sha256, source };
    });
  }

  // The prompt text of messages ([{ role, content }]) through tok's chat template (else the one
  // of model's family), ending with the assistant's header.
  chatRender(tok, model, messages) {
    const x = this.x;
    const parts = [];
    for (const m of messages) {
      for (const v of [m.role, m.content]) {
        if (typeof v !== 'string') throw new DopplerError('chat: role and content must be strings', 1);
        if (v.includes('\0')) throw new DopplerError('chat: a message holds a NUL character', 1);
        parts.push(v);
      }
    }
    const blob = enc.encode(parts.map((v) => v + '\0').join(''));
    const p = x.dpw_alloc(blob.length);
    new Uint8Array(this.mem, p, blob.length).set(blob);
    const t = x.dpw_chat_render(tok.ptr, model ? model.ptr : 0, p, messages.length);
    x.dpw_free(p);
    if (!t) throw this.fail();
    const text = this.readStr(t);
    x.dpw_free(t);
    return text;
  }

  // paging (MoE models, docs/PAGING.md): gpuMem (bytes; below the model's size, WebGPU pages
  // its experts into what the dense weights leave), ramCache (bytes of RAM slots in front of the
  // shards), expertPolicy ('lfu' default, 'lru')
  loadModel(dir, backend = 'webgpu', threads = 0, { gpuMem = 0, ramCache = 0, expertPolicy = '' } = {}) {
    const shared = backend instanceof Backend;
    const pd = this.cstr(dir), pb = this.cstr(shared ? backend.kind : backend), pp = this.cstr(expertPolicy);
    const m = this.x.dpw_model_load(pd, pb, threads, shared ? backend.ptr : 0, Number(gpuMem), Number(ramCache), pp);
    this.x.dpw_free(pd);
    this.x.dpw_free(pb);
    this.x.dpw_free(pp);
    if (!m) throw this.fail();
    return new Model(this, m, shared ? backend.kind : backend);
  }
}

export class Tokenizer {
  constructor(eng, ptr) { this.eng = eng; this.ptr = ptr; }

  // The ids of a prompt (BOS as the model's rules say; control-token text becomes its token).
  encode(text) {
    const x = this.eng.x, b = enc.encode(text);
    const p = x.dpw_alloc(b.length), n = x.dpw_alloc(4);
    new Uint8Array(this.eng.mem, p, b.length).set(b);
    let cap = b.length + 8, ids = x.dpw_alloc(4 * cap);
    try {
      let st = x.dpw_tokenize(this.ptr, p, b.length, ids, cap, n);
      if (st === LIMIT) {
        x.dpw_free(ids);
        cap = new Int32Array(this.eng.mem, n, 1)[0];
        ids = x.dpw_alloc(4 * cap);
        st = x.dpw_tokenize(this.ptr, p, b.length, ids, cap, n);
      }
      if (st) throw this.eng.fail();
      return Array.from(new Int32Array(this.eng.mem, ids, new Int32Array(this.eng.mem, n, 1)[0]));
    } finally {
      x.dpw_free(p); x.dpw_free(n); x.dpw_free(ids);
    }
  }

  free() { this.eng.x.dpw_tokenizer_free(this.ptr); this.ptr = 0; }
}

const LIMIT = 8;   // DP_ERR_LIMIT (include/doppler.h)
// dp_gen_stop, in order
export const STOP = ['running', 'max', 'eog', 'ctx_full', 'stop_string'];

export class Backend {
  constructor(eng, ptr, kind) {
    this.eng = eng;
    this.ptr = ptr;
    this.kind = kind;
  }

  free() { this.eng.x.dpw_backend_free(this.ptr); this.ptr = 0; }
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

  // WebGPU experiment knobs: matvec_rows, matvec_tpr, matvec_unroll, fuse, act_quant, fold_norm,
  // attn_one_slice, ... (see webgpu.h)
  tune(key, value) {
    const k = this.eng.cstr(key);
    const st = this.eng.x.dpw_tune(this.ptr, k, value);
    this.eng.x.dpw_free(k);
    if (st) throw this.eng.fail(st);
  }

  // A whole setting, "key=value,key=value" (as --tune and the tune cache write it; '' or null: none).
  tuneSetting(setting) {
    for (const kv of (setting ?? '').split(',').filter(Boolean)) { const [k, v] = kv.split('='); this.tune(k, Number(v)); }
  }

  // Pipelines from now on come from reg (a KernelRegistry that must outlive the model).
  useKernels(reg) { this.eng.x.dpw_model_set_kernels(this.ptr, reg ? reg.ptr : 0); }

  // The registry entries that ran on this model's WebGPU backend: [{op, entry, key, ...}].
  kernelsUsed() { return this.eng.takeEntries(this.eng.x.dpw_kernels_used(this.ptr)); }

  gpuStats() {
    const x = this.eng.x, out = x.dpw_alloc(8 * 8);
    x.dpw_gpu_stats(this.ptr, out);
    const v = Array.from(new Float64Array(this.eng.mem, out, 7));
    x.dpw_free(out);
    const [dispatches, copies, submits, reads, pipelines, bindGroups, bytes] = v;
    return { dispatches, copies, submits, reads, pipelines, bindGroups, bytes };
  }

  // Expert paging counters (dp_paging_stats): { paged, policy, ramSlots, slotBytes,
  // deviceSlots, uses, deviceHits, ramHits, sourceReads, deviceBytes, sourceBytes, waitS,
  // top2Share }; paged false for a model that does not page.
  pagingStats() {
    const x = this.eng.x, out = x.dpw_alloc(8 * 13);
    x.dpw_paging_stats(this.ptr, out);
    const [paged, lru, ramSlots, slotBytes, deviceSlots, uses, deviceHits, ramHits, sourceReads, deviceBytes, sourceBytes, waitS, top2Share] =
      Array.from(new Float64Array(this.eng.mem, out, 13));
    x.dpw_free(out);
    return { paged: paged !== 0, policy: lru ? 'lru' : 'lfu', ramSlots, slotBytes, deviceSlots, uses, deviceHits, ramHits, sourceReads, deviceBytes, sourceBytes, waitS, top2Share };
  }

  newContext({ nCtx = 0, nBatch = 0, logitsAll = false } = {}) {
    const c = this.eng.x.dpw_ctx_new(this.ptr, nCtx, nBatch, logitsAll ? 1 : 0);
    if (!c) throw this.eng.fail();
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

export class KernelRegistry {
  constructor(eng) {
    this.eng = eng;
    this.ptr = eng.x.dpw_kreg_new();
    if (!this.ptr) throw new DopplerError(eng.error());
  }

  // A candidate for op from a file in the module's file system; throws with the reason when the
  // registry refuses it (the op keeps its kernel).
  override(op, path) {
    const p = this.eng.cstr(`${op}=${path}`);
    const st = this.eng.x.dpw_kreg_override(this.ptr, p);
    this.eng.x.dpw_free(p);
    if (st) throw new DopplerError(this.eng.error());
  }

  // op back to its built-in kernel
  revert(op) {
    const p = this.eng.cstr(op);
    const st = this.eng.x.dpw_kreg_revert(this.ptr, p);
    this.eng.x.dpw_free(p);
    if (st) throw new DopplerError(this.eng.error());
  }

  // the WGSL text now serving op (null when there is no such op)
  text(op) {
    const p = this.eng.cstr(op);
    const t = this.eng.x.dpw_kreg_text(this.ptr, p);
    this.eng.x.dpw_free(p);
    return t ? this.eng.readStr(t) : null;
  }

  entries() { return this.eng.takeEntries(this.eng.x.dpw_kreg_list(this.ptr)); }

  free() { this.eng.x.dpw_kreg_free(this.ptr); this.ptr = 0; }
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
    this.eng.idle('eval');   // the scratch holds a suspended evaluation's ids
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
      await this.eng.step('dpw_ctx_eval', this.ptr, this.ids(ids), n, out);
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

  sampleStart({ temperature = 0, topK = 0, topP = 1, seed = 0 } = {}) {
    const st = this.eng.x.dpw_ctx_sample(this.ptr, temperature, topK, topP, seed, this.scratch);
    if (st) throw this.eng.fail(st);
    return this;
  }

  async sampleResult() {
    await this.eng.settle();
    return new Int32Array(this.eng.mem, this.scratch, 1)[0];
  }

  // Keep the first pos positions (dp_ctx_truncate); positions evaluated since creation.
  truncate(pos) {
    if (this.eng.x.dpw_ctx_truncate(this.ptr, pos)) throw this.eng.fail();
  }
  get nEvaluated() { return this.eng.x.dpw_ctx_n_evaluated(this.ptr); }

  // The library's token loop over this context (dp_gen; see Generator).
  generator(opts = {}) { return new Generator(this, opts); }

  // Speculative decoding with this context as the target (dp_spec): draft, a Context of a draft
  // model on the same Backend (WebGPU), or null for prompt lookup; pass it as generate's `spec`.
  speculative(draft, { draftMax = 0, lookup = 0, adaptive = true } = {}) {
    const p = this.eng.x.dpw_spec_new(this.ptr, draft ? draft.ptr : 0, draftMax, lookup, adaptive ? 1 : 0);
    if (!p) throw this.eng.fail();
    return new Speculative(this.eng, p);
  }

  // Prompt ids, then steps until the loop stops; onStep({ id, text, stop }) may return false to
  // stop early (the evaluation already queued then stays in the cache). Resolves to the stop
  // reason (STOP: 'max', 'eog', 'ctx_full', 'stop_string', or 'caller').
  async generate(ids, opts, onStep) {
    const g = this.generator(opts);
    try {
      await g.prompt(ids);
      for (;;) {
        const t = await g.step();
        if (onStep(t) === false) return 'caller';
        if (t.stop !== 'running') return t.stop;
      }
    } finally {
      g.free();
    }
  }

  free() {
    this.eng.idle('free');
    this.eng.x.dpw_free(this.scratch);
    this.eng.x.dpw_ctx_free(this.ptr);
    this.ptr = 0;
  }
}

// A speculative decoder (Context.speculative): stats() = { steps (target passes), proposed,
// accepted, emitted, k (the next K) } since creation or resetStats(). Free after its generators.
export class Speculative {
  constructor(eng, ptr) { this.eng = eng; this.ptr = ptr; }
  stats() {
    const x = this.eng.x, out = x.dpw_alloc(8 * 5);
    x.dpw_spec_stats(this.ptr, out);
    const [steps, proposed, accepted, emitted, k] = new Float64Array(this.eng.mem, out, 5);
    x.dpw_free(out);
    return { steps, proposed, accepted, emitted, k };
  }
  resetStats() { this.eng.x.dpw_spec_stats_reset(this.ptr); }
  free() { this.eng.x.dpw_spec_free(this.ptr); this.ptr = 0; }
}

// dp_gen over a context: prompt(ids), then step() until its stop is not 'running'. A step is
// dpw_gen_step_begin (samples, and queues the evaluation of the sampled id on the GPU before it
// is read back: the device always has the next step), the host's await, dpw_gen_step_end (the
// id read and judged: end of generation, text, stop strings, n_max, full context).
// Options: nMax (16), temperature (0), topK (0), topP (1), seed (0), ignoreEos, stop (strings;
// need a tokenizer), tokenizer (a Tokenizer for text and its end markers, or null: ids only),
// spec (a Speculative whose target is ctx: a step that needs a new speculative step records the
// proposals, the target's pass and the verdict, and the await brings back the verdict alone).
export class Generator {
  constructor(ctx, { nMax = 16, temperature = 0, topK = 0, topP = 1, seed = 0, ignoreEos = false, stop = [], tokenizer = null, spec = null } = {}) {
    const eng = ctx.eng, x = eng.x;
    this.ctx = ctx;
    this.eng = eng;
    const blob = stop.length ? enc.encode(stop.map((s) => s + '\0').join('') + '\0') : null;
    const sp = blob ? x.dpw_alloc(blob.length) : 0;
    if (blob) new Uint8Array(eng.mem, sp, blob.length).set(blob);
    this.ptr = x.dpw_gen_new(ctx.ptr, tokenizer ? tokenizer.ptr : 0, temperature, topK, topP, seed, nMax, ignoreEos ? 1 : 0, sp, spec ? spec.ptr : 0);
    if (sp) x.dpw_free(sp);
    if (!this.ptr) throw eng.fail();
    this.out = x.dpw_alloc(16);
  }

  // Evaluates ids at the context's position (queued on the GPU; no wait, except a paged MoE
  // model's reads of its routing: then it returns a Promise; await suits both).
  prompt(ids) { return this.eng.step('dpw_gen_prompt', this.ptr, this.ctx.ids(ids), ids.length); }

  // The two halves of step(), for callers that time them (bench); begin() as prompt().
  begin() { return this.eng.step('dpw_gen_step_begin', this.ptr); }
  end() {
    const x = this.eng.x;
    if (x.dpw_gen_step_end(this.ptr, this.out)) throw this.eng.fail();
    const [id, p, len, stop] = new Int32Array(this.eng.mem, this.out, 4);
    return { id, text: len ? dec.decode(new Uint8Array(this.eng.mem, p >>> 0, len)) : '', stop: STOP[stop] };
  }

  // One token: resolves to { id, text, stop } (id -1 when none: nMax 0).
  async step() {
    await this.begin();
    await this.eng.settle();
    return this.end();
  }

  get nTokens() { return this.eng.x.dpw_gen_n_tokens(this.ptr); }

  free() {
    this.eng.x.dpw_free(this.out);
    this.eng.x.dpw_gen_free(this.ptr);
    this.ptr = 0;
  }
}
