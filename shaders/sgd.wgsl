// One plain torch.optim.SGD step (no momentum) for one parameter tensor:
//   p = p - lr * (g + weight_decay * p)
// The momentum variant is sgd_momentum.wgsl; the uniform block is shared.

override WG: u32 = 256;

struct Params {
  n: u32,
  first: u32,
  lr: f32,
  weight_decay: f32,
  momentum: f32,
  one_minus_dampening: f32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> param_out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) {
    return;
  }
  let w = param[i];
  param_out[i] = w - p.lr * (grad[i] + p.weight_decay * w);
}
