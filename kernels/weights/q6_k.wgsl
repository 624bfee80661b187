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

// the stored part of unit u of the row at byte rb: the 6-bit values (0..63, before the -32) of
// positions l0 .. l0 + 3 of the four quarters of a half block as bytes of q (quarter i: values
// c + 32 i .. c + 32 i + 3 of the row), the quarters' scales and d
struct Q6KUnit {
  q: vec4<u32>,
  c: u32,
  sc: vec4<f32>,
  d: f32,
}

fn q6k_unit(w: ptr<storage, array<u32>, read>, rb: u32, u: u32) -> Q6KUnit {
  let blk = u / 16u;
  let h = (u % 16u) / 8u;
  let l0 = (u % 8u) * 4u;
  let b = rb + blk * 210u;
  let scb = b + 192u + h * 8u + l0 / 16u;
  let la = rd32(w, b + h * 64u + l0);
  let lb = rd32(w, b + h * 64u + 32u + l0);
  let qh = rd32(w, b + 128u + h * 32u + l0);
  let m4 = 0x0f0f0f0fu;
  let m2 = 0x03030303u;
  let q = vec4<u32>((la & m4) | ((qh & m2) << 4u), (lb & m4) | (((qh >> 2u) & m2) << 4u),
                    ((la >> 4u) & m4) | (((qh >> 4u) & m2) << 4u), ((lb >> 4u) & m4) | (((qh >> 6u) & m2) << 4u));
  let sc = vec4<f32>(f32(i8_of(rd8(w, scb))), f32(i8_of(rd8(w, scb + 2u))), f32(i8_of(rd8(w, scb + 4u))),
                     f32(i8_of(rd8(w, scb + 6u))));
  return Q6KUnit(q, blk * 256u + h * 128u + l0, sc, f16_at(w, b + 208u));
}

// the four bytes of v as floats minus 32
fn q6_f4(v: u32) -> vec4<f32> {
  return u2f4((vec4<u32>(v) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(255u), 32.0);
}

fn dot_unit(w: ptr<storage, array<u32>, read>, rb: u32, u: u32, xr: u32) -> f32 {
  let q = q6k_unit(w, rb, u);
  let xo = (xr + q.c) / 4u;   // in fours; the quarters are 8 fours apart
  let s = vec4<f32>(dot(q6_f4(q.q.x), x_at4(xo)), dot(q6_f4(q.q.y), x_at4(xo + 8u)), dot(q6_f4(q.q.z), x_at4(xo + 16u)),
                    dot(q6_f4(q.q.w), x_at4(xo + 24u)));
  return q.d * dot(q.sc, s);
}
