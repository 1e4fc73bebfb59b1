// Softmax / logSoftmax (LOG) of alpha * x along one dimension, one workgroup
// per row, for rows short enough that each invocation's three strided loops
// stay within the loop budget (the host checks; src/gpu/loop_bound.ts).
// Longer rows go through softmax_stats.wgsl + softmax_apply.wgsl instead.
// A row is `cols` entries `inner` apart (x viewed as [outer, cols, inner],
// row = o * inner + i). Special values as in softmax_rules.wgsl.

override WG: u32 = 64;
override LOG: bool = false;

struct Params {
  rows: u32,
  cols: u32,
  inner: u32,
  alpha: f32,
  nan_bits: u32,
  neg_inf_bits: u32,
  _pad0: u32,
  _pad1: u32,
}

const LOWEST_F32: f32 = -3.4028234663852886e38;

@group(0) @binding(0) var<uniform> p: Params;
// `Store` is f32, or f16 with `storage_f16` compiled first (f32 math either way).
@group(0) @binding(1) var<storage, read> x: array<Store>;
@group(0) @binding(2) var<storage, read_write> out: array<Store>;

fn jobs() -> u32 {
  return p.rows;
}

fn run(row: u32, lid: u32) {
  let base = (row / p.inner) * p.cols * p.inner + row % p.inner;
  var acc = vec2<f32>(LOWEST_F32, 0.0);
  for (var j = lid; j < p.cols; j += WG) {
    acc = max_step(acc, f32(x[base + j * p.inner]), p.alpha);
  }
  let m = workgroup_max(acc.x, lid);
  let any_bad = workgroup_max(acc.y, lid) > 0.0;
  var local_sum = 0.0;
  for (var j = lid; j < p.cols; j += WG) {
    local_sum += exp_term(f32(x[base + j * p.inner]), p.alpha, m);
  }
  let s = workgroup_sum(local_sum, lid);
  let nan = bitcast<f32>(p.nan_bits);
  let neg_inf = bitcast<f32>(p.neg_inf_bits);
  for (var j = lid; j < p.cols; j += WG) {
    let o = base + j * p.inner;
    out[o] = Store(softmax_value(f32(x[o]), p.alpha, m, s, any_bad, LOG, nan, neg_inf));
  }
}
