// pack_q8.wgsl — x through the CPU's 8-bit activation blocks of QB values, packed for the
// weights_<type>_i8 products (kernels/weights_i8.wgsl, xq): block b is xq_words() words, QB / 4 words of
// signed bytes, the sums of each 32 of them (i32, QB / 32 words), the scale d as f32 bits (x ~ d * q),
// zeros up to a multiple of 4 words (16-byte aligned: q4_K's unit reads them by fours). QB 256:
// q8_K (d = 1 / iscale, iscale = -127 / the value of largest magnitude); QB 32: q8_0 (d = f16(amax /
// 127)); q = min(127, round(x / d)), as the CPU rounds. Not a kernel of its own: web/tools/kernels.mjs
// joins it into rms_norm (main_q: the norm writes its output's blocks) and every weights_<type>
// kernel (act_pack; f16_rne for act_quant); the includer defines WG and QB.

@group(0) @binding(7) var<storage, read_write> outq: array<u32>;
var<workgroup> pk_max: array<f32, WG>;
var<workgroup> pk_sum: array<i32, WG>;

// QB (kernels of types whose x stays f32 have QB 0 and never pack: 32 for them keeps the
// divisions below valid)
fn pk_qb() -> u32 { return max(QB, 32u); }

// word of a block of xq holding its scale d (after the bytes and the sums), and words per block
fn xq_d_at() -> u32 { return pk_qb() / 4u + pk_qb() / 32u; }
fn xq_words() -> u32 { return (xq_d_at() + 4u) / 4u * 4u; }

// v (>= 0, below f16's largest) rounded to the nearest f16 value, ties to even, subnormals
// included: the CPU's dp_f32_to_f16. pack2x16float's rounding is the implementation's (NVIDIA's
// Vulkan driver does not round as the CPU does: every q8_0-blocked product differed by ~1e-3).
fn f16_rne(v: f32) -> f32 {
  let e = max(i32((bitcast<u32>(v) >> 23u) & 0xffu) - 127, -14) - 10; // log2 of the f16 step at v
  return ldexp(round(ldexp(v, -e)), e);
}

// One round of packing, called by every invocation of the workgroup (uniform control flow): the
// invocation holds values 4 g .. 4 g + 3 (v; live: it has them) of a row whose first block is word
// ob0 of outq; QB / 4 consecutive invocations hold a block (WG a multiple of QB / 4). The block's
// value of largest magnitude (the first of equals, as the CPU's loop) and its sums go through
// workgroup memory.
fn pack_q8(li: u32, g: u32, live: bool, v: vec4<f32>, ob0: u32) {
  let qb = pk_qb();
  let G = qb / 4u;
  var m = v.x;
  if (abs(v.y) > abs(m)) { m = v.y; }
  if (abs(v.z) > abs(m)) { m = v.z; }
  if (abs(v.w) > abs(m)) { m = v.w; }
  pk_max[li] = m;
  workgroupBarrier();
  for (var s = G / 2u; s > 0u; s = s >> 1u) {
    if (li % G < s && abs(pk_max[li + s]) > abs(pk_max[li])) { pk_max[li] = pk_max[li + s]; }
    workgroupBarrier();
  }
  let mx = pk_max[li - li % G];
  var d = 0.0;
  var mul = 0.0;
  if (qb == 32u) {
    d = f16_rne(abs(mx) / 127.0);
    if (mx != 0.0) { mul = 127.0 / abs(mx); }
  } else if (mx != 0.0) {
    mul = -127.0 / mx;
    d = 1.0 / mul;
  }
  let q = vec4<i32>(min(vec4<f32>(127.0), round(v * mul)));
  let ob = ob0 + (4u * g / qb) * xq_words();
  if (live) { outq[ob + g % G] = pack4xI8(q); }
  pk_sum[li] = q.x + q.y + q.z + q.w;
  workgroupBarrier();
  if (live && g % 8u == 0u) {
    var sum = 0;
    for (var e = 0u; e < 8u; e = e + 1u) { sum = sum + pk_sum[li + e]; }
    outq[ob + qb / 4u + (g % G) / 8u] = bitcast<u32>(sum);
  }
  if (live && g % G == 0u) {
    outq[ob + xq_d_at()] = bitcast<u32>(d);
    for (var z = xq_d_at() + 1u; z < xq_words(); z = z + 1u) { outq[ob + z] = 0u; }
  }
  workgroupBarrier();
}
