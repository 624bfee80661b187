// weights_norm.wgsl — the rms_norm in front of a group of decode products, folded into them: the
// weights_<type>_n kernels compute nmatvec / nmatvec3 of rms_norm(x; g) in one dispatch, no
// normalised x written. Joined by web/tools/kernels.mjs before kernels/weights_common.wgsl, whose
// calls (and the type's dot_unit's) of x_at, x_at4, x_part and x_scale it renames to the
// functions below:
//   - dot_unit reads x * g (x_norm, x_norm4), every product is (x * g) . w;
//   - the row sums are scaled by 1 / sqrt(ss / k + eps) (norm_scale), ss the sum of the squares
//     of the x row, read from rss: computed once per x row before this dispatch (wg_fuse.c: by
//     the epilogue of the sandwich norm's residual add that wrote x, rms_norm:norm_add_ss, else by
//     rms_norm:row_ss), not by every workgroup. The same expression as rms_norm.wgsl's over the
//     same ss, so the scale is the unfolded norm's to the bit.
// Not a kernel of its own.

// x and g are read by fours only (x4, gn4; the scalar reads of the float types pick a lane):
// x and x4 share a binding, and one entry point may use only one of them. So k % 4 == 0.
@group(0) @binding(10) var<storage, read> gn4: array<vec4<f32>>;  // the norm's weight g [k]
@group(0) @binding(13) var<storage, read> rss: array<f32>;        // sum of squares of x row j [n]

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
  return 0.0;
}

fn norm_scale(li: u32, part: f32) -> f32 {
  return 1.0 / sqrt(rss[x_row / p.k] / f32(p.k) + p.eps);
}
