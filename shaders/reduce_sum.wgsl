// out[o] = alpha * sum of x over the reduced dimensions, one workgroup per
// output element. The kept and reduced index spaces are described separately
// in x's own rank (extent 1 where a dimension belongs to the other space), so
// one kernel serves sum over any dimensions, mean, and a broadcast gradient's
// reduction back to its operand's shape.

override WG: u32 = 64;

struct Params {
  n_out: u32,
  rank: u32,
  count: u32,
  alpha: f32,
  kept: array<vec4<u32>, 2>,
  reduced: array<vec4<u32>, 2>,
  strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

fn at(v: array<vec4<u32>, 2>, d: u32) -> u32 {
  return v[d / 4u][d % 4u];
}

// Offset into x of linear index `i` over the extents `shape`.
fn offset_of(i: u32, shape: array<vec4<u32>, 2>) -> u32 {
  var rest = i;
  var offset = 0u;
  for (var k = i32(p.rank) - 1; k >= 0; k--) {
    let d = u32(k);
    let extent = at(shape, d);
    offset += (rest % extent) * at(p.strides, d);
    rest = rest / extent;
  }
  return offset;
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_id) lid3: vec3<u32>,
) {
  let o = wid.x + wid.y * nwg.x;
  if (o >= p.n_out) {
    return;
  }
  let lid = lid3.x;
  let base = offset_of(o, p.kept);
  var acc = 0.0;
  for (var r = lid; r < p.count; r += WG) {
    acc += x[base + offset_of(r, p.reduced)];
  }
  let total = workgroup_sum(acc, lid);
  if (lid == 0u) {
    out[o] = p.alpha * total;
  }
}
