// moe.wgsl — mixture-of-experts routing and combination (the expert products themselves are
// weights_<type>.wgsl:moe_matvec, the activation elementwise.wgsl:glu_inplace).
//
// route:   one invocation per token t: p = softmax(logits[t, :]) over n_expert (max-subtracted),
//          the k largest p (ties: lowest expert id), weights renormalised to sum 1; writes
//          sel[t * k + j] (expert id) and wt[t * k + j].
// combine: one invocation per output value: out[t, c] = sum over the token's k slots, in
//          increasing expert id, of wt * y[(t * k + j) * d + c].

override WG: u32 = 64u;
const MAXK: u32 = 32u;

struct Params {
  n: u32,
  n_expert: u32,
  k: u32,
  d: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> sel: array<u32>;   // route
@group(0) @binding(2) var<storage, read_write> wt: array<f32>;    // route
@group(0) @binding(3) var<storage, read> logits: array<f32>;      // route
@group(0) @binding(1) var<storage, read_write> out: array<f32>;   // combine
@group(0) @binding(2) var<storage, read> rsel: array<u32>;        // combine
@group(0) @binding(3) var<storage, read> rwt: array<f32>;         // combine
@group(0) @binding(4) var<storage, read> y: array<f32>;           // combine

@compute @workgroup_size(WG)
fn route(@builtin(global_invocation_id) g: vec3<u32>) {
  let t = g.x;
  if (t >= p.n) { return; }
  let base = t * p.n_expert;
  var mx = logits[base];
  for (var e = 1u; e < p.n_expert; e = e + 1u) { mx = max(mx, logits[base + e]); }
  var sum = 0.0;
  for (var e = 0u; e < p.n_expert; e = e + 1u) { sum = sum + exp(logits[base + e] - mx); }
  var chosen: array<u32, MAXK>;
  var w: array<f32, MAXK>;
  var wsum = 0.0;
  for (var r = 0u; r < p.k; r = r + 1u) {
    var best = 0xffffffffu;
    var bp = 0.0;
    for (var e = 0u; e < p.n_expert; e = e + 1u) {
      var taken = false;
      for (var q = 0u; q < r; q = q + 1u) { taken = taken || chosen[q] == e; }
      let pe = exp(logits[base + e] - mx) / sum;
      if (!taken && (best == 0xffffffffu || pe > bp)) { best = e; bp = pe; }
    }
    chosen[r] = best;
    w[r] = bp;
    wsum = wsum + bp;
  }
  for (var r = 0u; r < p.k; r = r + 1u) {
    sel[t * p.k + r] = chosen[r];
    wt[t * p.k + r] = w[r] / wsum;
  }
}

@compute @workgroup_size(WG)
fn combine(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
           @builtin(local_invocation_index) li: u32) {
  let i = (wid.x + wid.y * nw.x) * WG + li;
  if (i >= p.n * p.d) { return; }
  let t = i / p.d;
  let c = i % p.d;
  var acc = 0.0;
  var prev = -1i;
  for (var r = 0u; r < p.k; r = r + 1u) {   // slots in increasing expert id
    var j = 0u;
    var je = 0x7fffffffi;
    for (var q = 0u; q < p.k; q = q + 1u) {
      let e = i32(rsel[t * p.k + q]);
      if (e > prev && e < je) { je = e; j = q; }
    }
    prev = je;
    let s = t * p.k + j;
    acc = acc + rwt[s] * y[s * p.d + c];
  }
  out[i] = acc;
}
