// Shared by strided_copy.wgsl and strided_copy_f16.wgsl (compiled in front of
// them): the uniform block, the bindings and the source index of an output
// element. Both move raw bits through u32 words, so every dtype (int32 ids,
// NaN payloads, subnormals, halves) keeps its exact bits: a float copy may
// flush or canonicalise. Up to 8 dimensions.

override WG: u32 = 256;

struct Params {
  // Elements, not words (they differ for 16-bit elements).
  n: u32,
  rank: u32,
  offset: u32,
  _pad: u32,
  // Output shape and, per output dimension, the stride into x.
  shape: array<vec4<u32>, 2>,
  strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;

// The element of x that output element e copies.
fn source_of(e: u32) -> u32 {
  var source = p.offset;
  var rest = e;
  for (var k = i32(p.rank) - 1; k >= 0; k--) {
    let d = u32(k);
    let extent = p.shape[d / 4u][d % 4u];
    source += (rest % extent) * p.strides[d / 4u][d % 4u];
    rest = rest / extent;
  }
  return source;
}
