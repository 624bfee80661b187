// weights/q6_k.wgsl (kernel weights_q6_k) — get_rows, dequant and matrix-vector products reading GGML q6_K: blocks of 256 values { u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d } (210 bytes,
// so blocks may start on any even byte); value = d * scale * (q - 32) with 6-bit q.
//
// The type-specific part of kernel weights_q6_k: QB, UNIT, w_elem (one value of a row starting at
// byte rb) and dot_unit (one unit of a row against x[xr + col]). The kernel is this file followed
// by kernels/weights_common.wgsl (entry points, bindings, byte readers), joined when the kernels
// are embedded (web/tools/kernels.mjs); WGSL declarations may come in any order.

const QB: u32 = 256u;   // activation block of the CPU's 8-bit x (0: x stays f32)

const UNIT: u32 = 16u;   // values per matvec unit: 4 consecutive positions l of one half block, 4 values each;
// consecutive units read consecutive words of ql and qh

fn i8_of(v: u32) -> i32 {
  return (i32(v << 24u) >> 24u);
}

fn w_elem(w: ptr<storage, array<u32>, read>, rb: u32, c: u32) -> f32 {
  let b = rb + (c / 256u) * 210u;
  let j = c % 256u;
  let h = j / 128u;
  let qd = (j % 128u) / 32u;
  let l = j % 32u;
  let lb = rd8(w, b + h * 64u + l + 32u * (qd & 1u));
  let q = ((lb >> (4u * (qd >> 1u))) & 15u) | (((rd8(w, b + 128u + h * 32u + l) >> (2u * qd)) & 3u) << 4u);
  let sc = f32(i8_of(rd8(w, b + 192u + h * 8u + l / 16u + 2u * qd)));
  return f16_at(w, b + 208u) * sc * f32(i32(q) - 32);
}

fn dot_unit(w: ptr<storage, array<u32>, read>, rb: u32, u: u32, xr: u32) -> f32 {
  let blk = u / 16u;
  let h = (u % 16u) / 8u;
  let l0 = (u % 8u) * 4u;
  let b = rb + blk * 210u;
  let xo = (xr + blk * 256u + h * 128u + l0) / 4u;   // in fours; the quarters are 8 fours apart
  let scb = b + 192u + h * 8u + l0 / 16u;
  let la = rd32(w, b + h * 64u + l0);
  let lb = rd32(w, b + h * 64u + 32u + l0);
  let qh = rd32(w, b + 128u + h * 32u + l0);
  let sh = vec4<u32>(0u, 8u, 16u, 24u);
  let a = (vec4<u32>(la) >> sh) & vec4<u32>(255u);
  let c = (vec4<u32>(lb) >> sh) & vec4<u32>(255u);
  let hh = (vec4<u32>(qh) >> sh) & vec4<u32>(255u);
  let m4 = vec4<u32>(15u);
  let m2 = vec4<u32>(3u);
  let q0 = u2f4((a & m4) | ((hh & m2) << vec4<u32>(4u)), 32.0);
  let q1 = u2f4((c & m4) | (((hh >> vec4<u32>(2u)) & m2) << vec4<u32>(4u)), 32.0);
  let q2 = u2f4((a >> vec4<u32>(4u)) | (((hh >> vec4<u32>(4u)) & m2) << vec4<u32>(4u)), 32.0);
  let q3 = u2f4((c >> vec4<u32>(4u)) | (((hh >> vec4<u32>(6u)) & m2) << vec4<u32>(4u)), 32.0);
  let s = vec4<f32>(dot(q0, x4[xo]), dot(q1, x4[xo + 8u]), dot(q2, x4[xo + 16u]), dot(q3, x4[xo + 24u]));
  let sc = vec4<f32>(f32(i8_of(rd8(w, scb))), f32(i8_of(rd8(w, scb + 2u))), f32(i8_of(rd8(w, scb + 4u))),
                     f32(i8_of(rd8(w, scb + 6u))));
  return f16_at(w, b + 208u) * dot(sc, s);
}
