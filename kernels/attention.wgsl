// attention.wgsl — causal grouped-query attention over the KV caches, split over the keys.
//
// Query row i sits at position p = pos0 + i and sees keys [lo, p] with lo = p - window + 1 when
// a window is set (HF sliding-window semantics), else 0. Query head h reads KV head
// h / (n_head / n_kv_head). score = (q * scale) . k, then softcap * tanh(score / softcap) when
// softcap > 0; out = softmax(scores) @ V in f32.
//
// Two passes:
//   partial: workgroup (x = kv * n_chunk + c, y = i, z = s) takes the heads
//            kv * group + c * gc .. + gc - 1 (gc heads of one GQA group, group = n_head / n_kv_head,
//            the last chunk may hold fewer) for row i and the s-th slice of split_len keys of
//            row i's range, so each K/V row is read once for all of them. Keys are taken KP = 32
//            at a time (a pass):
//              scores: 8 consecutive invocations per key, invocation l of a key reads dims
//                l, l + 8, ... of the K row (a warp reads 4 rows x 32 contiguous bytes) against
//                q of every head (workgroup memory; fma, as the CPU backend's 8-lane dot), the 8
//                lane sums added through workgroup memory in the CPU backend's order;
//              softmax: one invocation per (head, key), pass max by a tree, p = exp(s - m);
//              values: invocation (kg, dl) owns dims dl, dl + dw (dw = max(32, pow2 >= head_dim)
//                capped at 256) and keys kg, kg + 256 / dw, ... of the pass (reads of V rows
//                contiguous across invocations), accumulating every head; the 256 / dw key groups
//                are summed at the end of the slice.
//            It writes an online-softmax partial (max m, sum l, unnormalised acc[head_dim]) per
//            head to part[((i * n_head + h) * n_split + s) * (head_dim + 2)]. Empty slices write
//            m = -3e38, l = 0.
//   combine: workgroup (h, i) merges the n_split partials into out[i, h * head_dim ..].
//   combine_q: the same for the V = max(QB, head_dim) values of V / head_dim heads per workgroup
//            (x = value group, y = i), and out's 8-bit blocks of QB values for the decode product
//            that reads it next (kernels/pack_q8.wgsl, joined after this file by
//            web/tools/kernels.mjs), so that product needs no act_pack dispatch. QB divides
//            head_dim or head_dim divides QB; the heads' splits (V / head_dim * n_split) fit MAXS.
// With one slice (direct = 1), partial writes the normalised result straight into out (bound in
// place of the partials) and combine is not needed. head_dim <= MAXHD, gc <= GMAX,
// gc * head_dim <= QMAX, n_split <= MAXS.

const WG: u32 = 256u;
override QB: u32 = 256u;    // combine_q: values per 8-bit block
const KP: u32 = 32u;        // keys per pass
const LK: u32 = 8u;         // invocations per key for the scores (WG / KP)
const GMAX: u32 = 8u;       // query heads per workgroup
const QMAX: u32 = 1024u;    // gc * head_dim
const MAXHD: u32 = 512u;
const PER: u32 = 2u;        // MAXHD / WG: output dims per invocation and head
const RS: u32 = 288u;       // KP * (LK + 1): lane sums of one head, padded against bank conflicts
const MAXS: u32 = 1024u;    // splits combine can take
const NEG: f32 = -3.0e38;

