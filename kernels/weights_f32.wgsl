// weights_f32.wgsl — get_rows, dequant and matrix-vector products reading f32 weights: 4 bytes per value.
//
// Everything outside the type-specific part is the same text in every weights_*.wgsl (WGSL has
// no includes; the per-op test checks they stay identical): only UNIT, w_elem (one value of a
// row starting at byte rb) and dot_unit (one unit of a row against the staged x, xs[xr + col])
// differ. Weight buffers are passed as pointers (unrestricted_pointer_parameters).

override WG: u32 = 256u;   // invocations per workgroup (power of two)
override TPR: u32 = 32u;   // matvec: invocations per weight row (power of two, <= WG)
const XC: u32 = 2048u;     // matvec: x values staged in workgroup memory at a time (multiple of 256)

struct Params {
  n: u32,           // get_rows: ids; matvec: rows of x; dequant: weight rows to expand
  k: u32,           // values per weight row
  m: u32,           // weight rows (nmatvec: of the first matrix)
  row_bytes: u32,   // bytes per weight row
  scale: f32,       // get_rows: multiplier
  accumulate: u32,  // matvec: out += instead of out =
  r0: u32,          // dequant: first weight row; moe_matvec: the expert
  x_div: u32,       // moe_matvec: x row of slot s is s / x_div
  m2: u32,          // nmatvec: rows of the second matrix (0: none)
  row_bytes2: u32,  // nmatvec: its row bytes
  flags: u32,       // 1 rms-norm x first, 2 norm weight + 1, 4 glu, 8 GELU (else SiLU) (nmatvec);
                    // 16 x through the CPU's 8-bit activation blocks (every product)
  eps: f32,         // nmatvec: rms-norm epsilon
  m3: u32,          // nmatvec3: rows of the third matrix
  row_bytes3: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> W: array<u32>;
@group(0) @binding(3) var<storage, read> ids: array<i32>;     // get_rows
@group(0) @binding(3) var<storage, read> x: array<f32>;       // matvec, moe_matvec, nmatvec
@group(0) @binding(4) var<storage, read> sel: array<u32>;     // moe_matvec: expert of each slot
@group(0) @binding(4) var<storage, read_write> out2: array<f32>;  // nmatvec
@group(0) @binding(5) var<storage, read> W2: array<u32>;      // nmatvec
@group(0) @binding(6) var<storage, read> nw: array<f32>;      // nmatvec: rms-norm weight [k]
@group(0) @binding(7) var<storage, read_write> hout: array<f32>; // nmatvec: the normalised x
@group(0) @binding(8) var<storage, read_write> out3: array<f32>;  // nmatvec3
@group(0) @binding(9) var<storage, read> W3: array<u32>;          // nmatvec3

var<workgroup> red: array<f32, WG>;
var<workgroup> red2: array<f32, WG>;
var<workgroup> xs: array<f32, XC>;   // the x chunk dot_unit reads
var<workgroup> slot_expert: u32;

// little-endian byte / u16 / u32 at any byte offset of a weight buffer
fn rd8(w: ptr<storage, array<u32>, read>, b: u32) -> u32 {
  return ((*w)[b >> 2u] >> ((b & 3u) * 8u)) & 0xffu;
}
fn rd16(w: ptr<storage, array<u32>, read>, b: u32) -> u32 {
  let s = (b & 3u) * 8u;
  if (s <= 16u) { return ((*w)[b >> 2u] >> s) & 0xffffu; }
  return rd8(w, b) | (rd8(w, b + 1u) << 8u);
}
fn rd32(w: ptr<storage, array<u32>, read>, b: u32) -> u32 {
  let s = (b & 3u) * 8u;
  if (s == 0u) { return (*w)[b >> 2u]; }
  return ((*w)[b >> 2u] >> s) | ((*w)[(b >> 2u) + 1u] << (32u - s));
}
fn f16_at(w: ptr<storage, array<u32>, read>, b: u32) -> f32 {
  return unpack2x16float(rd16(w, b)).x;
}

// ---- type-specific part ----

const QB: u32 = 0u;   // activation block of the CPU's 8-bit x (0: x stays f32)

const UNIT: u32 = 1u;   // values per matvec unit

fn w_elem(w: ptr<storage, array<u32>, read>, rb: u32, c: u32) -> f32 {
  return bitcast<f32>((*w)[rb / 4u + c]);
}

fn dot_unit(w: ptr<storage, array<u32>, read>, rb: u32, u: u32, xr: u32) -> f32 {
  return bitcast<f32>((*w)[rb / 4u + u]) * xs[xr + u];
}
// ---- end of type-specific part ----

// out[i, c] = scale * W[ids[i], c]: one invocation per output value.
@compute @workgroup_size(WG)
fn get_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw3: vec3<u32>,
            @builtin(local_invocation_index) li: u32) {
  let t = (wid.x + wid.y * nw3.x) * WG + li;
  if (t >= p.n * p.k) { return; }
  out[t] = w_elem(&W, u32(ids[t / p.k]) * p.row_bytes, t % p.k) * p.scale;
}

