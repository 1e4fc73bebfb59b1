// Gathers a strided view of `x` into a contiguous tensor: the one kernel
// behind transpose, slicing and stacking, for 32-bit elements. Needs
// `strided_index` in front.

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) {
    return;
  }
  out[i] = x[source_of(i)];
}
