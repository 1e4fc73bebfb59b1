// Batched matrix product out[b] = alpha * op(A[b]) @ op(B[b]), where op(A) is
// [M, K] and op(B) is [K, N]. TRANS_A / TRANS_B read A as [K, M] and B as
// [N, K] in memory, so `Q @ K^T` and `x @ W^T` need no transposed copy.
// A batch stride of 0 broadcasts one operand over the batch (a weight).
//
// Split-K: llvmpipe stops a loop after 65,535 iterations per invocation, so
// the host caps each invocation's K range at `k_chunk` (a multiple of 4; see
// src/gpu/loop_bound.ts). With `splits` > 1, grid z runs over batch * splits,
// each z writes its partial product to its own [M, N] slab, and the host sums
// the slabs; with one split the kernel is the plain product.
//
// Register blocking: each invocation owns a TM x TN block of the output
// (TM in {1, 2, 4, 8}, TN in {4, 8}) and walks K four steps at a time, so
// every value it loads is reused TN (for A) or TM (for B) times from
// registers. Loads are what costs: on a software adapter (llvmpipe) each
// storage load is a per-lane gather, tens of cycles, against one cycle for a
// whole 8-lane FMA, so the block is as large as the register file allows.
// The block code is unrolled by hand and the unused parts are cut by `if`s on
// override constants: compilers fold those away, while loops over an override
// bound (or arrays indexed by them) stay loops and spill to memory.
//
// VEC_A / VEC_B switch to vec4 loads through the `a4` / `b4` views (the same
// buffers bound twice) when the rows they read are 16-byte aligned; the host
// sets them (see src/gpu/tuning.ts). Rows and columns past the edge are
// clamped into the matrix for loading and skipped when storing, so the inner
// loop has no bounds checks; the K % 4 tail runs one step at a time.
//
// Storage is `Store` (f32, or f16 with `storage_f16` compiled first): loads
// widen to f32, products accumulate in f32, and each output rounds once.

override TM: u32 = 8u;
override TN: u32 = 8u;
override WX: u32 = 8u;
override WY: u32 = 8u;
override TRANS_A: bool = false;
override TRANS_B: bool = false;
// op(A) rows are vec4-aligned: K % 4 == 0 (not transposed), or M % 4 == 0 and TM % 4 == 0 (transposed).
override VEC_A: bool = false;
// op(B) rows are vec4-aligned: N % 4 == 0 (not transposed), or K % 4 == 0 (transposed).
override VEC_B: bool = false;

