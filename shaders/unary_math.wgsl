// Elementwise math shared by the unary, unary_backward and bias_gelu kernels.
// Needs `elementwise_header` in front. Every function gives PyTorch's result
// for NaN, infinities and signed zeros, tested by bits rather than trusted to
// the driver (WGSL may assume neither NaN nor infinity occur).

// Op codes, as in src/ops/unary_kernels.ts.
const U_AFFINE: u32 = 0u;
const U_EXP: u32 = 1u;
const U_RELU: u32 = 2u;
const U_LOG: u32 = 3u;
const U_SQRT: u32 = 4u;
const U_RSQRT: u32 = 5u;
const U_TANH: u32 = 6u;
const U_SIGMOID: u32 = 7u;
const U_GELU: u32 = 8u;
const U_GELU_TANH: u32 = 9u;
const U_POW: u32 = 10u;
const U_NEG: u32 = 11u;
const U_ABS: u32 = 12u;
const U_CLAMP: u32 = 13u;

// ln(FLT_MAX): exp of anything larger overflows to infinity.
const EXP_OVERFLOW: f32 = 88.72283;
// exp of anything smaller is 0 even as a subnormal.
const EXP_UNDERFLOW: f32 = -103.97208;

fn exp_f32(v: f32) -> f32 {
  if (is_nan(v)) {
    return v;
  }
  if (v > EXP_OVERFLOW) {
    return inf_f32();
  }
  if (v < EXP_UNDERFLOW) {
    return 0.0;
  }
  return exp_core(v);
}

// e^v for v in [EXP_UNDERFLOW, EXP_OVERFLOW] within about 1 ulp: e^v =
// 2^n e^r with |r| <= ln(2)/2 (Cody-Waite), e^r by its Taylor polynomial.
// The builtin exp's error grows with |v| (30 ulp near 80 on llvmpipe).
fn exp_core(v: f32) -> f32 {
  let n = round(v * LOG2_E);
  let r = (v - n * LN2_HI) - n * LN2_LO;
  var q = 1.0 / 40320.0;
  q = q * r + 1.0 / 5040.0;
  q = q * r + 1.0 / 720.0;
  q = q * r + 1.0 / 120.0;
  q = q * r + 1.0 / 24.0;
  q = q * r + 1.0 / 6.0;
  q = q * r + 0.5;
  q = q * r + 1.0;
  q = q * r + 1.0;
  return q * pow2i(n);
}

// ln(2) split so that k * LN2_HI is exact for |k| < 2^11.
const LN2_HI: f32 = 0.693145751953125;
const LN2_LO: f32 = 1.4286068e-6;
const LOG2_E: f32 = 1.4426950409;

// x > 0 finite as m * 2^k with m in [sqrt(1/2), sqrt(2)): log then needs no
// builtin, whose error near x = 1 is absolute (2^-21), not relative.
struct Reduced {
  m: f32,
  k: f32,
}

fn reduce_log(v: f32) -> Reduced {
  let parts = frexp(v);
  var m = parts.fract * 2.0;
  var k = f32(parts.exp - 1);
  if (m > 1.4142135) {
    m = m * 0.5;
    k = k + 1.0;
  }
  return Reduced(m, k);
}

// ln(m) for m in [sqrt(1/2), sqrt(2)]: 2 atanh(s), s = (m - 1) / (m + 1),
// |s| <= 0.172, so seven terms of the odd series reach f32 precision.
fn log_near_one(m: f32) -> f32 {
  let s = (m - 1.0) / (m + 1.0);
  let s2 = s * s;
  var r = 1.0 / 13.0;
  r = r * s2 + 1.0 / 11.0;
  r = r * s2 + 1.0 / 9.0;
  r = r * s2 + 1.0 / 7.0;
  r = r * s2 + 1.0 / 5.0;
  r = r * s2 + 1.0 / 3.0;
  return 2.0 * s + 2.0 * s * (s2 * r);
}

