// out[o * chunks + c] = alpha * (sum of x over chunk c of the reduced index
// space of output o). One workgroup per (output, chunk); each invocation
// strides over at most chunk / WG elements, so the host bounds the loop trip
// count by choosing `chunk` (src/gpu/loop_bound.ts) and reduces the partial
// sums again while there is more than one chunk. The kept and reduced index
// spaces are described separately in x's own rank (extent 1 where a dimension
// belongs to the other space), so one kernel serves sum over any dimensions,
// mean, and a broadcast gradient's reduction back to its operand's shape.
// `flat` marks the common layout where the reduced dimensions are the
// trailing ones: x[o * count + r], with no per-element index decoding.
// PER_LANE: for short reductions over many outputs (count <= the host's
// threshold, within the loop budget), each invocation owns one whole output
// instead of a workgroup owning one chunk, so lanes are not left idle.
// NaN propagates through the additions, as in PyTorch.

override WG: u32 = 64;
override PER_LANE: bool = false;

struct Params {
  n_out: u32,
  rank: u32,
  count: u32,
  alpha: f32,
  chunk: u32,
  chunks: u32,
  flat: u32,
  _pad: u32,
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
  let w = wid.x + wid.y * nwg.x;
  if (PER_LANE) {
    let o = w * WG + lid3.x;
    if (o < p.n_out) {
      var sum = 0.0;
      if (p.flat != 0u) {
        let base = o * p.count;
        for (var r = 0u; r < p.count; r++) {
          sum += x[base + r];
        }
      } else {
        let base = offset_of(o, p.kept);
        for (var r = 0u; r < p.count; r++) {
          sum += x[base + offset_of(r, p.reduced)];
        }
      }
      out[o] = p.alpha * sum;
    }
    return;
  }
  if (w >= p.n_out * p.chunks) {
    return;
  }
  let lid = lid3.x;
  let o = w / p.chunks;
  let start = (w % p.chunks) * p.chunk;
  let end = min(p.count, start + p.chunk);
  var acc = 0.0;
  if (p.flat != 0u) {
    let base = o * p.count;
    for (var r = start + lid; r < end; r += WG) {
      acc += x[base + r];
    }
  } else {
    let base = offset_of(o, p.kept);
    for (var r = start + lid; r < end; r += WG) {
      acc += x[base + offset_of(r, p.reduced)];
    }
  }
  let total = workgroup_sum(acc, lid);
  if (lid == 0u) {
    out[w] = p.alpha * total;
  }
}
