// matmul_tiled.wgsl — out[i, col0 + j] (+)= sum_c x[i, c] * W[j, c] for f32 x [n, k] and f32
// W [m, k] (weights of other types are first expanded by weights_*.wgsl:dequant, a chunk of rows
// at a time; col0 places the chunk's columns in out, whose rows are out_stride apart).
//
// main (the default): workgroups of 16 x 16 invocations compute 64 x 64 output tiles, 4 x 4
// values each, stepping through k in slices of 16 held in workgroup memory.
// blocked (tune prefill_tile=64|128, k a multiple of 4; faster on SwiftShader, slower on an
// NVIDIA H200): workgroups of TX x TY invocations compute (8 TY) x (8 TX) tiles
// (rows of x by rows of W), 8 x 8 values each, from slices of BK = 16 of k held in workgroup
// memory as vec4s: per value of k an invocation reads 4 vec4s (its 8 x values, its 8 W values:
// two groups of 4, half a tile apart) for 64 products, against 8 scalar reads for 16 in main;
// the slices are loaded from storage by vec4s along k. Each out value is the sum over k in
// ascending order in both entries, so they give the same results.
// Shapes need not be multiples of the tile: loads past the edges read zeros and stores past them
// are skipped.

const TILE: u32 = 64u;
const BK: u32 = 16u;

struct Params {
  n: u32,
  k: u32,
  m: u32,
  col0: u32,
  out_stride: u32,
  accumulate: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> W: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> W4: array<vec4<f32>>;   // blocked
@group(0) @binding(3) var<storage, read> x4: array<vec4<f32>>;

var<workgroup> xs: array<f32, 1024>;   // [BK][TILE]
var<workgroup> ws: array<f32, 1024>;   // [BK][TILE]

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let i0 = wid.y * TILE;
  let j0 = wid.x * TILE;
  var acc: array<f32, 16>;
  for (var t = 0u; t < 16u; t = t + 1u) { acc[t] = 0.0; }
  for (var kt = 0u; kt < p.k; kt = kt + BK) {
    for (var e = 0u; e < 4u; e = e + 1u) {
      let idx = li + e * 256u;
      let r = idx / BK;
      let kk = idx % BK;
      var xv = 0.0;
      if (i0 + r < p.n && kt + kk < p.k) { xv = x[(i0 + r) * p.k + kt + kk]; }
      xs[kk * TILE + r] = xv;
      var wv = 0.0;
      if (j0 + r < p.m && kt + kk < p.k) { wv = W[(j0 + r) * p.k + kt + kk]; }
      ws[kk * TILE + r] = wv;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk = kk + 1u) {
      let a = vec4<f32>(xs[kk * TILE + lid.y * 4u], xs[kk * TILE + lid.y * 4u + 1u],
                        xs[kk * TILE + lid.y * 4u + 2u], xs[kk * TILE + lid.y * 4u + 3u]);
      let b = vec4<f32>(ws[kk * TILE + lid.x * 4u], ws[kk * TILE + lid.x * 4u + 1u],
                        ws[kk * TILE + lid.x * 4u + 2u], ws[kk * TILE + lid.x * 4u + 3u]);
      for (var u = 0u; u < 4u; u = u + 1u) {
        acc[u * 4u] = acc[u * 4u] + a[u] * b.x;
        acc[u * 4u + 1u] = acc[u * 4u + 1u] + a[u] * b.y;
        acc[u * 4u + 2u] = acc[u * 4u + 2u] + a[u] * b.z;
        acc[u * 4u + 3u] = acc[u * 4u + 3u] + a[u] * b.w;
      }
    }
    workgroupBarrier();
  }
  for (var u = 0u; u < 4u; u = u + 1u) {
    let i = i0 + lid.y * 4u + u;
    if (i >= p.n) { continue; }
    for (var v = 0u; v < 4u; v = v + 1u) {
      let j = j0 + lid.x * 4u + v;
      if (j >= p.m) { continue; }
      let o = i * p.out_stride + p.col0 + j;
      var r = acc[u * 4u + v];
      if (p.accumulate != 0u) { r = r + out[o]; }
      out[o] = r;
    }
  }
}

