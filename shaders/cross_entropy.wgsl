// Mean cross-entropy of logits [rows, cols] against class indices stored as
// floats: out[0] = (1 / rows) * sum_i (logsumexp(x_i) - x_i[t_i]), computed
// as max + log(sum(exp(x - max))) like PyTorch's log_softmax. One workgroup;
// each invocation owns whole rows, then the partial losses are tree-reduced.
// Indices outside [0, cols) are clamped: validating them would need a
// readback, so their loss is unspecified (the CPU path throws instead).

override WG: u32 = 256;

struct Params {
  rows: u32,
  cols: u32,
  inv_rows: f32,
  _pad: u32,
}

const LOWEST_F32: f32 = -3.4028234663852886e38;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid3: vec3<u32>) {
  let lid = lid3.x;
  var acc = 0.0;
  for (var r = lid; r < p.rows; r += WG) {
    let base = r * p.cols;
    var row_max = LOWEST_F32;
    for (var j = 0u; j < p.cols; j++) {
      row_max = max(row_max, x[base + j]);
    }
    var total = 0.0;
    for (var j = 0u; j < p.cols; j++) {
      total += exp(x[base + j] - row_max);
    }
    let t = min(u32(max(targets[r], 0.0)), p.cols - 1u);
    acc += row_max + log(total) - x[base + t];
  }
  let total = workgroup_sum(acc, lid);
  if (lid == 0u) {
    out[0] = total * p.inv_rows;
  }
}