struct Params {
  n: u32,
  n_head: u32,
  n_kv_head: u32,
  head_dim: u32,
  pos0: u32,
  window: u32,
  n_split: u32,     // flash: rows per workgroup (BQ)
  split_len: u32,   // flash: keys per tile (FK)
  scale: f32,
  softcap: f32,
  kv_stride: u32,   // floats per cache row: n_kv_head * head_dim
  direct: u32,      // 1: one slice, partial writes out[i, h * head_dim ..] itself
  gc: u32,          // query heads per workgroup (of one GQA group)
  n_chunk: u32,     // workgroups per GQA group: ceil(group / gc)
  dw: u32,          // invocations per head row in the value sum (power of two, 32..256)
  pad: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> q: array<f32>;      // partial
@group(0) @binding(2) var<storage, read> part: array<f32>;   // combine
@group(0) @binding(3) var<storage, read> kc: array<f32>;
@group(0) @binding(4) var<storage, read> vc: array<f32>;

var<workgroup> qs: array<f32, QMAX>;            // partial: q * scale, [gc][head_dim]
var<workgroup> red: array<f32, 2304>;           // partial: lane sums [GMAX][RS]; key-group sums
var<workgroup> sp: array<f32, 256>;             // partial: scores, then p, [GMAX][KP]; combine: reductions
var<workgroup> lred: array<f32, 64>;            // partial: l per key group and head
var<workgroup> ws: array<f32, MAXS>;            // combine: weight of each split (combine_q: [head][split])
var<workgroup> hinv: array<f32, 16>;            // combine_q: 1 / l of each head

// key jj of a pass into l and acc (partial's value sums): its V values (dims dl + t dw) are lane u
// of v4[t]
fn values_key(jj: u32, u: u32, v4: ptr<function, array<vec4<f32>, PER>>, l: ptr<function, array<f32, GMAX>>,
              acc: ptr<function, array<f32, 16>>, gn: u32, hd: u32, dl: u32, dw: u32) {
  for (var g = 0u; g < GMAX; g = g + 1u) {
    if (g < gn) { (*l)[g] = (*l)[g] + sp[g * KP + jj]; }
  }
  for (var t = 0u; t < PER; t = t + 1u) {
    if (dl + t * dw < hd) {
      let v = (*v4)[t][u];
      for (var g = 0u; g < GMAX; g = g + 1u) {
        if (g < gn) { (*acc)[t * GMAX + g] = fma(sp[g * KP + jj], v, (*acc)[t * GMAX + g]); }
      }
    }
  }
}

@compute @workgroup_size(WG)
fn partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let kvh = wid.x / p.n_chunk;
  let h0 = kvh * (p.n_head / p.n_kv_head) + (wid.x % p.n_chunk) * p.gc;
  let gn = min(p.gc, (kvh + 1u) * (p.n_head / p.n_kv_head) - h0);   // heads here
  let i = wid.y;
  let s = wid.z;
  let hd = p.head_dim;
  let pos = p.pos0 + i;
  var lo = 0u;
  if (p.window > 0u && pos + 1u > p.window) { lo = pos + 1u - p.window; }
  let start = lo + s * p.split_len;
  let end = min(pos + 1u, start + p.split_len);   // exclusive; start >= end: empty slice
  let kv_off = kvh * hd;
  let q_off = (i * p.n_head + h0) * hd;
  for (var d = li; d < gn * hd; d = d + WG) { qs[d] = q[q_off + d] * p.scale; }
  workgroupBarrier();

  // scores: key slot ks, lane kl
  let ks = li / LK;
  let kl = li % LK;
  // softmax: head sg, key slot sk
  let sg = li / KP;
  let sk = li % KP;
  // values: key group kg of nkg, dim dl
  let dw = p.dw;
  let nkg = WG / dw;
  let kg = li / dw;
  let dl = li % dw;

  var m: array<f32, GMAX>;
  var l: array<f32, GMAX>;
  var acc: array<f32, 16>;   // [PER][GMAX]
  for (var g = 0u; g < GMAX; g = g + 1u) { m[g] = NEG; l[g] = 0.0; }
  for (var t = 0u; t < PER * GMAX; t = t + 1u) { acc[t] = 0.0; }