// out[(r - r0) * k + c] = W[r, c] for rows r0 .. r0 + n: one invocation per value.
@compute @workgroup_size(WG)
fn dequant(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw3: vec3<u32>,
           @builtin(local_invocation_index) li: u32) {
  let t = (wid.x + wid.y * nw3.x) * WG + li;
  if (t >= p.n * p.k) { return; }
  out[t] = w_elem(&W, (p.r0 + t / p.k) * p.row_bytes, t % p.k);
}

// ---- matrix-vector products ----
// TPR invocations per weight row (WG / TPR rows per workgroup over a 2-D grid), x row j =
// workgroup z. x is staged through workgroup memory XC values at a time (times the rms-norm
// weight when nmatvec normalises); each invocation sums whole units of its row, then a tree
// reduction in workgroup memory.

fn norm_w(c: u32) -> f32 {
  var g = nw[c];
  if ((p.flags & 2u) != 0u) { g = g + 1.0; }
  return g;
}

fn stage_x(li: u32, xrow: u32, c0: u32) {
  let cnt = min(XC, p.k - c0);
  for (var t = li; t < cnt; t = t + WG) { xs[t] = x[xrow + c0 + t]; }
}

fn stage_x_norm(li: u32, xrow: u32, c0: u32, inv: f32) {
  let cnt = min(XC, p.k - c0);
  for (var t = li; t < cnt; t = t + WG) { xs[t] = (x[xrow + c0 + t] * inv) * norm_w(c0 + t); }
}

// x as the CPU backend sees it for block-quantized weights: each block of QB values rounded to
// 8 bits and back (q8_0: d = f16(amax / 127), q = round(x * 127 / amax); q8_K: iscale =
// -127 / (the value of largest magnitude), q = min(127, round(iscale * x)), d = 1 / iscale), so
// products match the CPU's integer dot products up to summation order. XC / WG values per
// invocation, QB / (XC / WG) invocations per block.
fn quant_xs(li: u32, cnt: u32) {
  if (QB == 0u || (p.flags & 16u) == 0u) { return; }
  let per = XC / WG;
  let tpb = QB / per;
  let base = li * per;
  var amax = 0.0;
  var mx = 0.0;
  if (base < cnt) {
    for (var e = 0u; e < per; e = e + 1u) {
      let v = xs[base + e];
      if (abs(v) > amax) { amax = abs(v); mx = v; }
    }
  }
  workgroupBarrier();
  red[li] = amax;
  red2[li] = mx;
  workgroupBarrier();
  for (var s = tpb / 2u; s > 0u; s = s >> 1u) {
    if (li % tpb < s && red[li + s] > red[li]) { red[li] = red[li + s]; red2[li] = red2[li + s]; }
    workgroupBarrier();
  }
  let g0 = (li / tpb) * tpb;
  let a = red[g0];
  let m = red2[g0];
  workgroupBarrier();
  if (base < cnt) {
    for (var e = 0u; e < per; e = e + 1u) {
      let v = xs[base + e];
      var q = 0.0;
      if (QB == 32u) {
        let d = unpack2x16float(pack2x16float(vec2<f32>(a / 127.0, 0.0))).x;
        var id = 0.0;
        if (a != 0.0) { id = 127.0 / a; }
        q = d * round(v * id);
      } else if (a != 0.0) {
        let iscale = -127.0 / m;
        q = (1.0 / iscale) * min(127.0, round(iscale * v));
      }
      xs[base + e] = q;
    }
  }
  workgroupBarrier();
}

// sum over lanes of each row group of red (and red2); the result is at the group's lane 0
fn reduce_rows(li: u32, lane: u32, two: bool) {
  workgroupBarrier();
  for (var s = TPR / 2u; s > 0u; s = s >> 1u) {
    if (lane < s) {
      red[li] = red[li] + red[li + s];
      if (two) { red2[li] = red2[li] + red2[li + s]; }
    }
    workgroupBarrier();
  }
}

// sum over units [lane, units) step TPR of row rb of w, units within [c0, c0 + XC)
fn dot_chunk(w: ptr<storage, array<u32>, read>, rb: u32, lane: u32, c0: u32) -> f32 {
  let u0 = c0 / UNIT;
  let u1 = min(p.k, c0 + XC) / UNIT;
  var acc = 0.0;
  for (var u = u0 + lane; u < u1; u = u + TPR) { acc = acc + dot_unit(w, rb, u, 0u - c0); }
  return acc;
}

