// One torch.optim.AdamW step (torch 1.13, amsgrad off) for one parameter
// tensor, fused into a single pass that writes the parameter and both moments:
//   p = p * (1 - lr * weight_decay)
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g * g
//   p = p - step_size * m / (sqrt(v) / sqrt(bias_correction2) + eps)
// with step_size = lr / bias_correction1. The scalar factors are computed on
// the host in float64, as torch does in Python, and arrive as f32.

override WG: u32 = 256;

struct Params {
  n: u32,
  decay: f32,
  beta1: f32,
  one_minus_beta1: f32,
  beta2: f32,
  one_minus_beta2: f32,
  step_size: f32,
  bias_correction2_sqrt: f32,
  eps: f32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read> exp_avg: array<f32>;
@group(0) @binding(4) var<storage, read> exp_avg_sq: array<f32>;
@group(0) @binding(5) var<storage, read_write> param_out: array<f32>;
@group(0) @binding(6) var<storage, read_write> exp_avg_out: array<f32>;
@group(0) @binding(7) var<storage, read_write> exp_avg_sq_out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) {
    return;
  }
  let g = grad[i];
  let w = param[i] * p.decay;
  let m = exp_avg[i] * p.beta1 + p.one_minus_beta1 * g;
  let v = exp_avg_sq[i] * p.beta2 + p.one_minus_beta2 * g * g;
  let denom = sqrt(v) / p.bias_correction2_sqrt + p.eps;
  param_out[i] = w - p.step_size * (m / denom);
  exp_avg_out[i] = m;
  exp_avg_sq_out[i] = v;
}
