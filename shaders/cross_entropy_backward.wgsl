// Gradient of cross-entropy with respect to the logits, one invocation per
// element, no loops: out[i, j] = w_i * (softmax(x_i)[j] - (1 - eps) * (j == t_i) - eps / C),
// from the row stats of softmax_stats.wgsl (a row with a NaN or +inf gives
// NaN, as PyTorch's gradient does). The row weight w_i is 0 for an ignored
// row, else g[i] (REDUCTION 0, "none"), g[0] ("sum", 1) or g[0] / count[0]
// ("mean", 2; count is the number of rows not ignored, on the device).
// Targets as in cross_entropy.wgsl: a row whose target is not a class index
// gets NaN gradients, like its loss.

override WG: u32 = 256;
override INT_TARGETS: bool = false;
override REDUCTION: u32 = 2u;

struct Params {
  n: u32,
  cols: u32,
  smoothing: f32,
  nan_bits: u32,
  ignore_word: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(3) var<storage, read> stats: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> g: array<f32>;
// The count of rows not ignored when REDUCTION is 2 (any f32 buffer otherwise; not read).
@group(0) @binding(5) var<storage, read> count: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

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
  var w: f32;
  if (REDUCTION == 0u) {
    w = g[r];
  } else if (REDUCTION == 1u) {
    w = g[0];
  } else {
    w = g[0] / count[0];
  }
  if (is_ignored(r, p.ignore_word)) {
    // torch's log_softmax backward gives 0 * exp(logp): NaN for a row with NaN or +inf.
    w = 0.0;
  }
  let t = target_of(r, p.cols);
  var prob: f32;
  if ((t == BAD_CLASS && !is_ignored(r, p.ignore_word)) || s.z > 0.0 || s.w > 0.0) {
    prob = bitcast<f32>(p.nan_bits);
  } else if (bitcast<u32>(v) == 0xff800000u) {
    prob = 0.0;
  } else {
    prob = exp(v - s.x) / s.y;
  }
  let hit = select(0.0, 1.0 - p.smoothing, j == t);
  out[i] = w * (prob - hit - p.smoothing / f32(p.cols));
}
