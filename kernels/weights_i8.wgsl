// weights_i8.wgsl — the 8-bit-activation part of the weights_<type>_i8 kernels: matrix-vector
// products with dot4I8Packed (the packed_4x8_integer_dot_product language feature; llama.cpp's
// dp4a path). Not a kernel of its own: web/tools/kernels.mjs joins kernels/weights/<type>.wgsl,
// kernels/weights/i8/<type>.wgsl (its dot_unit_i8), this file and kernels/weights_common.wgsl with
// its dot_unit calls renamed dot_unit_i8, so that matvec, nmatvec, nmatvec3 and moe_matvec of the
// joined kernel read x as xq: x ([n, k] floats) through the CPU's 8-bit activation blocks of QB
// values (q8_scale: the same rounding as act_quant), written by act_pack. Block b of xq is QB / 4
// words of packed signed bytes, then its scale d as f32 bits (x ~ d * q).

@group(0) @binding(3) var<storage, read> xq: array<u32>;
@group(0) @binding(1) var<storage, read_write> outq: array<u32>;

const XQW: u32 = QB / 4u + 1u;   // words per block of xq
const ONES: u32 = 0x01010101u;   // dot4I8Packed(v, ONES): the sum of v's four bytes

// the first word of the xq block holding value c of the x row starting at value xr
fn xq_block(xr: u32, c: u32) -> u32 {
  return ((xr + c) / QB) * XQW;
}

// xq of x ([n, k]): one invocation per block of QB values, over n * k / QB blocks.
@compute @workgroup_size(WG)
fn act_pack(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw3: vec3<u32>,
            @builtin(local_invocation_index) li: u32) {
  let bi = (wid.x + wid.y * nw3.x) * WG + li;
  if (bi >= p.n * p.k / QB) { return; }
  let base = bi * QB;
  let s = q8_scale(base);
  let ob = bi * XQW;
  for (var e = 0u; e < QB / 4u; e = e + 1u) {
    let v = vec4<f32>(x[base + 4u * e], x[base + 4u * e + 1u], x[base + 4u * e + 2u], x[base + 4u * e + 3u]);
    outq[ob + e] = pack4xI8(vec4<i32>(min(vec4<f32>(127.0), round(v * s.y))));
  }
  outq[ob + QB / 4u] = bitcast<u32>(s.x);
}
