// Elementwise `out = f(x)`. OP picks f; alpha and beta parameterise it.

override WG: u32 = 256;
// 0: alpha * x + beta (scale, shift), 1: exp(x), 2: max(x, 0) (relu).
override OP: u32 = 0u;

struct Params {
  n: u32,
  alpha: f32,
  beta: f32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) {
    return;
  }
  let v = x[i];
  var r: f32;
  switch OP {
    case 0u: { r = p.alpha * v + p.beta; }
    case 1u: { r = exp(v); }
    default: { r = max(v, 0.0); }
  }
  out[i] = r;
}
