// Gradient of a slice: out has the sliced tensor's shape, holding g inside
// the window [start_d, start_d + size_d) of every dimension and 0 outside.
// g is contiguous with shape `size`. Up to 8 dimensions. Needs
// `elementwise_header`, `broadcast_index` and `elementwise_main` in front.

struct Params {
  n: u32,
  rank: u32,
  _pad0: u32,
  _pad1: u32,
  shape: Dims8,
  start: Dims8,
  size: Dims8,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

fn element(i: u32) {
  var rest = i;
  var source = 0u;
  var stride = 1u;
  var inside = true;
  for (var k = i32(p.rank) - 1; k >= 0; k--) {
    let d = u32(k);
    let extent = dim_of(p.shape, d);
    let index = rest % extent;
    rest = rest / extent;
    let start = dim_of(p.start, d);
    let size = dim_of(p.size, d);
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
