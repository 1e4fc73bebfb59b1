// out[t, c] = weight[ids[t], c] for 32-bit elements: a row gather, with the
// row blocks and NaN rule of `embedding_rows` (compiled in front).

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) {
    return;
  }
  let s = weight_index(i);
  if (s == BAD_ID) {
    if (p.write_invalid != 0u) {
      out[i] = p.nan_bits;
    }
    return;
  }
  if (s != OTHER_BLOCK) {
    out[i] = weight[s];
  }
}
