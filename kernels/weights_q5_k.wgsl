// weights_q5_k.wgsl — get_rows, dequant and matrix-vector products reading GGML q5_K: blocks of 256 values { f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128] }
// (176 bytes); like q4_K with a fifth bit per value from qh.
//
// The entry points and the helpers above the type-specific part are the same text in every
// weights_*.wgsl (WGSL has no includes); only UNIT, w_elem and dot_unit differ.

override WG: u32 = 256u;   // invocations per workgroup (power of two)
override TPR: u32 = 32u;   // matvec: invocations per weight row (power of two, <= WG)

struct Params {
  n: u32,           // get_rows: ids; matvec: rows of x; dequant: weight rows to expand
  k: u32,           // values per weight row
  m: u32,           // weight rows
  row_bytes: u32,   // bytes per weight row
  scale: f32,       // get_rows: multiplier
  accumulate: u32,  // matvec: out += instead of out =
  r0: u32,          // dequant: first weight row; moe_matvec: the expert
  x_div: u32,       // moe_matvec: x row of slot s is s / x_div
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> W: array<u32>;
@group(0) @binding(3) var<storage, read> ids: array<i32>;   // get_rows
@group(0) @binding(3) var<storage, read> x: array<f32>;     // matvec, moe_matvec
@group(0) @binding(4) var<storage, read> sel: array<u32>;   // moe_matvec: expert of each slot

var<workgroup> red: array<f32, WG>;
var<workgroup> slot_expert: u32;

// little-endian byte / u16 / u32 at any byte offset of W
fn rd8(b: u32) -> u32 {
  return (W[b >> 2u] >> ((b & 3u) * 8u)) & 0xffu;
}
fn rd16(b: u32) -> u32 {
  let s = (b & 3u) * 8u;
  if (s <= 16u) { return (W[b >> 2u] >> s) & 0xffffu; }
  return rd8(b) | (rd8(b + 1u) << 8u);
}
fn rd32(b: u32) -> u32 {
  let s = (b & 3u) * 8u;
  if (s == 0u) { return W[b >> 2u]; }
  return (W[b >> 2u] >> s) | (W[(b >> 2u) + 1u] << (32u - s));
}
fn f16_at(b: u32) -> f32 {
  return unpack2x16float(rd16(b)).x;
}

// ---- type-specific part ----

const UNIT: u32 = 64u;   // values per matvec unit: a quarter block (32 bytes of qs)

// 6-bit (scale, min) of sub-block j from the 12 scale bytes at byte b (GGML get_scale_min_k4)
fn scale_min(b: u32, j: u32) -> vec2<f32> {
  if (j < 4u) {
    return vec2<f32>(f32(rd8(b + j) & 63u), f32(rd8(b + j + 4u) & 63u));
  }
  let sc = (rd8(b + j + 4u) & 15u) | ((rd8(b + j - 4u) >> 6u) << 4u);
  let mn = (rd8(b + j + 4u) >> 4u) | ((rd8(b + j) >> 6u) << 4u);
  return vec2<f32>(f32(sc), f32(mn));
}

fn w_elem(row: u32, c: u32) -> f32 {
  let b = row * p.row_bytes + (c / 256u) * 176u;
  let j = c % 256u;
  let chunk = j / 64u;
  let hi = (j % 64u) / 32u;
  let l = j % 32u;
  let q = ((rd8(b + 48u + chunk * 32u + l) >> (4u * hi)) & 15u)
        + (((rd8(b + 16u + l) >> (2u * chunk + hi)) & 1u) << 4u);
  let dm = unpack2x16float(rd32(b));
  let sm = scale_min(b + 4u, chunk * 2u + hi);
  return dm.x * sm.x * f32(q) - dm.y * sm.y;
}

fn dot_unit(rb: u32, u: u32, xr: u32) -> f32 {
  let b = rb + (u / 4u) * 176u;
  let chunk = u % 4u;
  let xo = xr + u * 64u;
  let dm = unpack2x16float(rd32(b));
  let sm1 = scale_min(b + 4u, chunk * 2u);
  let sm2 = scale_min(b + 4u, chunk * 2u + 1u);
  var s1 = 0.0;
  var s2 = 0.0;
  var x1 = 0.0;
  var x2 = 0.0;
  for (var t = 0u; t < 8u; t = t + 1u) {
    let q = rd32(b + 48u + chunk * 32u + 4u * t);
    let h = rd32(b + 16u + 4u * t) >> (2u * chunk);
    for (var k = 0u; k < 4u; k = k + 1u) {
      let xa = x[xo + 4u * t + k];
      let xb = x[xo + 32u + 4u * t + k];
      let qa = ((q >> (8u * k)) & 15u) + (((h >> (8u * k)) & 1u) << 4u);
      let qb = ((q >> (8u * k + 4u)) & 15u) + (((h >> (8u * k + 1u)) & 1u) << 4u);
      s1 = s1 + f32(qa) * xa;
      s2 = s2 + f32(qb) * xb;
      x1 = x1 + xa;
      x2 = x2 + xb;
    }
  }
  return dm.x * (sm1.x * s1 + sm2.x * s2) - dm.y * (sm1.y * x1 + sm2.y * x2);
}
// ---- end of type-specific part ----

// out[i, c] = scale * W[ids[i], c]: one invocation per output value.
@compute @workgroup_size(WG)
fn get_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
            @builtin(local_invocation_index) li: u32) {
  let t = (wid.x + wid.y * nw.x) * WG + li;
  if (t >= p.n * p.k) { return; }
  let i = t / p.k;
  let c = t % p.k;
  out[t] = w_elem(u32(ids[i]), c) * p.scale;
}