@compute @workgroup_size(WG)
fn matvec(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw3: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
  let row = (wid.x + wid.y * nw3.x) * (WG / TPR) + li / TPR;
  let lane = li % TPR;
  let j = wid.z;
  let rb = min(row, p.m - 1u) * p.row_bytes;
  var acc = 0.0;
  for (var c0 = 0u; c0 < p.k; c0 = c0 + XC) {
    workgroupBarrier();
    stage_x(li, j * p.k, c0);
    workgroupBarrier();
    quant_xs(li, min(XC, p.k - c0));
    if (row < p.m) { acc = acc + dot_chunk(&W, rb, lane, c0); }
  }
  red[li] = acc;
  reduce_rows(li, lane, false);
  if (lane == 0u && row < p.m) {
    let o = j * p.m + row;
    var v = red[li];
    if (p.accumulate != 0u) { v = v + out[o]; }
    out[o] = v;
  }
}

// MoE: for every slot s (workgroup z) routed to expert r0 (sel[s] == r0),
// out[s, r] = sum_c x[s / x_div, c] * W[r, c]; workgroups of other slots return at once.
@compute @workgroup_size(WG)
fn moe_matvec(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw3: vec3<u32>,
              @builtin(local_invocation_index) li: u32) {
  let s = wid.z;
  if (li == 0u) { slot_expert = sel[s]; }
  if (workgroupUniformLoad(&slot_expert) != p.r0) { return; }
  let row = (wid.x + wid.y * nw3.x) * (WG / TPR) + li / TPR;
  let lane = li % TPR;
  let rb = min(row, p.m - 1u) * p.row_bytes;
  var acc = 0.0;
  for (var c0 = 0u; c0 < p.k; c0 = c0 + XC) {
    workgroupBarrier();
    stage_x(li, (s / p.x_div) * p.k, c0);
    workgroupBarrier();
    quant_xs(li, min(XC, p.k - c0));
    if (row < p.m) { acc = acc + dot_chunk(&W, rb, lane, c0); }
  }
  red[li] = acc;
  reduce_rows(li, lane, false);
  if (lane == 0u && row < p.m) { out[s * p.m + row] = red[li]; }
}

// Fused decode products over one x (row j = workgroup z), optionally rms-normalised first
// (flags 1: (x * inv_rms) * norm weight, as rms_norm computes it; the normalised row is also
// written to hout by the workgroups at x = y = 0):
//   nmatvec, two matrices: rows [0, m) of W -> out, rows [m, m + m2) of W2 -> out2;
//   nmatvec, glu (flag 4): row r of W and of W2 (m2 == m): out[r] = act(W x) * (W2 x),
//                          out2[r] = W2 x;
//   nmatvec3: as two matrices, and rows [m + m2, m + m2 + m3) of W3 -> out3 (9 storage
//             buffers: only where the device allows more than WebGPU's default 8).

// 1 / rms of x row j (1 without flag 1); writes hout
fn nmv_norm(wid: vec3<u32>, li: u32, xrow: u32) -> f32 {
  if ((p.flags & 1u) == 0u) { return 1.0; }
  var ss = 0.0;
  for (var c = li; c < p.k; c = c + WG) { let v = x[xrow + c]; ss = ss + v * v; }
  red[li] = ss;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (li < s) { red[li] = red[li] + red[li + s]; }
    workgroupBarrier();
  }
  let inv = 1.0 / sqrt(red[0] / f32(p.k) + p.eps);
  workgroupBarrier();
  if (wid.x == 0u && wid.y == 0u) {
    for (var c = li; c < p.k; c = c + WG) { hout[xrow + c] = (x[xrow + c] * inv) * norm_w(c); }
  }
  return inv;
}

