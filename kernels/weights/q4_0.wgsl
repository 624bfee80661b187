// weights/q4_0.wgsl (kernel weights_q4_0) — get_rows, dequant and matrix-vector products reading GGML Q4_0: blocks of 32 values { f16 d; u8 qs[16] } (18 bytes); value = d * (q - 8).
// q: value j's low (j < 16) or high nibble of qs[j % 16].
//
// The type-specific part of kernel weights_q4_0: QB, UNIT, w_elem (one value of a row starting at
// byte rb) and dot_unit (one unit of a row against x[xr + col]). The kernel is this file followed
// by kernels/weights_common.wgsl (entry points, bindings, byte readers), joined when the kernels
// are embedded (web/tools/kernels.mjs); WGSL declarations may come in any order.

const QB: u32 = 32u;   // activation block of the CPU's 8-bit x (0: x stays f32)

const UNIT: u32 = 8u;   // values per matvec unit: one word t of qs, values 4t..4t+3 (low nibbles) and
// 16+4t..16+4t+3 (high nibbles); consecutive units read consecutive words

fn w_elem(w: ptr<storage, array<u32>, read>, rb: u32, c: u32) -> f32 {
  let b = rb + (c / 32u) * 18u;
  let j = c % 32u;
  let q = ((rd8(w, b + 2u + j % 16u) >> (4u * (j / 16u))) & 15u);
  return f16_at(w, b) * (f32(q) - 8.0);
}

fn dot_unit(w: ptr<storage, array<u32>, read>, rb: u32, u: u32, xr: u32) -> f32 {
  let b = rb + (u / 4u) * 18u;
  let t = u % 4u;
  let xo = (xr + (u / 4u) * 32u + 4u * t) / 4u;   // in fours; the high nibbles' x is 4 fours on
  let qv = vec4<u32>(rd32(w, b + 2u + 4u * t)) >> vec4<u32>(0u, 8u, 16u, 24u);
  let lo = qv & vec4<u32>(15u);
  let hi = (qv >> vec4<u32>(4u)) & vec4<u32>(15u);
  let s = dot(u2f4(lo, 8.0), x_at4(xo)) + dot(u2f4(hi, 8.0), x_at4(xo + 4u));
  return f16_at(w, b) * s;
}
