// rms_norm.wgsl — out[r, :] = x[r, :] / sqrt(mean(x[r, :]^2) + eps) * (w (+ 1 when plus_one)).
//
// One workgroup per row (rows over a 2-D grid of workgroups); WG invocations stride over the
// row, then a tree reduction in workgroup memory (WG must be a power of two). `main` reads x and
// writes out; `inplace` is the same with out == x; `norm_add` normalises out in place and adds
// the result to y (the sandwich norm before a residual add, fused).

override WG: u32 = 256u;

struct Params {
  n: u32,
  d: u32,
  eps: f32,
  plus_one: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;   // norm_add

var<workgroup> red: array<f32, WG>;

fn reduce_sum(li: u32, v: f32) -> f32 {
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

fn weight(i: u32) -> f32 {
  if (p.plus_one != 0u) { return 1.0 + w[i]; }
  return w[i];
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let r = wid.x + wid.y * nw.x;
  if (r >= p.n) { return; }
  let base = r * p.d;
  var ss = 0.0;
  for (var i = li; i < p.d; i = i + WG) { let v = x[base + i]; ss = ss + v * v; }
  let inv = 1.0 / sqrt(reduce_sum(li, ss) / f32(p.d) + p.eps);
  for (var i = li; i < p.d; i = i + WG) { out[base + i] = (x[base + i] * inv) * weight(i); }
}

@compute @workgroup_size(WG)
fn inplace(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
           @builtin(local_invocation_index) li: u32) {
  let r = wid.x + wid.y * nw.x;
  if (r >= p.n) { return; }
  let base = r * p.d;
  var ss = 0.0;
  for (var i = li; i < p.d; i = i + WG) { let v = out[base + i]; ss = ss + v * v; }
  let inv = 1.0 / sqrt(reduce_sum(li, ss) / f32(p.d) + p.eps);
  for (var i = li; i < p.d; i = i + WG) { out[base + i] = (out[base + i] * inv) * weight(i); }
}

@compute @workgroup_size(WG)
fn norm_add(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
            @builtin(local_invocation_index) li: u32) {
  let r = wid.x + wid.y * nw.x;
  if (r >= p.n) { return; }
  let base = r * p.d;
  var ss = 0.0;
  for (var i = li; i < p.d; i = i + WG) { let v = out[base + i]; ss = ss + v * v; }
  let inv = 1.0 / sqrt(reduce_sum(li, ss) / f32(p.d) + p.eps);
  for (var i = li; i < p.d; i = i + WG) {
    let v = (out[base + i] * inv) * weight(i);
    out[base + i] = v;
    y[base + i] = y[base + i] + v;
  }
}
