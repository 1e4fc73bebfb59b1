// One torch.optim.SGD step with momentum for one parameter tensor, fused into
// one pass that writes the parameter and its momentum buffer:
//   d = g + weight_decay * p
//   buf = first ? d : momentum * buf + (1 - dampening) * d
//   d = nesterov ? d + momentum * buf : buf
//   p = p - lr * d
// PyTorch starts the buffer at the first gradient itself, hence `first`.

override WG: u32 = 256;
override NESTEROV: bool = false;

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
@group(0) @binding(3) var<storage, read> buf: array<f32>;
@group(0) @binding(4) var<storage, read_write> param_out: array<f32>;
@group(0) @binding(5) var<storage, read_write> buf_out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) {
    return;
  }
  let w = param[i];
  let d = grad[i] + p.weight_decay * w;
  var b = d;
  if (p.first == 0u) {
    b = p.momentum * buf[i] + p.one_minus_dampening * d;
  }
  buf_out[i] = b;
  param_out[i] = w - p.lr * select(b, d + p.momentum * b, NESTEROV);
}