fn log_f32(v: f32) -> f32 {
  if (is_nan(v) || v < 0.0) {
    return nan_f32();
  }
  if (v == 0.0) {
    return -inf_f32();
  }
  if (is_inf(v)) {
    return v;
  }
  let r = reduce_log(v);
  return r.k * LN2_HI + (r.k * LN2_LO + log_near_one(r.m));
}

fn sqrt_f32(v: f32) -> f32 {
  if (is_nan(v) || v < 0.0) {
    return nan_f32();
  }
  // sqrt(-0) = -0; sqrt(inf) = inf.
  if (v == 0.0 || is_inf(v)) {
    return v;
  }
  return sqrt(v);
}

// PyTorch computes 1 / sqrt(x); inverseSqrt may be a coarse approximation.
fn rsqrt_f32(v: f32) -> f32 {
  if (is_nan(v) || v < 0.0) {
    return nan_f32();
  }
  if (v == 0.0) {
    return signed_inf(v);
  }
  if (is_inf(v)) {
    return 0.0;
  }
  return 1.0 / sqrt(v);
}

// tanh without sinh/cosh (which overflow to inf/inf): an odd Taylor
// polynomial near 0 (where 1 - 2/(e^2x + 1) would cancel), else the
// exponential form on a clamped argument. Within 2 ulp given exp within 1.
fn tanh_f32(v: f32) -> f32 {
  if (is_nan(v)) {
    return v;
  }
  let a = abs(v);
  if (a < 0.55) {
    let s = v * v;
    var r = -2.3912843e-4; // -443861162 / 1856156927625
    r = r * s + 5.9002744e-4;
    r = r * s - 1.4558344e-3;
    r = r * s + 3.5921280e-3;
    r = r * s - 8.8632355e-3;
    r = r * s + 2.1869488e-2;
    r = r * s - 5.3968254e-2;
    r = r * s + 1.3333334e-1;
    r = r * s - 3.3333334e-1;
    r = r * s + 1.0;
    return r * v;
  }
  // tanh(9.1) already rounds to 1 in f32; clamping keeps exp finite.
  let e = exp_core(2.0 * min(a, 20.0));
  let r = 1.0 - 2.0 / (e + 1.0);
  return select(r, -r, v < 0.0);
}

fn sigmoid_f32(v: f32) -> f32 {
  if (is_nan(v)) {
    return v;
  }
  // exp(-v) overflows: PyTorch's 1 / (1 + inf) is 0.
  if (-v > EXP_OVERFLOW) {
    return 0.0;
  }
  return 1.0 / (1.0 + exp_core(max(-v, EXP_UNDERFLOW)));
}

// erf in f32 within about 1 ulp (N. Juffa's minimax polynomials: one in x^2
// near 0, then erf = 1 - exp(p(|x|)); fma keeps the error small).
fn erf_f32(v: f32) -> f32 {
  if (is_nan(v)) {
    return v;
  }
  let t = abs(v);
  let s = v * v;
  if (t > 0.927734375) {
    if (t > 4.0) {
      return select(1.0, -1.0, v < 0.0);
    }
    var r = fma(-1.72853470e-5, t, 3.83197126e-4);
    let u = fma(-3.88396438e-3, t, 2.42546219e-2);
    r = fma(r, s, u);
    r = fma(r, t, -1.06777877e-1);
    r = fma(r, t, -6.34846687e-1);
    r = fma(r, t, -1.28717512e-1);
    r = fma(r, t, -t);
    r = 1.0 - exp_core(r);
    return select(r, -r, v < 0.0);
  }
  var r = -5.96761703e-4;
  r = fma(r, s, 4.99119423e-3);
  r = fma(r, s, -2.67681349e-2);
  r = fma(r, s, 1.12819925e-1);
  r = fma(r, s, -3.76125336e-1);
  r = fma(r, s, 1.28379166e-1);
  return fma(r, v, v);
}

const SQRT1_2: f32 = 0.70710678;
// sqrt(2 / pi), the tanh form's inner factor.
const GELU_BETA: f32 = 0.7978845608;
const GELU_KAPPA: f32 = 0.044715;
// 1 / sqrt(2 pi), the normal density's factor.
const GELU_PDF: f32 = 0.3989422804;

