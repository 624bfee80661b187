// sample.wgsl — picks a token id from one row of logits on the GPU (one workgroup), with the
// same definition as the CPU sampler (src/backend/cpu/ops_sample.c):
//   greedy: the arg max, lowest id on ties, NaN never wins (all NaN: the last id);
//   sample: p_i = exp((l_i - max) / T) (NaN -> 0, the max itself -> 1);
//     top_k > 0 keeps the top_k ids in rank order (p descending, then id ascending);
//     top_p < 1 keeps the shortest rank-order prefix whose mass reaches top_p times the mass
//     left after top-k;
//     then walks the kept ids in id order and returns the first whose running sum exceeds
//     rand01 * (kept mass), or the last kept id with p > 0.
// Rank boundaries are found by MSB-first radix selection over the 64-bit key
// (bits(p), ~id), 8 bits per pass, with workgroup histograms: counts for top-k, masses for
// top-p. Masses in a histogram are fixed point (p / mass * 2^30, rounded), so a top-p boundary
// can differ from the CPU's f32 running sum only when top_p * mass falls within about
// vocab * 2^-31 of a prefix sum. The result is written to out[0] (i32).
// verify: a speculative step's greedy check (src/backend/backend.h `verify`): out[1 + r] = the
// arg max of row r for r = 0, 1, .. until row `row` (k) or the first row whose arg max is not
// the proposal props[1 + r]; out[0] = the rows written. The step's one readback.
// verify_sample: the same with sampling (the rejection rule), described above the entry point.

override WG: u32 = 256u;   // power of two, >= 256 (each of the first 256 clears a histogram bin)

struct Params {
  vocab: u32,
  row: u32,           // logits row (verify: k, the proposals)
  inv_temp: f32,
  top_k: u32,         // 0: off
  top_p: f32,         // >= 1: off
  rand01: f32,        // clamped to [0, 1) by the host
  dvocab: u32,        // verify_sample: the draft's vocabulary (0: prompt lookup)
  _pad1: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<i32>;
@group(0) @binding(2) var<storage, read> logits: array<f32>;
@group(0) @binding(3) var<storage, read_write> prob: array<f32>;   // sample: [vocab] scratch,
                                                                   // verify_sample: [2 vocab]
@group(0) @binding(4) var<storage, read> props: array<i32>;        // verify: [k + 1] ids
@group(0) @binding(5) var<storage, read> rnd: array<f32>;          // verify_sample: [k + 1]

var<workgroup> rv: array<f32, WG>;
var<workgroup> ri: array<u32, WG>;
var<workgroup> hist: array<atomic<u32>, 256>;    // counts per digit
var<workgroup> hmass: array<atomic<u32>, 256>;   // fixed-point masses per digit
var<workgroup> sel: array<u32, 4>;
var<workgroup> chunk: array<f32, WG>;
var<workgroup> pick: atomic<u32>;
var<workgroup> vstop: u32;
const NONE: u32 = 0xffffffffu;

fn is_nan(v: f32) -> bool {
  let b = bitcast<u32>(v);
  return (b & 0x7f800000u) == 0x7f800000u && (b & 0x007fffffu) != 0u;
}

// (v, i) ranks before (bv, bi) for the arg max: higher value, then lower id; NONE loses.
fn better(v: f32, i: u32, bv: f32, bi: u32) -> bool {
  if (i == NONE) { return false; }
  if (bi == NONE) { return true; }
  return v > bv || (v == bv && i < bi);
}

// arg max over logits[base, base + n) (lowest id on ties, NaN skipped); all NaN: n - 1.
fn argmax(li: u32, base: u32, n: u32) -> u32 {
  var bv = 0.0;
  var bi = NONE;
  for (var i = li; i < n; i = i + WG) {
    let v = logits[base + i];
    if (!is_nan(v) && better(v, i, bv, bi)) { bv = v; bi = i; }
  }
  rv[li] = bv;
  ri[li] = bi;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (li < s && better(rv[li + s], ri[li + s], rv[li], ri[li])) {
      rv[li] = rv[li + s];
      ri[li] = ri[li + s];
    }
    workgroupBarrier();
  }
  var r = ri[0];
  workgroupBarrier();
  if (r == NONE) { r = n - 1u; }
  return r;
}

