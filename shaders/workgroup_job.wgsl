// Entry point shared by the kernels that run one workgroup per job (a row,
// or a (row, chunk) pair: select_*.wgsl, layer_norm*.wgsl, softmax.wgsl,
// attention_softmax.wgsl), compiled in front of them through launch()'s
// `includes`. The kernel declares `override WG: u32`, `fn jobs() -> u32`
// (how many jobs) and `fn run(g: u32, lid: u32)` (job g, invocation lid).
// Workgroups past the count (the tail of launch()'s folded 2-D grid) return
// at once; the test is workgroup-uniform, so `run` may use barriers.

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
) {
  let g = wid.x + wid.y * nwg.x;
  if (g >= jobs()) {
    return;
  }
  run(g, lid.x);
}
