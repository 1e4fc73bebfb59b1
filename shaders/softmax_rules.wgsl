// Shared by the softmax kernels (compiled in front of softmax.wgsl and
// softmax_apply.wgsl): special values recognised by their bits, since WGSL
// may assume no NaN/Inf occur and max/min may drop NaN, and PyTorch's
// result for one entry given its row's statistics.

fn is_nan_bits(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

fn is_inf_bits(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) == 0x7f800000u;
}

// One entry's step of a row's maximum: `acc` holds (the max of alpha * v
// over the finite entries so far, starting at the lowest finite f32; 1 once
// a NaN or +inf was seen, else 0). -inf entries leave it unchanged.
fn max_step(acc: vec2<f32>, v: f32, alpha: f32) -> vec2<f32> {
  if (is_nan_bits(v) || bitcast<u32>(v) == 0x7f800000u) {
    return vec2<f32>(acc.x, 1.0);
  }
  if (is_inf_bits(v)) {
    return acc;
  }
  return vec2<f32>(max(acc.x, alpha * v), acc.y);
}

// One entry's term of the row's sum(exp(alpha * v - m)) (0 for NaN/inf).
fn exp_term(v: f32, alpha: f32, m: f32) -> f32 {
  if (is_nan_bits(v) || is_inf_bits(v)) {
    return 0.0;
  }
  return exp(alpha * v - m);
}

// Softmax (or logSoftmax when `as_log`) of `v` in a row whose finite entries
// have max `m` (of alpha * v) and sum(exp(alpha * v - m)) `s`; `bad` when
// the row holds a NaN or +inf (PyTorch: the whole row is NaN). A -inf entry
// (a masked score) gives exactly 0 (softmax) or -inf (logSoftmax); a row of
// only -inf gives zeros (softmax: the documented difference) or NaN
// (logSoftmax, as PyTorch). `nan` / `neg_inf` come from uniform bits.
fn softmax_value(v: f32, alpha: f32, m: f32, s: f32, bad: bool, as_log: bool, nan: f32, neg_inf: f32) -> f32 {
  if (bad) {
    return nan;
  }
  if (bitcast<u32>(v) == 0xff800000u) {
    return select(0.0, select(neg_inf, nan, s <= 0.0), as_log);
  }
  if (as_log) {
    return alpha * v - m - log(s);
  }
  return exp(alpha * v - m) / s;
}
