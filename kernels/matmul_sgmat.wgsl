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
//
// staged (tune prefill_sgmat=2, for products of 128 blocks or more; subgroups of 32, k a multiple
// of SBK, 20 KiB of workgroup memory): a workgroup of 256 computes an ST x ST (128 x 128) block,
// each of its 8 subgroups a 32 x 64 part (2 x 4 result matrices: 6 matrix loads per 8 products,
// against main's 4 per 4). Per step of SBK values of k the workgroup first copies the block's x and
// W rows into workgroup memory, 16 x 16 at a time by matrix loads from storage and matrix stores
// (rows SROW halves apart so that a matrix load's rows fall on different banks; copying by vec4s
// and scalar f16 stores instead ran 2-4x slower on the H200 under Dawn's robustness), and the
// subgroups load their matrices from there. The block is stored whole into a padded out (rows
// out_stride apart, operands padded to whole ST tiles); `unpad` then adds or writes it into the
// real out with the edges clipped.

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
@group(0) @binding(2) var<storage, read> padded: array<f32>;         // unpad: staged's out

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

const ST: u32 = 128u;      // staged: block of out per workgroup
const SBK: u32 = 32u;      // staged: values of k per step
const SROW: u32 = 40u;     // staged: halves per row in workgroup memory (SBK + 8)
var<workgroup> xs: array<f16, 5120>;   // staged: ST rows of x, SROW apart
var<workgroup> wst: array<f16, 5120>;  // staged: ST rows of W

// the slice kt .. kt + SBK of rows r0 .. r0 + 16 * row_tiles of src (rows p.k apart) into dst
// (rows SROW apart) as 16 x 16 matrices, loaded and stored by the subgroups first, first + step, ..
fn stage(src: ptr<storage, array<f16>, read>, dst: ptr<workgroup, array<f16, 5120>>, first: u32,
         step: u32, row_tiles: u32, r0: u32, kt: u32) {
  for (var t = first; t < row_tiles * (SBK / 16u); t = t + step) {
    let r = (t / (SBK / 16u)) * 16u;
    let q = (t % (SBK / 16u)) * 16u;
    let v = subgroupMatrixLoad<Left, row_major>(src, (r0 + r) * p.k + kt + q, p.k);
    subgroupMatrixStore<row_major>(dst, r * SROW + q, v, SROW);
  }
}

@compute @workgroup_size(256)
fn staged(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_id) sg: u32) {
  let i0 = wid.y * ST;
  let j0 = wid.x * ST;
  let si = (sg / 2u) * 32u;   // this subgroup's rows of the block
  let sj = (sg % 2u) * 64u;   // and columns
  var c0 = Result();
  var c1 = Result();
  var c2 = Result();
  var c3 = Result();
  var c4 = Result();
  var c5 = Result();
  var c6 = Result();
  var c7 = Result();
  for (var kt = 0u; kt < p.k; kt = kt + SBK) {
    stage(&xh, &xs, sg, 8u, ST / 16u, i0, kt);
    stage(&WH, &wst, sg, 8u, ST / 16u, j0, kt);
    workgroupBarrier();
    for (var kk = 0u; kk < SBK; kk = kk + 16u) {
      let a0 = subgroupMatrixLoad<Left, row_major>(&xs, si * SROW + kk, SROW);
      let a1 = subgroupMatrixLoad<Left, row_major>(&xs, (si + 16u) * SROW + kk, SROW);
      let b0 = subgroupMatrixLoad<Right, col_major>(&wst, sj * SROW + kk, SROW);
      let b1 = subgroupMatrixLoad<Right, col_major>(&wst, (sj + 16u) * SROW + kk, SROW);
      let b2 = subgroupMatrixLoad<Right, col_major>(&wst, (sj + 32u) * SROW + kk, SROW);
      let b3 = subgroupMatrixLoad<Right, col_major>(&wst, (sj + 48u) * SROW + kk, SROW);
      c0 = subgroupMatrixMultiplyAccumulate(a0, b0, c0);
      c1 = subgroupMatrixMultiplyAccumulate(a0, b1, c1);
      c2 = subgroupMatrixMultiplyAccumulate(a0, b2, c2);
      c3 = subgroupMatrixMultiplyAccumulate(a0, b3, c3);
      c4 = subgroupMatrixMultiplyAccumulate(a1, b0, c4);
      c5 = subgroupMatrixMultiplyAccumulate(a1, b1, c5);
      c6 = subgroupMatrixMultiplyAccumulate(a1, b2, c6);
      c7 = subgroupMatrixMultiplyAccumulate(a1, b3, c7);
    }
    workgroupBarrier();
  }
  let o = (i0 + si) * p.out_stride + j0 + sj;
  let o1 = o + 16u * p.out_stride;
  subgroupMatrixStore<row_major>(&out, o, c0, p.out_stride);
  subgroupMatrixStore<row_major>(&out, o + 16u, c1, p.out_stride);
  subgroupMatrixStore<row_major>(&out, o + 32u, c2, p.out_stride);
  subgroupMatrixStore<row_major>(&out, o + 48u, c3, p.out_stride);
  subgroupMatrixStore<row_major>(&out, o1, c4, p.out_stride);
  subgroupMatrixStore<row_major>(&out, o1 + 16u, c5, p.out_stride);
  subgroupMatrixStore<row_major>(&out, o1 + 32u, c6, p.out_stride);
  subgroupMatrixStore<row_major>(&out, o1 + 48u, c7, p.out_stride);
}

// out[i, col0 + j] (+)= padded[i, j] for i < n, j < m, padded's rows k values apart (staged's
// out): one invocation per value.
@compute @workgroup_size(256)
fn unpad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw3: vec3<u32>,
         @builtin(local_invocation_index) li: u32) {
  let t = (wid.x + wid.y * nw3.x) * 256u + li;
  if (t >= p.n * p.m) { return; }
  let i = t / p.m;
  let j = t % p.m;
  let o = i * p.out_stride + p.col0 + j;
  var v = padded[i * p.k + j];
  if (p.accumulate != 0u) { v = v + out[o]; }
  out[o] = v;
}
