// Gradient of mse with respect to its first operand:
// out[i] = factor * g[0] * (a[i] - b[i]), factor = 2 / n. The loss gradient
// g stays on the device (a one-element buffer), so no readback is needed.

override WG: u32 = 256;

struct Params {
  n: u32,
  factor: f32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> g: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) {
    return;
  }
  out[i] = (p.factor * g[0]) * (a[i] - b[i]);
}
