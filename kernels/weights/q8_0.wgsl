// weights/q8_0.wgsl (kernel weights_q8_0) — get_rows, dequant and matrix-vector products reading GGML q8_0: blocks of 32 values { f16 d; i8 qs[32] } (34 bytes, so blocks and rows may
// start on any even byte); value = d * qs[i].
//
// The type-specific part of kernel weights_q8_0: QB, UNIT, w_elem (one value of a row starting at
// byte rb) and dot_unit (one unit of a row against x[xr + col]). The kernel is this file followed
// by kernels/weights_common.wgsl (entry points, bindings, byte readers), joined when the kernels
// are embedded (web/tools/kernels.mjs); WGSL declarations may come in any order.

const QB: u32 = 32u;   // activation block of the CPU's 8-bit x (0: x stays f32)

const UNIT: u32 = 8u;   // values per matvec unit: two words of a block's qs; consecutive units read
// consecutive words

fn i8_of(v: u32) -> i32 {
  return (i32(v << 24u) >> 24u);
}

fn w_elem(w: ptr<storage, array<u32>, read>, rb: u32, c: u32) -> f32 {
  let b = rb + (c / 32u) * 34u;
  return f16_at(w, b) * f32(i8_of(rd8(w, b + 2u + c % 32u)));
}

// the four signed bytes of q as floats: byte ^ 128 is byte + 128 as an unsigned value
fn i8x4(q: u32) -> vec4<f32> {
  return u2f4(((vec4<u32>(q) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(255u)) ^ vec4<u32>(128u), 128.0);
}

fn dot_unit(w: ptr<storage, array<u32>, read>, rb: u32, u: u32, xr: u32) -> f32 {
  let b = rb + (u / 4u) * 34u;
  let qo = b + 2u + 8u * (u % 4u);
  let xo = (xr + (u / 4u) * 32u + 8u * (u % 4u)) / 4u;   // in fours
  let s = dot(i8x4(rd32(w, qo)), x_at4(xo)) + dot(i8x4(rd32(w, qo + 4u)), x_at4(xo + 1u));
  return f16_at(w, b) * s;
}
