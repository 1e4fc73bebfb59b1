// Gathers a strided view of `x` into a contiguous tensor: the one kernel
// behind transpose, slicing and stacking. Up to 8 dimensions.

override WG: u32 = 256;

struct Params {
  n: u32,
  rank: u32,
  offset: u32,
  _pad: u32,
  // Output shape and, per output dimension, the stride into x.
  shape: array<vec4<u32>, 2>,
  strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> p: Params;
// Words are copied as u32 so every dtype (int32 ids, NaN payloads,
// subnormals) keeps its exact bits: a float copy may flush or canonicalise.
@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) {
    return;
  }
  var source = p.offset;
  var rest = i;
  for (var k = i32(p.rank) - 1; k >= 0; k--) {
    let d = u32(k);
    let extent = p.shape[d / 4u][d % 4u];
    source += (rest % extent) * p.strides[d / 4u][d % 4u];
    rest = rest / extent;
  }
  out[i] = x[source];
}
