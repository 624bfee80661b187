// matmul_sgmat.wgsl — prefill products on the GPU's matrix units (tensor cores):
// out[i, col0 + j] (+)= sum_c x[i, c] * W[j, c] with x and W in f16 and f32 accumulation, through
// chromium_experimental_subgroup_matrix (f16 16x16x16 -> f32 matrices; the host uses this kernel
// only where the adapter lists that configuration, see ops_matmul.c). matmul_tiled.wgsl is the
// fallback everywhere else.
//
// Operands: xh = x in f16 (x_half below), WH = rows col0 .. of the weights in f16
// (weights_<type>:dequant_h), both with their rows padded with zeros to a multiple of TILE so that
// no matrix load leaves them; k is a multiple of 16. A workgroup computes a TILE x TILE block of
// out: each subgroup takes 32 x 32 quarters of it (2 x 2 result matrices, stepping through k 16 at
// a time, loads straight from the storage buffers), stores them into workgroup memory, and the
// workgroup writes the block out with the edges clipped.

enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium_experimental.subgroup_matrix_uniformity);

const TILE: u32 = 64u;
const WG: u32 = 128u;

struct Params {
  n: u32,           // rows of x (and of out)
  k: u32,           // values per row (multiple of 16)
  m: u32,           // weight rows in this call
  col0: u32,        // out column of weight row 0
  out_stride: u32,  // values per out row
  accumulate: u32,  // out += instead of out =
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> WH: array<f16>;
@group(0) @binding(3) var<storage, read> xh: array<f16>;
@group(0) @binding(1) var<storage, read_write> xh_out: array<f16>;   // x_half
@group(0) @binding(3) var<storage, read> xf: array<f32>;             // x_half

var<workgroup> tile: array<f32, 4096>;   // TILE x TILE, row-major

alias Left = subgroup_matrix_left<f16, 16, 16>;
alias Right = subgroup_matrix_right<f16, 16, 16>;
alias Result = subgroup_matrix_result<f32, 16, 16>;

// out block rows si .. si + 31, columns sj .. sj + 31 of the workgroup's tile at (i0, j0) into
// tile: 2 x 2 result matrices over k, 16 at a time, loaded straight from the storage buffers
fn quarter(i0: u32, j0: u32, si: u32, sj: u32) {
  var c00 = Result();
  var c01 = Result();
  var c10 = Result();
  var c11 = Result();
  let xa = (i0 + si) * p.k;
  let wb = (j0 + sj) * p.k;
  for (var kt = 0u; kt < p.k; kt = kt + 16u) {
    let a0 = subgroupMatrixLoad<Left, row_major>(&xh, xa + kt, p.k);
    let a1 = subgroupMatrixLoad<Left, row_major>(&xh, xa + 16u * p.k + kt, p.k);
    let b0 = subgroupMatrixLoad<Right, col_major>(&WH, wb + kt, p.k);
    let b1 = subgroupMatrixLoad<Right, col_major>(&WH, wb + 16u * p.k + kt, p.k);
    c00 = subgroupMatrixMultiplyAccumulate(a0, b0, c00);
    c01 = subgroupMatrixMultiplyAccumulate(a0, b1, c01);
    c10 = subgroupMatrixMultiplyAccumulate(a1, b0, c10);
    c11 = subgroupMatrixMultiplyAccumulate(a1, b1, c11);
  }
  subgroupMatrixStore<row_major>(&tile, si * TILE + sj, c00, TILE);
  subgroupMatrixStore<row_major>(&tile, si * TILE + sj + 16u, c01, TILE);
  subgroupMatrixStore<row_major>(&tile, (si + 16u) * TILE + sj, c10, TILE);
  subgroupMatrixStore<row_major>(&tile, (si + 16u) * TILE + sj + 16u, c11, TILE);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_id) sg: u32,
        @builtin(subgroup_size) sgs: u32, @builtin(local_invocation_index) li: u32) {
  let i0 = wid.y * TILE;
  let j0 = wid.x * TILE;
  // the four 32 x 32 quarters over the subgroups (4 of 32 invocations on NVIDIA): a constant
  // loop bound and an `if` without break or continue, so that the barrier below stays in
  // workgroup-uniform control flow
  for (var q = 0u; q < 4u; q = q + 1u) {
    if (q % (WG / sgs) == sg) { quarter(i0, j0, (q / 2u) * 32u, (q % 2u) * 32u); }
  }
  workgroupBarrier();
  for (var e = li; e < TILE * TILE; e = e + WG) {
    let i = i0 + e / TILE;
    let j = j0 + e % TILE;
    if (i < p.n && j < p.m) {
      let o = i * p.out_stride + p.col0 + j;
      var v = tile[e];
      if (p.accumulate != 0u) { v = v + out[o]; }
      out[o] = v;
    }
  }
}

// xh_out[i, c] = f16(xf[i, c]) for rows i < n, 0 for the padding rows up to out_stride (here: the
// padded row count): one invocation per value.
@compute @workgroup_size(256)
fn x_half(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw3: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
  let t = (wid.x + wid.y * nw3.x) * 256u + li;
  if (t >= p.out_stride * p.k) { return; }
  var v = 0.0;
  if (t < p.n * p.k) { v = xf[t]; }
  xh_out[t] = f16(clamp(v, -65504.0, 65504.0));
}
