// sincos.wgsl — sin and cos with an explicit range reduction (Cody-Waite, pi/2 in three parts)
// and minimax polynomials, so that results do not depend on how a GPU evaluates sin/cos of large
// arguments: the rotary embedding's angles. Not a kernel of its own: web/tools/kernels.mjs joins
// it after kernels/rope.wgsl and into the weights_<type>_n kernels (kernels/weights_rope.wgsl).

// (sin a, cos a) accurate to a few ulp for |a| < 1e5.
fn sincos(a: f32) -> vec2<f32> {
  let k = round(a * 0.63661977236758134);   // a / (pi/2)
  var r = a - k * 1.5703125;
  r = r - k * 4.837512969970703125e-4;
  r = r - k * 7.54978995489188216e-8;
  let z = r * r;
  let s = r + r * z * (-1.6666654611e-1 + z * (8.3321608736e-3 + z * -1.9515295891e-4));
  let c = 1.0 - 0.5 * z + z * z * (4.166664568298827e-2 + z * (-1.388731625493765e-3 + z * 2.443315711809948e-5));
  let q = i32(k) & 3;
  if (q == 0) { return vec2<f32>(s, c); }
  if (q == 1) { return vec2<f32>(c, -s); }
  if (q == 2) { return vec2<f32>(-s, -c); }
  return vec2<f32>(-c, s);
}
