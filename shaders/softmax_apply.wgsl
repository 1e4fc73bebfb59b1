// Elementwise second half of softmax / logSoftmax (LOG), from the row stats
// of softmax_stats.wgsl (vec4 per row: max, sum, nan, posinf), one
// invocation per element, no loops. Special values as in softmax_rules.wgsl.

override WG: u32 = 256;
override LOG: bool = false;

struct Params {
  n: u32,
  cols: u32,
  inner: u32,
  alpha: f32,
  nan_bits: u32,
  neg_inf_bits: u32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> stats: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) {
    return;
  }
  let row = (i / (p.cols * p.inner)) * p.inner + i % p.inner;
  let s = stats[row];
  let v = x[i];
  let bad = s.z > 0.0 || s.w > 0.0;
  out[i] = softmax_value(v, p.alpha, s.x, s.y, bad, LOG, bitcast<f32>(p.nan_bits), bitcast<f32>(p.neg_inf_bits));
}
