// Partial sums of squared differences: out[c] = alpha * sum over chunk c of
// (a[i] - b[i])^2. One workgroup per chunk; the host sizes `chunk` so no
// invocation loops more than the loop budget (src/gpu/loop_bound.ts) and
// sums the partials with the bounded reduction when there is more than one
// chunk (alpha = 1 / n when there is exactly one). NaN propagates.

override WG: u32 = 256;

struct Params {
  n: u32,
  alpha: f32,
  chunk: u32,
  chunks: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_id) lid3: vec3<u32>,
) {
  let c = wid.x + wid.y * nwg.x;
  if (c >= p.chunks) {
    return;
  }
  let lid = lid3.x;
  let start = c * p.chunk;
  let end = min(p.n, start + p.chunk);
  var acc = 0.0;
  for (var i = start + lid; i < end; i += WG) {
    let d = a[i] - b[i];
    acc += d * d;
  }
  let total = workgroup_sum(acc, lid);
  if (lid == 0u) {
    out[c] = total * p.alpha;
  }
}
