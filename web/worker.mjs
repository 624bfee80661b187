// worker.mjs — the engine in a browser Web Worker (the page never freezes while it downloads,
// loads or generates). The model comes from the origin-private file system (OPFS) when it is
// there, else it is downloaded into it first; the module then reads the shards through sync
// access handles, tensor by tensor onto the GPU, never holding a shard in memory.
// Messages in:  { op: 'load', url, opts } | { op: 'create', id, req } | { op: 'abort' } | { op: 'unload', id }
// Messages out: { op: 'progress', p } | { op: 'loaded', info } | { op: 'chunk', id, chunk } |
//               { op: 'done', id, result } | { op: 'error', id, error } | { op: 'lost', error }
import { Engine } from './engine.mjs';
import { ChatEngine, classifyError } from './chat-engine.mjs';
import { requestDevice } from './gpu.mjs';
import { browserWasi } from './wasi-host.mjs';
import { Meter, downloadModel, modelKey, opfsStore } from './model-store.mjs';

let ce = null, opened = null;
const post = (m) => self.postMessage(m);
const errOut = (e) => ({ message: e.message, code: e.code ?? 'internal', name: e.name, status: e.status ?? 500 });

async function load(url, { wasmUrl = null, nCtx = 0, paging = {} } = {}) {
  const progress = (p) => post({ op: 'progress', p });
  const store = opfsStore(), key = modelKey(url);
  let fresh = false;
  opened = await store.open(key);
  if (!opened) {
    await downloadModel(url, store, { onProgress: progress });
    opened = await store.open(key);
    fresh = true;
    if (!opened) throw new Error('the model was downloaded but cannot be opened from OPFS');
  }
  if (!navigator.gpu) throw new Error('this browser has no WebGPU in workers (navigator.gpu)');
  const { device, info } = await requestDevice(navigator.gpu);
  const wasm = await (await fetch(wasmUrl ?? new URL('./dist/doppler.wasm', import.meta.url))).arrayBuffer();
  // every shard is read twice while loading: streamed through SHA-256, then onto the GPU
  const shardBytes = [...opened.files].filter(([p]) => p.startsWith('shards/')).reduce((n, [, h]) => n + h.getSize(), 0);
  const meter = new Meter(2 * shardBytes, progress, 'load');
  const files = {};
  for (const [p, v] of opened.files) files[`/model/${p}`] = v;
  const wasi = await browserWasi(files, { onRead: (n) => meter.add(n, null) });
  const eng = await Engine.create({ wasm, wasi, device });
  device.lost.then((i) => post({ op: 'lost', error: errOut(classifyError(null, i.message || i.reason || 'unknown reason')) }));
  ce = await ChatEngine.open({ eng, dir: '/model', device, name: url.replace(/\/+$/, '').split('/').at(-1), nCtx, paging });
  meter.add(0, null, true);
  return { ...ce.info, url, key, fromCache: !fresh, adapter: info };
}

self.onmessage = async ({ data: m }) => {
  try {
    if (m.op === 'load') {
      try { post({ op: 'loaded', info: await load(m.url, m.opts) }); } catch (e) { opened?.close(); opened = null; throw e; }
    } else if (m.op === 'create') {
      if (!ce) throw new Error('no model loaded');
      const res = await ce.create(m.req);
      if (m.req.stream) {
        for await (const c of res) post({ op: 'chunk', id: m.id, chunk: c });
        post({ op: 'done', id: m.id, result: null });
      } else post({ op: 'done', id: m.id, result: res });
    } else if (m.op === 'abort') {
      ce?.interruptGenerate();
    } else if (m.op === 'unload') {
      await ce?.unload();
      opened?.close();
      ce = opened = null;
      post({ op: 'done', id: m.id, result: null });
    }
  } catch (e) {
    post({ op: 'error', id: m.id ?? null, error: errOut(classifyError(e)) });
  }
};
