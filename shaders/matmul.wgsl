// Batched matrix product out[b] = alpha * op(A[b]) @ op(B[b]), where op(A) is
// [M, K] and op(B) is [K, N]. TRANS_A / TRANS_B read A as [K, M] and B as
// [N, K] in memory, so `Q @ K^T` and `x @ W^T` need no transposed copy.
// A batch stride of 0 broadcasts one operand over the batch (a weight).
//
// Each invocation owns a 4 x 4 block of the output and walks K four at a
// time, so every loaded value is reused four times from registers.

override WX: u32 = 8;
override WY: u32 = 8;
override TRANS_A: bool = false;
override TRANS_B: bool = false;

struct Params {
  M: u32,
  N: u32,
  K: u32,
  batch: u32,
  a_batch_stride: u32,
  b_batch_stride: u32,
  alpha: f32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// op(A)[m, k], zero outside the matrix so partial blocks need no branches.
fn load_a(base: u32, m: u32, k: u32) -> f32 {
  if (m >= p.M || k >= p.K) {
    return 0.0;
  }
  if (TRANS_A) {
    return a[base + k * p.M + m];
  }
  return a[base + m * p.K + k];
}

// op(B)[k, n], zero outside the matrix.
fn load_b(base: u32, k: u32, n: u32) -> f32 {
  if (k >= p.K || n >= p.N) {
    return 0.0;
  }
  if (TRANS_B) {
    return b[base + n * p.K + k];
  }
  return b[base + k * p.N + n];
}

@compute @workgroup_size(WX, WY, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row0 = gid.y * 4u;
  let col0 = gid.x * 4u;
  let batch = gid.z;
  if (row0 >= p.M || col0 >= p.N || batch >= p.batch) {
    return;
  }
  let a_base = batch * p.a_batch_stride;
  let b_base = batch * p.b_batch_stride;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var k = 0u; k < p.K; k += 4u) {
    // Columns k..k+3 of four rows of op(A), and rows k..k+3 of op(B).
    let a0 = vec4<f32>(load_a(a_base, row0, k), load_a(a_base, row0, k + 1u), load_a(a_base, row0, k + 2u), load_a(a_base, row0, k + 3u));
    let a1 = vec4<f32>(load_a(a_base, row0 + 1u, k), load_a(a_base, row0 + 1u, k + 1u), load_a(a_base, row0 + 1u, k + 2u), load_a(a_base, row0 + 1u, k + 3u));
    let a2 = vec4<f32>(load_a(a_base, row0 + 2u, k), load_a(a_base, row0 + 2u, k + 1u), load_a(a_base, row0 + 2u, k + 2u), load_a(a_base, row0 + 2u, k + 3u));
    let a3 = vec4<f32>(load_a(a_base, row0 + 3u, k), load_a(a_base, row0 + 3u, k + 1u), load_a(a_base, row0 + 3u, k + 2u), load_a(a_base, row0 + 3u, k + 3u));
    let b0 = vec4<f32>(load_b(b_base, k, col0), load_b(b_base, k, col0 + 1u), load_b(b_base, k, col0 + 2u), load_b(b_base, k, col0 + 3u));
    let b1 = vec4<f32>(load_b(b_base, k + 1u, col0), load_b(b_base, k + 1u, col0 + 1u), load_b(b_base, k + 1u, col0 + 2u), load_b(b_base, k + 1u, col0 + 3u));
    let b2 = vec4<f32>(load_b(b_base, k + 2u, col0), load_b(b_base, k + 2u, col0 + 1u), load_b(b_base, k + 2u, col0 + 2u), load_b(b_base, k + 2u, col0 + 3u));
    let b3 = vec4<f32>(load_b(b_base, k + 3u, col0), load_b(b_base, k + 3u, col0 + 1u), load_b(b_base, k + 3u, col0 + 2u), load_b(b_base, k + 3u, col0 + 3u));
    acc0 += a0.x * b0 + a0.y * b1 + a0.z * b2 + a0.w * b3;
    acc1 += a1.x * b0 + a1.y * b1 + a1.z * b2 + a1.w * b3;
    acc2 += a2.x * b0 + a2.y * b1 + a2.z * b2 + a2.w * b3;
    acc3 += a3.x * b0 + a3.y * b1 + a3.z * b2 + a3.w * b3;
  }
  let out_base = batch * p.M * p.N;
  store_row(out_base, row0, col0, acc0 * p.alpha);
  store_row(out_base, row0 + 1u, col0, acc1 * p.alpha);
  store_row(out_base, row0 + 2u, col0, acc2 * p.alpha);
  store_row(out_base, row0 + 3u, col0, acc3 * p.alpha);
}

// Writes the in-bounds part of one row of the 4 x 4 block.
fn store_row(base: u32, row: u32, col0: u32, v: vec4<f32>) {
  if (row >= p.M) {
    return;
  }
  let o = base + row * p.N + col0;
  out[o] = v.x;
  if (col0 + 1u < p.N) {
    out[o + 1u] = v.y;
  }
  if (col0 + 2u < p.N) {
    out[o + 2u] = v.z;
  }
  if (col0 + 3u < p.N) {
    out[o + 3u] = v.w;
  }
}