  for (var j0 = start; j0 < end; j0 = j0 + KP) {
    let cnt = min(KP, end - j0);
    // lane sums of q . k
    var dot: array<f32, GMAX>;
    for (var g = 0u; g < GMAX; g = g + 1u) { dot[g] = 0.0; }
    if (ks < cnt) {
      let kb = (j0 + ks) * p.kv_stride + kv_off;
      var d = kl;
      for (; d + 3u * LK < hd; d = d + 4u * LK) {   // four loads in flight, then their fmas in order
        let k4 = vec4<f32>(kc[kb + d], kc[kb + d + LK], kc[kb + d + 2u * LK], kc[kb + d + 3u * LK]);
        for (var u = 0u; u < 4u; u = u + 1u) {
          for (var g = 0u; g < GMAX; g = g + 1u) {
            if (g < gn) { dot[g] = fma(qs[g * hd + d + u * LK], k4[u], dot[g]); }
          }
        }
      }
      for (; d < hd; d = d + LK) {
        let kv = kc[kb + d];
        for (var g = 0u; g < GMAX; g = g + 1u) {
          if (g < gn) { dot[g] = fma(qs[g * hd + d], kv, dot[g]); }
        }
      }
    }
    for (var g = 0u; g < GMAX; g = g + 1u) {
      if (g < gn) { red[g * RS + ks * (LK + 1u) + kl] = dot[g]; }
    }
    workgroupBarrier();
    var sc = NEG;
    if (sg < gn && sk < cnt) {
      // lane t summed dims t, t + 8, ...; added in the CPU backend's order (hsum8 of its AVX2 dot)
      let rb = sg * RS + sk * (LK + 1u);
      var a = ((red[rb] + red[rb + 4u]) + (red[rb + 2u] + red[rb + 6u])) +
              ((red[rb + 1u] + red[rb + 5u]) + (red[rb + 3u] + red[rb + 7u]));
      if (p.softcap > 0.0) { a = p.softcap * tanh(clamp(a / p.softcap, -15.0, 15.0)); }
      sc = a;
    }
    sp[li] = sc;
    workgroupBarrier();
    for (var w = KP / 2u; w > 0u; w = w >> 1u) {
      if (sk < w) { sp[li] = max(sp[li], sp[li + w]); }
      workgroupBarrier();
    }
    var corr: array<f32, GMAX>;
    for (var g = 0u; g < GMAX; g = g + 1u) {
      let mn = max(m[g], sp[g * KP]);
      corr[g] = exp(m[g] - mn);
      m[g] = mn;
    }
    workgroupBarrier();
    var pj = 0.0;
    if (sg < gn && sk < cnt) { pj = exp(sc - m[sg]); }
    sp[li] = pj;
    workgroupBarrier();
    for (var g = 0u; g < GMAX; g = g + 1u) {
      l[g] = l[g] * corr[g];
      for (var t = 0u; t < PER; t = t + 1u) { acc[t * GMAX + g] = acc[t * GMAX + g] * corr[g]; }
    }
    // the V rows of four keys loaded before their fmas (the same fmas in the same order as one
    // key at a time: loads in flight instead of one memory latency per key)
    var jj = kg;
    for (; jj + 3u * nkg < cnt; jj = jj + 4u * nkg) {
      var v4: array<vec4<f32>, PER>;   // [t][key]
      for (var t = 0u; t < PER; t = t + 1u) {
        let d = min(dl + t * dw, hd - 1u);   // past hd: loaded, never used
        let vb = (j0 + jj) * p.kv_stride + kv_off + d;
        v4[t] = vec4<f32>(vc[vb], vc[vb + nkg * p.kv_stride], vc[vb + 2u * nkg * p.kv_stride], vc[vb + 3u * nkg * p.kv_stride]);
      }
      for (var u = 0u; u < 4u; u = u + 1u) {
        values_key(jj + u * nkg, u, &v4, &l, &acc, gn, hd, dl, dw);
      }
    }
    for (; jj < cnt; jj = jj + nkg) {
      var v4: array<vec4<f32>, PER>;
      for (var t = 0u; t < PER; t = t + 1u) {
        let d = min(dl + t * dw, hd - 1u);
        v4[t] = vec4<f32>(vc[(j0 + jj) * p.kv_stride + kv_off + d], 0.0, 0.0, 0.0);
      }
      values_key(jj, 0u, &v4, &l, &acc, gn, hd, dl, dw);
    }
    // the next pass writes red, then sp only after a barrier this pass's readers of sp also pass
  }

