// Gradient of y = softmax(alpha * x) over the last dimension, one workgroup
// per row: dx = alpha * y * (g - sum_j g_j * y_j). Masked entries have y = 0
// exactly, so their gradient is exactly 0 with no special case.

override WG: u32 = 64;

struct Params {
  rows: u32,
  cols: u32,
  alpha: f32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_id) lid3: vec3<u32>,
) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) {
    return;
  }
  let lid = lid3.x;
  let base = row * p.cols;
  var acc = 0.0;
  for (var j = lid; j < p.cols; j += WG) {
    acc += g[base + j] * y[base + j];
  }
  let dot = workgroup_sum(acc, lid);
  for (var j = lid; j < p.cols; j += WG) {
    out[base + j] = p.alpha * y[base + j] * (g[base + j] - dot);
  }
}
