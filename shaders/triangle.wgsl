// triu / tril over the last two dimensions: keeps x[.., i, j] where
// j - i >= diagonal (UPPER) or j - i <= diagonal (lower), zeroes the rest.
// The host clamps `diagonal` to [-rows, cols], where every larger magnitude
// gives the same answer, so that huge diagonals fit an i32.

override WG: u32 = 256;
override UPPER: bool = true;

struct Params {
  n: u32,
  rows: u32,
  cols: u32,
  diagonal: i32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) {
    return;
  }
  let offset = i32(i % p.cols) - i32((i / p.cols) % p.rows);
  let keep = select(offset <= p.diagonal, offset >= p.diagonal, UPPER);
  out[i] = select(0.0, x[i], keep);
}
