// weights_common.wgsl — the part of every weights_<type> kernel that does not depend on the weight
// type: bindings, byte readers, get_rows, dequant, the matrix-vector products (and their _lora
// forms, with a LoRA adapter's delta as the epilogue) and act_quant. Not a kernel of its own:
// web/tools/kernels.mjs appends it to each kernels/weights/<type>.wgsl (and kernels/pack_q8.wgsl:
// act_pack's blocks, f16_rne), which defines QB, UNIT,
// w_elem and dot_unit. Weight buffers are passed as pointers (unrestricted_pointer_parameters).

override WG: u32 = 256u;   // invocations per workgroup (power of two)
override TPR: u32 = 32u;   // matvec: invocations per weight row (power of two, <= WG)
override UNR: u32 = 1u;    // matvec: units per loop iteration of an invocation (1, 2, 4 or 8)

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
  flags: u32,       // nmatvec: 4 glu, 8 GELU (else SiLU); _n kernels: 16 norm weight + 1
  eps: f32,         // _n kernels: the norm's epsilon
  m3: u32,          // nmatvec3: rows of the third matrix
  row_bytes3: u32,
  lr: u32,          // _lora entries: the adapter's rank
  lu: u32,          // _lora: values of LU per x row
  lb0: u32,         // _lora: first value of B of product 0, 1, 2 in LB (LORA_NONE: not adapted)
  lb1: u32,
  lb2: u32,
  lu0: u32,         // _lora: first value of product 0, 1, 2's u in a row of LU
  lu1: u32,
  lu2: u32,
  hd: u32,          // nmatvec3_rope (weights_rope.wgsl): head dim, rot_dim / 2, interleaved pairs,
  half: u32,        //   the rotated values' factor, first elements written in the key and
  ileave: u32,      //   value caches
  mscale: f32,
  kc_off: u32,
  vc_off: u32,
  out_off: u32,     // nmatvec: element of out its first value goes to (a product into a KV cache)
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read_write> outh: array<u32>;   // dequant_h: f16 pairs
@group(0) @binding(2) var<storage, read> W: array<u32>;
@group(0) @binding(3) var<storage, read> ids: array<i32>;     // get_rows
@group(0) @binding(3) var<storage, read> x: array<f32>;       // matvec, moe_matvec, nmatvec, act_quant
@group(0) @binding(3) var<storage, read> x4: array<vec4<f32>>; // the same x by fours (block types' dot_unit)
@group(0) @binding(4) var<storage, read> sel: array<u32>;     // moe_matvec: expert of each slot
@group(0) @binding(4) var<storage, read_write> out2: array<f32>;  // nmatvec
@group(0) @binding(5) var<storage, read> W2: array<u32>;      // nmatvec
@group(0) @binding(6) var<storage, read> LU: array<f32>;          // _lora: scale * x A^T (rms_norm.wgsl's lora_xa)
@group(0) @binding(7) var<storage, read> LB: array<f32>;          // _lora: the adapter's B matrices
@group(0) @binding(8) var<storage, read_write> out3: array<f32>;  // nmatvec3
@group(0) @binding(9) var<storage, read> W3: array<u32>;          // nmatvec3

var<workgroup> red: array<f32, WG>;
var<workgroup> red2: array<f32, WG>;
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
// q4_K / q5_K: 6-bit (scale, min) of sub-block j from the 12 scale bytes at byte b (GGML
// get_scale_min_k4)
fn scale_min(w: ptr<storage, array<u32>, read>, b: u32, j: u32) -> vec2<f32> {
  if (j < 4u) {
    return vec2<f32>(f32(rd8(w, b + j) & 63u), f32(rd8(w, b + j + 4u) & 63u));
  }
  let sc = (rd8(w, b + j + 4u) & 15u) | ((rd8(w, b + j - 4u) >> 6u) << 4u);
  let mn = (rd8(w, b + j + 4u) >> 4u) | ((rd8(w, b + j) >> 6u) << 4u);
  return vec2<f32>(f32(sc), f32(mn));
}

// f32(v) - bias for v < 2^23 without a conversion instruction (those issue at 1/8 of the FMA rate
// on NVIDIA): the bits of 2^23 + v, then one exact subtraction of 2^23 + bias
fn u2f4(v: vec4<u32>, bias: f32) -> vec4<f32> {
  return bitcast<vec4<f32>>(v | vec4<u32>(0x4b000000u)) - vec4<f32>(8388608.0 + bias);
}

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

