// matmul_tiled.wgsl — out[i, col0 + j] (+)= sum_c x[i, c] * W[j, c] for f32 x [n, k] and f32
// W [m, k] (weights of other types are first expanded by weights_*.wgsl:dequant, a chunk of rows
// at a time; col0 places the chunk's columns in out, whose rows are out_stride apart).
//
// Workgroups of 16 x 16 invocations compute 64 x 64 output tiles, 4 x 4 values each, stepping
// through k in slices of 16 held in workgroup memory. Shapes need not be multiples of the tile:
// loads past the edges read zeros and stores past them are skipped.

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
