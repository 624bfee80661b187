// wasi.mjs — a minimal WASI (preview 1) for Doppler's WebAssembly module, the same in a browser
// and under Node.
//
// What the library uses: stdout/stderr writes, clocks, random bytes, args/environ, and files
// through a small file-system object (`fs` option):
//   Node:    nodeFs() — the real file system, synchronous calls, rooted at "/" (paths are
//            absolute or relative to the current directory);
//   browser: memFs(files) — a Map of path -> Uint8Array (fetched beforehand) plus files written
//            during the run.
// proc_exit is never called by the library; if a module calls it, it throws WasiExit.

export class WasiExit extends Error {
  constructor(code) { super(`exit ${code}`); this.code = code; }
}

const E = { SUCCESS: 0, BADF: 8, INVAL: 28, IO: 29, NOENT: 44, NOSYS: 52, NOTDIR: 54, ISDIR: 31, EXIST: 20, ACCES: 2, SPIPE: 70 };
const FILETYPE = { DIR: 3, REG: 4, CHAR: 2 };

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

// ---- file systems -------------------------------------------------------------------------

// In-memory file system for the browser: files is a Map (or object) of absolute path -> bytes.
export function memFs(files = new Map()) {
  const map = files instanceof Map ? files : new Map(Object.entries(files));
  return {
    kind: 'mem',
    files: map,
    open(path, { write, create, trunc }) {
      let data = map.get(path);
      if (data === undefined) {
        if (!create) return { err: E.NOENT };
        data = new Uint8Array(0);
        map.set(path, data);
      }
      if (trunc) { data = new Uint8Array(0); map.set(path, data); }
      return { file: { path, pos: 0, write } };
    },
    isDir(path) {
      if (path === '/' || path === '') return true;
      const pre = path.endsWith('/') ? path : path + '/';
      for (const k of map.keys()) if (k.startsWith(pre)) return true;
      return false;
    },
    size(f) { return map.get(f.path).length; },
    pread(f, dst, off) {
      const data = map.get(f.path);
      const n = Math.max(0, Math.min(dst.length, data.length - off));
      dst.set(data.subarray(off, off + n));
      return n;
    },
    pwrite(f, src, off) {
      let data = map.get(f.path);
      if (off + src.length > data.length) {
        const grown = new Uint8Array(off + src.length);
        grown.set(data);
        data = grown;
        map.set(f.path, data);
      }
      data.set(src, off);
      return src.length;
    },
    close() {},
    stat(path) {
      const d = map.get(path);
      if (d) return { type: FILETYPE.REG, size: d.length };
      if (this.isDir(path)) return { type: FILETYPE.DIR, size: 0 };
      return null;
    },
    mkdir() { return E.SUCCESS; },
    unlink(path) { return map.delete(path) ? E.SUCCESS : E.NOENT; },
    rename(a, b) { const d = map.get(a); if (!d) return E.NOENT; map.delete(a); map.set(b, d); return E.SUCCESS; },
  };
}

// The real file system under Node (fs is node:fs, passed in so this file has no Node imports).
export function nodeFs(fs) {
  const errno = (e) => ({ ENOENT: E.NOENT, EACCES: E.ACCES, EISDIR: E.ISDIR, ENOTDIR: E.NOTDIR, EEXIST: E.EXIST }[e.code] ?? E.IO);
  return {
    kind: 'node',
    open(path, { write, create, trunc, excl }) {
      try {
        let st = null;
        try { st = fs.statSync(path); } catch { /* new file */ }
        if (st && st.isDirectory()) return { file: { path, dir: true, pos: 0 } };
        let flags = write ? (create ? (trunc ? 'w' : 'a+') : 'r+') : 'r';
        if (write && create && excl) flags = 'wx';
        if (write && create && !trunc && !st) flags = 'w+';
        if (write && !create && trunc) flags = 'w';
        const fd = fs.openSync(path, flags === 'a+' ? 'r+' : flags);
        return { file: { path, fd, pos: 0, write } };
      } catch (e) { return { err: errno(e) }; }
    },
    isDir(path) { try { return fs.statSync(path).isDirectory(); } catch { return false; } },
    size(f) { return fs.fstatSync(f.fd).size; },
    pread(f, dst, off) { return fs.readSync(f.fd, dst, 0, dst.length, off); },
    pwrite(f, src, off) { return fs.writeSync(f.fd, src, 0, src.length, off); },
    close(f) { if (f.fd !== undefined) fs.closeSync(f.fd); },
    stat(path) {
      try {
        const s = fs.statSync(path);
        return { type: s.isDirectory() ? FILETYPE.DIR : FILETYPE.REG, size: s.size };
      } catch { return null; }
    },
    mkdir(path) { try { fs.mkdirSync(path); return E.SUCCESS; } catch (e) { return errno(e); } },
    unlink(path) { try { fs.unlinkSync(path); return E.SUCCESS; } catch (e) { return errno(e); } },
    rename(a, b) { try { fs.renameSync(a, b); return E.SUCCESS; } catch (e) { return errno(e); } },
  };
}

