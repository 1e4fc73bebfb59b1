// LayerNorm over the last dimension, one workgroup per row:
// y = scale * (x - mean) / sqrt(var + eps) + shift with the biased variance.
// Two reductions (mean, then the centred sum of squares, which is exact for
// rows with a large mean) and one write pass; each loop strides by WG, so an
// invocation runs ceil(D / WG) iterations per pass. NaN or infinite inputs
// reach the sums and propagate through plain arithmetic: no max/min/select
// on data values.

override WG: u32 = 64;

struct Params {
  rows: u32,
  cols: u32,
  eps: f32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
// `Store` is f32, or f16 with `storage_f16` compiled first (f32 math either way).
@group(0) @binding(1) var<storage, read> x: array<Store>;
@group(0) @binding(2) var<storage, read> scale: array<Store>;
@group(0) @binding(3) var<storage, read> shift: array<Store>;
@group(0) @binding(4) var<storage, read_write> out: array<Store>;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_id) lid3: vec3<u32>,
) {
  // Uniform per workgroup, so the barriers below stay in uniform control flow.
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) {
    return;
  }
  let lid = lid3.x;
  let base = row * p.cols;
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
  let rstd = 1.0 / sqrt(variance + p.eps);
  for (var j = lid; j < p.cols; j += WG) {
    out[base + j] = Store(f32(scale[j]) * ((f32(x[base + j]) - mean) * rstd) + f32(shift[j]));
  }
}
