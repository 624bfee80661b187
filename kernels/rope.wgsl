// rope.wgsl — rotary position embedding in place on x[n, n_head * head_dim].
// `norm_rope` first rms-normalises each head (q/k norm of Qwen3 / Gemma 3), one workgroup per
// (row, head); `rope2` does q and k (x and x2, each optionally normalised) in one dispatch.
//
// One invocation per (row, head, pair): pair i (< rot_dim / 2) rotates dims (i, i + rot_dim/2)
// (NeoX / HF rotate-half) or (2i, 2i + 1) (interleaved, GGML "normal") by the angle
// pos[row] * inv_freq[i] (an f32 product, as the reference computes it); the rotated values are
// scaled by mscale. Dims past rot_dim are untouched. sin/cos come from kernels/sincos.wgsl
// (joined after this file by web/tools/kernels.mjs; also in the weights_<type>_n kernels).

override WG: u32 = 256u;

struct Params {
  n: u32,
  n_head: u32,
  head_dim: u32,
  half: u32,          // rot_dim / 2
  interleaved: u32,
  mscale: f32,
  eps: f32,           // norm_rope: rms-norm epsilon
  plus_one: u32,      // norm_rope: norm weight + 1
  n_head2: u32,       // rope2: heads of x2
  eps2: f32,          // rope2: x2's rms-norm epsilon
  plus_one2: u32,
  norms: u32,         // rope2: 1 normalise x's heads, 2 normalise x2's heads
  kc_off: u32,        // rope2kv: first element written in kc
  vc_off: u32,        // rope2kv: first element written in vc
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> pos: array<i32>;
@group(0) @binding(3) var<storage, read> inv_freq: array<f32>;
@group(0) @binding(4) var<storage, read> nw: array<f32>;   // norm_rope, rope2: weight [head_dim]
@group(0) @binding(5) var<storage, read_write> x2: array<f32>;   // rope2: the second tensor (k)
@group(0) @binding(6) var<storage, read> nw2: array<f32>;        // rope2: its norm weight

var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let t = (wid.x + wid.y * nw.x) * WG + li;
  if (t >= p.n * p.n_head * p.half) { return; }
  let i = t % p.half;
  let h = (t / p.half) % p.n_head;
  let r = t / (p.half * p.n_head);
  let sc = sincos(f32(pos[r]) * inv_freq[i]) * p.mscale;
  var i0 = i;
  var i1 = i + p.half;
  if (p.interleaved != 0u) { i0 = 2u * i; i1 = 2u * i + 1u; }
  let base = (r * p.n_head + h) * p.head_dim;
  let a = x[base + i0];
  let b = x[base + i1];
  x[base + i0] = a * sc.y - b * sc.x;
  x[base + i1] = b * sc.y + a * sc.x;
}

fn rotate(base: u32, i: u32, sc: vec2<f32>) {
  var i0 = i;
  var i1 = i + p.half;
  if (p.interleaved != 0u) { i0 = 2u * i; i1 = 2u * i + 1u; }
  let a = x[base + i0];
  let b = x[base + i1];
  x[base + i0] = a * sc.y - b * sc.x;
  x[base + i1] = b * sc.y + a * sc.x;
}

@compute @workgroup_size(WG)
fn norm_rope(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw3: vec3<u32>,
             @builtin(local_invocation_index) li: u32) {
  let t = wid.x + wid.y * nw3.x;   // (row, head)
  if (t >= p.n * p.n_head) { return; }
  let r = t / p.n_head;
  let base = t * p.head_dim;
  var ss = 0.0;
  for (var i = li; i < p.head_dim; i = i + WG) { let v = x[base + i]; ss = ss + v * v; }
  red[li] = ss;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (li < s) { red[li] = red[li] + red[li + s]; }
    workgroupBarrier();
  }
  let inv = 1.0 / sqrt(red[0] / f32(p.head_dim) + p.eps);
  for (var i = li; i < p.head_dim; i = i + WG) {
    var g = nw[i];
    if (p.plus_one != 0u) { g = g + 1.0; }
    x[base + i] = (x[base + i] * inv) * g;
  }
  storageBarrier();
  workgroupBarrier();
  let pos_f = f32(pos[r]);
  for (var i = li; i < p.half; i = i + WG) { rotate(base, i, sincos(pos_f * inv_freq[i]) * p.mscale); }
}

