// weights/f32.wgsl (kernel weights_f32) — get_rows, dequant and matrix-vector products reading f32 weights: 4 bytes per value.
//
// The type-specific part of kernel weights_f32: QB, UNIT, w_elem (one value of a row starting at
// byte rb) and dot_unit (one unit of a row against x[xr + col]). The kernel is this file followed
// by kernels/weights_common.wgsl (entry points, bindings, byte readers), joined when the kernels
// are embedded (web/tools/kernels.mjs); WGSL declarations may come in any order.

const QB: u32 = 0u;   // activation block of the CPU's 8-bit x (0: x stays f32)

const UNIT: u32 = 1u;   // values per matvec unit

fn w_elem(w: ptr<storage, array<u32>, read>, rb: u32, c: u32) -> f32 {
  return bitcast<f32>((*w)[rb / 4u + c]);
}

fn dot_unit(w: ptr<storage, array<u32>, read>, rb: u32, u: u32, xr: u32) -> f32 {
  return bitcast<f32>((*w)[rb / 4u + u]) * x_at(xr + u);
}
