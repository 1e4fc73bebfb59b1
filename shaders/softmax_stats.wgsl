// Row statistics for softmax, logSoftmax and cross-entropy, bounded per
// invocation: one workgroup per (row, chunk) writes a vec4 (max, sum, nan,
// posinf) where max is the largest finite alpha * x of the chunk, sum is
// sum(exp(alpha * x - max)) over its finite entries, and nan / posinf are 1
// when the chunk holds a NaN / +inf. The host picks `chunk` so that no
// invocation loops more than the loop budget (src/gpu/loop_bound.ts) and
// runs this kernel again over the per-chunk stats (PAIRS) until one vec4 per
// row is left; softmax_apply.wgsl then normalises elementwise.
//
// A row is `cols` entries `inner` apart: softmax along any dimension of a
// contiguous tensor viewed as [outer, cols, inner] (row = o * inner + i).
// No infinities or NaNs in arithmetic (WGSL may assume none occur, and
// max/min may drop NaN): special values are recognised by their bits
// (softmax_rules.wgsl, compiled in front), and -inf entries (masked scores)
// are skipped.

override WG: u32 = 64;
// Input is per-chunk stats [rows, cols] of vec4 instead of raw values.
override PAIRS: bool = false;

struct Params {
  rows: u32,
  cols: u32,
  inner: u32,
  alpha: f32,
  chunk: u32,
  chunks: u32,
  _pad0: u32,
  _pad1: u32,
}

const LOWEST_F32: f32 = -3.4028234663852886e38;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// One workgroup per (row, chunk): the entry point is workgroup_job.wgsl's.
fn jobs() -> u32 {
  return p.rows * p.chunks;
}

fn run(w: u32, lid: u32) {
  let row = w / p.chunks;
  let start = (w % p.chunks) * p.chunk;
  let end = min(p.cols, start + p.chunk);
  var local_max = LOWEST_F32;
  var nan = 0.0;
  var pinf = 0.0;
  if (PAIRS) {
    let base = row * p.cols;
    for (var j = start + lid; j < end; j += WG) {
      let s = base + j;
      if (x[4u * s + 1u] > 0.0) {
        local_max = max(local_max, x[4u * s]);
      }
      nan = max(nan, x[4u * s + 2u]);
      pinf = max(pinf, x[4u * s + 3u]);
    }
  } else {
    let base = (row / p.inner) * p.cols * p.inner + row % p.inner;
    for (var j = start + lid; j < end; j += WG) {
      let v = x[base + j * p.inner];
      if (is_nan_bits(v)) {
        nan = 1.0;
      } else if (is_inf_bits(v)) {
        pinf = max(pinf, select(0.0, 1.0, v > 0.0));
      } else {
        local_max = max(local_max, p.alpha * v);
      }
    }
  }
  let m = workgroup_max(local_max, lid);
  let any_nan = workgroup_max(nan, lid);
  let any_pinf = workgroup_max(pinf, lid);
  var local_sum = 0.0;
  if (PAIRS) {
    let base = row * p.cols;
    for (var j = start + lid; j < end; j += WG) {
      let s = base + j;
      let c = x[4u * s + 1u];
      if (c > 0.0) {
        local_sum += c * exp(x[4u * s] - m);
      }
    }
  } else {
    let base = (row / p.inner) * p.cols * p.inner + row % p.inner;
    for (var j = start + lid; j < end; j += WG) {
      let v = x[base + j * p.inner];
      if (!is_nan_bits(v) && !is_inf_bits(v)) {
        local_sum += exp(p.alpha * v - m);
      }
    }
  }
  let total = workgroup_sum(local_sum, lid);
  if (lid == 0u) {
    out[4u * w] = m;
    out[4u * w + 1u] = total;
    out[4u * w + 2u] = any_nan;
    out[4u * w + 3u] = any_pinf;
  }
}
