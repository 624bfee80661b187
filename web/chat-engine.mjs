// chat-engine.mjs — the OpenAI-shaped chat engine over one loaded model, where the module runs
// (Node, or the page's Web Worker): messages through the model's chat template and tokenizer
// (both in the wasm core: dpw_chat_render, dpw_tokenize), the library's token loop (dp_gen)
// for sampling, end markers, stop strings and streaming text. One generation at a time
// (requests wait their turn); the KV cache keeps the longest prefix the next conversation
// shares with the last one, so a chat turn evaluates only its new tokens.
//
//   const ce = await ChatEngine.open({ eng, dir, device });
//   const res = await ce.create({ messages, max_tokens: 64 });               // chat.completion
//   for await (const chunk of await ce.create({ messages, stream: true })) ...  // chunks
import { DopplerError } from './engine.mjs';

// An error a caller can act on: code is 'invalid_request' (the request; status 400),
// 'context_length_exceeded' (400), 'device_lost', 'out_of_memory', 'quota', or 'internal'.
export class EngineError extends Error {
  constructor(message, code = 'internal', status = 500) {
    super(message);
    this.name = 'EngineError';
    this.code = code;
    this.status = status;
  }
}

const bad = (msg, code = 'invalid_request') => new EngineError(msg, code, 400);

