// index.mjs — Doppler's JavaScript API (the doppler-web package), in the shape WebLLM users
// know. The same code under Node and in a browser:
//
//   import { createEngine } from 'doppler-web';
//   const engine = await createEngine(modelUrl, { onProgress: (p) => console.log(p.text) });
//   const reply = await engine.chat.completions.create({ messages: [{ role: 'user', content: 'Hi' }] });
//   for await (const chunk of await engine.chat.completions.create({ messages, stream: true }))
//     out(chunk.choices[0]?.delta?.content ?? '');
//
// In a browser the engine runs in a Web Worker (worker.mjs) and this object proxies to it; the
// model is kept in the origin-private file system and loaded from there on the next visit.
// Under Node it runs in the process (node-host.mjs); modelUrl may also be a local directory.
// Request fields: messages, stream, max_tokens, temperature, top_p, top_k, seed, stop, n (1).
// Errors are EngineError with .code: invalid_request, context_length_exceeded, device_lost,
// out_of_memory, quota, internal.
import { EngineError } from './chat-engine.mjs';

export { EngineError };
export { modelKey, opfsStore, fmtBytes } from './model-store.mjs';

const isNode = typeof process !== 'undefined' && !!process.versions?.node && typeof window === 'undefined';

// opts: onProgress(p) with p = { phase: 'download' | 'load' | 'ready', loaded, total, rate,
// secondsLeft, text }; nCtx (context size; default the model's, at most 4096). Node only:
// wasm (path of doppler.wasm), cacheDir, backend. Browser only: workerUrl, wasmUrl.
export async function createEngine(modelUrl, opts = {}) {
  if (isNode) return (await import('./node-host.mjs')).createNodeEngine(modelUrl, opts);
  return WorkerEngine.create(new URL(modelUrl, globalThis.location?.href).href, opts);
}

// A queue that an async iterator drains (chunks pushed by worker messages).
class Channel {
  constructor() { this.items = []; this.waiters = []; this.end = false; this.err = null; }
  push(v) { const w = this.waiters.shift(); if (w) w.resolve({ value: v, done: false }); else this.items.push(v); }
  close(err = null) {
    this.end = true;
    this.err = err;
    for (const w of this.waiters.splice(0)) err ? w.reject(err) : w.resolve({ value: undefined, done: true });
  }
  [Symbol.asyncIterator]() {
    return {
      next: () => {
        if (this.items.length) return Promise.resolve({ value: this.items.shift(), done: false });
        if (this.end) return this.err ? Promise.reject(this.err) : Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
      },
      return: async () => { this.onCancel?.(); return { value: undefined, done: true }; },
    };
  }
}

const toError = (e) => Object.assign(new EngineError(e.message, e.code, e.status), e.name === 'QuotaExceededError' ? { name: e.name } : {});

class WorkerEngine {
  static async create(url, { onProgress = null, workerUrl = null, wasmUrl = null, nCtx = 0, onDeviceLost = null } = {}) {
    const w = new Worker(workerUrl ?? new URL('./worker.mjs', import.meta.url), { type: 'module' });
    const e = new WorkerEngine(w, onProgress, onDeviceLost);
    try {
      e.info = await new Promise((resolve, reject) => {
        e.loading = { resolve, reject };
        w.onerror = (ev) => reject(new EngineError(`the engine's worker failed to start: ${ev.message ?? 'error'}`));
        w.postMessage({ op: 'load', url, opts: { wasmUrl: wasmUrl && new URL(wasmUrl, globalThis.location?.href).href, nCtx } });
      });
    } catch (err) {
      w.terminate();
      throw err;
    }
    return e;
  }

  constructor(worker, onProgress, onDeviceLost) {
    this.worker = worker;
    this.pending = new Map();
    this.next = 1;
    this.lost = null;
    this.chat = { completions: { create: (req) => this.create(req) } };
    worker.onmessage = ({ data: m }) => {
      if (m.op === 'progress') { onProgress?.(m.p); return; }
      if (m.op === 'loaded') { onProgress?.({ phase: 'ready', loaded: 1, total: 1, text: 'Ready' }); this.loading?.resolve(m.info); this.loading = null; return; }
      if (m.op === 'lost') { this.lost = toError(m.error); onDeviceLost?.(this.lost); return; }
      if (m.op === 'error' && m.id == null) { this.loading?.reject(toError(m.error)); this.loading = null; return; }
      const p = this.pending.get(m.id);
      if (!p) return;
      if (m.op === 'chunk') p.chan.push(m.chunk);
      else {
        this.pending.delete(m.id);
        if (m.op === 'error') { p.chan?.close(toError(m.error)); p.reject(toError(m.error)); }
        else { p.chan?.close(); p.resolve(m.result); }
      }
    };
  }

  create(req) {
    const id = this.next++;
    const stream = !!req?.stream;
    const chan = stream ? new Channel() : null;
    const done = new Promise((resolve, reject) => this.pending.set(id, { chan, resolve, reject }));
    try { this.worker.postMessage({ op: 'create', id, req }); } catch (e) { this.pending.delete(id); return Promise.reject(new EngineError(`bad request: ${e.message}`, 'invalid_request', 400)); }
    if (!stream) return done;
    done.catch(() => {});   // the iterator reports it
    chan.onCancel = () => this.interruptGenerate();   // a consumer that breaks out stops the generation
    // the first chunk (or the request's error) before handing the iterator out
    return (async () => {
      const it = chan[Symbol.asyncIterator]();
      const first = await it.next();
      return (async function* () {
        let finished = first.done;
        try {
          if (!first.done) yield first.value;
          while (!finished) { const r = await it.next(); finished = r.done; if (!r.done) yield r.value; }
        } finally {
          if (!finished) chan.onCancel();
        }
      })();
    })();
  }

  // Stops the generation in progress after its current token (finish_reason 'abort').
  interruptGenerate() { this.worker.postMessage({ op: 'abort' }); }

  // Frees the model (and its OPFS handles, so the cache entry can be deleted) and the worker.
  async unload() {
    const id = this.next++;
    const done = new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.worker.postMessage({ op: 'unload', id });
    await done.catch(() => {});
    this.worker.terminate();
  }
}
