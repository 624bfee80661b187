// weights_norm.wgsl — the rms_norm in front of a group of decode products, folded into them: the
// weights_<type>_n kernels compute nmatvec / nmatvec3 of rms_norm(x; g) in one dispatch, no
// normalised x written. Joined by web/tools/kernels.mjs before kernels/weights_common.wgsl, whose
// calls (and the type's dot_unit's) of x_at, x_at4, x_part and x_scale it renames to the
// functions below:
//   - dot_unit reads x * g (x_norm, x_norm4), every product is (x * g) . w;
//   - every workgroup sums the squares of its x row (norm_part: WG lanes over k / 4 vec4s, loads
//     that bring x into the cache the products read it from), reduces them over the workgroup
//     after the row sums (norm_scale) and scales the row sums by 1 / sqrt(mean + eps), as
//     kernels/rms_norm.wgsl. Per product row nothing else changes, so x is read from memory
//     once per workgroup either way.
// Not a kernel of its own.

// x and g are read by fours only (x4, gn4; the scalar reads of the float types pick a lane):
// x and x4 share a binding, and one entry point may use only one of them. So k % 4 == 0.
@group(0) @binding(10) var<storage, read> gn4: array<vec4<f32>>;  // the norm's weight g [k]

var<workgroup> red3: array<f32, WG>;
var<private> x_row: u32;   // the first value of this workgroup's x row (set by norm_part)

// g (+ 1 with flag 16: Gemma's norms)
fn norm_one() -> f32 { return select(0.0, 1.0, (p.flags & 16u) != 0u); }
fn x_norm(i: u32) -> f32 {
  let c = i - x_row;
  return x4[i >> 2u][i & 3u] * (gn4[c >> 2u][c & 3u] + norm_one());
}
fn x_norm4(i: u32) -> vec4<f32> { return x4[i] * (gn4[i - x_row / 4u] + vec4<f32>(norm_one())); }

fn norm_part(li: u32, xr: u32) -> f32 {
  x_row = xr;
  var ss = 0.0;
  for (var c = li; c < p.k / 4u; c = c + WG) { let v = x4[xr / 4u + c]; ss = ss + dot(v, v); }
  return ss;
}

fn norm_scale(li: u32, part: f32) -> f32 {
  red3[li] = part;
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    workgroupBarrier();
    if (li < s) { red3[li] = red3[li] + red3[li + s]; }
  }
  workgroupBarrier();
  return 1.0 / sqrt(red3[0] / f32(p.k) + p.eps);
}