// The infinities follow PyTorch: gelu(-inf) = -inf * 0 = NaN.
fn gelu_f32(v: f32) -> f32 {
  if (is_nan(v) || v == -inf_f32()) {
    return nan_f32();
  }
  return (v * 0.5) * (1.0 + erf_f32(v * SQRT1_2));
}

fn gelu_tanh_f32(v: f32) -> f32 {
  if (is_nan(v) || v == -inf_f32()) {
    return nan_f32();
  }
  if (is_inf(v)) {
    return v;
  }
  let cube = v * v * v;
  let inner = GELU_BETA * (v + GELU_KAPPA * cube);
  return (0.5 * v) * (1.0 + tanh_f32(inner));
}

fn gelu_grad_f32(v: f32, g: f32) -> f32 {
  // x * pdf is inf * 0 at +-inf: NaN, as in PyTorch.
  if (is_nan(v) || is_inf(v)) {
    return nan_f32();
  }
  let cdf = 0.5 * (1.0 + erf_f32(v * SQRT1_2));
  let pdf = exp_f32(v * v * -0.5) * GELU_PDF;
  return g * (cdf + v * pdf);
}

fn gelu_tanh_grad_f32(v: f32, g: f32) -> f32 {
  let sq = v * v;
  // Past |x| ~ 1e19, x^2 overflows and PyTorch computes 0 * inf = NaN.
  if (is_nan(v) || is_inf(sq)) {
    return nan_f32();
  }
  let cube = sq * v;
  let inner = GELU_BETA * (v + GELU_KAPPA * cube);
  let t = tanh_f32(inner);
  let left = 0.5 * v;
  let right = 1.0 + t;
  let left_derivative = 0.5 * right;
  let tanh_derivative = 1.0 - t * t;
  let inner_derivative = GELU_BETA * (1.0 + 3.0 * GELU_KAPPA * sq);
  let right_derivative = left * tanh_derivative * inner_derivative;
  return g * (left_derivative + right_derivative);
}

// Flags of `pow_f32`: the exponent is a whole number, and an odd one.
const POW_INTEGER: u32 = 1u;
const POW_ODD: u32 = 2u;

// 2^n for whole n in [-252, 254], as two factors built from bits (ldexp may
// be folded into exp2 by the driver, losing the precision split above).
fn pow2i(n: f32) -> f32 {
  let a = i32(n) / 2;
  let b = i32(n) - a;
  return f32_from_bits(u32(a + 127) << 23u) * f32_from_bits(u32(b + 127) << 23u);
}

// x^e with PyTorch's special cases (x*x for 2, sqrt for 0.5, ...) and C's
// pow rules for zeros, infinities and negative bases.
fn pow_f32(v: f32, e: f32, flags: u32) -> f32 {
  if (e == 0.0) {
    return 1.0;
  }
  if (is_nan(v)) {
    return v;
  }
  if (e == 1.0) {
    return v;
  }
  if (e == 2.0) {
    return v * v;
  }
  if (e == 3.0) {
    return v * v * v;
  }
  if (e == 0.5) {
    return sqrt_f32(v);
  }
  if (e == -0.5) {
    return rsqrt_f32(v);
  }
  if (e == -1.0) {
    if (v == 0.0) {
      return signed_inf(v);
    }
    return select(1.0 / v, select(0.0, -0.0, v < 0.0), is_inf(v));
  }
  if (e == -2.0) {
    let sq = v * v;
    return select(1.0 / sq, inf_f32(), sq == 0.0);
  }
  let odd = (flags & POW_ODD) != 0u;
  if (v < 0.0 && !is_inf(v) && (flags & POW_INTEGER) == 0u) {
    return nan_f32();
  }
  let a = abs(v);
  var m: f32;
  if (a == 0.0) {
    m = select(0.0, inf_f32(), e < 0.0);
  } else if (is_inf(a)) {
    m = select(inf_f32(), 0.0, e < 0.0);
  } else {
    // e * log2(a) = e * k + e * log2(m). e_hi keeps 12 significant bits,
    // so e_hi * k (|k| <= 150) is exact and its whole part never passes
    // through exp2, whose error grows with its argument.
    let r = reduce_log(a);
    let e_hi = f32_from_bits(bitcast<u32>(e) & 0xfffff000u);
    let whole = e_hi * r.k;
    let rest = (e - e_hi) * r.k + e * (log_near_one(r.m) * LOG2_E);
    let n = round(whole + rest);
    if (n > 129.0) {
      m = inf_f32();
    } else if (n < -152.0) {
      m = 0.0;
    } else {
      m = exp2((whole - n) + rest) * pow2i(n);
    }
  }
  // The sign bit, so that (-0)^3 = -0 and (-0)^-3 = -inf.
  let negative = (bitcast<u32>(v) & 0x80000000u) != 0u;
  return select(m, -m, negative && odd);
}

