// weights/q3_k.wgsl (kernel weights_q3_k) — get_rows, dequant and matrix-vector products reading GGML Q3_K: blocks of 256 values { u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d } (110 bytes),
// 16 groups of 16 with a 6-bit scale; value v has the 2 bits at 2 (v % 128 / 32) of
// qs[32 (v / 128) + v % 32], minus 4 unless bit v / 32 of hmask[v % 32] is set; value = d * (sc - 32) * q.
//
// The type-specific part of kernel weights_q3_k: QB, UNIT, w_elem (one value of a row starting at
// byte rb) and dot_unit (one unit of a row against x[xr + col]). The kernel is this file followed
// by kernels/weights_common.wgsl (entry points, bindings, byte readers), joined when the kernels
// are embedded (web/tools/kernels.mjs); WGSL declarations may come in any order.

const QB: u32 = 256u;   // activation block of the CPU's 8-bit x (0: x stays f32)

const UNIT: u32 = 16u;  // values per matvec unit: one word of qs (byte l holds values 32j + l of its half for
// the four 2-bit fields j); consecutive units read consecutive words

// the 6-bit scale of group g (< 16) from the 12 bytes at b (GGML's q3_K scale unpacking)
fn q3_scale(w: ptr<storage, array<u32>, read>, b: u32, g: u32) -> f32 {
  let lo = (rd8(w, b + g % 8u) >> (4u * (g / 8u))) & 15u;
  let hi = (rd8(w, b + 8u + g % 4u) >> (2u * (g / 4u))) & 3u;
  return f32(lo | (hi << 4u)) - 32.0;
}

fn w_elem(w: ptr<storage, array<u32>, read>, rb: u32, c: u32) -> f32 {
  let b = rb + (c / 256u) * 110u;
  let j = c % 256u;
  let lo = (rd8(w, b + 32u + 32u * (j / 128u) + j % 32u) >> (2u * (j % 128u / 32u))) & 3u;
  let h = (rd8(w, b + j % 32u) >> (j / 32u)) & 1u;
  return f16_at(w, b + 108u) * q3_scale(w, b + 96u, j / 16u) * (f32(lo) - select(4.0, 0.0, h == 1u));
}

fn dot_unit(w: ptr<storage, array<u32>, read>, rb: u32, u: u32, xr: u32) -> f32 {
  let b = rb + (u / 16u) * 110u;
  let wi = u % 16u;
  let half = wi / 8u;
  let v0 = 128u * half + 4u * (wi % 8u);   // the word's first value (field 0)
  let sh = vec4<u32>(0u, 8u, 16u, 24u);
  let q = vec4<u32>(rd32(w, b + 32u + 4u * wi)) >> sh;
  let hm = vec4<u32>(rd32(w, b + 4u * (wi % 8u))) >> sh;
  var s = 0.0;
  for (var f = 0u; f < 4u; f = f + 1u) {
    let v = v0 + 32u * f;
    let hb = (hm >> vec4<u32>(4u * half + f)) & vec4<u32>(1u);
    let lv = u2f4((q >> vec4<u32>(2u * f)) & vec4<u32>(3u), 4.0) + 4.0 * vec4<f32>(hb);
    s = s + q3_scale(w, b + 96u, v / 16u) * dot(lv, x_at4((xr + (u / 16u) * 256u + v) / 4u));
  }
  return f16_at(w, b + 108u) * s;
}