// this invocation's partial sums for its row: (first product, second product of a glu)
fn nmv_dot(w1: ptr<storage, array<u32>, read>, w2: ptr<storage, array<u32>, read>,
           w3: ptr<storage, array<u32>, read>, row: u32, lane: u32, li: u32, xrow: u32,
           inv: f32) -> vec2<f32> {
  let glu = (p.flags & 4u) != 0u;
  var rows = p.m + p.m2 + p.m3;
  if (glu) { rows = p.m; }
  var sel = 0u;   // which matrix holds the row
  var r = row;
  if (!glu && row >= p.m) {
    if (row < p.m + p.m2) { sel = 1u; r = row - p.m; } else { sel = 2u; r = row - p.m - p.m2; }
  }
  var rb = 0u;
  if (row < rows) {
    if (sel == 0u) { rb = r * p.row_bytes; } else if (sel == 1u) { rb = r * p.row_bytes2; } else { rb = r * p.row_bytes3; }
  }
  let rb2 = min(row, p.m - 1u) * p.row_bytes2;
  var acc = vec2<f32>(0.0);
  for (var c0 = 0u; c0 < p.k; c0 = c0 + XC) {
    workgroupBarrier();
    if ((p.flags & 1u) != 0u) { stage_x_norm(li, xrow, c0, inv); } else { stage_x(li, xrow, c0); }
    workgroupBarrier();
    quant_xs(li, min(XC, p.k - c0));
    if (row < rows) {
      if (sel == 0u) { acc.x = acc.x + dot_chunk(w1, rb, lane, c0); }
      else if (sel == 1u) { acc.x = acc.x + dot_chunk(w2, rb, lane, c0); }
      else { acc.x = acc.x + dot_chunk(w3, rb, lane, c0); }
      if (glu) { acc.y = acc.y + dot_chunk(w2, rb2, lane, c0); }
    }
  }
  return acc;
}

fn glu_act(g: f32) -> f32 {
  if ((p.flags & 8u) != 0u) {
    return 0.5 * g * (1.0 + tanh(clamp(0.7978845608028654 * (g + 0.044715 * g * g * g), -15.0, 15.0)));
  }
  return g / (1.0 + exp(-g));
}

@compute @workgroup_size(WG)
fn nmatvec(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw3: vec3<u32>,
           @builtin(local_invocation_index) li: u32) {
  let row = (wid.x + wid.y * nw3.x) * (WG / TPR) + li / TPR;
  let lane = li % TPR;
  let j = wid.z;
  let inv = nmv_norm(wid, li, j * p.k);
  let acc = nmv_dot(&W, &W2, &W2, row, lane, li, j * p.k, inv);
  red[li] = acc.x;
  red2[li] = acc.y;
  reduce_rows(li, lane, true);
  if (lane != 0u) { return; }
  if ((p.flags & 4u) != 0u) {
    if (row < p.m) {
      out[j * p.m + row] = glu_act(red[li]) * red2[li];
      out2[j * p.m + row] = red2[li];
    }
  } else if (row < p.m) {
    out[j * p.m + row] = red[li];
  } else if (row < p.m + p.m2) {
    out2[j * p.m2 + row - p.m] = red[li];
  }
}

@compute @workgroup_size(WG)
fn nmatvec3(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw3: vec3<u32>,
            @builtin(local_invocation_index) li: u32) {
  let row = (wid.x + wid.y * nw3.x) * (WG / TPR) + li / TPR;
  let lane = li % TPR;
  let j = wid.z;
  let inv = nmv_norm(wid, li, j * p.k);
  let acc = nmv_dot(&W, &W2, &W3, row, lane, li, j * p.k, inv);
  red[li] = acc.x;
  red2[li] = acc.y;
  reduce_rows(li, lane, true);
  if (lane != 0u) { return; }
  if (row < p.m) {
    out[j * p.m + row] = red[li];
  } else if (row < p.m + p.m2) {
    out2[j * p.m2 + row - p.m] = red[li];
  } else if (row < p.m + p.m2 + p.m3) {
    out3[j * p.m3 + row - p.m - p.m2] = red[li];
  }
}

// out[j, :] = x[j, :] through the CPU's 8-bit activation blocks (for the tiled product): one
// invocation per block of QB values, over n * k / QB blocks.
@compute @workgroup_size(WG)
fn act_quant(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw3: vec3<u32>,
             @builtin(local_invocation_index) li: u32) {
  let bi = (wid.x + wid.y * nw3.x) * WG + li;
  if (QB == 0u || bi >= p.n * p.k / QB) { return; }
  let base = bi * QB;
  var a = 0.0;
  var m = 0.0;
  for (var e = 0u; e < QB; e = e + 1u) { let v = x[base + e]; if (abs(v) > a) { a = abs(v); m = v; } }
  for (var e = 0u; e < QB; e = e + 1u) {
    let v = x[base + e];
    var q = 0.0;
    if (QB == 32u) {
      let d = unpack2x16float(pack2x16float(vec2<f32>(a / 127.0, 0.0))).x;
      var id = 0.0;
      if (a != 0.0) { id = 127.0 / a; }
      q = d * round(v * id);
    } else if (a != 0.0) {
      let iscale = -127.0 / m;
      q = (1.0 / iscale) * min(127.0, round(iscale * v));
    }
    out[base + e] = q;
  }
}