// min(max(x, lo), hi) as std::min/std::max compute it (ties and -0 keep x);
// NaN stays NaN. Flags: bit 0 has a lower bound, bit 1 an upper one.
fn clamp_f32(v: f32, lo: f32, hi: f32, flags: u32) -> f32 {
  if (is_nan(v)) {
    return v;
  }
  var r = v;
  if ((flags & 1u) != 0u && r < lo) {
    r = lo;
  }
  if ((flags & 2u) != 0u && hi < r) {
    r = hi;
  }
  return r;
}

fn unary_f32(op: u32, v: f32, alpha: f32, beta: f32, flags: u32) -> f32 {
  switch op {
    case U_AFFINE: { return alpha * v + beta; }
    case U_EXP: { return exp_f32(v); }
    // relu(-0) = -0 and relu(NaN) = NaN, as clamp_min computes it.
    case U_RELU: { return select(v, 0.0, v < 0.0); }
    case U_LOG: { return log_f32(v); }
    case U_SQRT: { return sqrt_f32(v); }
    case U_RSQRT: { return rsqrt_f32(v); }
    case U_TANH: { return tanh_f32(v); }
    case U_SIGMOID: { return sigmoid_f32(v); }
    case U_GELU: { return gelu_f32(v); }
    case U_GELU_TANH: { return gelu_tanh_f32(v); }
    case U_POW: { return pow_f32(v, alpha, flags); }
    case U_NEG: { return -v; }
    case U_ABS: { return abs(v); }
    default: { return clamp_f32(v, alpha, beta, flags); }
  }
}

// The gradient of unary op `op` given g and the saved value v: the input x
// for log, rsqrt... see src/ops/unary.ts for which ops save the output y.
fn unary_grad_f32(op: u32, v: f32, g: f32, alpha: f32, beta: f32, flags: u32) -> f32 {
  switch op {
    case U_EXP: { return g * v; }
    // threshold_backward on the output: y <= 0 gives 0, NaN passes g.
    case U_RELU: { return select(g, 0.0, v <= 0.0); }
    // Division by +-0 gives the signed infinities PyTorch gives.
    case U_LOG: { return g / v; }
    case U_SQRT: { return g / (2.0 * v); }
    case U_RSQRT: { return (-0.5 * g) * (v * v * v); }
    case U_TANH: { return g * (1.0 - v * v); }
    case U_SIGMOID: { return (g * (1.0 - v)) * v; }
    case U_GELU: { return gelu_grad_f32(v, g); }
    case U_GELU_TANH: { return gelu_tanh_grad_f32(v, g); }
    // alpha = e - 1 (with its flags), beta = e.
    case U_POW: { return g * (beta * pow_f32(v, alpha, flags)); }
    case U_ABS: {
      let s = select(select(0.0, -1.0, v < 0.0), 1.0, v > 0.0);
      return g * s;
    }
    // Inside [lo, hi] (bounds included) the gradient passes; NaN gets 0.
    case U_CLAMP: {
      let above = (flags & 1u) == 0u || v >= alpha;
      let below = (flags & 2u) == 0u || v <= beta;
      return select(0.0, g, above && below && !is_nan(v));
    }
    default: { return -g; }
  }
}
