// Shared by layer_norm.wgsl and layer_norm_backward.wgsl (compiled in front
// of them, after workgroup_reduce.wgsl): the workgroup size, the uniform
// block, and a row's mean and 1 / sqrt(var + eps) with the biased variance,
// from the kernel's `x` and `p.cols` / `p.eps`.
// Two reductions (the mean, then the centred sum of squares, which is exact
// for rows with a large mean); each loop strides by WG, so an invocation runs
// ceil(cols / WG) iterations per pass. Call in uniform control flow.

override WG: u32 = 64;

struct Params {
  rows: u32,
  cols: u32,
  eps: f32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

fn row_mean_rstd(base: u32, lid: u32) -> vec2<f32> {
  let n = f32(p.cols);
  var local_sum = 0.0;
  for (var j = lid; j < p.cols; j += WG) {
    local_sum += f32(x[base + j]);
  }
  let mean = workgroup_sum(local_sum, lid) / n;
  var local_sq = 0.0;
  for (var j = lid; j < p.cols; j += WG) {
    let c = f32(x[base + j]) - mean;
    local_sq = fma(c, c, local_sq);
  }
  let variance = workgroup_sum(local_sq, lid) / n;
  return vec2<f32>(mean, 1.0 / sqrt(variance + p.eps));
}