// ---- WASI -----------------------------------------------------------------------------------

export class Wasi {
  // opts: { args: [], env: {}, fs, cwd: '/', stdout(text), stderr(text) }
  constructor(opts = {}) {
    this.args = opts.args ?? ['doppler'];
    this.env = Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${v}`);
    this.fs = opts.fs ?? memFs();
    this.cwd = opts.cwd ?? '/';
    this.stdout = opts.stdout ?? ((t) => console.log(t));
    this.stderr = opts.stderr ?? ((t) => console.error(t));
    this.lineBuf = { 1: '', 2: '' };
    // fd 3 is the preopened root "/": every path the library opens resolves from it.
    this.fds = new Map([[3, { preopen: '/', dir: true, path: '/' }]]);
    this.nextFd = 4;
    this.memory = null;
  }

  // Bind to an instance (call before running any export).
  start(instance) {
    this.memory = instance.exports.memory;
    if (instance.exports._initialize) instance.exports._initialize();
  }

  get view() { return new DataView(this.memory.buffer); }
  get u8() { return new Uint8Array(this.memory.buffer); }

  flushOutput() {
    for (const fd of [1, 2]) {
      if (this.lineBuf[fd]) { (fd === 1 ? this.stdout : this.stderr)(this.lineBuf[fd]); this.lineBuf[fd] = ''; }
    }
  }

  resolve(dirFd, ptr, len) {
    const rel = textDecoder.decode(this.u8.subarray(ptr, ptr + len));
    const dir = this.fds.get(dirFd);
    if (!dir || !dir.dir) return null;
    let base = dir.path;
    if (!base.endsWith('/')) base += '/';
    const parts = [];
    for (const p of (rel.startsWith('/') ? rel : base + rel).split('/')) {
      if (p === '' || p === '.') continue;
      if (p === '..') parts.pop(); else parts.push(p);
    }
    return '/' + parts.join('/');
  }

  imports() {
    const self = this;
    const ok = E.SUCCESS;
    const strings = (list, ptrsPtr, bufPtr) => {
      const v = self.view, u8 = self.u8;
      for (const s of list) {
        const b = textEncoder.encode(s + '\0');
        v.setUint32(ptrsPtr, bufPtr, true); ptrsPtr += 4;
        u8.set(b, bufPtr); bufPtr += b.length;
      }
      return ok;
    };
    const sizes = (list, countPtr, sizePtr) => {
      const v = self.view;
      v.setUint32(countPtr, list.length, true);
      v.setUint32(sizePtr, list.reduce((n, s) => n + textEncoder.encode(s).length + 1, 0), true);
      return ok;
    };
    const iovs = (ptr, n) => {
      const v = self.view, out = [];
      for (let i = 0; i < n; i++) out.push([v.getUint32(ptr + 8 * i, true), v.getUint32(ptr + 8 * i + 4, true)]);
      return out;
    };
    const now = () => (typeof performance !== 'undefined' ? performance.timeOrigin + performance.now() : Date.now());
    return {
      args_get: (a, b) => strings(self.args, a, b),
      args_sizes_get: (a, b) => sizes(self.args, a, b),
      environ_get: (a, b) => strings(self.env, a, b),
      environ_sizes_get: (a, b) => sizes(self.env, a, b),
      clock_res_get: (id, ptr) => { self.view.setBigUint64(ptr, 1000n, true); return ok; },
      clock_time_get: (id, prec, ptr) => {
        const ms = id === 0 ? Date.now() : now();
        self.view.setBigUint64(ptr, BigInt(Math.round(ms * 1e6)), true);
        return ok;
      },
      random_get: (ptr, len) => {
        const u8 = self.u8.subarray(ptr, ptr + len);
        for (let i = 0; i < len; i += 65536) crypto.getRandomValues(u8.subarray(i, Math.min(len, i + 65536)));
        return ok;
      },
      proc_exit: (code) => { self.flushOutput(); throw new WasiExit(code); },
      sched_yield: () => ok,
      poll_oneoff: () => E.NOSYS,
      fd_write: (fd, iovPtr, iovCnt, nPtr) => {
        let total = 0;
        if (fd === 1 || fd === 2) {
          let text = '';
          for (const [p, l] of iovs(iovPtr, iovCnt)) { text += textDecoder.decode(self.u8.subarray(p, p + l)); total += l; }
          const all = self.lineBuf[fd] + text;
          const cut = all.lastIndexOf('\n');
          if (cut >= 0) { (fd === 1 ? self.stdout : self.stderr)(all.slice(0, cut)); self.lineBuf[fd] = all.slice(cut + 1); } else self.lineBuf[fd] = all;
        } else {
          const f = self.fds.get(fd);
          if (!f || f.dir) return E.BADF;
          for (const [p, l] of iovs(iovPtr, iovCnt)) {
            const n = self.fs.pwrite(f, self.u8.slice(p, p + l), f.pos);
            f.pos += n; total += n;
          }
        }
        self.view.setUint32(nPtr, total, true);
        return ok;
      },
      fd_read: (fd, iovPtr, iovCnt, nPtr) => {
        const f = self.fds.get(fd);
        if (fd === 0) { self.view.setUint32(nPtr, 0, true); return ok; }
        if (!f || f.dir) return E.BADF;
        let total = 0;
        for (const [p, l] of iovs(iovPtr, iovCnt)) {
          const n = self.fs.pread(f, self.u8.subarray(p, p + l), f.pos);
          f.pos += n; total += n;
          if (n < l) break;
        }
        self.view.setUint32(nPtr, total, true);
        return ok;
      },
      fd_pread: (fd, iovPtr, iovCnt, offset, nPtr) => {
        const f = self.fds.get(fd);
        if (!f || f.dir) return E.BADF;
        let total = 0, off = Number(offset);
        for (const [p, l] of iovs(iovPtr, iovCnt)) {
          const n = self.fs.pread(f, self.u8.subarray(p, p + l), off);
          off += n; total += n;
          if (n < l) break;
        }
        self.view.setUint32(nPtr, total, true);
        return ok;
      },
      fd_pwrite: (fd, iovPtr, iovCnt, offset, nPtr) => {
        const f = self.fds.get(fd);
        if (!f || f.dir) return E.BADF;
        let total = 0, off = Number(offset);
        for (const [p, l] of iovs(iovPtr, iovCnt)) { const n = self.fs.pwrite(f, self.u8.slice(p, p + l), off); off += n; total += n; }
        self.view.setUint32(nPtr, total, true);
        return ok;
      },
      fd_seek: (fd, offset, whence, ptr) => {
        const f = self.fds.get(fd);
        if (fd <= 2) return E.SPIPE;
        if (!f || f.dir) return E.BADF;
        const off = Number(offset);
        const pos = whence === 0 ? off : whence === 1 ? f.pos + off : self.fs.size(f) + off;
        if (pos < 0) return E.INVAL;
        f.pos = pos;
        self.view.setBigUint64(ptr, BigInt(pos), true);
        return ok;
      },
      fd_tell: (fd, ptr) => { const f = self.fds.get(fd); if (!f) return E.BADF; self.view.setBigUint64(ptr, BigInt(f.pos), true); return ok; },
      fd_close: (fd) => { const f = self.fds.get(fd); if (!f || fd === 3) return E.BADF; self.fs.close(f); self.fds.delete(fd); return ok; },
      fd_sync: () => ok,
      fd_datasync: () => ok,
      fd_advise: () => ok,
      fd_allocate: () => ok,
      fd_fdstat_get: (fd, ptr) => {
        const v = self.view;
        const f = self.fds.get(fd);
        if (fd > 2 && !f) return E.BADF;
        const type = fd <= 2 ? FILETYPE.CHAR : f.dir ? FILETYPE.DIR : FILETYPE.REG;
        v.setUint8(ptr, type);
        v.setUint16(ptr + 2, 0, true);
        v.setBigUint64(ptr + 8, 0xffffffffn, true);  // rights: everything
        v.setBigUint64(ptr + 16, 0xffffffffn, true);
        return ok;
      },
      fd_fdstat_set_flags: () => ok,
      fd_filestat_get: (fd, ptr) => {
        const f = self.fds.get(fd);
        if (fd <= 2) { self.writeStat(ptr, FILETYPE.CHAR, 0); return ok; }
        if (!f) return E.BADF;
        self.writeStat(ptr, f.dir ? FILETYPE.DIR : FILETYPE.REG, f.dir ? 0 : self.fs.size(f));
        return ok;
      },
      fd_filestat_set_size: () => E.NOSYS,
      fd_prestat_get: (fd, ptr) => {
        const f = self.fds.get(fd);
        if (!f || !f.preopen) return E.BADF;
        self.view.setUint8(ptr, 0);
        self.view.setUint32(ptr + 4, textEncoder.encode(f.preopen).length, true);
        return ok;
      },
      fd_prestat_dir_name: (fd, ptr, len) => {
        const f = self.fds.get(fd);
        if (!f || !f.preopen) return E.BADF;
        self.u8.set(textEncoder.encode(f.preopen).subarray(0, len), ptr);
        return ok;
      },
      fd_readdir: () => E.NOSYS,
      fd_renumber: () => E.NOSYS,
      path_open: (dirFd, dirflags, pathPtr, pathLen, oflags, rightsBase, rightsInh, fdflags, fdPtr) => {
        const path = self.resolve(dirFd, pathPtr, pathLen);
        if (!path) return E.BADF;
        const create = !!(oflags & 1), directory = !!(oflags & 2), excl = !!(oflags & 4), trunc = !!(oflags & 8);
        const write = (BigInt(rightsBase) & 0x40n) !== 0n || trunc || create;  // FD_WRITE right
        if (directory || self.fs.isDir(path)) {
          if (!self.fs.isDir(path)) return E.NOTDIR;
          const fd = self.nextFd++;
          self.fds.set(fd, { dir: true, path });
          self.view.setUint32(fdPtr, fd, true);
          return ok;
        }
        const r = self.fs.open(path, { write, create, trunc, excl });
        if (r.err) return r.err;
        const fd = self.nextFd++;
        self.fds.set(fd, r.file);
        if (fdflags & 1) r.file.pos = self.fs.size(r.file);  // append
        self.view.setUint32(fdPtr, fd, true);
        return ok;
      },
      path_filestat_get: (dirFd, flags, pathPtr, pathLen, ptr) => {
        const path = self.resolve(dirFd, pathPtr, pathLen);
        const s = path && self.fs.stat(path);
        if (!s) return E.NOENT;
        self.writeStat(ptr, s.type, s.size);
        return ok;
      },
      path_create_directory: (dirFd, pathPtr, pathLen) => {
        const path = self.resolve(dirFd, pathPtr, pathLen);
        return path ? self.fs.mkdir(path) : E.BADF;
      },
      path_unlink_file: (dirFd, pathPtr, pathLen) => {
        const path = self.resolve(dirFd, pathPtr, pathLen);
        return path ? self.fs.unlink(path) : E.BADF;
      },
      path_remove_directory: () => E.NOSYS,
      path_rename: (fd1, p1, l1, fd2, p2, l2) => {
        const a = self.resolve(fd1, p1, l1), b = self.resolve(fd2, p2, l2);
        return a && b ? self.fs.rename(a, b) : E.BADF;
      },
      path_readlink: () => E.NOSYS,
      path_symlink: () => E.NOSYS,
      path_link: () => E.NOSYS,
      path_filestat_set_times: () => ok,
      fd_filestat_set_times: () => ok,
      sock_accept: () => E.NOSYS,
      sock_recv: () => E.NOSYS,
      sock_send: () => E.NOSYS,
      sock_shutdown: () => E.NOSYS,
      proc_raise: () => E.NOSYS,
    };
  }

  writeStat(ptr, type, size) {
    const v = this.view;
    for (let i = 0; i < 64; i += 8) v.setBigUint64(ptr + i, 0n, true);
    v.setUint8(ptr + 16, type);
    v.setBigUint64(ptr + 24, 1n, true);
    v.setBigUint64(ptr + 32, BigInt(size), true);
  }
}
