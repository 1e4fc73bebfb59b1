// Per-row cross-entropy loss from the row stats of softmax_stats.wgsl (vec4
// per row: max, sum of exp(x - max), has NaN, has +inf), one invocation per
// row, no loops: nll[r] = max + log(sum) - x[r, t_r], i.e. -logSoftmax at the
// target. With label smoothing eps (SMOOTH), PyTorch 1.13's
// loss[r] = (1 - eps) * nll[r] + eps / C * (-sum_j logSoftmax(x_r)[j]), where
// -sum_j logSoftmax = C * (max + log(sum)) - rowsum[r]. A row whose target is
// ignore_index gets loss 0 and valid 0 (valid 1 otherwise), so the host can
// average over the counted rows on the device.
// PyTorch's special values: a NaN or +inf in the row gives NaN; a -inf
// target logit gives +inf. Targets are float32 or int32 (INT_TARGETS), read
// as raw words; a target that is not a class index in [0, cols) gives NaN
// (class_index.wgsl: validating it would need a readback).

override WG: u32 = 256;
override INT_TARGETS: bool = false;
override SMOOTH: bool = false;

struct Params {
  rows: u32,
  cols: u32,
  nan_bits: u32,
  inf_bits: u32,
  ignore_word: u32,
  smoothing: f32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(3) var<storage, read> stats: array<vec4<f32>>;
// The row sums of x when SMOOTH (any f32 buffer otherwise; not read).
@group(0) @binding(4) var<storage, read> rowsum: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read_write> valid: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = gid.x + gid.y * nwg.x * WG;
  if (r >= p.rows) {
    return;
  }
  if (is_ignored(r, p.ignore_word)) {
    out[r] = 0.0;
    valid[r] = 0.0;
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
  if (SMOOTH && t != BAD_CLASS && s.z == 0.0 && s.w == 0.0) {
    // A -inf logit makes rowsum -inf, so the smoothing term is +inf, as in torch.
    let lse = s.x + log(s.y);
    let smoothed = f32(p.cols) * lse - rowsum[r];
    loss = (1.0 - p.smoothing) * loss + (p.smoothing / f32(p.cols)) * smoothed;
  }
  out[r] = loss;
  valid[r] = 1.0;
}
