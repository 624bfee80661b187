// weights_rope.wgsl — the attention block's input in one dispatch (nmatvec3_rope, in the
// weights_<type>_n kernels after kernels/weights_norm.wgsl and sincos.wgsl): q, k, v = rms_norm(x;
// g) times Wq, Wk, Wv (one weight type; in the weights_<type>_i8 kernels x is the norm's output
// already, as 8-bit blocks written by rms_norm:main_q), q and k rotated (rope.wgsl's `main`: pairs (i, i + half)
// or (2i, 2i + 1) by pos[row] * inv_freq[i], times mscale; dims past 2 half untouched), q written
// to out, k to the key cache (out2 from element kc_off), v to the value cache (out3 from vc_off).
// No head norms (those families take rope:rope2kv).
//
// A rotation needs both rows of a pair at once, so the rows go to workgroups in an order that
// keeps each pair in one workgroup, on adjacent row slots: row slot L of the grid takes weight
// row rope_row(L), which within the rotated dims of a q or k head maps slots 2i, 2i + 1 to the
// pair's rows (identity for interleaved pairs and everything else). With an even number of rows
// per workgroup (the host checks) the partner's sum sits in red at li ^ TPR after the barrier
// that follows the rows' reduction.

@group(0) @binding(11) var<storage, read> rpos: array<i32>;       // position of x row j
@group(0) @binding(12) var<storage, read> inv_freq: array<f32>;   // [half]

// the q or k head of row r: (first row of the head, index in it); v rows: (r, hd)
fn rope_head(r: u32) -> vec2<u32> {
  if (r >= p.m + p.m2) { return vec2<u32>(r, p.hd); }
  let base = select(0u, p.m, r >= p.m);
  let t = (r - base) % p.hd;
  return vec2<u32>(r - t, t);
}

fn rope_row(l: u32) -> u32 {
  let h = rope_head(l);
  if (p.ileave != 0u || h.y >= 2u * p.half) { return l; }
  return h.x + (h.y >> 1u) + (h.y & 1u) * p.half;
}

fn rope_store(row: u32, j: u32, li: u32, s: f32) {
  let kv = p.m + p.m2;
  let a = red[li] * s;
  if (row >= kv + p.m3) { return; }
  if (row >= kv) {
    out3[p.vc_off + j * p.m3 + row - kv] = a;
    return;
  }
  let h = rope_head(row);
  var v = a;
  if (h.y < 2u * p.half) {
    let b = red[li ^ TPR] * s;   // the pair's other value
    var i = h.y % p.half;
    var first = h.y < p.half;
    if (p.ileave != 0u) {
      i = h.y / 2u;
      first = (h.y & 1u) == 0u;
    }
    let sc = sincos(f32(rpos[j]) * inv_freq[i]) * p.mscale;
    // (x0, x1) -> (x0 cos - x1 sin, x1 cos + x0 sin)
    v = select(a * sc.y + b * sc.x, a * sc.y - b * sc.x, first);
  }
  if (row < p.m) {
    out[j * p.m + row] = v;
  } else {
    out2[p.kc_off + j * p.m2 + row - p.m] = v;
  }
}

@compute @workgroup_size(WG)
fn nmatvec3_rope(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw3: vec3<u32>,
                 @builtin(local_invocation_index) li: u32) {
  let row = rope_row((wid.x + wid.y * nw3.x) * (WG / TPR) + li / TPR);
  let s = nmv3_sums(row, li, wid.z);   // with the norm folded in (weights_norm.wgsl)
  workgroupBarrier();                  // every row's sum in red (reduce_rows_sg ends without one)
  if (li % TPR == 0u) { rope_store(row, wid.z, li, s); }
}