// Rows r0 .. r0 + n of W as f16 pairs (pack2x16float) for matmul_sgmat.wgsl: outh[(r - r0) * k / 2 + c / 2]
// holds values c, c + 1 of row r; rows from m on (the padding up to n) are zeros. k is even. One
// invocation per pair.
@compute @workgroup_size(WG)
fn dequant_h(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw3: vec3<u32>,
             @builtin(local_invocation_index) li: u32) {
  let t = (wid.x + wid.y * nw3.x) * WG + li;
  let hk = p.k / 2u;
  if (t >= p.n * hk) { return; }
  let r = p.r0 + t / hk;
  let c = (t % hk) * 2u;
  var v = vec2<f32>(0.0);
  if (r < p.m) {
    v = vec2<f32>(w_elem(&W, r * p.row_bytes, c), w_elem(&W, r * p.row_bytes, c + 1u));
  }
  outh[t] = pack2x16float(clamp(v, vec2<f32>(-65504.0), vec2<f32>(65504.0)));
}

// ---- matrix-vector products ----
// TPR invocations per weight row (WG / TPR rows per workgroup over a 2-D grid), x row j =
// workgroup z. Each invocation sums whole units of its row, reading x from the storage buffer
// (small and cached; no workgroup staging, no barriers before the final reduction), UNR units per
// loop iteration so that several weight loads are in flight; then a tree reduction in workgroup
// memory. Products that want the CPU's 8-bit activations run act_quant over x first.
//
// dot_unit reads x through x_at / x_at4, and nmatvec / nmatvec3 scale their row sums by
// x_scale(li, x_part(li, xr)): here plain reads and 1. The weights_<type>_n kernels
// (kernels/weights_norm.wgsl, joined by web/tools/kernels.mjs with these calls renamed) fold the
// rms_norm in front of the products into them: x times the norm's weight, and 1 / rms(x). Every
// product entry calls x_part first, in uniform control flow: the weights_<type>_i8p kernels
// (kernels/weights_i8p.wgsl) pack x into workgroup memory there.

// value i of x, and values 4 i .. 4 i + 3
fn x_at(i: u32) -> f32 { return x[i]; }
fn x_at4(i: u32) -> vec4<f32> { return x4[i]; }
// this invocation's part of a statistic of x row [xr, xr + k) (none), and the rows' scale from
// the parts (workgroup-uniform control flow)
fn x_part(li: u32, xr: u32) -> f32 { return 0.0; }
fn x_scale(li: u32, part: f32) -> f32 { return 1.0; }

