// Gradient of mean cross-entropy with respect to the logits, one workgroup
// per row: out[i, j] = (g[0] / rows) * (softmax(x_i)[j] - (j == t_i)).
// Indices are clamped as in cross_entropy.wgsl.

override WG: u32 = 64;

struct Params {
  rows: u32,
  cols: u32,
  inv_rows: f32,
  _pad: u32,
}

const LOWEST_F32: f32 = -3.4028234663852886e38;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<f32>;
@group(0) @binding(3) var<storage, read> g: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

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
  var local_max = LOWEST_F32;
  for (var j = lid; j < p.cols; j += WG) {
    local_max = max(local_max, x[base + j]);
  }
  let row_max = workgroup_max(local_max, lid);
  var local_sum = 0.0;
  for (var j = lid; j < p.cols; j += WG) {
    local_sum += exp(x[base + j] - row_max);
  }
  let inv_total = 1.0 / workgroup_sum(local_sum, lid);
  let t = min(u32(max(targets[row], 0.0)), p.cols - 1u);
  let factor = g[0] * p.inv_rows;
  for (var j = lid; j < p.cols; j += WG) {
    let prob = exp(x[base + j] - row_max) * inv_total;
    out[base + j] = factor * (prob - select(0.0, 1.0, j == t));
  }
}
