// Workgroup-wide tree reductions, shared by the kernels that reduce one chunk
// per workgroup (their per-invocation loops bounded by src/gpu/loop_bound.ts;
// this tree itself runs log2(WG) steps). Compiled in front of a kernel
// that declares `override WG: u32` (a power of two). Every invocation of the
// workgroup must call these in uniform control flow; all of them get the result.

var<workgroup> partial: array<f32, WG>;

fn workgroup_reduce(value: f32, lid: u32, is_max: bool) -> f32 {
  partial[lid] = value;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) {
      let other = partial[lid + stride];
      partial[lid] = select(partial[lid] + other, max(partial[lid], other), is_max);
    }
    workgroupBarrier();
  }
  let result = partial[0];
  // The next call overwrites `partial`: wait until every lane has read it.
  workgroupBarrier();
  return result;
}

fn workgroup_sum(value: f32, lid: u32) -> f32 {
  return workgroup_reduce(value, lid, false);
}

fn workgroup_max(value: f32, lid: u32) -> f32 {
  return workgroup_reduce(value, lid, true);
}
