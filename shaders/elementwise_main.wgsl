// Entry point shared by the one-invocation-per-element kernels (unary,
// binary, where, masked_fill, ...), compiled in front of them after
// `elementwise_header`. The kernel's uniform block `p` holds the element
// count in `n`, and the kernel declares `fn element(i: u32)`, called once
// per flat output index i < p.n.

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg);
  if (i >= p.n) {
    return;
  }
  element(i);
}
