// weights_i8p.wgsl — the weights_<type>_i8p kernels (tune matvec_pack): the products over 8-bit x
// of weights_<type>_i8 (kernels/weights_i8.wgsl), with each workgroup packing its x row into its
// own memory instead of reading blocks that another dispatch wrote (rms_norm:main_q before q/k/v,
// gate/up and the LM head; act_pack before down). Not a kernel of its own: web/tools/kernels.mjs
// joins it in place of weights_i8.wgsl, with the i8 file's reads of xq / xq4 going to the
// workgroup array xq4 below (xq[i] as xq_word(i)), kernels/pack_q8.wgsl's stores into outq going
// there too (xq_put), and the calls of x_part in kernels/weights_common.wgsl — the first thing
// every product entry does — renamed xq_part:
//   - x is [n, k] floats at binding 3 (read by fours); workgroup z packs row z;
//   - flag 32: x goes through the rms_norm of weight g (binding 10; g + 1 with flag 16) first,
//     the same expressions as rms_norm.wgsl's main_q, so that with main_q's WG the blocks are
//     main_q's to the bit.
// Each workgroup reads its x row once (twice with the norm) and spends a reduction and the
// packing's barriers on it; the dispatch that wrote the blocks, and the wait for it, are saved.

@group(0) @binding(10) var<storage, read> gn4: array<vec4<f32>>;   // the norm's weight g [k] (flag 32)

override XQ4: u32 = 1u;   // vec4 words of one x row's blocks: k / QB * xq_words() / 4
var<workgroup> xq4: array<vec4<u32>, XQ4>;

const ONES: u32 = 0x01010101u;   // dot4I8Packed(v, ONES): the sum of v's four bytes

fn xq_word(i: u32) -> u32 { return xq4[i >> 2u][i & 3u]; }
fn xq_put(i: u32, v: u32) { xq4[i >> 2u][i & 3u] = v; }

// the first word of the block holding value c of the x row starting at value xr (a multiple of
// k: the workgroup holds that row alone)
fn xq_block(xr: u32, c: u32) -> u32 {
  return (c / QB) * xq_words();
}

// the scale d of the block at word xb
fn xq_d(xb: u32) -> f32 {
  return bitcast<f32>(xq_word(xb + xq_d_at()));
}

// x row [xr, xr + k) (through the norm with flag 32) into xq4's blocks; every invocation of the
// workgroup, in uniform control flow (pack_q8 ends with a barrier). Returns x_part's 0.
fn xq_part(li: u32, xr: u32) -> f32 {
  let norm = (p.flags & 32u) != 0u;
  let r4 = xr / 4u;
  var inv = 1.0;
  if (norm) {   // rms_norm.wgsl's x_ss and reduce_sum
    var ss = 0.0;
    for (var i = li; i < p.k; i = i + WG) { let v = x4[r4 + i / 4u][i % 4u]; ss = ss + v * v; }
    red[li] = ss;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
      if (li < s) { red[li] = red[li] + red[li + s]; }
      workgroupBarrier();
    }
    inv = 1.0 / sqrt(red[0] / f32(p.k) + p.eps);
    workgroupBarrier();
  }
  let one = select(0.0, 1.0, (p.flags & 16u) != 0u);
  for (var g0 = 0u; g0 < p.k / 4u; g0 = g0 + WG) {
    let g = g0 + li;
    let live = g < p.k / 4u;
    var v = vec4<f32>(0.0);
    if (live) {
      v = x4[r4 + g];
      if (norm) { v = (v * inv) * (gn4[g] + vec4<f32>(one)); }   // main_q's (x * inv) * w
    }
    pack_q8(li, g, live, v, 0u);
  }
  return 0.0;
}
