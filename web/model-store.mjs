// model-store.mjs — RDRR models kept on the machine: downloaded file by file from a URL
// (manifest.json, the tokenizer files it lists, shards/<sha256>.bin), streamed to storage with
// progress (bytes, rate, time left), never held whole in memory. Two stores with one shape:
//   opfsStore()    — the browser's origin-private file system (navigator.storage), one folder
//                    per model under doppler-models/;
//   dirStore(dir)  — a folder on disk under Node (web/node-store.mjs).
// A model is complete when its manifest.json is there: the manifest is written last, so a
// download cut short is resumed (files already there with their manifest size are kept) and
// never loaded half-way. The library verifies every shard's SHA-256 when it loads the model.

// The folder name a model URL is kept under: readable, and unique per URL.
export function modelKey(url) {
  const u = String(url).replace(/\/+$/, '');
  let h = 2166136261;   // FNV-1a of the whole URL: two URLs ending alike stay apart
  for (let i = 0; i < u.length; i++) h = Math.imul(h ^ u.charCodeAt(i), 16777619) >>> 0;
  const tail = u.split('/').filter(Boolean).slice(-1)[0] ?? 'model';
  return `${tail.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 64)}-${h.toString(16).padStart(8, '0')}`;
}

// The files of a manifest: [{ path, size (null: unknown), optional }], tokenizer files first.
export function manifestFiles(man) {
  if (!man || man.format !== 'rdrr' || !Array.isArray(man.shards)) throw new Error('manifest.json is not an RDRR manifest');
  const files = [];
  for (const f of man.tokenizer?.files ?? []) {
    if (typeof f !== 'string' || f.includes('/') || f.startsWith('.')) throw new Error(`manifest: bad tokenizer file name '${f}'`);
    files.push({ path: f, size: null, optional: false });
  }
  if (!files.length) files.push({ path: 'tokenizer.json', size: null, optional: true });
  for (const s of man.shards) {
    const hex = String(s.hash).replace(/^sha256:/, '');
    if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`manifest: bad shard hash ${s.hash}`);
    if (!Number.isSafeInteger(s.size) || s.size < 0) throw new Error(`manifest: bad shard size for ${hex}`);
    files.push({ path: `shards/${hex}.bin`, size: s.size, optional: false });
  }
  return files;
}

// Progress of a transfer: bytes so far, rate over the last seconds, time left.
export class Meter {
  constructor(total, onProgress, phase = 'download') {
    this.total = total;
    this.loaded = 0;
    this.onProgress = onProgress;
    this.phase = phase;
    this.t0 = Date.now();
    this.marks = [[this.t0, 0]];
    this.last = 0;
  }

  add(n, file, force = false) {
    this.loaded += n;
    const now = Date.now();
    if (!force && now - this.last < 100) return;
    this.last = now;
    this.marks.push([now, this.loaded]);
    while (this.marks.length > 2 && now - this.marks[0][0] > 3000) this.marks.shift();
    const [t, b] = this.marks[0];
    const rate = now > t ? (this.loaded - b) / ((now - t) / 1000) : 0;
    const left = rate > 0 && this.total ? (this.total - this.loaded) / rate : null;
    this.onProgress?.({ phase: this.phase, loaded: this.loaded, total: this.total, rate, secondsLeft: left, file,
                        text: progressText(this.phase, this.loaded, this.total, rate, left) });
  }
}

export function fmtBytes(n) {
  if (n == null) return '?';
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return `${n.toFixed(i && n < 100 ? 1 : 0)} ${u[i]}`;
}

function fmtTime(s) {
  if (s == null || !Number.isFinite(s)) return '';
  if (s < 60) return `${Math.ceil(s)} s`;
  return `${Math.floor(s / 60)} min ${Math.ceil(s % 60)} s`;
}

export function progressText(phase, loaded, total, rate, left) {
  const verb = phase === 'download' ? 'Downloading' : 'Loading onto the GPU';
  let t = `${verb}: ${fmtBytes(loaded)} of ${fmtBytes(total)}`;
  if (rate) t += `, ${fmtBytes(rate)}/s`;
  if (left != null && loaded < total) t += `, ${fmtTime(left)} left`;
  return t;
}

// Download url's model into store (skipping what is there). Resolves to the parsed manifest.
export async function downloadModel(url, store, { onProgress = null, fetchFn = globalThis.fetch.bind(globalThis), signal } = {}) {
  const base = String(url).endsWith('/') ? String(url) : `${url}/`;
  const key = modelKey(url);
  const get = async (rel) => {
    let r;
    try { r = await fetchFn(base + rel, { signal }); } catch (e) { throw new Error(`${base + rel}: ${e.message}`); }
    if (!r.ok) throw Object.assign(new Error(`${base + rel}: HTTP ${r.status}`), { status: r.status });
    return r;
  };
  const manBytes = new Uint8Array(await (await get('manifest.json')).arrayBuffer());
  let man;
  try { man = JSON.parse(new TextDecoder().decode(manBytes)); } catch (e) { throw new Error(`${base}manifest.json: ${e.message}`); }
  const files = manifestFiles(man);
  await store.begin(key, { url: String(url), bytes: files.reduce((n, f) => n + (f.size ?? 0), 0) + manBytes.length });
  const need = [];
  for (const f of files) {
    const have = await store.size(key, f.path);
    if (have == null || (f.size != null && have !== f.size)) need.push(f);
  }
  const meter = new Meter(need.reduce((n, f) => n + (f.size ?? 0), 0), onProgress);
  for (const f of need) {
    let r;
    try { r = await get(f.path); } catch (e) {
      if (f.optional && e.status === 404) continue;
      throw e;
    }
    if (f.size == null) {   // tokenizer files: sizes unknown until now
      const len = Number(r.headers.get('content-length'));
      if (len > 0) meter.total += len;
    }
    await store.write(key, f.path, r.body, (n) => meter.add(n, f.path));
  }
  meter.add(0, null, true);
  await store.write(key, 'manifest.json', manBytes);
  return man;
}

