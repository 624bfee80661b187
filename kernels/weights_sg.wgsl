// weights_sg.wgsl — the subgroup reduction of the weights_<type>_sg kernels (matvec_sg): after
// `enable subgroups;` and before kernels/weights_common.wgsl, whose reduce_rows calls
// web/tools/kernels.mjs renames reduce_rows_sg. The TPR lanes of a row are consecutive
// invocations; this takes the subgroups to hold consecutive invocations too (subgroup s: local
// invocation indices s * SGS .. s * SGS + SGS - 1, as Vulkan drivers lay out one-dimensional
// workgroups) and every subgroup to have SGS of them: the host uses these kernels only where the
// adapter's smallest and largest subgroup sizes are both SGS.

override SGS: u32 = 32u;   // invocations per subgroup

// as reduce_rows: the sum over the lanes of each row of red (and red2) ends at the row's lane 0;
// butterflies within the subgroup, then (rows wider than a subgroup) the subgroups' sums through
// workgroup memory
fn reduce_rows_sg(li: u32, lane: u32, two: bool) {
  var s = red[li];
  var s2 = red2[li];
  for (var o = min(TPR, SGS) / 2u; o > 0u; o = o >> 1u) {
    s = s + subgroupShuffleXor(s, o);
    s2 = s2 + subgroupShuffleXor(s2, o);
  }
  if (TPR <= SGS) {
    if (lane == 0u) {
      red[li] = s;
      red2[li] = s2;
    }
    return;
  }
  workgroupBarrier();
  if (lane % SGS == 0u) {
    red[li] = s;
    red2[li] = s2;
  }
  workgroupBarrier();
  if (lane == 0u) {
    var t = 0.0;
    var t2 = 0.0;
    for (var j = 0u; j < TPR; j = j + SGS) {
      t = t + red[li + j];
      t2 = t2 + red2[li + j];
    }
    red[li] = t;
    red2[li] = t2;
  }
}
