// weights/q4_k.wgsl (kernel weights_q4_k) — get_rows, dequant and matrix-vector products reading GGML q4_K: blocks of 256 values { f16 d; f16 dmin; u8 scales[12]; u8 qs[128] } (144 bytes),
// 8 sub-blocks of 32 with 6-bit scale and min; value = d * sc * q - dmin * m.
//
// The type-specific part of kernel weights_q4_k: QB, UNIT, w_elem (one value of a row starting at
// byte rb) and dot_unit (one unit of a row against x[xr + col]). The kernel is this file followed
// by kernels/weights_common.wgsl (entry points, bindings, byte readers), joined when the kernels
// are embedded (web/tools/kernels.mjs); WGSL declarations may come in any order.

const QB: u32 = 256u;   // activation block of the CPU's 8-bit x (0: x stays f32)

const UNIT: u32 = 16u;  // values per matvec unit: two words of qs (8 low + 8 high nibbles); consecutive units
// are consecutive word pairs, so the lanes of a row read memory contiguously

fn w_elem(w: ptr<storage, array<u32>, read>, rb: u32, c: u32) -> f32 {
  let b = rb + (c / 256u) * 144u;
  let j = c % 256u;
  let chunk = j / 64u;
  let hi = (j % 64u) / 32u;
  let q = (rd8(w, b + 16u + chunk * 32u + j % 32u) >> (4u * hi)) & 15u;
  let dm = unpack2x16float(rd32(w, b));
  let sm = scale_min(w, b + 4u, chunk * 2u + hi);
  return dm.x * sm.x * f32(q) - dm.y * sm.y;
}

// scale_min from the scale words s0 = bytes 0..3, s1 = 4..7, s2 = 8..11, for sub-block j
fn scale_min_w(s0: u32, s1: u32, s2: u32, j: u32) -> vec2<f32> {
  let sh = (j % 4u) * 8u;
  let a = (s0 >> sh) & 0xffu;
  let m = (s1 >> sh) & 0xffu;
  let c = (s2 >> sh) & 0xffu;
  let lo = vec2<u32>(a & 63u, m & 63u);
  let hi = vec2<u32>((c & 15u) | ((a >> 6u) << 4u), (c >> 4u) | ((m >> 6u) << 4u));
  return vec2<f32>(select(hi, lo, j < 4u));
}

// the stored part of unit u of the row at byte rb: two qs words (their low nibbles are values
// c .. c + 7 of the row, the high nibbles c + 32 .. c + 39), (d, dmin), and the (scale, min) of
// the two sub-blocks
struct Q4KUnit {
  q0: u32,
  q1: u32,
  c: u32,
  dm: vec2<f32>,
  sm1: vec2<f32>,
  sm2: vec2<f32>,
}

fn q4k_unit(w: ptr<storage, array<u32>, read>, rb: u32, u: u32) -> Q4KUnit {
  let bw = (rb + (u / 16u) * 144u) >> 2u;   // the block's first word (rows and blocks are word-aligned)
  let t = u % 16u;
  let chunk = t / 4u;
  let wp = (t % 4u) * 2u;                    // its first qs word within the chunk's 8
  let w0 = (*w)[bw + 1u];
  let w1 = (*w)[bw + 2u];
  let w2 = (*w)[bw + 3u];
  return Q4KUnit((*w)[bw + 4u + chunk * 8u + wp], (*w)[bw + 5u + chunk * 8u + wp],
                 (u / 16u) * 256u + chunk * 64u + wp * 4u, unpack2x16float((*w)[bw]),
                 scale_min_w(w0, w1, w2, chunk * 2u), scale_min_w(w0, w1, w2, chunk * 2u + 1u));
}

fn dot_unit(w: ptr<storage, array<u32>, read>, rb: u32, u: u32, xr: u32) -> f32 {
  let q = q4k_unit(w, rb, u);
  let xo = (xr + q.c) / 4u;   // in fours
  let xa0 = x_at4(xo);
  let xa1 = x_at4(xo + 1u);
  let xb0 = x_at4(xo + 8u);
  let xb1 = x_at4(xo + 9u);
  let m4 = vec4<u32>(15u);
  let s1 = dot(u2f4(vec4<u32>(q.q0, q.q0 >> 8u, q.q0 >> 16u, q.q0 >> 24u) & m4, 0.0), xa0)
         + dot(u2f4(vec4<u32>(q.q1, q.q1 >> 8u, q.q1 >> 16u, q.q1 >> 24u) & m4, 0.0), xa1);
  let s2 = dot(u2f4(vec4<u32>(q.q0 >> 4u, q.q0 >> 12u, q.q0 >> 20u, q.q0 >> 28u) & m4, 0.0), xb0)
         + dot(u2f4(vec4<u32>(q.q1 >> 4u, q.q1 >> 12u, q.q1 >> 20u, q.q1 >> 28u) & m4, 0.0), xb1);
  let one = vec4<f32>(1.0);
  let x1 = dot(xa0 + xa1, one);
  let x2 = dot(xb0 + xb1, one);
  return q.dm.x * (q.sm1.x * s1 + q.sm2.x * s2) - q.dm.y * (q.sm1.y * x1 + q.sm2.y * x2);
}
