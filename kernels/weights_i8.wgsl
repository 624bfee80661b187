// weights_i8.wgsl — the 8-bit-activation part of the weights_<type>_i8 kernels: matrix-vector
// products with dot4I8Packed (the packed_4x8_integer_dot_product language feature; llama.cpp's
// dp4a path). Not a kernel of its own: web/tools/kernels.mjs joins kernels/weights/<type>.wgsl,
// kernels/weights/i8/<type>.wgsl (its dot_unit_i8), this file and kernels/weights_common.wgsl with
// its dot_unit calls renamed dot_unit_i8, so that matvec, nmatvec, nmatvec3 and moe_matvec of the
// joined kernel read x as xq: x ([n, k] floats) through the CPU's 8-bit activation blocks of QB
// values (kernels/pack_q8.wgsl), written by act_pack.

@group(0) @binding(3) var<storage, read> xq: array<u32>;

const ONES: u32 = 0x01010101u;   // dot4I8Packed(v, ONES): the sum of v's four bytes

// the first word of the xq block holding value c of the x row starting at value xr
fn xq_block(xr: u32, c: u32) -> u32 {
  return ((xr + c) / QB) * xq_words();
}

// the scale d of the xq block at word xb
fn xq_d(xb: u32) -> f32 {
  return bitcast<f32>(xq[xb + xq_d_at()]);
}

// xq of x ([n, k], k a multiple of QB): 4 values per invocation, WG * 4 per workgroup (whole
// blocks), over n * k / (4 WG) workgroups.
@compute @workgroup_size(WG)
fn act_pack(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw3: vec3<u32>,
            @builtin(local_invocation_index) li: u32) {
  let t = (wid.x + wid.y * nw3.x) * WG + li;
  let live = t < p.n * p.k / 4u;
  var v = vec4<f32>(0.0);
  if (live) { v = x4[t]; }
  pack_q8(li, t, live, v, 0u);
}
