// q4k.wgsl — kernels for web/bench/matvec-bench.mjs to compare the engine's q4_K products with:
//   read_only   the roof: every 16 bytes of the matrix read once and folded (no arithmetic to speak of)
//   matvec_u32  the engine's q4_K unit over 8-bit x (kernels/weights/i8/q4_k.wgsl, x packed by its
//               act_pack) with the weights and x bound as u32 arrays and read four words at a time
//               through pointer parameters, as the other weights_<type> kernels read theirs (on the
//               H200 2x slower than the engine's vec4 binding)
struct Params { n: u32, k: u32, m: u32, row_bytes: u32, }
override WG: u32 = 256u;
override TPR: u32 = 32u;
override UNR: u32 = 1u;
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> W4: array<vec4<u32>>;   // read
@group(0) @binding(2) var<storage, read> W: array<u32>;          // matvec_u32
@group(0) @binding(3) var<storage, read> xq: array<u32>;
var<workgroup> red: array<f32, WG>;
const XQW: u32 = 76u;   // words per 256-value block of xq (kernels/pack_q8.wgsl)

@compute @workgroup_size(WG)
fn read_only(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw3: vec3<u32>,
             @builtin(local_invocation_index) li: u32) {
  let row = (wid.x + wid.y * nw3.x) * (WG / TPR) + li / TPR;
  let lane = li % TPR;
  if (row >= p.m) { return; }
  let n4 = p.row_bytes / 16u;
  var acc = vec4<u32>(0u);
  for (var u = lane; u < n4; u = u + TPR) { acc = acc ^ W4[row * n4 + u]; }
  if (acc.x == 0x12345678u) { out[row] = f32(acc.y); }
}

fn ld4(w: ptr<storage, array<u32>, read>, i: u32) -> vec4<u32> {
  return vec4<u32>((*w)[i * 4u], (*w)[i * 4u + 1u], (*w)[i * 4u + 2u], (*w)[i * 4u + 3u]);
}
fn xl4(i: u32) -> vec4<u32> { return vec4<u32>(xq[i * 4u], xq[i * 4u + 1u], xq[i * 4u + 2u], xq[i * 4u + 3u]); }
fn dp4(a: vec4<u32>, b: vec4<u32>) -> i32 {
  return dot4I8Packed(a.x, b.x) + dot4I8Packed(a.y, b.y) + dot4I8Packed(a.z, b.z) + dot4I8Packed(a.w, b.w);
}
fn sm(s0: u32, s1: u32, s2: u32, j: u32) -> vec2<f32> {
  let sh = (j % 4u) * 8u;
  let a = (s0 >> sh) & 0xffu;
  let m = (s1 >> sh) & 0xffu;
  let c = (s2 >> sh) & 0xffu;
  return vec2<f32>(select(vec2<u32>((c & 15u) | ((a >> 6u) << 4u), (c >> 4u) | ((m >> 6u) << 4u)),
                          vec2<u32>(a & 63u, m & 63u), j < 4u));
}

fn unit(w: ptr<storage, array<u32>, read>, rb4: u32, u: u32, xb0: u32) -> f32 {
  let b4 = rb4 + (u / 4u) * 9u;
  let ch = u % 4u;
  let hd = ld4(w, b4);
  let q0 = ld4(w, b4 + 1u + ch * 2u);
  let q1 = ld4(w, b4 + 2u + ch * 2u);
  let xb = xb0 + (u / 4u) * (XQW / 4u);
  let m4 = vec4<u32>(0x0f0f0f0fu);
  let s1 = dp4(q0 & m4, xl4(xb + ch * 4u)) + dp4(q1 & m4, xl4(xb + ch * 4u + 1u));
  let s2 = dp4((q0 >> vec4<u32>(4u)) & m4, xl4(xb + ch * 4u + 2u)) + dp4((q1 >> vec4<u32>(4u)) & m4, xl4(xb + ch * 4u + 3u));
  let sums = xl4(xb + 16u + ch / 2u);
  let a = sm(hd.y, hd.z, hd.w, ch * 2u);
  let b = sm(hd.y, hd.z, hd.w, ch * 2u + 1u);
  let dm = unpack2x16float(hd.x);
  return bitcast<f32>(xl4(xb + 18u).x) * (dm.x * (a.x * f32(s1) + b.x * f32(s2)) -
         dm.y * (a.y * f32(bitcast<i32>(sums[(ch % 2u) * 2u])) + b.y * f32(bitcast<i32>(sums[(ch % 2u) * 2u + 1u]))));
}

@compute @workgroup_size(WG)
fn matvec_u32(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw3: vec3<u32>,
              @builtin(local_invocation_index) li: u32) {
  let row = (wid.x + wid.y * nw3.x) * (WG / TPR) + li / TPR;
  let lane = li % TPR;
  var acc = 0.0;
  if (row < p.m) {
    for (var u = lane; u < p.k / 64u; u = u + TPR) { acc = acc + unit(&W, row * p.row_bytes / 16u, u, 0u); }
  }
  red[li] = acc;
  workgroupBarrier();
  for (var s = TPR / 2u; s > 0u; s = s >> 1u) {
    if (lane < s) { red[li] = red[li] + red[li + s]; }
    workgroupBarrier();
  }
  if (lane == 0u && row < p.m) { out[row] = red[li]; }
}