  if (nkg > 1u) {   // sum the key groups (then dw * nkg = WG, PER = 1 suffices: hd <= dw)
    workgroupBarrier();
    for (var g = 0u; g < GMAX; g = g + 1u) {
      if (g < gn) {
        red[(kg * GMAX + g) * dw + dl] = acc[g];
        if (dl == 0u) { lred[kg * GMAX + g] = l[g]; }
      }
    }
    workgroupBarrier();
    if (kg == 0u) {
      for (var g = 0u; g < GMAX; g = g + 1u) {
        if (g < gn) {
          var a = 0.0;
          var ls = 0.0;
          for (var k = 0u; k < nkg; k = k + 1u) {
            a = a + red[(k * GMAX + g) * dw + dl];
            ls = ls + lred[k * GMAX + g];
          }
          acc[g] = a;
          l[g] = ls;
        }
      }
    }
  }
  if (kg != 0u) { return; }

  if (p.direct != 0u) {
    for (var g = 0u; g < GMAX; g = g + 1u) {
      if (g < gn) {
        var inv = 0.0;
        if (l[g] > 0.0) { inv = 1.0 / l[g]; }
        for (var t = 0u; t < PER; t = t + 1u) {
          let d = dl + t * dw;
          if (d < hd) { out[q_off + g * hd + d] = acc[t * GMAX + g] * inv; }
        }
      }
    }
    return;
  }
  for (var g = 0u; g < GMAX; g = g + 1u) {
    if (g < gn) {
      let base = ((i * p.n_head + h0 + g) * p.n_split + s) * (hd + 2u);
      if (dl == 0u) {
        out[base] = m[g];
        out[base + 1u] = l[g];
      }
      for (var t = 0u; t < PER; t = t + 1u) {
        let d = dl + t * dw;
        if (d < hd) { out[base + 2u + d] = acc[t * GMAX + g]; }
      }
    }
  }
}

