// lora.wgsl — the LoRA delta of one adapted projection in one dispatch (decode, small batches):
//   out[i, row] += scale * sum_j (sum_c x[i, c] A[j, c]) B[row, j]      i < n, row < m, j < r
// A is [r, k] and B [m, r], both f32. Every workgroup first computes its own copy of the n x r
// values scale * x A^T in workgroup memory (r dot products of length k per token row: for rank 16
// a few hundred thousand multiply-adds, A read from L2), then adds the delta to ROWS rows of out.
// One dispatch instead of a product, a scale and a second product (ops_matmul.c keeps that
// three-dispatch form for n > MAX_N or r > MAX_R): decode with an adapter on every projection was
// bound by dispatches, not bytes (docs/BENCHMARKS.md).

override WG: u32 = 256u;
const MAX_R: u32 = 64u;
const MAX_N: u32 = 4u;
const ROWS: u32 = 1024u;   // rows of out per workgroup (WG lanes, 4 passes)

struct Params {
  n: u32,
  k: u32,
  r: u32,
  m: u32,
  scale: f32,
  lanes: u32,   // lanes per rank component: WG / (r rounded up to a power of two)
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> a: array<f32>;
@group(0) @binding(4) var<storage, read> b: array<f32>;

var<workgroup> part: array<f32, 256>;
var<workgroup> t: array<f32, 256>;   // MAX_N * MAX_R

@compute @workgroup_size(WG)
fn delta(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  // 1. t[i * r + j] = scale * dot(x[i], A[j]): `lanes` lanes per j, each a strided slice of k
  let L = p.lanes;
  let j = li / L;
  let q = li % L;
  for (var i = 0u; i < p.n; i++) {
    var acc = 0.0;
    if (j < p.r) {
      for (var c = q; c < p.k; c += L) { acc += x[i * p.k + c] * a[j * p.k + c]; }
    }
    part[li] = acc;
    workgroupBarrier();
    for (var s = L / 2u; s > 0u; s = s / 2u) {
      if (q < s) { part[li] += part[li + s]; }
      workgroupBarrier();
    }
    if (q == 0u && j < p.r) { t[i * p.r + j] = p.scale * part[li]; }
    workgroupBarrier();
  }
  // 2. this workgroup's rows of out
  let row0 = wid.x * ROWS;
  let row1 = min(row0 + ROWS, p.m);
  for (var row = row0 + li; row < row1; row += WG) {
    for (var i = 0u; i < p.n; i++) {
      var d = 0.0;
      for (var jj = 0u; jj < p.r; jj++) { d += t[i * p.r + jj] * b[row * p.r + jj]; }
      out[i * p.m + row] += d;
    }
  }
}