@compute @workgroup_size(WG)
fn greedy(@builtin(local_invocation_index) li: u32) {
  let r = argmax(li, p.row * p.vocab, p.vocab);
  if (li == 0u) { out[0] = i32(r); }
}

@compute @workgroup_size(WG)
fn verify(@builtin(local_invocation_index) li: u32) {
  var r = 0u;
  loop {
    let a = argmax(li, r * p.vocab, p.vocab);
    if (li == 0u) {
      out[1u + r] = i32(a);
      vstop = select(0u, 1u, r >= p.row || props[1u + r] != i32(a));
    }
    if (workgroupUniformLoad(&vstop) != 0u) { break; }
    r = r + 1u;
  }
  if (li == 0u) { out[0] = i32(r + 1u); }
}

fn reduce_sum(li: u32, v: f32) -> f32 {
  rv[li] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (li < s) { rv[li] = rv[li] + rv[li + s]; }
    workgroupBarrier();
  }
  let r = rv[0];
  workgroupBarrier();
  return r;
}

fn reduce_max_u(li: u32, v: u32) -> u32 {
  ri[li] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (li < s) { ri[li] = max(ri[li], ri[li + s]); }
    workgroupBarrier();
  }
  let r = ri[0];
  workgroupBarrier();
  return r;
}

// the rank key of id i: (bits(p), ~i); larger ranks first
fn key_ge(hi: u32, lo: u32, kh: u32, kl: u32) -> bool {
  return hi > kh || (hi == kh && lo >= kl);
}

fn key_matches(hi: u32, lo: u32, ph: u32, pl: u32, nb: u32) -> bool {
  if (nb == 0u) { return true; }
  if (nb <= 32u) { return (hi >> (32u - nb)) == (ph >> (32u - nb)); }
  if (hi != ph) { return false; }
  return (lo >> (64u - nb)) == (pl >> (64u - nb));
}

fn digit_of(hi: u32, lo: u32, nb: u32) -> u32 {
  if (nb < 32u) { return (hi >> (24u - nb)) & 255u; }
  return (lo >> (56u - nb)) & 255u;
}

// Radix selection of a rank boundary key among the ids i < n whose key >= (fh, fl), the
// probabilities at prob[po + i].
// mode 0: the key of the want-th ranked id. mode 1: the key of the id at which the rank-order
// running mass (fixed point, p * qscale rounded) first reaches want; when rounding leaves the
// total short of want, the last id with any mass. Returns (hi, lo).
fn select_key(li: u32, mode: u32, want: u32, qscale: f32, fh: u32, fl: u32, po: u32, n: u32) -> vec2<u32> {
  var ph = 0u;
  var pl = 0u;
  var remaining = want;
  for (var nb = 0u; nb < 64u; nb = nb + 8u) {
    if (li < 256u) {   // WG >= 256: every bin is cleared
      atomicStore(&hist[li], 0u);
      atomicStore(&hmass[li], 0u);
    }
    workgroupBarrier();
    for (var i = li; i < n; i = i + WG) {
      let pv = prob[po + i];
      let hi = bitcast<u32>(pv);
      let lo = ~i;
      if (key_ge(hi, lo, fh, fl) && key_matches(hi, lo, ph, pl, nb)) {
        let d = digit_of(hi, lo, nb);
        atomicAdd(&hist[d], 1u);
        if (mode == 1u) { atomicAdd(&hmass[d], u32(round(pv * qscale))); }
      }
    }
    workgroupBarrier();
    if (li == 0u) {
      var acc = 0u;
      var found = NONE;
      var lowest = NONE;
      for (var b = 255i; b >= 0i; b = b - 1i) {
        let cnt = atomicLoad(&hist[u32(b)]);
        if (cnt == 0u) { continue; }
        var v = cnt;
        if (mode == 1u) { v = atomicLoad(&hmass[u32(b)]); if (v > 0u) { lowest = u32(b); } }
        if (acc + v >= remaining) { found = u32(b); break; }
        acc = acc + v;
      }
      if (found != NONE) {
        sel[0] = found;
        sel[1] = remaining - acc;
      } else {   // mode 1 only: keep through the last id that has mass
        if (lowest == NONE) { lowest = 0u; }
        sel[0] = lowest;
        sel[1] = atomicLoad(&hmass[lowest]);
      }
    }
    workgroupBarrier();
    let d = sel[0];
    remaining = sel[1];
    workgroupBarrier();
    if (nb < 32u) { ph = ph | (d << (24u - nb)); } else { pl = pl | (d << (56u - nb)); }
  }
  return vec2<u32>(ph, pl);
}

