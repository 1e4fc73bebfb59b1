// Elementwise `out = f(x)`. OP picks f from unary_math (U_AFFINE: alpha * x +
// beta, U_EXP, U_RELU, ...); alpha, beta and flags parameterise pow, clamp
// and the affine map. Needs `storage_f32` (or `storage_f16`),
// `elementwise_header`, `unary_math` and `elementwise_main` in front.

override OP: u32 = 0u;

struct Params {
  n: u32,
  alpha: f32,
  beta: f32,
  flags: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<Store>;
@group(0) @binding(2) var<storage, read_write> out: array<Store>;

fn element(i: u32) {
  out[i] = Store(unary_f32(OP, f32(x[i]), p.alpha, p.beta, p.flags));
}
