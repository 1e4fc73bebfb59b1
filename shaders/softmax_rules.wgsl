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
