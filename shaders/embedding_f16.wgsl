// embedding for a float16 weight: out[t, c] = weight[ids[t], c], with the
// row blocks and NaN rule of `embedding_rows` (compiled in front). Halves
// move as bits inside u32 words (no f16 arithmetic): invocation i owns output
// word i (elements 2i and 2i + 1). A half whose row lies in another block
// keeps the word's old bits; dispatches run in order, so the block holding it
// writes it later.

// The new bits of element e, or `old` when another dispatch owns it.
fn half_for(e: u32, old: u32) -> u32 {
  let s = weight_index(e);
  if (s == BAD_ID) {
    return select(old, p.nan_bits, p.write_invalid != 0u);
  }
  if (s == OTHER_BLOCK) {
    return old;
  }
  return (weight[s / 2u] >> (16u * (s % 2u))) & 0xffffu;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  let e = 2u * i;
  if (e >= p.n) {
    return;
  }
  let word = out[i];
  let lo = half_for(e, word & 0xffffu);
  var hi = word >> 16u;
  if (e + 1u < p.n) {
    hi = half_for(e + 1u, hi);
  }
  out[i] = lo | (hi << 16u);
}
