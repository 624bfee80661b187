// rms_norm.wgsl — out[r, :] = x[r, :] / sqrt(mean(x[r, :]^2) + eps) * (w (+ 1 when plus_one)).
//
// One workgroup per row (rows over a 2-D grid of workgroups); WG invocations stride over the
// row, then a tree reduction in workgroup memory (WG must be a power of two). `main` reads x and
// writes out; `inplace` is the same with out == x; `norm_add` normalises out in place and adds
// the result to y (the sandwich norm before a residual add, fused); `lora_xa` is the first half
// of a LoRA adapter's deltas (below). For the norms folded into the decode products after them
// (kernels/weights_norm.wgsl), which take each x row's sum of squares from rss: `row_ss` writes
// it, and `norm_add_ss` is norm_add writing it for the y it leaves (the residual stream the next
// norm reads), so that the sum costs no dispatch of its own. `norm_add_q` is norm_add followed by
// main_q of the y it leaves (the next norm and its 8-bit blocks), one dispatch.

override WG: u32 = 256u;

struct Params {
  n: u32,
  d: u32,
  eps: f32,
  plus_one: u32,
  lr: u32,         // lora_xa: the adapter's rank
  count: u32,      // lora_xa: products (1..3)
  lu: u32,         // lora_xa: values of U per x row (>= count * lr)
  a0: u32,         // lora_xa: first value of A_0, A_1, A_2 in LA (LORA_NONE: not adapted)
  a1: u32,
  a2: u32,
  scale: f32,      // lora_xa: the adapter's scale
  norm: u32,       // lora_xa: 1 = x goes through the norm first; norm_add_q: 1 = h2 is out
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;   // norm_add; lora_xa: U
@group(0) @binding(5) var<storage, read> LA: array<f32>;        // lora_xa: the adapter's A matrices
@group(0) @binding(6) var<storage, read_write> rss: array<f32>; // row_ss, norm_add_ss: sum of squares per row
@group(0) @binding(8) var<storage, read> w2: array<f32>;        // norm_add_q: the next norm's weight
@group(0) @binding(9) var<storage, read_write> h2: array<f32>;  // norm_add_q: the next norm's output (norm 1: out)

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

// this invocation's part of the sum of squares of the x row starting at base
fn x_ss(base: u32, li: u32) -> f32 {
  var ss = 0.0;
  for (var i = li; i < p.d; i = i + WG) { let v = x[base + i]; ss = ss + v * v; }
  return ss;
}

// row r of out from x's (every invocation of the workgroup: uniform control flow); 1 / rms
fn norm_row(r: u32, li: u32) -> f32 {
  let base = r * p.d;
  let inv = 1.0 / sqrt(reduce_sum(li, x_ss(base, li)) / f32(p.d) + p.eps);
  for (var i = li; i < p.d; i = i + WG) { out[base + i] = (x[base + i] * inv) * weight(i); }
  return inv;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let r = wid.x + wid.y * nw.x;
  if (r >= p.n) { return; }
  _ = norm_row(r, li);
}

// main, and the row's 8-bit blocks of QB values for the decode products that read out next
// (kernels/pack_q8.wgsl: the blocks act_pack would make of out, written here so that they cost no
// dispatch of their own; WG a multiple of QB / 4, d of QB).
override QB: u32 = 256u;

@compute @workgroup_size(WG)
fn main_q(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
  let r = wid.x + wid.y * nw.x;
  if (r >= p.n) { return; }
  let base = r * p.d;
  // the first round's values and weights, loaded before the reduction (a decode row is one
  // workgroup: its memory latencies in a row are the op's); out is written with the blocks
  let g_first = li < p.d / 4u;
  var x0 = vec4<f32>(0.0);
  var w0 = vec4<f32>(0.0);
  if (g_first) {
    x0 = vec4<f32>(x[base + 4u * li], x[base + 4u * li + 1u], x[base + 4u * li + 2u], x[base + 4u * li + 3u]);
    w0 = vec4<f32>(weight(4u * li), weight(4u * li + 1u), weight(4u * li + 2u), weight(4u * li + 3u));
  }
  let inv = 1.0 / sqrt(reduce_sum(li, x_ss(base, li)) / f32(p.d) + p.eps);
  for (var g0 = 0u; g0 < p.d / 4u; g0 = g0 + WG) {
    let g = g0 + li;
    let live = g < p.d / 4u;
    var v = vec4<f32>(0.0);
    if (live) {
      let i = base + 4u * g;
      var xv = x0;
      var wv = w0;
      if (g0 > 0u) {
        xv = vec4<f32>(x[i], x[i + 1u], x[i + 2u], x[i + 3u]);
        wv = vec4<f32>(weight(4u * g), weight(4u * g + 1u), weight(4u * g + 2u), weight(4u * g + 3u));
      }
      v = (xv * inv) * wv;   // main's (x * inv) * w, component by component
      out[i] = v.x;
      out[i + 1u] = v.y;
      out[i + 2u] = v.z;
      out[i + 3u] = v.w;
    }
    pack_q8(li, g, live, v, r * (p.d / QB) * xq_words());
  }
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

// norm_add's row r: out normalised in place and added to y; returns this invocation's part of
// the sum of squares of y's new row (its values as stored)
fn norm_add_row(r: u32, li: u32) -> f32 {
  let base = r * p.d;
  var ss = 0.0;
  for (var i = li; i < p.d; i = i + WG) { let v = out[base + i]; ss = ss + v * v; }
  let inv = 1.0 / sqrt(reduce_sum(li, ss) / f32(p.d) + p.eps);
  var ys = 0.0;
  for (var i = li; i < p.d; i = i + WG) {
    let v = (out[base + i] * inv) * weight(i);
    out[base + i] = v;
    let yv = y[base + i] + v;
    y[base + i] = yv;
    ys = ys + yv * yv;
  }
  return ys;
}

@compute @workgroup_size(WG)
fn norm_add(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
            @builtin(local_invocation_index) li: u32) {
  let r = wid.x + wid.y * nw.x;
  if (r >= p.n) { return; }
  _ = norm_add_row(r, li);
}

// norm_add, then the norm that reads y next, as main_q would compute it from the y written here:
// h2 = y / rms(y) * (w2 (+ 1)) (into out itself when `norm` is 1: h2 is the h just normalised,
// scratch by then) and its 8-bit blocks of QB values for the decode products after it. One
// dispatch instead of two; the sum of squares of y's new row is norm_add_ss's (summed in the order
// main_q's x_ss sums it), so h2 and the blocks are main_q's to the bit.
fn weight2(i: u32) -> f32 {
  if (p.plus_one != 0u) { return 1.0 + w2[i]; }
  return w2[i];
}

@compute @workgroup_size(WG)
fn norm_add_q(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
              @builtin(local_invocation_index) li: u32) {
  let r = wid.x + wid.y * nw.x;
  if (r >= p.n) { return; }
  let base = r * p.d;
  let inv = 1.0 / sqrt(reduce_sum(li, norm_add_row(r, li)) / f32(p.d) + p.eps);
  storageBarrier();   // y's new row, written by every invocation, for the rounds below
  for (var g0 = 0u; g0 < p.d / 4u; g0 = g0 + WG) {
    let g = g0 + li;
    let live = g < p.d / 4u;
    var v = vec4<f32>(0.0);
    if (live) {
      let i = base + 4u * g;
      v = vec4<f32>((y[i] * inv) * weight2(4u * g), (y[i + 1u] * inv) * weight2(4u * g + 1u),
                    (y[i + 2u] * inv) * weight2(4u * g + 2u), (y[i + 3u] * inv) * weight2(4u * g + 3u));
      for (var e = 0u; e < 4u; e = e + 1u) {
        if (p.norm != 0u) { out[i + e] = v[e]; } else { h2[i + e] = v[e]; }
      }
    }
    pack_q8(li, g, live, v, r * (p.d / QB) * xq_words());
  }
}

@compute @workgroup_size(WG)
fn norm_add_ss(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
  let r = wid.x + wid.y * nw.x;
  if (r >= p.n) { return; }
  let ss = reduce_sum(li, norm_add_row(r, li));
  if (li == 0u) { rss[r] = ss; }
}

// rss[r] = sum of x[r, :]^2, summed as `main` sums it
@compute @workgroup_size(WG)
fn row_ss(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
  let r = wid.x + wid.y * nw.x;
  if (r >= p.n) { return; }
  let t = reduce_sum(li, x_ss(r * p.d, li));
  if (li == 0u) { rss[r] = t; }
}

// The first half of a LoRA adapter's deltas for the products of one input (the forward pass's
// q/k/v, gate/up, o or down; src/backend/webgpu/wg_lora.c), for x rows j < n (workgroup z):
//   y[j * lu + g] = scale * dot(xn[j, :], A_i[t, :])     g = i * lr + t, i < count, t < lr
// xn is x, or with `norm` this file's main: rms_norm(x; w), which workgroup 0 also writes to out,
// so that this dispatch replaces the norm's. The second half, the rank-lr product with B, is the
// epilogue of the _lora matrix-vector entries (weights_common.wgsl). One workgroup per (g, j):
// count * lr * n of them, WG lanes striding over the row with four loads in flight, then a tree
// reduction. The one-dispatch kernel reverted in 917ae59 instead had every workgroup of the
// product compute all of x A^T alone, hundreds of dependent loads: ~150 us per projection.
// A_i starts at value a_i of LA; LORA_NONE: product i is not adapted (its workgroups only return).
const LORA_NONE: u32 = 0xffffffffu;

fn a_start(i: u32) -> u32 {
  if (i == 0u) { return p.a0; }
  if (i == 1u) { return p.a1; }
  return p.a2;
}

// value c of the x row starting at xr, normalised with inv when norm
fn xn(xr: u32, c: u32, inv: f32) -> f32 {
  if (p.norm == 0u) { return x[xr + c]; }
  return (x[xr + c] * inv) * weight(c);
}

@compute @workgroup_size(WG)
fn lora_xa(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
           @builtin(local_invocation_index) li: u32) {
  let g = wid.x + wid.y * nw.x;
  if (g >= p.count * p.lr) { return; }
  let xr = wid.z * p.d;
  var inv = 1.0;
  if (p.norm != 0u) {
    var ss = 0.0;
    for (var i = li; i < p.d; i = i + WG) { let v = x[xr + i]; ss = ss + v * v; }
    inv = 1.0 / sqrt(reduce_sum(li, ss) / f32(p.d) + p.eps);
    if (g == 0u) {
      for (var i = li; i < p.d; i = i + WG) { out[xr + i] = xn(xr, i, inv); }
    }
  }
  let a = a_start(g / p.lr);
  if (a == LORA_NONE) { return; }
  let ra = a + (g % p.lr) * p.d;
  var s0 = 0.0;
  var s1 = 0.0;
  var s2 = 0.0;
  var s3 = 0.0;
  var c = li;
  for (; c + 3u * WG < p.d; c = c + 4u * WG) {
    s0 = s0 + xn(xr, c, inv) * LA[ra + c];
    s1 = s1 + xn(xr, c + WG, inv) * LA[ra + c + WG];
    s2 = s2 + xn(xr, c + 2u * WG, inv) * LA[ra + c + 2u * WG];
    s3 = s3 + xn(xr, c + 3u * WG, inv) * LA[ra + c + 3u * WG];
  }
  for (; c < p.d; c = c + WG) { s0 = s0 + xn(xr, c, inv) * LA[ra + c]; }
  let d = reduce_sum(li, (s0 + s1) + (s2 + s3));
  if (li == 0u) { y[wid.z * p.lu + g] = p.scale * d; }
}
