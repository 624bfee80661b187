// read.wgsl — the roof: every 16 bytes of the matrix read once and summed (no arithmetic to speak of)
struct Params { n: u32, k: u32, m: u32, row_bytes: u32, }
override WG: u32 = 256u;
override TPR: u32 = 32u;
override UNR: u32 = 1u;
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> W4: array<vec4<u32>>;
@compute @workgroup_size(WG)
fn matvec(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw3: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
  let row = (wid.x + wid.y * nw3.x) * (WG / TPR) + li / TPR;
  let lane = li % TPR;
  if (row >= p.m) { return; }
  let n4 = p.row_bytes / 16u;
  var acc = vec4<u32>(0u);
  for (var u = lane; u < n4; u = u + TPR) { acc = acc ^ W4[row * n4 + u]; }
  if (acc.x == 0x12345678u) { out[row] = f32(acc.y); }
}