override TX: u32 = 16u;   // blocked: invocations along W's rows (8 TX rows of W per workgroup)
override TY: u32 = 16u;   //          and along x's rows (8 TY)
var<workgroup> xb4: array<vec4<f32>, 2u * BK * TY>;   // [BK][8 TY / 4]: x slice, k-major
var<workgroup> wb4: array<vec4<f32>, 2u * BK * TX>;   // [BK][8 TX / 4]

// one slice of k (kt .. kt + BK) of rows r0 .. r0 + rows of a [rows_all, k] matrix, by vec4s along
// k, into k-major vec4s of workgroup memory (dst: 0 x, 1 W)
fn blocked_load(dst: u32, li: u32, nt: u32, r0: u32, rows: u32, rows_all: u32, kt: u32) {
  for (var e = li; e < rows * (BK / 4u); e = e + nt) {
    let r = e / (BK / 4u);
    let c = e % (BK / 4u);   // vec4 of the slice along k: a row's BK values by neighbouring invocations
    var v = vec4<f32>(0.0);
    let kk = kt + 4u * c;
    if (r0 + r < rows_all && kk < p.k) {
      let at = ((r0 + r) * p.k + kk) / 4u;
      if (dst == 0u) { v = x4[at]; } else { v = W4[at]; }
    }
    for (var u = 0u; u < 4u; u = u + 1u) {
      let o = (4u * c + u) * (rows / 4u) + r / 4u;
      if (dst == 0u) { xb4[o][r % 4u] = v[u]; } else { wb4[o][r % 4u] = v[u]; }
    }
  }
}

@compute @workgroup_size(TX, TY)
fn blocked(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
           @builtin(local_invocation_index) li: u32) {
  let rx = 8u * TY;   // x rows per workgroup
  let rw = 8u * TX;   // W rows
  let i0 = wid.y * rx;
  let j0 = wid.x * rw;
  var acc: array<vec4<f32>, 16>;   // [8 x rows][2 groups of 4 W rows]
  for (var t = 0u; t < 16u; t = t + 1u) { acc[t] = vec4<f32>(0.0); }
  for (var kt = 0u; kt < p.k; kt = kt + BK) {
    blocked_load(0u, li, TX * TY, i0, rx, p.n, kt);
    blocked_load(1u, li, TX * TY, j0, rw, p.m, kt);
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk = kk + 1u) {
      let a0 = xb4[kk * 2u * TY + lid.y];
      let a1 = xb4[kk * 2u * TY + TY + lid.y];
      let b0 = wb4[kk * 2u * TX + lid.x];
      let b1 = wb4[kk * 2u * TX + TX + lid.x];
      for (var u = 0u; u < 4u; u = u + 1u) {
        acc[u * 2u] = acc[u * 2u] + a0[u] * b0;
        acc[u * 2u + 1u] = acc[u * 2u + 1u] + a0[u] * b1;
        acc[8u + u * 2u] = acc[8u + u * 2u] + a1[u] * b0;
        acc[8u + u * 2u + 1u] = acc[8u + u * 2u + 1u] + a1[u] * b1;
      }
    }
    workgroupBarrier();
  }
  for (var t = 0u; t < 16u; t = t + 1u) {
    // x row: group t / 8 (half a tile apart), 4 lid.y + (t / 2) % 4; W rows: group t % 2
    let i = i0 + (t / 8u) * 4u * TY + 4u * lid.y + (t / 2u) % 4u;
    if (i >= p.n) { continue; }
    for (var v = 0u; v < 4u; v = v + 1u) {
      let j = j0 + (t % 2u) * 4u * TX + 4u * lid.x + v;
      if (j >= p.m) { continue; }
      let o = i * p.out_stride + p.col0 + j;
      var r = acc[t][v];
      if (p.accumulate != 0u) { r = r + out[o]; }
      out[o] = r;
    }
  }
}