// Steps 1-3 of the sampler over logits[base, base + n): prob[po + i] = the unnormalised
// probability of id i; returns the kept set's boundary key (every id whose key (bits(p), ~id)
// is >= it and whose p > 0 is kept; (0, 0) keeps every id).
fn transform(li: u32, base: u32, n: u32, po: u32) -> vec2<u32> {
  let mx = logits[base + argmax(li, base, n)];
  // 1. unnormalised probabilities
  var total = 0.0;
  for (var i = li; i < n; i = i + WG) {
    let l = logits[base + i];
    var pv = 0.0;
    if (l == mx) { pv = 1.0; } else if (!is_nan(l)) { pv = exp((l - mx) * p.inv_temp); }
    prob[po + i] = pv;
    total = total + pv;
  }
  storageBarrier();
  total = reduce_sum(li, total);

  // 2. top-k: every key >= (kh, kl) is kept
  var kh = 0u;
  var kl = 0u;
  var mass = total;
  if (p.top_k > 0u && p.top_k < n) {
    let k = select_key(li, 0u, p.top_k, 0.0, 0u, 0u, po, n);
    kh = k.x;
    kl = k.y;
    var m = 0.0;
    for (var i = li; i < n; i = i + WG) {
      let pv = prob[po + i];
      if (key_ge(bitcast<u32>(pv), ~i, kh, kl)) { m = m + pv; }
    }
    mass = reduce_sum(li, m);
  }
  // 3. top-p
  if (p.top_p < 1.0) {
    let qscale = 1073741824.0 / max(mass, 1e-30);
    let goal = u32(round(max(p.top_p, 0.0) * mass * qscale));
    let k = select_key(li, 1u, goal, qscale, kh, kl, po, n);
    kh = k.x;
    kl = k.y;
  }
  return vec2<u32>(kh, kl);
}

// What a walk draws from. mode 0: the kept probabilities at prob[i] (boundary a). mode 1: the
// residual max(0, pa_i / ma - q_i / mb) of a speculative rejection, pa_i as in mode 0 and q_i
// the kept prob[qo + i] (boundary b) for i < qn or, when qn == 0 (prompt lookup), 1 at id pt.
struct Dist {
  mode: u32,
  a: vec2<u32>,
  b: vec2<u32>,
  ma: f32,
  mb: f32,
  qo: u32,
  qn: u32,
  pt: u32,
}

// pv when id i is in the kept set of boundary k, else 0
fn kept(pv: f32, i: u32, k: vec2<u32>) -> f32 {
  if (pv > 0.0 && key_ge(bitcast<u32>(pv), ~i, k.x, k.y)) { return pv; }
  return 0.0;
}

fn weight(i: u32, d: Dist) -> f32 {
  let pa = kept(prob[i], i, d.a);
  if (d.mode == 0u) { return pa; }
  var q = 0.0;
  if (d.qn == 0u) { q = select(0.0, 1.0, i == d.pt); } else if (i < d.qn) { q = kept(prob[d.qo + i], i, d.b) / d.mb; }
  return max(0.0, pa / d.ma - q);
}

// the sum over ids [0, n) of the kept prob[po + i] (boundary k)
fn kept_sum(li: u32, n: u32, po: u32, k: vec2<u32>) -> f32 {
  var m = 0.0;
  for (var i = li; i < n; i = i + WG) { m = m + kept(prob[po + i], i, k); }
  return reduce_sum(li, m);
}

