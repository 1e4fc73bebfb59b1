// Row softmax of alpha * x over the last dimension, one workgroup per row.
// No infinities in arithmetic: WGSL may assume none occur. Entries equal to
// -inf (a masked score, recognised by its bit pattern) are excluded and come
// out as exact zeros; the running max starts at the lowest finite f32; a row
// with every entry masked comes out as zeros rather than NaN.

override WG: u32 = 64;

struct Params {
  rows: u32,
  cols: u32,
  alpha: f32,
  _pad: u32,
}

const LOWEST_F32: f32 = -3.4028234663852886e38;
const NEG_INF_BITS: u32 = 0xff800000u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

fn masked(v: f32) -> bool {
  return bitcast<u32>(v) == NEG_INF_BITS;
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_id) lid3: vec3<u32>,
) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) {
    return;
  }
  let lid = lid3.x;
  let base = row * p.cols;
  var local_max = LOWEST_F32;
  for (var j = lid; j < p.cols; j += WG) {
    let v = x[base + j];
    if (!masked(v)) {
      local_max = max(local_max, p.alpha * v);
    }
  }
  let row_max = workgroup_max(local_max, lid);
  var local_sum = 0.0;
  for (var j = lid; j < p.cols; j += WG) {
    let v = x[base + j];
    if (!masked(v)) {
      local_sum += exp(p.alpha * v - row_max);
    }
  }
  let total = workgroup_sum(local_sum, lid);
  let inv = select(0.0, 1.0 / total, total > 0.0);
  for (var j = lid; j < p.cols; j += WG) {
    let v = x[base + j];
    var weight = 0.0;
    if (!masked(v)) {
      weight = exp(p.alpha * v - row_max) * inv;
    }
    out[base + j] = weight;
  }
}
