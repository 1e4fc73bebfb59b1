// Gradient of a slice: out has the sliced tensor's shape, holding g inside
// the window [start_d, start_d + size_d) of every dimension and 0 outside.
// g is contiguous with shape `size`. Up to 8 dimensions.

override WG: u32 = 256;

struct Params {
  n: u32,
  rank: u32,
  _pad0: u32,
  _pad1: u32,
  shape: array<vec4<u32>, 2>,
  start: array<vec4<u32>, 2>,
  size: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) {
    return;
  }
  var rest = i;
  var source = 0u;
  var stride = 1u;
  var inside = true;
  for (var k = i32(p.rank) - 1; k >= 0; k--) {
    let d = u32(k);
    let extent = p.shape[d / 4u][d % 4u];
    let index = rest % extent;
    rest = rest / extent;
    let start = p.start[d / 4u][d % 4u];
    let size = p.size[d / 4u][d % 4u];
    // Unsigned wrap-around makes indices before the window fail this test too.
    let local = index - start;
    inside = inside && local < size;
    source += local * stride;
    stride *= size;
  }
  if (inside) {
    out[i] = g[source];
  } else {
    out[i] = 0.0;
  }
}
