// weights/q5_k.wgsl (kernel weights_q5_k) — get_rows, dequant and matrix-vector products reading GGML q5_K: blocks of 256 values { f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128] }
// (176 bytes); like q4_K with a fifth bit per value from qh.
//
// The type-specific part of kernel weights_q5_k: QB, UNIT, w_elem (one value of a row starting at
// byte rb) and dot_unit (one unit of a row against x[xr + col]). The kernel is this file followed
// by kernels/weights_common.wgsl (entry points, bindings, byte readers), joined when the kernels
// are embedded (web/tools/kernels.mjs); WGSL declarations may come in any order.

const QB: u32 = 256u;   // activation block of the CPU's 8-bit x (0: x stays f32)

const UNIT: u32 = 8u;   // values per matvec unit: one word of qs (4 low + 4 high nibbles) with its qh bits;
// consecutive units are consecutive words

fn w_elem(w: ptr<storage, array<u32>, read>, rb: u32, c: u32) -> f32 {
  let b = rb + (c / 256u) * 176u;
  let j = c % 256u;
  let chunk = j / 64u;
  let hi = (j % 64u) / 32u;
  let l = j % 32u;
  let q = ((rd8(w, b + 48u + chunk * 32u + l) >> (4u * hi)) & 15u)
        + (((rd8(w, b + 16u + l) >> (2u * chunk + hi)) & 1u) << 4u);
  let dm = unpack2x16float(rd32(w, b));
  let sm = scale_min(w, b + 4u, chunk * 2u + hi);
  return dm.x * sm.x * f32(q) - dm.y * sm.y;
}

fn dot_unit(w: ptr<storage, array<u32>, read>, rb: u32, u: u32, xr: u32) -> f32 {
  let b = rb + (u / 32u) * 176u;
  let t = u % 32u;
  let chunk = t / 8u;
  let wi = t % 8u;
  let xo = xr + (u / 32u) * 256u + chunk * 64u + wi * 4u;
  let dm = unpack2x16float(rd32(w, b));
  let sm1 = scale_min(w, b + 4u, chunk * 2u);
  let sm2 = scale_min(w, b + 4u, chunk * 2u + 1u);
  let q = rd32(w, b + 48u + chunk * 32u + wi * 4u);
  let h = rd32(w, b + 16u + wi * 4u) >> (2u * chunk);
  let xa = x_at4(xo / 4u);
  let xb = x_at4(xo / 4u + 8u);
  let sh = vec4<u32>(0u, 8u, 16u, 24u);
  let qv = vec4<u32>(q) >> sh;
  let hv = vec4<u32>(h) >> sh;
  let qa = (qv & vec4<u32>(15u)) + ((hv & vec4<u32>(1u)) << vec4<u32>(4u));
  let qb = ((qv >> vec4<u32>(4u)) & vec4<u32>(15u)) + (((hv >> vec4<u32>(1u)) & vec4<u32>(1u)) << vec4<u32>(4u));
  let s1 = dot(u2f4(qa, 0.0), xa);
  let s2 = dot(u2f4(qb, 0.0), xb);
  let x1 = dot(xa, vec4<f32>(1.0));
  let x2 = dot(xb, vec4<f32>(1.0));
  return dm.x * (sm1.x * s1 + sm2.x * s2) - dm.y * (sm1.y * x1 + sm2.y * x2);
}
