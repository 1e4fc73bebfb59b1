// Per-row cross-entropy loss from the row stats of softmax_stats.wgsl (vec4
// per row: max, sum of exp(x - max), has NaN, has +inf), one invocation per
// row, no loops: loss[r] = max + log(sum) - x[r, t_r], i.e. -logSoftmax at
// the target. The host then averages the rows with the bounded reduction.
// PyTorch's special values: a NaN or +inf in the row gives NaN; a -inf
// target logit gives +inf. Targets are float32 or int32 (INT_TARGETS), read
// as raw words; a target that is not a class index in [0, cols) gives NaN
// (class_index.wgsl: validating it would need a readback).

override WG: u32 = 256;
override INT_TARGETS: bool = false;

struct Params {
  rows: u32,
  cols: u32,
  nan_bits: u32,
  inf_bits: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(3) var<storage, read> stats: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = gid.x + gid.y * nwg.x * WG;
  if (r >= p.rows) {
    return;
  }
  let s = stats[r];
  let t = target_of(r, p.cols);
  let v = x[r * p.cols + min(t, p.cols - 1u)];
  let b = bitcast<u32>(v);
  let nan = bitcast<f32>(p.nan_bits);
  let inf = bitcast<f32>(p.inf_bits);
  var loss: f32;
  if (t == BAD_CLASS || s.z > 0.0 || s.w > 0.0) {
    loss = nan;
  } else if (b == 0xff800000u) {
    loss = inf;
  } else {
    loss = s.x + log(s.y) - v;
  }
  out[r] = loss;
}