fn reduce(li: u32, v: f32, is_max: bool) -> f32 {
  sp[li] = v;
  workgroupBarrier();
  for (var w = WG / 2u; w > 0u; w = w >> 1u) {
    if (li < w) {
      if (is_max) { sp[li] = max(sp[li], sp[li + w]); } else { sp[li] = sp[li] + sp[li + w]; }
    }
    workgroupBarrier();
  }
  let r = sp[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(WG)
fn combine(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let h = wid.x;
  let i = wid.y;
  let hd = p.head_dim;
  let stride = hd + 2u;
  let base = (i * p.n_head + h) * p.n_split * stride;
  var mx = NEG;
  for (var s = li; s < p.n_split; s = s + WG) { mx = max(mx, part[base + s * stride]); }
  mx = reduce(li, mx, true);
  var l = 0.0;
  for (var s = li; s < p.n_split; s = s + WG) {
    let w = exp(part[base + s * stride] - mx);
    ws[s] = w;
    l = l + part[base + s * stride + 1u] * w;
  }
  l = reduce(li, l, false);   // its barriers also publish ws
  var inv = 0.0;
  if (l > 0.0) { inv = 1.0 / l; }
  let o_off = (i * p.n_head + h) * hd;
  for (var d = li; d < hd; d = d + WG) {
    var o = 0.0;
    for (var s = 0u; s < p.n_split; s = s + 1u) { o = o + part[base + s * stride + 2u + d] * ws[s]; }
    out[o_off + d] = o * inv;
  }
}

// the max (is_max) or sum of v over each run of S consecutive invocations (S a power of two
// dividing WG), in reduce's order within the run
fn reduce_runs(li: u32, v: f32, is_max: bool, S: u32) -> f32 {
  sp[li] = v;
  workgroupBarrier();
  for (var w = S / 2u; w > 0u; w = w >> 1u) {
    if (li % S < w) {
      if (is_max) { sp[li] = max(sp[li], sp[li + w]); } else { sp[li] = sp[li] + sp[li + w]; }
    }
    workgroupBarrier();
  }
  let r = sp[li - li % S];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(WG)
fn combine_q(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = wid.y;
  let hd = p.head_dim;
  let stride = hd + 2u;
  let V = max(QB, hd);
  let hg = V / hd;                 // heads here: a power of two (QB is one)
  let h0 = wid.x * hg;
  // head t of this workgroup's weights by the S invocations of run t
  let S = WG / hg;
  let t = li / S;
  let base = (i * p.n_head + h0 + t) * p.n_split * stride;
  var mx = NEG;
  for (var s = li % S; s < p.n_split; s = s + S) { mx = max(mx, part[base + s * stride]); }
  mx = reduce_runs(li, mx, true, S);
  var l = 0.0;
  for (var s = li % S; s < p.n_split; s = s + S) {
    let w = exp(part[base + s * stride] - mx);
    ws[t * p.n_split + s] = w;
    l = l + part[base + s * stride + 1u] * w;
  }
  l = reduce_runs(li, l, false, S);   // its barriers also publish ws
  if (li % S == 0u) { hinv[t] = select(0.0, 1.0 / l, l > 0.0); }
  workgroupBarrier();
  let ob0 = (i * (p.n_head * hd / QB) + wid.x * (V / QB)) * xq_words();
  for (var g0 = 0u; g0 < V / 4u; g0 = g0 + WG) {
    let g = g0 + li;
    let live = g < V / 4u;
    var v = vec4<f32>(0.0);
    if (live) {
      let th = 4u * g / hd;
      let d = 4u * g % hd;
      let hb = (i * p.n_head + h0 + th) * p.n_split * stride + 2u + d;
      let o_off = (i * p.n_head + h0 + th) * hd + d;
      for (var c = 0u; c < 4u; c = c + 1u) {
        var o = 0.0;
        for (var s = 0u; s < p.n_split; s = s + 1u) { o = o + part[hb + s * stride + c] * ws[th * p.n_split + s]; }
        v[c] = o * hinv[th];
        out[o_off + c] = v[c];
      }
    }
    pack_q8(li, g, live, v, ob0);
  }
}

// ---- flash: prefill rows in blocks (many query rows; ops_attention.c picks it) ----
// Workgroup (x = kv * n_chunk + c, y = row block) takes rows i0 = y * BQ .. + BQ - 1 (BQ =
// p.n_split here) and the gc heads of one GQA group as partial does: QV = BQ * gc query vectors
// (qv = row * gc + head) share every K and V row it reads. Keys go FK (= p.split_len) at a time
// from the block's lowest first key to its last row's position:
//   the K tile into workgroup memory (rows hd + 1 apart: the score reads fall on different banks);
//   scores: invocation e of QV * FK takes vector e / FK against key e % FK (q * scale . k in
//     ascending dims, the mask, the softcap);
//   softmax: one invocation per vector keeps its running max m and sum l (as partial's online
//     softmax), turning its scores into p = exp(s - m) and the factor of its older sums, while
//     the others load the V tile over the K tile;
//   values: invocation li owns outputs li + 256 t (t < 16) of [QV][hd], scaled by the factor,
//     then + p . V over the tile's keys in order.
// out[row, head] = acc / l, written straight (never bound with q: the host passes a copy when
// out is q). Sizes (host): QV * hd <= FQ, FK * (hd + 1) <= FKV,
// QV * FK <= FS, QV <= FVMAX.
const FQ: u32 = 4096u;
const FKV: u32 = 2112u;
const FS: u32 = 1024u;
const FVMAX: u32 = 64u;
var<workgroup> fq: array<f32, FQ>;       // q * scale, [QV][hd]
var<workgroup> fkv: array<f32, FKV>;     // the K tile, then the V tile, [FK][hd + 1]
var<workgroup> fs: array<f32, FS>;       // scores, then p, [QV][FK]
var<workgroup> fcorr: array<f32, FVMAX>; // per vector: the factor of the older sums
var<workgroup> fl: array<f32, FVMAX>;    // per vector: l

@compute @workgroup_size(WG)
fn flash(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let group = p.n_head / p.n_kv_head;
  let kvh = wid.x / p.n_chunk;
  let h0 = kvh * group + (wid.x % p.n_chunk) * p.gc;
  let gn = min(p.gc, (kvh + 1u) * group - h0);   // heads here
  let bq = p.n_split;
  let fk = p.split_len;
  let hd = p.head_dim;
  let hs = hd + 1u;
  let i0 = wid.y * bq;
  let rows = min(bq, p.n - i0);
  let qv_n = rows * p.gc;                  // vectors (slots of heads past gn stay idle)
  let kv_off = kvh * hd;
  for (var e = li; e < qv_n * hd; e = e + WG) {
    let v = e / hd;
    let g = v % p.gc;
    var x = 0.0;
    if (g < gn) { x = q[((i0 + v / p.gc) * p.n_head + h0 + g) * hd + e % hd] * p.scale; }
    fq[e] = x;
  }
  // keys: from the first row's first key to the last row's position
  var lo = 0u;
  if (p.window > 0u && p.pos0 + i0 + 1u > p.window) { lo = p.pos0 + i0 + 1u - p.window; }
  let end = p.pos0 + i0 + rows;   // exclusive
  var m = NEG;                     // invocations li < qv_n: vector li's running max and sum
  var l = 0.0;
  var acc: array<f32, 16>;
  for (var t = 0u; t < 16u; t = t + 1u) { acc[t] = 0.0; }
  for (var j0 = lo; j0 < end; j0 = j0 + fk) {
    let cnt = min(fk, end - j0);
    for (var e = li; e < fk * hd; e = e + WG) {
      let jj = e / hd;
      var x = 0.0;
      if (jj < cnt) { x = kc[(j0 + jj) * p.kv_stride + kv_off + e % hd]; }
      fkv[jj * hs + e % hd] = x;
    }
    workgroupBarrier();
    for (var e = li; e < qv_n * fk; e = e + WG) {
      let v = e / fk;
      let jj = e % fk;
      let pos = p.pos0 + i0 + v / p.gc;
      let j = j0 + jj;
      var s = NEG;
      if (jj < cnt && j <= pos && (p.window == 0u || j + p.window > pos)) {
        var a = 0.0;
        for (var d = 0u; d < hd; d = d + 1u) { a = fma(fq[v * hd + d], fkv[jj * hs + d], a); }
        if (p.softcap > 0.0) { a = p.softcap * tanh(clamp(a / p.softcap, -15.0, 15.0)); }
        s = a;
      }
      fs[e] = s;
    }
    workgroupBarrier();
    if (li < qv_n) {
      var mx = m;
      for (var jj = 0u; jj < fk; jj = jj + 1u) { mx = max(mx, fs[li * fk + jj]); }
      let corr = exp(m - mx);
      var sum = 0.0;
      for (var jj = 0u; jj < fk; jj = jj + 1u) {
        let s = fs[li * fk + jj];
        var pj = 0.0;
        if (s > 0.5 * NEG) { pj = exp(s - mx); }
        fs[li * fk + jj] = pj;
        sum = sum + pj;
      }
      l = l * corr + sum;
      m = mx;
      fcorr[li] = corr;
    }
    for (var e = li; e < fk * hd; e = e + WG) {   // the V tile over the K tile (read before the barrier above)
      let jj = e / hd;
      var x = 0.0;
      if (jj < cnt) { x = vc[(j0 + jj) * p.kv_stride + kv_off + e % hd]; }
      fkv[jj * hs + e % hd] = x;
    }
    workgroupBarrier();
    for (var t = 0u; t < 16u; t = t + 1u) {
      let o = li + t * WG;
      if (o < qv_n * hd) {
        let v = o / hd;
        let d = o % hd;
        var a = acc[t] * fcorr[v];
        for (var jj = 0u; jj < cnt; jj = jj + 1u) { a = fma(fs[v * fk + jj], fkv[jj * hs + d], a); }
        acc[t] = a;
      }
    }
    workgroupBarrier();
  }
  if (li < qv_n) { fl[li] = l; }
  workgroupBarrier();
  for (var t = 0u; t < 16u; t = t + 1u) {
    let o = li + t * WG;
    if (o < qv_n * hd) {
      let v = o / hd;
      let g = v % p.gc;
      if (g < gn) {
        var inv = 0.0;
        if (fl[v] > 0.0) { inv = 1.0 / fl[v]; }
        out[((i0 + v / p.gc) * p.n_head + h0 + g) * hd + o % hd] = acc[t] * inv;
      }
    }
  }
}
