// host-hash.mjs — the module's "dp_host" imports: SHA-256 by the host (src/base/sha256.h).
// Every shard byte the library uses is checked with SHA-256 (at load, and on every expert
// page-in of a paged MoE model). Compiled to WebAssembly the library's own SHA-256 runs at
// ~250 MB/s; Node's crypto (OpenSSL, with the CPU's SHA instructions) at GB/s, so under Node the
// module hashes through it. Browsers have no synchronous SHA-256 (WebCrypto's digest returns a
// Promise), so there sha256_begin returns 0 and the module hashes in C, as it does with
// { wasmHash: true } or DOPPLER_WASM_SHA256=1 (the before/after measurement, docs/PAGING.md).
//
//   const hh = await hostHash();                         // { imports, bind(memory), native }
//   WebAssembly.instantiate(bytes, { ..., dp_host: hh.imports });  hh.bind(instance.exports.memory);
export async function hostHash({ wasmHash = false } = {}) {
  const node = globalThis.process?.versions?.node;
  const off = wasmHash || (node && globalThis.process.env?.DOPPLER_WASM_SHA256 === '1');
  // a variable specifier, so that bundlers for the browser leave it alone
  const spec = 'node:crypto';
  const crypto = node && !off ? await import(spec) : null;
  let memory = null;
  const live = new Map(); // id -> Hash (begun, not finished)
  let next = 1;
  const view = (p, n) => new Uint8Array(memory.buffer, p >>> 0, n >>> 0); // i32 arguments arrive signed
  const get = (id) => {
    const h = live.get(id >>> 0);
    if (!h) throw new Error(`dp_host sha256: no hash ${id >>> 0}`); // a module bug: trap, never a wrong digest
    return h;
  };
  return {
    native: !!crypto,
    bind(mem) { memory = mem; },
    imports: {
      sha256_begin() {
        if (!crypto) return 0;
        const id = next;
        next = next >= 0xffffffff ? 1 : next + 1;
        live.set(id, crypto.createHash('sha256'));
        return id;
      },
      sha256_update(id, p, n) { get(id).update(view(p, n)); },
      sha256_final(id, out) {
        const h = get(id);
        live.delete(id >>> 0);
        view(out, 32).set(h.digest());
      },
    },
  };
}