// Explains a storage failure: QuotaExceededError says how much room the origin has.
export async function storageError(e, what) {
  if (e?.name !== 'QuotaExceededError') return e;
  let room = '';
  try {
    const est = await navigator.storage.estimate();
    room = ` (this site uses ${fmtBytes(est.usage)} of the ${fmtBytes(est.quota)} the browser allows it)`;
  } catch { /* no estimate */ }
  const err = new Error(`The browser refused to store ${what}: storage quota exceeded${room}. ` +
                        'Delete cached models in the cache panel, free disk space, or use a smaller model.');
  err.name = 'QuotaExceededError';
  err.code = 'quota';
  return err;
}

// ---- OPFS ----------------------------------------------------------------------------------

const OPFS_DIR = 'doppler-models';

async function opfsRoot(create = true) {
  if (!globalThis.navigator?.storage?.getDirectory) throw new Error('this browser has no origin-private file system (OPFS)');
  return (await navigator.storage.getDirectory()).getDirectoryHandle(OPFS_DIR, { create });
}

async function opfsDir(key, path, create) {
  let d = await (await opfsRoot(create)).getDirectoryHandle(key, { create });
  const parts = path.split('/');
  for (const p of parts.slice(0, -1)) d = await d.getDirectoryHandle(p, { create });
  return { dir: d, name: parts.at(-1) };
}

async function dirSize(d) {
  let n = 0;
  for await (const [, h] of d.entries()) n += h.kind === 'file' ? (await h.getFile()).size : await dirSize(h);
  return n;
}

export function opfsStore() {
  return {
    kind: 'opfs',
    async begin(key, meta) {
      await this.write(key, 'doppler.json', new TextEncoder().encode(JSON.stringify({ ...meta, saved: new Date().toISOString() })));
    },
    async size(key, path) {
      try {
        const { dir, name } = await opfsDir(key, path, false);
        return (await (await dir.getFileHandle(name)).getFile()).size;
      } catch { return null; }
    },
    // body: a ReadableStream or bytes; onChunk(n) after each piece
    async write(key, path, body, onChunk) {
      let w = null;
      try {
        const { dir, name } = await opfsDir(key, path, true);
        const h = await dir.getFileHandle(`${name}.part`, { create: true });
        w = await h.createWritable();
        if (body instanceof Uint8Array) await w.write(body);
        else {
          const rd = body.getReader();
          for (;;) {
            const { done, value } = await rd.read();
            if (done) break;
            await w.write(value);
            onChunk?.(value.length);
          }
        }
        await w.close();
        w = null;
        await dir.removeEntry(name).catch(() => {});
        await h.move(name);
      } catch (e) {
        if (w) await w.abort().catch(() => {});
        throw await storageError(e, `${path} of ${key}`);
      }
    },
    // sync access handles of a complete model's files (in a worker): path -> handle or bytes
    async open(key) {
      const files = new Map();
      const man = await this.readJson(key, 'manifest.json');
      if (!man) return null;
      for (const f of [{ path: 'manifest.json' }, ...manifestFiles(man)]) {
        let fh;
        try {
          const { dir, name } = await opfsDir(key, f.path, false);
          fh = await dir.getFileHandle(name);
        } catch {
          if (f.optional) continue;
          return null;   // incomplete: download again
        }
        if (f.path.startsWith('shards/')) files.set(f.path, await fh.createSyncAccessHandle({ mode: 'read-only' }).catch(() => fh.createSyncAccessHandle()));
        else files.set(f.path, new Uint8Array(await (await fh.getFile()).arrayBuffer()));
      }
      return { manifest: man, files, close: () => { for (const v of files.values()) v.close?.(); } };
    },
    async readJson(key, path) {
      try {
        const { dir, name } = await opfsDir(key, path, false);
        return JSON.parse(await (await (await dir.getFileHandle(name)).getFile()).text());
      } catch { return null; }
    },
    // [{ key, url, bytes (on disk), complete }]
    async list() {
      const out = [];
      let root;
      try { root = await opfsRoot(false); } catch { return out; }
      for await (const [key, h] of root.entries()) {
        if (h.kind !== 'directory') continue;
        const meta = (await this.readJson(key, 'doppler.json')) ?? {};
        const complete = (await this.size(key, 'manifest.json')) != null;
        out.push({ key, url: meta.url ?? null, saved: meta.saved ?? null, bytes: await dirSize(h), complete });
      }
      return out;
    },
    async remove(key) {
      await (await opfsRoot(true)).removeEntry(key, { recursive: true });
    },
  };
}