// 4. walk the ids [0, n) with weight > 0 in id order and return the first whose running sum
// exceeds r01 * (their sum); the last such id if rounding leaves none; invocation li owns the
// ids [c0, c1). The result is valid in invocation 0.
fn walk(li: u32, n: u32, r01: f32, d: Dist) -> u32 {
  let per = (n + WG - 1u) / WG;
  let c0 = min(n, li * per);
  let c1 = min(n, c0 + per);
  var cs = 0.0;
  var last = NONE;
  for (var i = c0; i < c1; i = i + 1u) {
    let w = weight(i, d);
    if (w > 0.0) { cs = cs + w; last = i; }
  }
  chunk[li] = cs;
  if (li == 0u) { atomicStore(&pick, NONE); }
  let total = reduce_sum(li, cs);   // its barriers also publish chunk[] and pick
  let thr = r01 * total;
  var before = 0.0;
  for (var t = 0u; t < li; t = t + 1u) { before = before + chunk[t]; }
  if (last != NONE && before <= thr && before + cs > thr) {
    var cum = before;
    var r = last;   // if rounding keeps the walk below target, the chunk's last kept id
    for (var i = c0; i < c1; i = i + 1u) {
      let w = weight(i, d);
      if (w > 0.0) {
        cum = cum + w;
        if (cum > thr) { r = i; break; }
      }
    }
    atomicMin(&pick, r);
  }
  var lastp1 = 0u;
  if (last != NONE) { lastp1 = last + 1u; }
  let last_all = reduce_max_u(li, lastp1);   // its barriers also publish pick
  var r = atomicLoad(&pick);
  if (r == NONE) { r = max(last_all, 1u) - 1u; }
  return r;
}

@compute @workgroup_size(WG)
fn sample(@builtin(local_invocation_index) li: u32) {
  let kb = transform(li, p.row * p.vocab, p.vocab, 0u);
  let r = walk(li, p.vocab, p.rand01, Dist(0u, kb, kb, 1.0, 1.0, 0u, 0u, 0u));
  if (li == 0u) { out[0] = i32(r); }
}

// verify_sample: a speculative step's rejection rule (src/backend/backend.h `verify_sample`).
// For r = 0, 1, ..: P_r = the kept distribution of target row r (logits row r); when r == k,
// out[1 + r] = a draw from P_r with rnd[k] and stop; else Q_r = the draft's (logits row
// k + 1 + r, its first dvocab ids; dvocab 0: 1 at the proposal), t = props[1 + r]: keep t
// (out[1 + r] = t) when rnd[r] * Q_r(t) < P_r(t) and Q_r(t) > 0, else out[1 + r] = a draw
// with rnd[k] from norm(max(0, P_r - Q_r)) (from P_r if rounding left it no mass) and stop.
// out[0] = the rows written. Probabilities live at prob[0, vocab) (target) and
// prob[vocab, vocab + dvocab) (draft).
@compute @workgroup_size(WG)
fn verify_sample(@builtin(local_invocation_index) li: u32) {
  let k = p.row;
  let dv = p.dvocab;
  var r = 0u;
  loop {
    let a = transform(li, r * p.vocab, p.vocab, 0u);
    let ma = kept_sum(li, p.vocab, 0u, a);
    if (r == k) {   // every proposal kept: the next token from P_k
      let t = walk(li, p.vocab, rnd[k], Dist(0u, a, a, 1.0, 1.0, 0u, 0u, 0u));
      if (li == 0u) { out[1u + r] = i32(t); }
      break;
    }
    var b = vec2<u32>(0u, 0u);
    var mb = 1.0;
    if (dv > 0u) {
      b = transform(li, (k + 1u + r) * p.vocab, dv, p.vocab);
      mb = kept_sum(li, dv, p.vocab, b);
    }
    let pt = u32(props[1u + r]);
    if (li == 0u) {
      var pd = 0.0;
      var qd = 0.0;
      if (pt < p.vocab && ma > 0.0) {
        pd = kept(prob[pt], pt, a) / ma;
        if (dv == 0u) { qd = 1.0; } else if (pt < dv && mb > 0.0) { qd = kept(prob[p.vocab + pt], pt, b) / mb; }
      }
      let keep = qd > 0.0 && rnd[r] * qd < pd;
      if (keep) { out[1u + r] = i32(pt); }
      vstop = select(1u, 0u, keep);
    }
    if (workgroupUniformLoad(&vstop) != 0u) {
      var d = Dist(1u, a, b, max(ma, 1e-30), max(mb, 1e-30), p.vocab, dv, pt);
      var rs = 0.0;
      for (var i = li; i < p.vocab; i = i + WG) { rs = rs + weight(i, d); }
      rs = reduce_sum(li, rs);
      d.mode = select(0u, 1u, rs > 0.0);
      let t = walk(li, p.vocab, rnd[k], d);
      if (li == 0u) { out[1u + r] = i32(t); }
      break;
    }
    r = r + 1u;
  }
  if (li == 0u) { out[0] = i32(r + 1u); }
}