// A GPU failure in words a person can act on (the library's own message kept after them).
export function classifyError(e, lostReason = null) {
  if (e instanceof EngineError) return e;
  const msg = String(e?.message ?? e);
  if (lostReason || /device lost|device was lost|DeviceLost/i.test(msg))
    return new EngineError(`The GPU device was lost (${lostReason ?? msg}). The output stopped there; reload the model to go on ` +
                           '(a driver reset, the GPU process crashing, or the tab in the background too long can cause this).', 'device_lost');
  if (/out of memory|OutOfMemory|createBuffer\(/i.test(msg) || e?.statusName === 'out of memory')
    return new EngineError(`The GPU ran out of memory: ${msg}. Try a smaller model or a shorter context, and close other GPU-heavy tabs.`, 'out_of_memory');
  if (e?.name === 'QuotaExceededError') return Object.assign(new EngineError(msg, 'quota'), { name: 'QuotaExceededError' });
  return new EngineError(msg, e instanceof DopplerError ? 'internal' : (e?.code ?? 'internal'));
}

// The request, checked field by field (OpenAI's names and ranges).
export function checkRequest(req, nCtx) {
  if (!req || typeof req !== 'object') throw bad('the request must be an object');
  const { messages } = req;
  if (!Array.isArray(messages) || !messages.length) throw bad('messages must be a non-empty array');
  const msgs = messages.map((m, i) => {
    if (!m || typeof m !== 'object') throw bad(`messages[${i}] must be an object`);
    if (!['system', 'user', 'assistant'].includes(m.role)) throw bad(`messages[${i}].role must be system, user or assistant`);
    let c = m.content;
    if (Array.isArray(c)) {
      if (!c.every((p) => p && p.type === 'text' && typeof p.text === 'string')) throw bad(`messages[${i}].content parts must be {type: 'text', text}`);
      c = c.map((p) => p.text).join('');
    }
    if (typeof c !== 'string') throw bad(`messages[${i}].content must be a string`);
    return { role: m.role, content: c };
  });
  const num = (k, lo, hi, def, int = false) => {
    const v = req[k];
    if (v === undefined || v === null) return def;
    if (typeof v !== 'number' || !Number.isFinite(v) || (int && !Number.isInteger(v)) || v < lo || v > hi)
      throw bad(`${k} must be ${int ? 'an integer' : 'a number'} in [${lo}, ${hi}]`);
    return v;
  };
  if (req.n !== undefined && req.n !== 1) throw bad('n must be 1');
  let stop = req.stop ?? [];
  if (typeof stop === 'string') stop = [stop];
  if (!Array.isArray(stop) || stop.length > 16 || !stop.every((s) => typeof s === 'string' && s.length > 0 && !s.includes('\0')))
    throw bad('stop must be a non-empty string or an array of at most 16');
  if (req.stream !== undefined && typeof req.stream !== 'boolean') throw bad('stream must be true or false');
  return {
    messages: msgs,
    stream: !!req.stream,
    maxTokens: num('max_tokens', 1, nCtx, Math.min(256, nCtx), true),
    temperature: num('temperature', 0, 2, 1),
    topP: num('top_p', 0, 1, 1),
    topK: num('top_k', 0, 1 << 20, 0, true),
    seed: num('seed', 0, Number.MAX_SAFE_INTEGER, null, true),
    stop,
  };
}

let serial = 0;
const newId = () => `chatcmpl-${Date.now().toString(36)}${(serial++).toString(36)}`;

export class ChatEngine {
  // eng: an Engine; dir: the model directory in its WASI file system; device: the GPUDevice
  // (watched for loss); name: the model's name in responses; nCtx: context size (0: the
  // model's, at most 4096); paging: Engine.loadModel's { gpuMem, ramCache, expertPolicy }.
  static async open({ eng, dir, device = null, name = null, nCtx = 0, paging = {} }) {
    const model = eng.loadModel(dir, device ? 'webgpu' : 'cpu', 0, paging);
    let tok = null, ctx = null, n = 0;
    try {
      tok = eng.loadTokenizer(dir);
      eng.chatRender(tok, model, []);   // a known template, or fail now
      n = nCtx > 0 ? nCtx : Math.min(model.maxPos > 0 ? model.maxPos : 4096, 4096);
      ctx = model.newContext({ nCtx: n });
      await eng.settle();
    } catch (e) {
      ctx?.free();
      tok?.free();
      model.free();
      throw classifyError(e);
    }
    return new ChatEngine(eng, model, tok, ctx, n, device, name ?? dir.split('/').filter(Boolean).at(-1));
  }

  constructor(eng, model, tok, ctx, nCtx, device, name) {
    this.eng = eng;
    this.model = model;
    this.tok = tok;
    this.ctx = ctx;
    this.name = name;
    this.nCtx = nCtx;
    this.cached = [];      // the ids the KV cache holds, in order
    this.lost = null;      // the device-loss reason, once lost
    this.busy = Promise.resolve();
    this.aborted = false;
    this.lostP = device?.lost?.then((info) => { this.lost = info?.message || info?.reason || 'unknown reason'; });
    this.chat = { completions: { create: (req) => this.create(req) } };
  }

  get info() {
    const m = this.model;
    return { model: this.name, family: m.family, dtype: m.dtype, layers: m.nLayers, vocab: m.vocab, params: m.nParams,
             weightBytes: m.weightBytes, nCtx: this.nCtx, wasmMemoryBytes: this.eng.mem.byteLength };
  }

  // Stops the generation in progress after its current token (WebLLM's name).
  interruptGenerate() { this.aborted = true; }

  // OpenAI's chat.completions.create: a chat.completion, or (stream: true) an async iterator
  // of chat.completion.chunk objects, the last one carrying finish_reason and usage.
  async create(req) {
    if (!this.model) throw new EngineError('the model was unloaded', 'invalid_request', 400);
    const r = checkRequest(req, this.nCtx);
    if (r.stream) return this.stream(r);
    let text = '', last = null;
    for await (const c of this.stream(r)) {
      text += c.choices[0]?.delta?.content ?? '';
      last = c;
    }
    return {
      id: last.id, object: 'chat.completion', created: last.created, model: last.model,
      choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: last.choices[0].finish_reason, logprobs: null }],
      usage: last.usage,
    };
  }

  async *stream(r) {
    if (this.lost) throw classifyError(null, this.lost);
    let release;
    const prev = this.busy;
    this.busy = new Promise((res) => { release = res; });
    await prev;
    try {
      yield* this.generate(r);
    } finally {
      release();
    }
  }

  async *generate(r) {
    const { eng, model, tok, ctx } = this;
    const id = newId(), created = Math.floor(Date.now() / 1000);
    const chunk = (delta, finish = null, usage = undefined) => ({
      id, object: 'chat.completion.chunk', created, model: this.name,
      choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }], ...(usage ? { usage } : {}),
    });
    let ids;
    try {
      ids = tok.encode(eng.chatRender(tok, model, r.messages));
    } catch (e) { throw bad(`the messages cannot be rendered: ${e.message}`); }
    const nCtx = this.nCtx;
    if (ids.length + r.maxTokens > nCtx)
      throw bad(`the conversation is ${ids.length} tokens and max_tokens ${r.maxTokens}: more than the context of ${nCtx} tokens`, 'context_length_exceeded');
    this.aborted = false;
    // reuse the cache's longest prefix of this prompt (at least one new token to evaluate)
    let same = 0;
    while (same < this.cached.length && same < ids.length && this.cached[same] === ids[same]) same++;
    if (same === ids.length) same--;
    const seed = r.seed ?? Math.floor(Math.random() * 2 ** 31);
    let g = null, stop = 'running', n = 0, firstAt = 0;
    const t0 = performance.now();
    const produced = [];
    try {
      ctx.truncate(same);
      g = ctx.generator({ nMax: r.maxTokens, temperature: r.temperature, topK: r.topK, topP: r.topP, seed, stop: r.stop, tokenizer: tok });
      await g.prompt(ids.slice(same));
      yield chunk({ role: 'assistant', content: '' });
      while (stop === 'running') {
        const t = await g.step();
        // nothing read after a loss is shown: a failed readback leaves stale bytes where the id
        // would have landed, so a host error stops the stream before this token is used
        const gerr = eng.gpu?.error;
        if (this.lost || gerr) {
          await Promise.race([this.lostP, new Promise((res) => setTimeout(res, 200))]);
          throw classifyError(new Error(gerr ?? 'device lost'), this.lost);
        }
        if (t.id >= 0) { produced.push(t.id); n++; }
        if (n === 1) firstAt = performance.now();
        stop = t.stop;
        if (t.text) yield chunk({ content: t.text });
        if (stop === 'running' && this.aborted) stop = 'abort';
      }
    } catch (e) {
      this.cached = [];
      try { ctx.reset(); } catch { /* the device may be gone */ }
      throw classifyError(e, this.lost);
    } finally {
      g?.free();
    }
    this.cached = ids.concat(produced).slice(0, ctx.pos);
    const t1 = performance.now();
    const finish = stop === 'eog' || stop === 'stop_string' ? 'stop' : stop === 'abort' ? 'abort' : 'length';
    const usage = {
      prompt_tokens: ids.length, completion_tokens: n, total_tokens: ids.length + n,
      extra: {
        prompt_tokens_evaluated: ids.length - same,
        time_to_first_token_s: firstAt ? (firstAt - t0) / 1000 : null,
        decode_tokens_per_s: n > 1 ? (n - 1) / ((t1 - firstAt) / 1000) : null,
      },
    };
    yield chunk({}, finish, usage);
  }

  async unload() {
    await this.busy;
    this.ctx?.free();
    this.tok?.free();
    this.model?.free();
    this.ctx = this.tok = this.model = null;
  }
}
