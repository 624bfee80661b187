// wasi-host.mjs — WASI (preview 1) for Doppler's WebAssembly module from maintained
// implementations: node:wasi under Node (the real file system, rooted at "/"), and
// @bjorn3/browser_wasi_shim in browsers (files given as bytes, or as OPFS sync access handles
// in a worker: shards are read where they lie, never copied whole into memory).
// Both return the object Engine.create takes as `wasi`:
//   { imports(): the wasi_snapshot_preview1 functions, start(instance), flushOutput() }.
//
//   const wasi = await nodeWasi();                                       // Node
//   const wasi = browserWasi({ '/model/manifest.json': bytes,            // browser
//                              '/model/shards/<hex>.bin': syncAccessHandle });

// Under Node: every path the module opens is the host's own path ("/" is preopened as "/").
// stdout / stderr go to the process's fds 1 and 2.
export async function nodeWasi({ env = {}, args = ['doppler'] } = {}) {
  // node:wasi warns that it is experimental on first import: that line is not ours to print
  // on every `doppler` command's stderr.
  const warn = process.emitWarning;
  process.emitWarning = (w, ...rest) => { if (!/WASI/.test(String(w?.message ?? w))) warn.call(process, w, ...rest); };
  let WASI;
  try { ({ WASI } = await import('node:wasi')); } finally { process.emitWarning = warn; }
  // node:wasi's functions are V8 "fast API" calls; with them a module that grows its memory
  // after reading files corrupts the stack the garbage collector walks: Node 20 (the runtime
  // bundle's too) segfaults or silently mangles JavaScript variables loading any model of ~100 MB
  // or more in WebAssembly's memory (the CPU backend's weights, a paged model's RAM tier; the
  // H200's 16G paging run died this way). nodejs/node#46777, #53087, open. Off before any module
  // is instantiated (the wrappers are compiled then); WASI calls are 4 MiB reads, so the slower
  // call costs nothing measurable.
  (await import('node:v8')).setFlagsFromString('--no-turbo-fast-api-calls');
  const wasi = new WASI({ version: 'preview1', args, env, preopens: { '/': '/' }, returnOnExit: true });
  return {
    imports: () => wasi.wasiImport,
    start: (instance) => wasi.initialize(instance),
    flushOutput() {},
  };
}

// In a browser: files maps absolute paths to Uint8Array bytes or to FileSystemSyncAccessHandle
// objects (OPFS, read-only); directories are implied by the paths. stdout / stderr: line
// callbacks.
// onRead(n): after every read from a handle (load progress).
export async function browserWasi(files, { stdout = (t) => console.log(t), stderr = (t) => console.error(t), env = {}, args = ['doppler'], onRead = null } = {}) {
  const shim = await loadShim();
  const { WASI, File, Directory, OpenFile, ConsoleStdout, PreopenDirectory, SyncOPFSFile } = shim;
  // An OPFS file the module reads with pread (the shim's OPFS file has only read + seek).
  class HandleFile extends SyncOPFSFile {
    path_open(oflags, rights, fdflags) {
      const r = super.path_open(oflags, rights, fdflags);
      if (r.fd_obj) {
        r.fd_obj.fd_pread = (size, offset) => {
          const buf = new Uint8Array(size);
          const n = this.handle.read(buf, { at: Number(offset) });
          onRead?.(n);
          return { ret: 0, data: n === size ? buf : buf.subarray(0, n) };
        };
      }
      return r;
    }
  }
  const root = new Map();
  for (const [path, v] of Object.entries(files instanceof Map ? Object.fromEntries(files) : files)) {
    const parts = path.split('/').filter(Boolean);
    let dir = root;
    for (const p of parts.slice(0, -1)) {
      if (!dir.has(p)) dir.set(p, new Map());
      dir = dir.get(p);
    }
    dir.set(parts.at(-1), v instanceof Uint8Array ? new File(v, { readonly: true }) : new HandleFile(v, { readonly: true }));
  }
  const tree = (m) => new Map([...m].map(([k, v]) => [k, v instanceof Map ? new Directory(tree(v)) : v]));
  const fds = [
    new OpenFile(new File([])),
    ConsoleStdout.lineBuffered(stdout),
    ConsoleStdout.lineBuffered(stderr),
    new PreopenDirectory('/', tree(root)),
  ];
  const wasi = new WASI(args, Object.entries(env).map(([k, v]) => `${k}=${v}`), fds);
  // The library opens files O_NONBLOCK and clears the flag after fstat (io.c open_regular);
  // the shim's files do not implement fd_fdstat_set_flags. Nothing here ever blocks: accept it.
  const imports = { ...wasi.wasiImport, fd_fdstat_set_flags: (fd) => (wasi.fds[fd] ? 0 : 8 /* EBADF */) };
  return {
    imports: () => imports,
    start: (instance) => wasi.initialize(instance),
    flushOutput() {},
  };
}

// The shim: by its package name (a bundler, an import map, Node), else beside this file as the
// page serves web/ (web/node_modules/...), else as a sibling package (node_modules/doppler-web
// next to node_modules/@bjorn3/...).
async function loadShim() {
  const tries = ['@bjorn3/browser_wasi_shim',
                 new URL('./node_modules/@bjorn3/browser_wasi_shim/dist/index.js', import.meta.url).href,
                 new URL('../@bjorn3/browser_wasi_shim/dist/index.js', import.meta.url).href];
  let last;
  for (const t of tries) {
    try { return await import(t); } catch (e) { last = e; }
  }
  throw new Error(`@bjorn3/browser_wasi_shim not found (npm install it beside doppler-web): ${last?.message}`);
}
