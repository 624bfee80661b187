// asyncify.mjs — lets the module wait for the GPU in the middle of a call: the `wait` import
// (src/backend/webgpu/host.h dp_gpu_wait) unwinds the module's stack, the host awaits, and the
// call is rewound to where it stopped (Binaryen's asyncify, applied by web/build.sh to the
// callers of dp_forward_moe). A paged MoE model on WebGPU uses it once per MoE layer, to read
// back the experts its router selected.
//
//   const as = new Asyncify();
//   imports.dp_gpu.wait = as.suspending(() => gpu.settle());   // resolves: the reads landed
//   as.bind(instance.exports);
//   const st = as.call('dpw_ctx_eval', ctx, ids, n, out);       // a value, or a Promise of it
//
// call() returns the export's result at once when the module did not wait, and a Promise of it
// when it did; `await` suits both. While a call is suspended no other call may start: call()
// throws (and web/engine.mjs makes every other export throw, allocation aside), because the
// suspended pass owns the context's scratch, KV rows and routing. A wait reached outside call()
// is refused (the import returns 1, the module reports it as an error); builds without asyncify
// (no asyncify_* exports) refuse the same way.
const DATA = 1 << 16; // bytes for the unwound stack (locals of the few frames above dp_forward_moe)
const UNWINDING = 1, REWINDING = 2; // asyncify_get_state()

export class Asyncify {
  constructor() {
    this.x = null;
    this.data = 0;
    this.pending = null;   // the promise the module waits for
    this.result = 0;
    this.depth = 0;        // calls in progress that may wait
    this.waiting = false;  // a call is suspended
    this.reason = null;    // why the last wait was refused (the module reads it via dp_gpu_error)
  }

  bind(exports) {
    this.x = exports;
    if (!exports.asyncify_start_unwind) return;
    this.data = exports.dpw_alloc(DATA);
  }

  get available() { return !!(this.x && this.x.asyncify_start_unwind && this.data); }

  // An import that waits for fn() (a Promise resolving to a u32; a rejection returns 1).
  suspending(fn, onRefuse) {
    return () => {
      const x = this.x;
      if (this.available && x.asyncify_get_state() === REWINDING) {
        x.asyncify_stop_rewind();
        this.waiting = false;
        return this.result;
      }
      if (!this.available || this.depth !== 1 || this.waiting) {
        onRefuse?.(!this.available ? 'this doppler.wasm was built without asyncify (web/build.sh needs Binaryen\'s wasm-opt)'
          : this.waiting ? 'another evaluation is waiting for the GPU' : 'the call was not made through Asyncify.call');
        return 1;
      }
      const hdr = new Uint32Array(x.memory.buffer, this.data, 2);
      hdr[0] = this.data + 8;
      hdr[1] = this.data + DATA;
      this.pending = fn();
      this.waiting = true;
      x.asyncify_start_unwind(this.data);
      return 0;
    };
  }

  // Call export `name`; see the top of the file.
  call(name, ...args) {
    const x = this.x;
    if (this.waiting) throw new Error(`${name}: an evaluation is suspended waiting for the GPU; await it first`);
    this.depth++;
    let r;
    try {
      r = x[name](...args);
    } catch (e) { this.depth--; throw e; }
    if (!this.available || x.asyncify_get_state() !== UNWINDING) { this.depth--; return r; }
    return this.resume(name, args);
  }

  async resume(name, args) {
    const x = this.x;
    try {
      while (x.asyncify_get_state() === UNWINDING) {
        x.asyncify_stop_unwind();
        try { this.result = (await this.pending) >>> 0; } catch { this.result = 1; }
        this.pending = null;
        x.asyncify_start_rewind(this.data);
        const r = x[name](...args);
        if (x.asyncify_get_state() !== UNWINDING) return r;
      }
    } finally {
      this.depth--;
      this.waiting = false;
    }
    return 0;
  }
}
