// LayerNorm backward, one workgroup per row. With xhat = (x - mean) * rstd
// and h = g * scale (g the output's gradient):
//   dx = rstd * (h - mean(h) - xhat * mean(h * xhat))
// and, for the parameters' gradients (summed over rows afterwards), g * xhat.
// Recomputes mean and rstd like the forward kernel instead of storing them
// (layer_norm_stats.wgsl, which also declares WG and the uniforms `p`).

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> scale: array<f32>;
@group(0) @binding(3) var<storage, read> g: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;
@group(0) @binding(5) var<storage, read_write> gxhat: array<f32>;

fn jobs() -> u32 {
  return p.rows;
}

fn run(row: u32, lid: u32) {
  let base = row * p.cols;
  let n = f32(p.cols);
  let stats = row_mean_rstd(base, lid);
  let mean = stats.x;
  let rstd = stats.y;
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
