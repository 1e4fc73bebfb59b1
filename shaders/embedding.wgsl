// out[t, c] = weight[ids[t], c]: a row gather. A weight larger than one
// storage binding is bound as blocks of rows [row_start, row_start + rows),
// one dispatch each; every dispatch writes the output rows whose id falls in
// its block. Ids outside [0, vocab) cannot raise an error on the GPU: the
// dispatch with `write_invalid` set fills their rows with NaN (its bits come
// through the uniform block, as WGSL rejects a NaN constant), so a bad id is
// loud downstream and never reads a wrong row.

override WG: u32 = 256;

struct Params {
  n: u32,
  dim: u32,
  vocab: u32,
  row_start: u32,
  rows: u32,
  write_invalid: u32,
  nan_bits: u32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read> ids: array<i32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) {
    return;
  }
  let id = ids[i / p.dim];
  if (id < 0 || u32(id) >= p.vocab) {
    if (p.write_invalid != 0u) {
      out[i] = bitcast<f32>(p.nan_bits);
    }
    return;
  }
  let row = u32(id);
  if (row < p.row_start || row - p.row_start >= p.rows) {
    return;
  }
  out[i] = weight[(row - p.row_start) * p.dim + i % p.dim];
}