fn head_sumsq(li: u32, v: f32) -> f32 {
  red[li] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (li < s) { red[li] = red[li] + red[li + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

fn rotate2(base: u32, i: u32, sc: vec2<f32>) {
  var i0 = i;
  var i1 = i + p.half;
  if (p.interleaved != 0u) { i0 = 2u * i; i1 = 2u * i + 1u; }
  let a = x2[base + i0];
  let b = x2[base + i1];
  x2[base + i0] = a * sc.y - b * sc.x;
  x2[base + i1] = b * sc.y + a * sc.x;
}

// one head of x (t < n * n_head) or of x2: optional rms-norm, then rotation in place
fn rope_head(t: u32, li: u32) {
  let n1 = p.n * p.n_head;
  let second = t >= n1;   // uniform: one head per workgroup
  var r = t / p.n_head;
  var base = t * p.head_dim;
  if (second) { r = (t - n1) / p.n_head2; base = (t - n1) * p.head_dim; }
  let normed = (second && (p.norms & 2u) != 0u) || (!second && (p.norms & 1u) != 0u);
  if (normed) {
    var ss = 0.0;
    for (var i = li; i < p.head_dim; i = i + WG) {
      var v = x[base + i];
      if (second) { v = x2[base + i]; }
      ss = ss + v * v;
    }
    let tot = head_sumsq(li, ss);
    var eps = p.eps;
    if (second) { eps = p.eps2; }
    let inv = 1.0 / sqrt(tot / f32(p.head_dim) + eps);
    for (var i = li; i < p.head_dim; i = i + WG) {
      if (second) {
        var g = nw2[i];
        if (p.plus_one2 != 0u) { g = g + 1.0; }
        x2[base + i] = (x2[base + i] * inv) * g;
      } else {
        var g = nw[i];
        if (p.plus_one != 0u) { g = g + 1.0; }
        x[base + i] = (x[base + i] * inv) * g;
      }
    }
    storageBarrier();
    workgroupBarrier();
  }
  let pos_f = f32(pos[r]);
  for (var i = li; i < p.half; i = i + WG) {
    let sc = sincos(pos_f * inv_freq[i]) * p.mscale;
    if (second) { rotate2(base, i, sc); } else { rotate(base, i, sc); }
  }
}

// workgroups [0, n * n_head): heads of x; [n * n_head, n * (n_head + n_head2)): heads of x2
@compute @workgroup_size(WG)
fn rope2(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw3: vec3<u32>,
         @builtin(local_invocation_index) li: u32) {
  let t = wid.x + wid.y * nw3.x;
  if (t >= p.n * (p.n_head + p.n_head2)) { return; }
  rope_head(t, li);
}

// rope2 and the KV cache writes of the step in one dispatch (9 storage buffers: only where the
// device allows more than 8): after its rotation a head of x2 (k) is also copied to
// kc[kc_off + ...]; workgroups past the q and k heads copy the heads of v to vc[vc_off + ...].
@group(0) @binding(7) var<storage, read_write> kc: array<f32>;
@group(0) @binding(8) var<storage, read> v: array<f32>;
@group(0) @binding(9) var<storage, read_write> vc: array<f32>;

@compute @workgroup_size(WG)
fn rope2kv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw3: vec3<u32>,
           @builtin(local_invocation_index) li: u32) {
  let t = wid.x + wid.y * nw3.x;
  let n1 = p.n * p.n_head;
  let n2 = n1 + p.n * p.n_head2;
  if (t >= n2 + p.n * p.n_head2) { return; }
  if (t < n2) {
    rope_head(t, li);
    if (t >= n1) {
      storageBarrier();
      workgroupBarrier();
      let base = (t - n1) * p.head_dim;
      for (var i = li; i < p.head_dim; i = i + WG) { kc[p.kc_off + base + i] = x2[base + i]; }
    }
    return;
  }
  let base = (t - n2) * p.head_dim;
  for (var i = li; i < p.head_dim; i = i + WG) { vc[p.vc_off + base + i] = v[base + i]; }
}
