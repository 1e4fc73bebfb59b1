// Gradient of a unary op: `out = g * f'(...)` from the saved value v (the
// op's input or output, see unary_grad_f32) and the output's gradient g.
// Needs `elementwise_header`, `unary_math` and `elementwise_main` in front.

override OP: u32 = 0u;

struct Params {
  n: u32,
  alpha: f32,
  beta: f32,
  flags: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> v: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

fn element(i: u32) {
  out[i] = unary_grad_f32(OP, v[i], g[i], p.alpha, p.beta, p.flags);
}
