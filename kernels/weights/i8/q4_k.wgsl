// weights/i8/q4_k.wgsl — dot_unit_i8 of kernel weights_q4_k_i8 (kernels/weights_i8.wgsl): a unit is
// 64 values, one sub-block pair of a block: the block's 16-byte header (d, dmin, scales) and two
// 16-byte loads of qs, nibbles as bytes (v & 0x0f0f0f0f) into 16 dot4I8Packed against the 8-bit x,
// whose block sums stand in for the mins. The weights are read 16 bytes at a time: the
// weights_<type>_i8 kernels of a type whose i8 file defines wd (this one; q4_K blocks are 144
// bytes, rows and blocks 16-byte aligned) bind W, W2, W3 as arrays of vec4<u32>, and
// web/tools/kernels.mjs rewrites the word reads of q4_k.wgsl and weights_common.wgsl through wd.
// On an H200 (web/bench/matvec-bench.mjs) this unit is 2.2x (14336 x 4096) to 2.9x (4096 x 14336)
// faster than the 16-value f32 unit, and 2x faster than the same unit reading u32 words.

const UNIT_I8: u32 = 64u;

@group(0) @binding(3) var<storage, read> xq4: array<vec4<u32>>;   // xq by fours (blocks of 76 words: xq_words)

fn wd(w: ptr<storage, array<vec4<u32>>, read>, i: u32) -> u32 {
  return (*w)[i >> 2u][i & 3u];
}

fn dp4(a: vec4<u32>, b: vec4<u32>) -> i32 {
  return dot4I8Packed(a.x, b.x) + dot4I8Packed(a.y, b.y) + dot4I8Packed(a.z, b.z) + dot4I8Packed(a.w, b.w);
}

fn dot_unit_i8(w: ptr<storage, array<vec4<u32>>, read>, rb: u32, u: u32, xr: u32) -> f32 {
  let b4 = rb / 16u + (u / 4u) * 9u;   // the block's header
  let ch = u % 4u;                     // its 64-value chunk: sub-blocks 2 ch (low nibbles), 2 ch + 1
  let hd = (*w)[b4];
  let q0 = (*w)[b4 + 1u + ch * 2u];
  let q1 = (*w)[b4 + 2u + ch * 2u];
  let xb = xq_block(xr, (u / 4u) * 256u) / 4u;
  let m4 = vec4<u32>(0x0f0f0f0fu);
  let s1 = dp4(q0 & m4, xq4[xb + ch * 4u]) + dp4(q1 & m4, xq4[xb + ch * 4u + 1u]);
  let s2 = dp4((q0 >> vec4<u32>(4u)) & m4, xq4[xb + ch * 4u + 2u]) + dp4((q1 >> vec4<u32>(4u)) & m4, xq4[xb + ch * 4u + 3u]);
  let sums = xq4[xb + QB / 16u + ch / 2u];   // words 64 + 2 ch, 65 + 2 ch: the two sub-blocks' x sums
  let x1 = bitcast<i32>(sums[(ch % 2u) * 2u]);
  let x2 = bitcast<i32>(sums[(ch % 2u) * 2u + 1u]);
  let sm1 = scale_min_w(hd.y, hd.z, hd.w, ch * 2u);
  let sm2 = scale_min_w(hd.y, hd.z, hd.w, ch * 2u + 1u);
  let dm = unpack2x16float(hd.x);
  return bitcast<f32>(xq4[xb + xq_d_at() / 4u].x) *
         (dm.x * (sm1.x * f32(s1) + sm2.x * f32(s2)) - dm.y * (sm1.y * f32(x1) + sm2.y * f32(x2)));
}
