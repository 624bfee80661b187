// weights/i8/q4_k.wgsl — dot_unit_i8 of kernel weights_q4_k_i8 (kernels/weights_i8.wgsl): unit u of
// q4_K against the 8-bit x blocks, nibbles as bytes (v & 0x0f0f0f0f) into dot4I8Packed.

fn dot_unit_i8(w: ptr<storage, array<u32>, read>, rb: u32, u: u32, xr: u32) -> f32 {
  let q = q4k_unit(w, rb, u);
  let xb = xq_block(xr, q.c);
  let xw = xb + ((xr + q.c) % 256u) / 4u;
  let xa0 = xq[xw];
  let xa1 = xq[xw + 1u];
  let xb0 = xq[xw + 8u];
  let xb1 = xq[xw + 9u];
  let m4 = 0x0f0f0f0fu;
  let s1 = dot4I8Packed(q.q0 & m4, xa0) + dot4I8Packed(q.q1 & m4, xa1);
  let s2 = dot4I8Packed((q.q0 >> 4u) & m4, xb0) + dot4I8Packed((q.q1 >> 4u) & m4, xb1);
  let x1 = dot4I8Packed(xa0, ONES) + dot4I8Packed(xa1, ONES);
  let x2 = dot4I8Packed(xb0, ONES) + dot4I8Packed(xb1, ONES);
  return bitcast<f32>(xq[xb + 64u]) *
         (q.dm.x * (q.sm1.x * f32(s1) + q.sm2.x * f32(s2)) - q.dm.y * (q.sm1.y * f32(x1) + q.sm2.y * f32(x2)));
}
