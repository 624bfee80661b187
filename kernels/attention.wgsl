// attention.wgsl — causal grouped-query attention over the KV caches, split over the keys.
//
// Query row i sits at position p = pos0 + i and sees keys [lo, p] with lo = p - window + 1 when
// a window is set (HF sliding-window semantics), else 0. Query head h reads KV head
// h / (n_head / n_kv_head). score = (q * scale) . k, then softcap * tanh(score / softcap) when
// softcap > 0; out = softmax(scores) @ V in f32.
//
// Two passes:
//   partial: workgroup (h, i, s) takes the s-th slice of split_len keys of row i's range and
//            writes an online-softmax partial (max m, sum l, unnormalised acc[head_dim]) to
//            part[((i * n_head + h) * n_split + s) * (head_dim + 2)]. Keys are taken WG at a
//            time: one invocation per key for the score, then one invocation per output dim
//            for the V sum. Empty slices write m = -3e38, l = 0.
//   combine: workgroup (h, i) merges the n_split partials into out[i, h * head_dim ..].
// With one slice (direct = 1), partial writes the normalised result straight into out (bound in
// place of the partials) and combine is not needed. head_dim <= MAXHD.

const WG: u32 = 64u;
const MAXHD: u32 = 512u;
const PER: u32 = 8u;        // MAXHD / WG output dims per invocation
const NEG: f32 = -3.0e38;

struct Params {
  n: u32,
  n_head: u32,
  n_kv_head: u32,
  head_dim: u32,
  pos0: u32,
  window: u32,
  n_split: u32,
  split_len: u32,
  scale: f32,
  softcap: f32,
  kv_stride: u32,   // floats per cache row: n_kv_head * head_dim
  direct: u32,      // 1: one slice, partial writes out[i, h * head_dim ..] itself
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> q: array<f32>;      // partial
@group(0) @binding(2) var<storage, read> part: array<f32>;   // combine
@group(0) @binding(3) var<storage, read> kc: array<f32>;
@group(0) @binding(4) var<storage, read> vc: array<f32>;

var<workgroup> qs: array<f32, MAXHD>;
var<workgroup> pr: array<f32, WG>;
var<workgroup> red: array<f32, WG>;

fn reduce_max(li: u32, v: f32) -> f32 {
  red[li] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (li < s) { red[li] = max(red[li], red[li + s]); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

fn reduce_sum(li: u32, v: f32) -> f32 {
  red[li] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (li < s) { red[li] = red[li] + red[li + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(WG)
fn partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let h = wid.x;
  let i = wid.y;
  let s = wid.z;
  let hd = p.head_dim;
  let pos = p.pos0 + i;
  var lo = 0u;
  if (p.window > 0u && pos + 1u > p.window) { lo = pos + 1u - p.window; }
  let start = lo + s * p.split_len;
  let end = min(pos + 1u, start + p.split_len);   // exclusive; start >= end: empty slice
  let kv_off = (h / (p.n_head / p.n_kv_head)) * hd;
  let q_off = (i * p.n_head + h) * hd;
  for (var d = li; d < hd; d = d + WG) { qs[d] = q[q_off + d] * p.scale; }
  workgroupBarrier();

  var m = NEG;
  var l = 0.0;
  var acc: array<f32, PER>;
  for (var t = 0u; t < PER; t = t + 1u) { acc[t] = 0.0; }
  for (var j0 = start; j0 < end; j0 = j0 + WG) {
    let j = j0 + li;
    var sc = NEG;
    if (j < end) {
      let kb = j * p.kv_stride + kv_off;
      var dot = 0.0;
      for (var d = 0u; d < hd; d = d + 1u) { dot = dot + qs[d] * kc[kb + d]; }
      if (p.softcap > 0.0) { dot = p.softcap * tanh(clamp(dot / p.softcap, -15.0, 15.0)); }
      sc = dot;
    }
    let mnew = max(m, reduce_max(li, sc));
    let corr = exp(m - mnew);
    var pj = 0.0;
    if (j < end) { pj = exp(sc - mnew); }
    pr[li] = pj;
    l = l * corr + reduce_sum(li, pj);   // the barriers in reduce_sum also publish pr
    let cnt = min(WG, end - j0);
    for (var t = 0u; t < PER; t = t + 1u) {
      let d = li + t * WG;
      if (d < hd) {
        var a = acc[t] * corr;
        for (var jj = 0u; jj < cnt; jj = jj + 1u) {
          a = a + pr[jj] * vc[(j0 + jj) * p.kv_stride + kv_off + d];
        }
        acc[t] = a;
      }
    }
    m = mnew;
    workgroupBarrier();
  }
  if (p.direct != 0u) {
    var inv = 0.0;
    if (l > 0.0) { inv = 1.0 / l; }
    for (var t = 0u; t < PER; t = t + 1u) {
      let d = li + t * WG;
      if (d < hd) { out[q_off + d] = acc[t] * inv; }
    }
    return;
  }
  let base = ((i * p.n_head + h) * p.n_split + s) * (hd + 2u);
  if (li == 0u) {
    out[base] = m;
    out[base + 1u] = l;
  }
  for (var t = 0u; t < PER; t = t + 1u) {
    let d = li + t * WG;
    if (d < hd) { out[base + 2u + d] = acc[t]; }
  }
}

@compute @workgroup_size(WG)
fn combine(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let h = wid.x;
  let i = wid.y;
  let hd = p.head_dim;
  let stride = hd + 2u;
  let base = (i * p.n_head + h) * p.n_split * stride;
  var mx = NEG;
  for (var s = 0u; s < p.n_split; s = s + 1u) { mx = max(mx, part[base + s * stride]); }
  var l = 0.0;
  for (var s = 0u; s < p.n_split; s = s + 1u) {
    l = l + part[base + s * stride + 1u] * exp(part[base + s * stride] - mx);
  }
  var inv = 0.0;
  if (l > 0.0) { inv = 1.0 / l; }
  let o_off = (i * p.n_head + h) * hd;
  for (var d = li; d < hd; d = d + WG) {
    var o = 0.0;
    for (var s = 0u; s < p.n_split; s = s + 1u) {
      o = o + part[base + s * stride + 2u + d] * exp(part[base + s * stride] - mx);
    }
    out[o_off + d] = o * inv;
  }
}
