// weights/i8/q6_k.wgsl — dot_unit_i8 of kernel weights_q6_k_i8 (kernels/weights_i8.wgsl): unit u of
// q6_K against the 8-bit x blocks; the 6-bit values (0..63) go into dot4I8Packed as they are and
// the -32 becomes 32 times the sum of x's bytes.

fn dot_unit_i8(w: ptr<storage, array<u32>, read>, rb: u32, u: u32, xr: u32) -> f32 {
  let q = q6k_unit(w, rb, u);
  let xb = xq_block(xr, q.c);
  let xw = xb + ((xr + q.c) % 256u) / 4u;   // the quarters are 8 words apart
  let xv = vec4<u32>(xq[xw], xq[xw + 8u], xq[xw + 16u], xq[xw + 24u]);
  let s = vec4<i32>(dot4I8Packed(q.q.x, xv.x) - 32 * dot4I8Packed(xv.x, ONES),
                    dot4I8Packed(q.q.y, xv.y) - 32 * dot4I8Packed(xv.y, ONES),
                    dot4I8Packed(q.q.z, xv.z) - 32 * dot4I8Packed(xv.z, ONES),
                    dot4I8Packed(q.q.w, xv.w) - 32 * dot4I8Packed(xv.w, ONES));
  return q.d * xq_d(xb) * dot(q.sc, vec4<f32>(s));
}
