// elementwise.wgsl — add, copy, softcap, scale and gated activations (SiLU / GELU-tanh) over f32.
//
// Every entry point handles `count` elements with one invocation per element over a 2-D grid of
// workgroups (x up to 65535, then y), so any count up to 2^32 works; invocations past the end do
// nothing. Offsets are in elements. Entries with an "_inplace" suffix are the aliasing forms the
// backend picks when the output is the same tensor as the first input (WebGPU forbids binding one
// range both read-only and writable in one dispatch).

override WG: u32 = 256u;

struct Params {
  count: u32,
  dst_off: u32,   // copy: first element written in dst
  cap: f32,       // softcap; scale: the factor
  act: u32,       // glu: 0 SiLU, 1 GELU-tanh
  dst_off2: u32,  // copy2: first element written in out2
}
@group(0) @binding(0) var<uniform> p: Params;

@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
// copy and copy2 move 4-byte words as u32, so any bits (f32, i32 token ids) arrive unchanged
@group(0) @binding(1) var<storage, read_write> outu: array<u32>;   // copy, copy2
@group(0) @binding(2) var<storage, read> au: array<u32>;           // copy, copy2
@group(0) @binding(4) var<storage, read_write> out2: array<u32>;   // copy2
@group(0) @binding(5) var<storage, read> a2: array<u32>;           // copy2

fn index_of(wid: vec3<u32>, nw: vec3<u32>, li: u32) -> u32 {
  return (wid.x + wid.y * nw.x) * WG + li;
}

// tanh that stays finite for large |x| on every backend (some expand it through exp).
fn tanh_safe(x: f32) -> f32 {
  return tanh(clamp(x, -15.0, 15.0));
}

fn silu(x: f32) -> f32 {
  return x / (1.0 + exp(-x));
}

// PyTorch gelu(approximate='tanh')
fn gelu_tanh(x: f32) -> f32 {
  let inner = 0.7978845608028654 * (x + 0.044715 * x * x * x);
  return 0.5 * x * (1.0 + tanh_safe(inner));
}

fn act(g: f32) -> f32 {
  if (p.act == 1u) { return gelu_tanh(g); }
  return silu(g);
}

// out[i] = a[i] + b[i]
@compute @workgroup_size(WG)
fn add(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
       @builtin(local_invocation_index) li: u32) {
  let i = index_of(wid, nw, li);
  if (i < p.count) { out[i] = a[i] + b[i]; }
}

// out[i] += b[i]
@compute @workgroup_size(WG)
fn add_inplace(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
  let i = index_of(wid, nw, li);
  if (i < p.count) { out[i] = out[i] + b[i]; }
}

// out[dst_off + i] = a[i]
@compute @workgroup_size(WG)
fn copy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let i = index_of(wid, nw, li);
  if (i < p.count) { outu[p.dst_off + i] = au[i]; }
}

// out[i] = cap * tanh(out[i] / cap)
@compute @workgroup_size(WG)
fn softcap(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
           @builtin(local_invocation_index) li: u32) {
  let i = index_of(wid, nw, li);
  if (i < p.count) { out[i] = p.cap * tanh_safe(out[i] * (1.0 / p.cap)); }
}

// out[i] = out[i] * cap (a LoRA delta's scale between x A and its B)
@compute @workgroup_size(WG)
fn scale(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
         @builtin(local_invocation_index) li: u32) {
  let i = index_of(wid, nw, li);
  if (i < p.count) { out[i] = out[i] * p.cap; }
}

// out[i] = act(a[i]) * b[i]
@compute @workgroup_size(WG)
fn glu(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
       @builtin(local_invocation_index) li: u32) {
  let i = index_of(wid, nw, li);
  if (i < p.count) { out[i] = act(a[i]) * b[i]; }
}

// out[i] = act(out[i]) * b[i]
@compute @workgroup_size(WG)
fn glu_inplace(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
  let i = index_of(wid, nw, li);
  if (i < p.count) { out[i] = act(out[i]) * b[i]; }
}

// out[dst_off + i] = a[i] and out2[dst_off2 + i] = a2[i] (the K and V cache writes, fused)
@compute @workgroup_size(WG)
fn copy2(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
         @builtin(local_invocation_index) li: u32) {
  let i = index_of(wid, nw, li);
  if (i < p.count) {
    outu[p.dst_off + i] = au[i];
    out2[p.dst_off2 + i] = a2[i];
  }
}
