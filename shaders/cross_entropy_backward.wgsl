// Gradient of mean cross-entropy with respect to the logits, one invocation
// per element, no loops: out[i, j] = (g[0] / rows) * (softmax(x_i)[j] - (j == t_i)),
// from the row stats of softmax_stats.wgsl (a row with a NaN or +inf gives
// NaN, as PyTorch's gradient does). Targets as in cross_entropy.wgsl: a row
// whose target is not a class index gets NaN gradients, like its loss.

override WG: u32 = 256;
override INT_TARGETS: bool = false;

struct Params {
  n: u32,
  cols: u32,
  inv_rows: f32,
  nan_bits: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(3) var<storage, read> stats: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> g: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) {
    return;
  }
  let r = i / p.cols;
  let j = i % p.cols;
  let s = stats[r];
  let v = x[i];
  let t = target_of(r, p.cols);
  var prob: f32;
  if (t == BAD_CLASS || s.z > 0.0 || s.w > 0.0) {
    prob = bitcast<f32>(p.nan_bits);
  } else if (bitcast<u32>(v) == 0xff800000u) {
    prob = 0.0;
  } else {
    prob = exp(v - s.x) / s.y;
  }
  out[i] = (g[0] * p.inv_rows) * (prob - select(0.0, 1.0, j == t));
}
