// Attention weights in one pass: masked row softmax of already scaled scores
// [batch, T, T] (the Q K^T matmul applies 1/sqrt(d) as its alpha), with
// dropout folded in when training. This replaces masked_fill + softmax (+
// dropout) of the step-by-step pipeline and gives the same bits: the
// reductions are softmax.wgsl's (both use workgroup_reduce.wgsl), and the
// dropout draw is dropout.wgsl's for the same element index. Compiled after
// philox.wgsl, workgroup_reduce.wgsl and softmax_rules.wgsl (whose
// softmax_value gives each weight, as softmax.wgsl does).
//
// A score is masked when CAUSAL and its column is past its row, or when
// USE_MASK and mask[row * mask_stride + col] != 0 (the [:T, :T] corner of a
// [context, context] mask buffer). A masked score reads as -inf, as after
// masked_fill: its weight is an exact zero; the running max starts at the
// lowest finite f32, so no infinity enters the arithmetic, and a row with
// every entry masked comes out as zeros. As in PyTorch, a visible score that
// is NaN or +inf makes its whole row NaN (checked on the bits).
// Storage is `Store` (f32, or f16 with storage_f16 compiled first): loads
// widen to f32 and each weight rounds once on store.

override WG: u32 = 64;
override CAUSAL: bool = false;
override USE_MASK: bool = true;
override DROPOUT: bool = false;

struct Params {
  rows: u32,
  T: u32,
  mask_stride: u32,
  seed_lo: u32,
  seed_hi: u32,
  threshold: u32,
  keep_scale: f32,
  nan_bits: u32,
  neg_inf_bits: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

const LOWEST_F32: f32 = -3.4028234663852886e38;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<Store>;
@group(0) @binding(2) var<storage, read> mask: array<Store>;
@group(0) @binding(3) var<storage, read_write> out: array<Store>;

fn masked(row: u32, col: u32) -> bool {
  var m = false;
  if (CAUSAL) {
    m = col > row;
  }
  if (USE_MASK) {
    m = m || f32(mask[row * p.mask_stride + col]) != 0.0;
  }
  return m;
}

fn jobs() -> u32 {
  return p.rows;
}

fn run(row: u32, lid: u32) {
  let base = row * p.T;
  let token = row % p.T;
  let neg_inf = bitcast<f32>(p.neg_inf_bits);
  var acc = vec2<f32>(LOWEST_F32, 0.0);
  for (var j = lid; j < p.T; j += WG) {
    if (!masked(token, j)) {
      acc = max_step(acc, f32(x[base + j]), 1.0);
    }
  }
  let row_max = workgroup_max(acc.x, lid);
  let any_bad = workgroup_max(acc.y, lid) > 0.0;
  var local_sum = 0.0;
  for (var j = lid; j < p.T; j += WG) {
    if (!masked(token, j)) {
      local_sum += exp_term(f32(x[base + j]), 1.0, row_max);
    }
  }
  let total = workgroup_sum(local_sum, lid);
  let nan = bitcast<f32>(p.nan_bits);
  for (var j = lid; j < p.T; j += WG) {
    let v = select(f32(x[base + j]), neg_inf, masked(token, j));
    var weight = softmax_value(v, 1.0, row_max, total, any_bad, false, nan, neg_inf);
    if (DROPOUT) {
      let keep = dropout_keep(vec2<u32>(p.seed_lo, p.seed_hi), 0u, base + j, p.threshold);
      // PyTorch multiplies by the mask: a dropped NaN weight stays NaN.
      weight = select(select(0.0, nan, is_nan_bits(weight)), weight * p.keep_scale, keep);
    }
    out[base + j] = Store(weight);
  }
}
