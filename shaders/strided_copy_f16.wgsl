// strided_copy for 16-bit elements (float16): gathers a strided view of `x`
// into a contiguous tensor. Halves are moved as bits inside u32 words, so no
// f16 arithmetic (and no shader-f16) is involved and every payload survives.
// Invocation i writes output word i, i.e. elements 2i and 2i + 1: two
// invocations never write the same word. Needs `strided_index` in front.

// Bits of element e of the output (its source half in x).
fn half_at(e: u32) -> u32 {
  let source = source_of(e);
  return (x[source / 2u] >> (16u * (source % 2u))) & 0xffffu;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  let e = 2u * i;
  if (e >= p.n) {
    return;
  }
  var word = half_at(e);
  if (e + 1u < p.n) {
    word = word | (half_at(e + 1u) << 16u);
  }
  out[i] = word;
}
