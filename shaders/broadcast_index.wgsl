// NumPy broadcasting over up to 8 dimensions for the elementwise kernels
// (where, binary, masked_fill, slice_backward), compiled in front of them.
// Shapes and strides travel in the uniform block as two vec4s each (uniform
// arrays need 16-byte element strides); a broadcast dimension has stride 0.

alias Dims8 = array<vec4<u32>, 2>;

// Entry d of a packed 8-vector (copied to a local so it can be indexed at
// run time).
fn dim_of(dims: Dims8, d: u32) -> u32 {
  var v = dims;
  return v[d / 4u][d % 4u];
}

// The offsets of flat output element i (row-major over the first `rank`
// entries of `shape`) in up to three operands with strides s0, s1, s2.
fn broadcast_offsets(i: u32, rank: u32, shape: Dims8, s0: Dims8, s1: Dims8, s2: Dims8) -> vec3<u32> {
  var at = vec3<u32>(0u);
  var rest = i;
  for (var k = i32(rank) - 1; k >= 0; k--) {
    let d = u32(k);
    let extent = dim_of(shape, d);
    let index = rest % extent;
    rest = rest / extent;
    at += index * vec3<u32>(dim_of(s0, d), dim_of(s1, d), dim_of(s2, d));
  }
  return at;
}