// sum over lane's units of row rb of w against x[xr ..]: units lane, lane + TPR, ...
fn dot_row(w: ptr<storage, array<u32>, read>, rb: u32, lane: u32, xr: u32) -> f32 {
  let u1 = p.k / UNIT;
  var a0 = 0.0;
  var a1 = 0.0;
  var u = lane;
  if (UNR >= 8u) {
    for (; u + 7u * TPR < u1; u = u + 8u * TPR) {
      let d0 = dot_unit(w, rb, u, xr);
      let d1 = dot_unit(w, rb, u + TPR, xr);
      let d2 = dot_unit(w, rb, u + 2u * TPR, xr);
      let d3 = dot_unit(w, rb, u + 3u * TPR, xr);
      let d4 = dot_unit(w, rb, u + 4u * TPR, xr);
      let d5 = dot_unit(w, rb, u + 5u * TPR, xr);
      let d6 = dot_unit(w, rb, u + 6u * TPR, xr);
      let d7 = dot_unit(w, rb, u + 7u * TPR, xr);
      a0 = a0 + ((d0 + d2) + (d4 + d6));
      a1 = a1 + ((d1 + d3) + (d5 + d7));
    }
  }
  if (UNR >= 4u) {
    for (; u + 3u * TPR < u1; u = u + 4u * TPR) {
      let d0 = dot_unit(w, rb, u, xr);
      let d1 = dot_unit(w, rb, u + TPR, xr);
      let d2 = dot_unit(w, rb, u + 2u * TPR, xr);
      let d3 = dot_unit(w, rb, u + 3u * TPR, xr);
      a0 = a0 + (d0 + d2);
      a1 = a1 + (d1 + d3);
    }
  }
  if (UNR >= 2u) {
    for (; u + TPR < u1; u = u + 2u * TPR) {
      let d0 = dot_unit(w, rb, u, xr);
      let d1 = dot_unit(w, rb, u + TPR, xr);
      a0 = a0 + d0;
      a1 = a1 + d1;
    }
  }
  for (; u < u1; u = u + TPR) { a0 = a0 + dot_unit(w, rb, u, xr); }
  return a0 + a1;
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

// row of the weights for this invocation, and its lane in the row (TPR lanes per row)
fn mv_row(wid: vec3<u32>, nw3: vec3<u32>, li: u32) -> u32 {
  return (wid.x + wid.y * nw3.x) * (WG / TPR) + li / TPR;
}

// the end of matvec / matvec_lora: the row's lanes' acc summed, stored (or added) by lane 0
fn matvec_end(li: u32, lane: u32, row: u32, j: u32, acc: f32) {
  red[li] = acc;
  reduce_rows(li, lane, false);
  if (lane == 0u && row < p.m) {
    let o = j * p.m + row;
    var v = red[li];
    if (p.accumulate != 0u) { v = v + out[o]; }
    out[o] = v;
  }
}

@compute @workgroup_size(WG)
fn matvec(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw3: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
  _ = x_part(li, wid.z * p.k);   // (the _i8p kernels pack x here; a statistic unused by matvec)
  let row = mv_row(wid, nw3, li);
  let lane = li % TPR;
  var acc = 0.0;
  if (row < p.m) { acc = dot_row(&W, row * p.row_bytes, lane, wid.z * p.k); }
  matvec_end(li, lane, row, wid.z, acc);
}

// MoE: for every slot s (workgroup z) routed to expert r0 (sel[s] == r0),
// out[s, r] = sum_c x[s / x_div, c] * W[r, c]; workgroups of other slots return at once.
@compute @workgroup_size(WG)
fn moe_matvec(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw3: vec3<u32>,
              @builtin(local_invocation_index) li: u32) {
  let s = wid.z;
  if (li == 0u) { slot_expert = sel[s]; }
  if (workgroupUniformLoad(&slot_expert) != p.r0) { return; }
  _ = x_part(li, (s / p.x_div) * p.k);
  let row = (wid.x + wid.y * nw3.x) * (WG / TPR) + li / TPR;
  let lane = li % TPR;
  var acc = 0.0;
  if (row < p.m) { acc = dot_row(&W, row * p.row_bytes, lane, (s / p.x_div) * p.k); }
  red[li] = acc;
  reduce_rows(li, lane, false);
  if (lane == 0u && row < p.m) { out[s * p.m + row] = red[li]; }
}

// Several decode products over one x (row j = workgroup z) in one dispatch:
//   nmatvec, two matrices: rows [0, m) of W -> out, rows [m, m + m2) of W2 -> out2;
//   nmatvec, glu (flag 4): row r of W and of W2 (m2 == m): out[r] = act(W x) * (W2 x),
//                          out2[r] = W2 x;
//   nmatvec3: as two matrices, and rows [m + m2, m + m2 + m3) of W3 -> out3.

// this invocation's partial sums for its row: (first product, second product of a glu)
fn nmv_dot(w1: ptr<storage, array<u32>, read>, w2: ptr<storage, array<u32>, read>,
           w3: ptr<storage, array<u32>, read>, row: u32, lane: u32, xr: u32) -> vec2<f32> {
  var acc = vec2<f32>(0.0);
  if ((p.flags & 4u) != 0u) {
    if (row < p.m) {
      acc.x = dot_row(w1, row * p.row_bytes, lane, xr);
      acc.y = dot_row(w2, row * p.row_bytes2, lane, xr);
    }
  } else if (row < p.m) {
    acc.x = dot_row(w1, row * p.row_bytes, lane, xr);
  } else if (row < p.m + p.m2) {
    acc.x = dot_row(w2, (row - p.m) * p.row_bytes2, lane, xr);
  } else if (row < p.m + p.m2 + p.m3) {
    acc.x = dot_row(w3, (row - p.m - p.m2) * p.row_bytes3, lane, xr);
  }
  return acc;
}

fn glu_act(g: f32) -> f32 {
  if ((p.flags & 8u) != 0u) {
    return 0.5 * g * (1.0 + tanh(clamp(0.7978845608028654 * (g + 0.044715 * g * g * g), -15.0, 15.0)));
  }
  return g / (1.0 + exp(-g));
}

// The epilogues at a row group's lane 0: the row's sums (red, red2) times s into the outputs
// (nmatvec: glu -> act(first) * second and the second; else out or out2 by row; nmatvec3: out,
// out2 or out3 by row).
fn nmv_store(row: u32, j: u32, li: u32, s: f32) {
  let a = red[li] * s;
  if ((p.flags & 4u) != 0u) {
    if (row < p.m) {
      let b = red2[li] * s;
      out[j * p.m + row] = glu_act(a) * b;
      out2[j * p.m + row] = b;
    }
  } else if (row < p.m) {
    out[p.out_off + j * p.m + row] = a;
  } else if (row < p.m + p.m2) {
    out2[j * p.m2 + row - p.m] = a;
  }
}

fn nmv3_store(row: u32, j: u32, li: u32, s: f32) {
  let a = red[li] * s;
  if (row < p.m) {
    out[j * p.m + row] = a;
  } else if (row < p.m + p.m2) {
    out2[j * p.m2 + row - p.m] = a;
  } else if (row < p.m + p.m2 + p.m3) {
    out3[j * p.m3 + row - p.m - p.m2] = a;
  }
}

// The row group's sums acc (as nmv_dot's, plus the _lora entries' deltas) reduced into red, red2
// (nmatvec) or red (nmatvec3) at the row group's lane 0, and the scale they take from part, this
// invocation's x_part (workgroup-uniform control flow). The entry points compute acc themselves,
// so that the base ones do not use the _lora bindings. The _lora entries read a normalised x
// (rms_norm:lora_xa writes it): in the weights_<type>_n kernels, which scale the sums, they are
// never dispatched.
fn nmv_end(li: u32, part: f32, acc: vec2<f32>) -> f32 {
  red[li] = acc.x;
  red2[li] = acc.y;
  reduce_rows(li, li % TPR, true);
  return x_scale(li, part);
}

fn nmv3_end(li: u32, part: f32, acc: f32) -> f32 {
  red[li] = acc;
  reduce_rows(li, li % TPR, false);
  return x_scale(li, part);
}

// nmatvec3's sums for weight row `row` against x row j (in red at the row group's lane 0) and the
// scale they take (workgroup-uniform control flow)
fn nmv3_sums(row: u32, li: u32, j: u32) -> f32 {
  let part = x_part(li, j * p.k);
  return nmv3_end(li, part, nmv_dot(&W, &W2, &W3, row, li % TPR, j * p.k).x);
}

@compute @workgroup_size(WG)
fn nmatvec(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw3: vec3<u32>,
           @builtin(local_invocation_index) li: u32) {
  let row = mv_row(wid, nw3, li);
  let part = x_part(li, wid.z * p.k);
  let s = nmv_end(li, part, nmv_dot(&W, &W2, &W2, row, li % TPR, wid.z * p.k));
  if (li % TPR == 0u) { nmv_store(row, wid.z, li, s); }
}

@compute @workgroup_size(WG)
fn nmatvec3(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw3: vec3<u32>,
            @builtin(local_invocation_index) li: u32) {
  let row = mv_row(wid, nw3, li);
  let s = nmv3_sums(row, li, wid.z);
  if (li % TPR == 0u) { nmv3_store(row, wid.z, li, s); }
}

// ---- the LoRA epilogue: matvec_lora, nmatvec_lora, nmatvec3_lora ----
// The products above plus an adapter's delta, unmerged: row r of product i gains
// sum_t LU[j * lu + lu_i + t] * B_i[r, t] (t < lr), where LU holds scale * x A_i^T, written by
// rms_norm.wgsl's lora_xa before this dispatch, and B_i [rows_i, lr] starts at value lb_i of LB. The
// lanes of a row share the lr multiply-adds before the row's reduction, so B is read once and
// the delta costs no dispatch of its own (nor an add).
const LORA_NONE: u32 = 0xffffffffu;

fn lora_b(i: u32) -> u32 {
  if (i == 0u) { return p.lb0; }
  if (i == 1u) { return p.lb1; }
  return p.lb2;
}

fn lora_u(i: u32) -> u32 {
  if (i == 0u) { return p.lu0; }
  if (i == 1u) { return p.lu1; }
  return p.lu2;
}

// this lane's part of row r of product i's delta for x row j
fn lora_lane(i: u32, r: u32, lane: u32, j: u32) -> f32 {
  let b = lora_b(i);
  if (b == LORA_NONE) { return 0.0; }
  let u = j * p.lu + lora_u(i);
  let br = b + r * p.lr;
  var s = 0.0;
  for (var t = lane; t < p.lr; t = t + TPR) { s = s + LU[u + t] * LB[br + t]; }
  return s;
}

// nmv_dot's rows: which product's delta (glu: the first two at the same row)
fn nmv_lora(row: u32, lane: u32, j: u32) -> vec2<f32> {
  if ((p.flags & 4u) != 0u) {
    if (row < p.m) { return vec2<f32>(lora_lane(0u, row, lane, j), lora_lane(1u, row, lane, j)); }
  } else if (row < p.m) {
    return vec2<f32>(lora_lane(0u, row, lane, j), 0.0);
  } else if (row < p.m + p.m2) {
    return vec2<f32>(lora_lane(1u, row - p.m, lane, j), 0.0);
  } else if (row < p.m + p.m2 + p.m3) {
    return vec2<f32>(lora_lane(2u, row - p.m - p.m2, lane, j), 0.0);
  }
  return vec2<f32>(0.0);
}

@compute @workgroup_size(WG)
fn matvec_lora(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw3: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
  _ = x_part(li, wid.z * p.k);
  let row = mv_row(wid, nw3, li);
  let lane = li % TPR;
  var acc = 0.0;
  if (row < p.m) { acc = dot_row(&W, row * p.row_bytes, lane, wid.z * p.k) + lora_lane(0u, row, lane, wid.z); }
  matvec_end(li, lane, row, wid.z, acc);
}

@compute @workgroup_size(WG)
fn nmatvec_lora(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw3: vec3<u32>,
                @builtin(local_invocation_index) li: u32) {
  let row = mv_row(wid, nw3, li);
  let lane = li % TPR;
  let part = x_part(li, wid.z * p.k);
  let s = nmv_end(li, part, nmv_dot(&W, &W2, &W2, row, lane, wid.z * p.k) + nmv_lora(row, lane, wid.z));
  if (lane == 0u) { nmv_store(row, wid.z, li, s); }
}

@compute @workgroup_size(WG)
fn nmatvec3_lora(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw3: vec3<u32>,
                 @builtin(local_invocation_index) li: u32) {
  let row = mv_row(wid, nw3, li);
  let lane = li % TPR;
  let part = x_part(li, wid.z * p.k);
  let s = nmv3_end(li, part, nmv_dot(&W, &W2, &W3, row, lane, wid.z * p.k).x + nmv_lora(row, lane, wid.z).x);
  if (lane == 0u) { nmv3_store(row, wid.z, li, s); }
}

// The CPU's 8-bit activation block of QB values of x from base (q8_0: d = f16(amax / 127),
// multiplier 127 / amax; q8_K: multiplier iscale = -127 / (the value of largest magnitude), d =
// 1 / iscale): (d, multiplier); the block's values are q = min(127, round(x * multiplier)), x ~ d * q.
fn q8_scale(base: u32) -> vec2<f32> {
  var a = 0.0;
  var m = 0.0;
  for (var e = 0u; e < QB; e = e + 1u) { let v = x[base + e]; if (abs(v) > a) { a = abs(v); m = v; } }
  if (QB == 32u) {
    var id = 0.0;
    if (a != 0.0) { id = 127.0 / a; }
    return vec2<f32>(f16_rne(a / 127.0), id);
  }
  if (a == 0.0) { return vec2<f32>(0.0); }
  let iscale = -127.0 / m;
  return vec2<f32>(1.0 / iscale, iscale);
}

// out[j, :] = x[j, :] through the CPU's 8-bit activation blocks (q8_scale), so products match the
// CPU's integer dot products up to summation order: one invocation per block of QB values, over
// n * k / QB blocks.
@compute @workgroup_size(WG)
fn act_quant(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw3: vec3<u32>,
             @builtin(local_invocation_index) li: u32) {
  let bi = (wid.x + wid.y * nw3.x) * WG + li;
  if (QB == 0u || bi >= p.n * p.k / QB) { return; }
  let base = bi * QB;
  let s = q8_scale(base);
  for (var e = 0u; e < QB; e = e + 1u) { out[base + e] = s.x * min(127.0, round(x[base + e] * s.y)); }
}
