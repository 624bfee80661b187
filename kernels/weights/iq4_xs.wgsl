// weights/iq4_xs.wgsl (kernel weights_iq4_xs) — get_rows, dequant and matrix-vector products reading GGML IQ4_XS: blocks of 256 values { f16 d; u16 scales_h; u8 scales_l[4]; u8 qs[128] }
// (136 bytes), 8 sub-blocks of 32 laid out as iq4_nl blocks with a 6-bit scale; value = d * (ls - 32) * grid[q].
//
// The type-specific part of kernel weights_iq4_xs: QB, UNIT, w_elem (one value of a row starting at
// byte rb) and dot_unit (one unit of a row against x[xr + col]). The kernel is this file followed
// by kernels/weights_common.wgsl (entry points, bindings, byte readers), joined when the kernels
// are embedded (web/tools/kernels.mjs); WGSL declarations may come in any order.

const QB: u32 = 256u;   // activation block of the CPU's 8-bit x (0: x stays f32)

const UNIT: u32 = 8u;   // values per matvec unit: one word t of a sub-block's qs, values 4t..4t+3 (low
// nibbles) and 16+4t..16+4t+3 (high nibbles); consecutive units read consecutive words

// iq4_nl's non-linear grid (GGML kvalues_iq4nl)
var<private> GRID: array<f32, 16> = array<f32, 16>(-127.0, -104.0, -83.0, -65.0, -49.0, -35.0, -22.0, -10.0,
                                                   1.0, 13.0, 25.0, 38.0, 53.0, 69.0, 89.0, 113.0);

fn grid4(q: vec4<u32>) -> vec4<f32> {
  return vec4<f32>(GRID[q.x], GRID[q.y], GRID[q.z], GRID[q.w]);
}

// d * (ls - 32) of sub-block ib of the block at b
fn xs_scale(w: ptr<storage, array<u32>, read>, b: u32, ib: u32) -> f32 {
  let ls = ((rd8(w, b + 4u + ib / 2u) >> (4u * (ib % 2u))) & 15u) | (((rd16(w, b + 2u) >> (2u * ib)) & 3u) << 4u);
  return f16_at(w, b) * (f32(ls) - 32.0);
}

fn w_elem(w: ptr<storage, array<u32>, read>, rb: u32, c: u32) -> f32 {
  let b = rb + (c / 256u) * 136u;
  let j = c % 256u;
  let q = (rd8(w, b + 8u + 16u * (j / 32u) + j % 16u) >> (4u * (j % 32u / 16u))) & 15u;
  return xs_scale(w, b, j / 32u) * GRID[q];
}

fn dot_unit(w: ptr<storage, array<u32>, read>, rb: u32, u: u32, xr: u32) -> f32 {
  let b = rb + (u / 32u) * 136u;
  let ib = (u % 32u) / 4u;
  let t = u % 4u;
  let xo = (xr + (u / 32u) * 256u + 32u * ib + 4u * t) / 4u;   // in fours
  let qv = vec4<u32>(rd32(w, b + 8u + 16u * ib + 4u * t)) >> vec4<u32>(0u, 8u, 16u, 24u);
  let s = dot(grid4(qv & vec4<u32>(15u)), x_at4(xo)) + dot(grid4((qv >> vec4<u32>(4u)) & vec4<u32>(15u)), x_at4(xo + 4u));
  return xs_scale(w, b, ib) * s;
}
