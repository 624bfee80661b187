// weights/q2_k.wgsl (kernel weights_q2_k) — get_rows, dequant and matrix-vector products reading GGML Q2_K: blocks of 256 values { u8 scales[16]; u8 qs[64]; f16 d; f16 dmin } (84 bytes),
// 16 groups of 16 with a 4-bit scale (low nibble of scales[g]) and min (high nibble); value v has
// the 2 bits at 2 (v % 128 / 32) of qs[32 (v / 128) + v % 32]; value = d * sc * q - dmin * m.
//
// The type-specific part of kernel weights_q2_k: QB, UNIT, w_elem (one value of a row starting at
// byte rb) and dot_unit (one unit of a row against x[xr + col]). The kernel is this file followed
// by kernels/weights_common.wgsl (entry points, bindings, byte readers), joined when the kernels
// are embedded (web/tools/kernels.mjs); WGSL declarations may come in any order.

const QB: u32 = 256u;   // activation block of the CPU's 8-bit x (0: x stays f32)

const UNIT: u32 = 16u;  // values per matvec unit: one word of qs (byte l holds values 32j + l of its half for
// the four 2-bit fields j); consecutive units read consecutive words

// the 2-bit field of value j (< 256) of the block at b
fn q2_bits(w: ptr<storage, array<u32>, read>, b: u32, j: u32) -> u32 {
  return (rd8(w, b + 32u * (j / 128u) + j % 32u) >> (2u * (j % 128u / 32u))) & 3u;
}

fn w_elem(w: ptr<storage, array<u32>, read>, rb: u32, c: u32) -> f32 {
  let b = rb + (c / 256u) * 84u;
  let j = c % 256u;
  let sc = rd8(w, b + j / 16u);
  let dm = unpack2x16float(rd32(w, b + 80u));
  return dm.x * f32(sc & 15u) * f32(q2_bits(w, b + 16u, j)) - dm.y * f32(sc >> 4u);
}

fn dot_unit(w: ptr<storage, array<u32>, read>, rb: u32, u: u32, xr: u32) -> f32 {
  let b = rb + (u / 16u) * 84u;
  let wi = u % 16u;
  let v0 = 128u * (wi / 8u) + 4u * (wi % 8u);   // the word's first value (field 0)
  let q = vec4<u32>(rd32(w, b + 16u + 4u * wi)) >> vec4<u32>(0u, 8u, 16u, 24u);
  let dm = unpack2x16float(rd32(w, b + 80u));
  var s = 0.0;
  var m = 0.0;
  for (var f = 0u; f < 4u; f = f + 1u) {
    let v = v0 + 32u * f;
    let sc = rd8(w, b + v / 16u);
    let xv = x_at4((xr + (u / 16u) * 256u + v) / 4u);
    s = s + f32(sc & 15u) * dot(u2f4((q >> vec4<u32>(2u * f)) & vec4<u32>(3u), 0.0), xv);
    m = m + f32(sc >> 4u) * dot(xv, vec4<f32>(1.0));
  }
  return dm.x * s - dm.y * m;
}
