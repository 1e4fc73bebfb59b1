// embedding for a float16 weight: out[t, c] = weight[ids[t], c], with the
// same row blocks and NaN rule as embedding.wgsl. Halves move as bits inside
// u32 words (no f16 arithmetic): invocation i owns output word i (elements
// 2i and 2i + 1). A half whose row lies in another block keeps the word's
// old bits; dispatches run in order, so the block holding it writes it later.

override WG: u32 = 256;

struct Params {
  n: u32,
  dim: u32,
  vocab: u32,
  row_start: u32,
  rows: u32,
  write_invalid: u32,
  // A quiet f16 NaN's bits.
  nan_bits: u32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> weight: array<u32>;
@group(0) @binding(2) var<storage, read> ids: array<i32>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;

// The new bits of element e, or `old` when another dispatch owns it.
fn half_for(e: u32, old: u32) -> u32 {
  let id = ids[e / p.dim];
  if (id < 0 || u32(id) >= p.vocab) {
    return select(old, p.nan_bits, p.write_invalid != 0u);
  }
  let row = u32(id);
  if (row < p.row_start || row - p.row_start >= p.rows) {
    return old;
  }
  let s = (row - p.row_start) * p.dim + e % p.dim;
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