struct Params {
  M: u32,
  N: u32,
  K: u32,
  batch: u32,
  a_batch_stride: u32,
  b_batch_stride: u32,
  alpha: f32,
  splits: u32,
  k_chunk: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<Store>;
@group(0) @binding(2) var<storage, read> a4: array<vec4<Store>>;
@group(0) @binding(3) var<storage, read> b: array<Store>;
@group(0) @binding(4) var<storage, read> b4: array<vec4<Store>>;
@group(0) @binding(5) var<storage, read_write> out: array<Store>;

// op(A)[m, k].
fn a_at(base: u32, m: u32, k: u32) -> f32 {
  if (TRANS_A) {
    return f32(a[base + k * p.M + m]);
  }
  return f32(a[base + m * p.K + k]);
}

// op(B)[k, n].
fn b_at(base: u32, k: u32, n: u32) -> f32 {
  if (TRANS_B) {
    return f32(b[base + n * p.K + k]);
  }
  return f32(b[base + k * p.N + n]);
}

// op(A)[m, k..k+3] for one row: one vec4 load when aligned and not transposed.
fn a_row(base: u32, m: u32, k: u32) -> vec4<f32> {
  if (TRANS_A) {
    return vec4<f32>(a_at(base, m, k), a_at(base, m, k + 1u), a_at(base, m, k + 2u), a_at(base, m, k + 3u));
  }
  let o = base + m * p.K + k;
  if (VEC_A) {
    return vec4<f32>(a4[o / 4u]);
  }
  return vec4<f32>(f32(a[o]), f32(a[o + 1u]), f32(a[o + 2u]), f32(a[o + 3u]));
}

// Rows m..m+3 of op(A) at k..k+3 when A is stored transposed and aligned: four
// vec4 loads along m, transposed in registers. The group is clamped into the
// matrix as a whole (M % 4 == 0), so it never straddles the edge.
fn a_rows_t(base: u32, m: u32, k: u32) -> mat4x4<f32> {
  let o = (base + k * p.M + min(m, p.M - 4u)) / 4u;
  let s = p.M / 4u;
  return transpose(mat4x4<f32>(vec4<f32>(a4[o]), vec4<f32>(a4[o + s]), vec4<f32>(a4[o + 2u * s]), vec4<f32>(a4[o + 3u * s])));
}

// op(B)[k, n..n+3], columns clamped into the matrix.
fn b_row1(base: u32, k: u32, n: u32) -> vec4<f32> {
  let last = p.N - 1u;
  return vec4<f32>(
    b_at(base, k, min(n, last)),
    b_at(base, k, min(n + 1u, last)),
    b_at(base, k, min(n + 2u, last)),
    b_at(base, k, min(n + 3u, last)),
  );
}

// op(B)[k + i, n..n+3] for i = 0..3, as the columns of a matrix.
fn b_block(base: u32, k: u32, n: u32) -> mat4x4<f32> {
  if (TRANS_B && VEC_B) {
    let last = p.N - 1u;
    return transpose(mat4x4<f32>(
      vec4<f32>(b4[(base + min(n, last) * p.K + k) / 4u]),
      vec4<f32>(b4[(base + min(n + 1u, last) * p.K + k) / 4u]),
      vec4<f32>(b4[(base + min(n + 2u, last) * p.K + k) / 4u]),
      vec4<f32>(b4[(base + min(n + 3u, last) * p.K + k) / 4u]),
    ));
  }
  if (!TRANS_B && VEC_B) {
    let o = (base + k * p.N + min(n, p.N - 4u)) / 4u;
    let s = p.N / 4u;
    return mat4x4<f32>(vec4<f32>(b4[o]), vec4<f32>(b4[o + s]), vec4<f32>(b4[o + 2u * s]), vec4<f32>(b4[o + 3u * s]));
  }
  return mat4x4<f32>(b_row1(base, k, n), b_row1(base, k + 1u, n), b_row1(base, k + 2u, n), b_row1(base, k + 3u, n));
}

// c + sum over i of x[i] * y[i]: four K steps of one output row, in K order.
fn step4(c: vec4<f32>, x: vec4<f32>, y: mat4x4<f32>) -> vec4<f32> {
  return fma(vec4<f32>(x.w), y[3], fma(vec4<f32>(x.z), y[2], fma(vec4<f32>(x.y), y[1], fma(vec4<f32>(x.x), y[0], c))));
}

// Writes the in-bounds part of four consecutive outputs of one row.
fn store4(base: u32, row: u32, col: u32, v: vec4<f32>) {
  if (row >= p.M) {
    return;
  }
  let o = base + row * p.N + col;
  if (col < p.N) {
    out[o] = Store(v.x);
  }
  if (col + 1u < p.N) {
    out[o + 1u] = Store(v.y);
  }
  if (col + 2u < p.N) {
    out[o + 2u] = Store(v.z);
  }
  if (col + 3u < p.N) {
    out[o + 3u] = Store(v.w);
  }
}

@compute @workgroup_size(WX, WY, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let m0 = gid.y * TM;
  let n0 = gid.x * TN;
  let n1 = n0 + 4u;
  if (m0 >= p.M || n0 >= p.N || gid.z >= p.batch) {
    return;
  }
  let batch = gid.z / p.splits;
  let k_begin = (gid.z % p.splits) * p.k_chunk;
  let k_end = min(p.K, k_begin + p.k_chunk);
  let ab = batch * p.a_batch_stride;
  let bb = batch * p.b_batch_stride;
  let last = p.M - 1u;
  let r1 = min(m0 + 1u, last);
  let r2 = min(m0 + 2u, last);
  let r3 = min(m0 + 3u, last);
  let r4 = min(m0 + 4u, last);
  let r5 = min(m0 + 5u, last);
  let r6 = min(m0 + 6u, last);
  let r7 = min(m0 + 7u, last);
  // cRC: row R of the block, columns 4C..4C+3.
  var c00 = vec4<f32>(0.0);
  var c10 = vec4<f32>(0.0);
  var c20 = vec4<f32>(0.0);
  var c30 = vec4<f32>(0.0);
  var c40 = vec4<f32>(0.0);
  var c50 = vec4<f32>(0.0);
  var c60 = vec4<f32>(0.0);
  var c70 = vec4<f32>(0.0);
  var c01 = vec4<f32>(0.0);
  var c11 = vec4<f32>(0.0);
  var c21 = vec4<f32>(0.0);
  var c31 = vec4<f32>(0.0);
  var c41 = vec4<f32>(0.0);
  var c51 = vec4<f32>(0.0);
  var c61 = vec4<f32>(0.0);
  var c71 = vec4<f32>(0.0);
  let k4 = k_begin + ((k_end - k_begin) & ~3u);
  for (var k = k_begin; k < k4; k += 4u) {
    // xR = op(A)[row R, k..k+3].
    var x0: vec4<f32>;
    var x1: vec4<f32>;
    var x2: vec4<f32>;
    var x3: vec4<f32>;
    var x4: vec4<f32>;
    var x5: vec4<f32>;
    var x6: vec4<f32>;
    var x7: vec4<f32>;
    if (TRANS_A && VEC_A) {
      let t0 = a_rows_t(ab, m0, k);
      x0 = t0[0];
      x1 = t0[1];
      x2 = t0[2];
      x3 = t0[3];
      if (TM > 4u) {
        let t1 = a_rows_t(ab, m0 + 4u, k);
        x4 = t1[0];
        x5 = t1[1];
        x6 = t1[2];
        x7 = t1[3];
      }
    } else {
      x0 = a_row(ab, m0, k);
      if (TM > 1u) {
        x1 = a_row(ab, r1, k);
      }
      if (TM > 2u) {
        x2 = a_row(ab, r2, k);
        x3 = a_row(ab, r3, k);
      }
      if (TM > 4u) {
        x4 = a_row(ab, r4, k);
        x5 = a_row(ab, r5, k);
        x6 = a_row(ab, r6, k);
        x7 = a_row(ab, r7, k);
      }
    }
    let y0 = b_block(bb, k, n0);
    c00 = step4(c00, x0, y0);
    if (TM > 1u) {
      c10 = step4(c10, x1, y0);
    }
    if (TM > 2u) {
      c20 = step4(c20, x2, y0);
      c30 = step4(c30, x3, y0);
    }
    if (TM > 4u) {
      c40 = step4(c40, x4, y0);
      c50 = step4(c50, x5, y0);
      c60 = step4(c60, x6, y0);
      c70 = step4(c70, x7, y0);
    }
    if (TN > 4u) {
      let y1 = b_block(bb, k, n1);
      c01 = step4(c01, x0, y1);
      if (TM > 1u) {
        c11 = step4(c11, x1, y1);
      }
      if (TM > 2u) {
        c21 = step4(c21, x2, y1);
        c31 = step4(c31, x3, y1);
      }
      if (TM > 4u) {
        c41 = step4(c41, x4, y1);
        c51 = step4(c51, x5, y1);
        c61 = step4(c61, x6, y1);
        c71 = step4(c71, x7, y1);
      }
    }
  }
  // The K % 4 tail, one step at a time with scalar loads.
  for (var k = k4; k < k_end; k++) {
    let x0 = vec4<f32>(a_at(ab, m0, k));
    let x1 = vec4<f32>(a_at(ab, r1, k));
    let x2 = vec4<f32>(a_at(ab, r2, k));
    let x3 = vec4<f32>(a_at(ab, r3, k));
    let x4 = vec4<f32>(a_at(ab, r4, k));
    let x5 = vec4<f32>(a_at(ab, r5, k));
    let x6 = vec4<f32>(a_at(ab, r6, k));
    let x7 = vec4<f32>(a_at(ab, r7, k));
    let y0 = b_row1(bb, k, n0);
    c00 = fma(x0, y0, c00);
    if (TM > 1u) {
      c10 = fma(x1, y0, c10);
    }
    if (TM > 2u) {
      c20 = fma(x2, y0, c20);
      c30 = fma(x3, y0, c30);
    }
    if (TM > 4u) {
      c40 = fma(x4, y0, c40);
      c50 = fma(x5, y0, c50);
      c60 = fma(x6, y0, c60);
      c70 = fma(x7, y0, c70);
    }
    if (TN > 4u) {
      let y1 = b_row1(bb, k, n1);
      c01 = fma(x0, y1, c01);
      if (TM > 1u) {
        c11 = fma(x1, y1, c11);
      }
      if (TM > 2u) {
        c21 = fma(x2, y1, c21);
        c31 = fma(x3, y1, c31);
      }
      if (TM > 4u) {
        c41 = fma(x4, y1, c41);
        c51 = fma(x5, y1, c51);
        c61 = fma(x6, y1, c61);
        c71 = fma(x7, y1, c71);
      }
    }
  }
  let ob = gid.z * p.M * p.N;
  let al = p.alpha;
  store4(ob, m0, n0, c00 * al);
  if (TM > 1u) {
    store4(ob, m0 + 1u, n0, c10 * al);
  }
  if (TM > 2u) {
    store4(ob, m0 + 2u, n0, c20 * al);
    store4(ob, m0 + 3u, n0, c30 * al);
  }
  if (TM > 4u) {
    store4(ob, m0 + 4u, n0, c40 * al);
    store4(ob, m0 + 5u, n0, c50 * al);
    store4(ob, m0 + 6u, n0, c60 * al);
    store4(ob, m0 + 7u, n0, c70 * al);
  }
  if (TN > 4u) {
    store4(ob, m0, n1, c01 * al);
    if (TM > 1u) {
      store4(ob, m0 + 1u, n1, c11 * al);
    }
    if (TM > 2u) {
      store4(ob, m0 + 2u, n1, c21 * al);
      store4(ob, m0 + 3u, n1, c31 * al);
    }
    if (TM > 4u) {
      store4(ob, m0 + 4u, n1, c41 * al);
      store4(ob, m0 + 5u, n1, c51 * al);
      store4(ob, m0 + 6u, n1, c61 * al);
      store4(ob, m0 + 7u, n1, c71 * al);
    }
  }
}
