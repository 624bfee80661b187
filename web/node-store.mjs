// node-store.mjs — model-store.mjs's store on a folder under Node (default
// $XDG_CACHE_HOME/doppler/models, else ~/.cache/doppler/models): models fetched from a URL are
// kept there and loaded in place by the WebAssembly module (node:wasi reads the files).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';

export function defaultCacheDir() {
  return path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'doppler', 'models');
}

export function dirStore(root = defaultCacheDir()) {
  const file = (key, p) => path.join(root, key, p);
  return {
    kind: 'dir',
    root,
    dir: (key) => path.join(root, key),
    async begin(key, meta) {
      fs.mkdirSync(path.join(root, key), { recursive: true });
      fs.writeFileSync(file(key, 'doppler.json'), JSON.stringify({ ...meta, saved: new Date().toISOString() }));
    },
    async size(key, p) {
      try { return fs.statSync(file(key, p)).size; } catch { return null; }
    },
    async write(key, p, body, onChunk) {
      const dest = file(key, p), part = `${dest}.part`;
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      const fd = fs.openSync(part, 'w');
      try {
        if (body instanceof Uint8Array) fs.writeSync(fd, body);
        else {
          for await (const chunk of Readable.fromWeb(body)) {
            fs.writeSync(fd, chunk);
            onChunk?.(chunk.length);
          }
        }
      } finally { fs.closeSync(fd); }
      fs.renameSync(part, dest);
    },
    async list() {
      let keys = [];
      try { keys = fs.readdirSync(root); } catch { return []; }
      return keys.map((key) => {
        let meta = {};
        try { meta = JSON.parse(fs.readFileSync(file(key, 'doppler.json'), 'utf8')); } catch { /* none */ }
        const du = (d) => fs.readdirSync(d, { withFileTypes: true })
          .reduce((n, e) => n + (e.isDirectory() ? du(path.join(d, e.name)) : fs.statSync(path.join(d, e.name)).size), 0);
        return { key, url: meta.url ?? null, saved: meta.saved ?? null, bytes: du(path.join(root, key)), complete: fs.existsSync(file(key, 'manifest.json')) };
      });
    },
    async remove(key) { fs.rmSync(path.join(root, key), { recursive: true, force: true }); },
  };
}