// out[(r - r0) * k + c] = W[r, c] for rows r0 .. r0 + n: one invocation per value.
@compute @workgroup_size(WG)
fn dequant(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
           @builtin(local_invocation_index) li: u32) {
  let t = (wid.x + wid.y * nw.x) * WG + li;
  if (t >= p.n * p.k) { return; }
  out[t] = w_elem(p.r0 + t / p.k, t % p.k);
}

// out[j, r] (+)= sum_c x[j, c] * W[r, c]: TPR invocations per weight row r (WG / TPR rows per
// workgroup over a 2-D grid), x row j = workgroup z. Each invocation sums whole units, then a
// tree reduction in workgroup memory.
@compute @workgroup_size(WG)
fn matvec(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
  let row = (wid.x + wid.y * nw.x) * (WG / TPR) + li / TPR;
  let lane = li % TPR;
  let j = wid.z;
  var acc = 0.0;
  if (row < p.m) {
    let units = p.k / UNIT;
    let rb = row * p.row_bytes;
    for (var u = lane; u < units; u = u + TPR) {
      acc = acc + dot_unit(rb, u, j * p.k);
    }
  }
  red[li] = acc;
  workgroupBarrier();
  for (var s = TPR / 2u; s > 0u; s = s >> 1u) {
    if (lane < s) { red[li] = red[li] + red[li + s]; }
    workgroupBarrier();
  }
  if (lane == 0u && row < p.m) {
    let o = j * p.m + row;
    var v = red[li];
    if (p.accumulate != 0u) { v = v + out[o]; }
    out[o] = v;
  }
}

// MoE: for every slot s (workgroup z) routed to expert r0 (sel[s] == r0),
// out[s, r] = sum_c x[s / x_div, c] * W[r, c]; workgroups of other slots return at once.
// Same reduction as matvec.
@compute @workgroup_size(WG)
fn moe_matvec(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
              @builtin(local_invocation_index) li: u32) {
  let s = wid.z;
  if (li == 0u) { slot_expert = sel[s]; }
  if (workgroupUniformLoad(&slot_expert) != p.r0) { return; }
  let row = (wid.x + wid.y * nw.x) * (WG / TPR) + li / TPR;
  let lane = li % TPR;
  var acc = 0.0;
  if (row < p.m) {
    let units = p.k / UNIT;
    let rb = row * p.row_bytes;
    let xr = (s / p.x_div) * p.k;
    for (var u = lane; u < units; u = u + TPR) {
      acc = acc + dot_unit(rb, u, xr);
    }
  }
  red[li] = acc;
  workgroupBarrier();
  for (var t = TPR / 2u; t > 0u; t = t >> 1u) {
    if (lane < t) { red[li] = red[li] + red[li + t]; }
    workgroupBarrier();
  }
  if (lane == 0u && row < p.m) { out[s * p.m + row] = red[li]; }
}
