// LayerNorm over the last dimension, one workgroup per row:
// y = scale * (x - mean) / sqrt(var + eps) + shift with the biased variance.
// Two reductions (layer_norm_stats.wgsl, which also declares WG and the
// uniforms `p`) and one write pass; each loop strides by WG, so an
// invocation runs ceil(D / WG) iterations per pass. NaN or infinite inputs
// reach the sums and propagate through plain arithmetic: no max/min/select
// on data values.

// `Store` is f32, or f16 with `storage_f16` compiled first (f32 math either way).
@group(0) @binding(1) var<storage, read> x: array<Store>;
@group(0) @binding(2) var<storage, read> scale: array<Store>;
@group(0) @binding(3) var<storage, read> shift: array<Store>;
@group(0) @binding(4) var<storage, read_write> out: array<Store>;

fn jobs() -> u32 {
  return p.rows;
}

fn run(row: u32, lid: u32) {
  let base = row * p.cols;
  let stats = row_mean_rstd(base, lid);
  let mean = stats.x;
  let rstd = stats.y;
  for (var j = lid; j < p.cols; j += WG) {
    out[base + j] = Store(f32(scale[j]) * ((f32(x[base + j]) - mean) * rstd) + f32(shift[j]));
  }
}
