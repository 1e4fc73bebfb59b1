// LayerNorm backward, one workgroup per row. With xhat = (x - mean) * rstd
// and h = g * scale (g the output's gradient):
//   dx = rstd * (h - mean(h) - xhat * mean(h * xhat))
// and, for the parameters' gradients (summed over rows afterwards), g * xhat.
// Recomputes mean and rstd like the forward kernel instead of storing them.

override WG: u32 = 64;

struct Params {
  rows: u32,
  cols: u32,
  eps: f32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> scale: array<f32>;
@group(0) @binding(3) var<storage, read> g: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;
@group(0) @binding(5) var<storage, read_write> gxhat: array<f32>;

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
  let n = f32(p.cols);
  var local_sum = 0.0;
  for (var j = lid; j < p.cols; j += WG) {
    local_sum += x[base + j];
  }
  let mean = workgroup_sum(local_sum, lid) / n;
  var local_sq = 0.0;
  for (var j = lid; j < p.cols; j += WG) {
    let c = x[base + j] - mean;
    local_sq = fma(c, c, local_sq);
  }
  let rstd = 1.0 / sqrt(workgroup_sum(local_sq, lid) / n + p.eps);
  var local_h = 0.0;
  var local_hx = 0.0;
  for (var j = lid; j < p.cols; j += WG) {
    let h = g[base + j] * scale[j];
    local_h += h;
    local_hx = fma(h, (x[base + j] - mean) * rstd, local_hx);
  }
  let mean_h = workgroup_sum(local_h, lid) / n;
  let mean_hx = workgroup_sum(local_hx, lid) / n;
  for (var j = lid; j < p.cols; j += WG) {
    let xhat = (x[base + j] - mean) * rstd;
    let h = g[base + j] * scale[j];
    dx[base + j] = rstd * (h - mean_h - xhat * mean_hx);
    gxhat[base + j] = g[base + j] * xhat;
  }
}
