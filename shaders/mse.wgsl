// Mean squared error of two same-shaped tensors: out[0] = inv_n * sum((a - b)^2).
// One workgroup strides over every element, then reduces in a tree; a loss
// is one number, so a single workgroup keeps the result deterministic and
// needs no second pass.

override WG: u32 = 256;

struct Params {
  n: u32,
  inv_n: f32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid3: vec3<u32>) {
  let lid = lid3.x;
  var acc = 0.0;
  for (var i = lid; i < p.n; i += WG) {
    let d = a[i] - b[i];
    acc += d * d;
  }
  let total = workgroup_sum(acc, lid);
  if (lid == 0u) {
    out[0] = total * p.inv_n;
  }
}
