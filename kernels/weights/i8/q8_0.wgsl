// weights/i8/q8_0.wgsl — dot_unit_i8 of kernel weights_q8_0_i8 (kernels/weights_i8.wgsl): unit u of
// q8_0 (two words of a block's signed bytes) against the 8-bit x block of the same 32 values.

fn dot_unit_i8(w: ptr<storage, array<u32>, read>, rb: u32, u: u32, xr: u32) -> f32 {
  let b = rb + (u / 4u) * 34u;
  let qo = b + 2u + 8u * (u % 4u);
  let xb = xq_block(xr, (u / 4u) * 32u);
  let xw = xb + 2u * (u % 4u);
  let s = dot4I8Packed(rd32(w, qo), xq[xw]) + dot4I8Packed(rd32(w, qo + 4u), xq[xw + 1u]);
  return f16_at(w, b) * xq_d(xb) * f32(s);
}
