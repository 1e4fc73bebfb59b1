// Gradient of max / topk values: out has x's shape [outer, n, inner] and
// holds g[o, t, i] where ids[o, t, i] == j (the chosen entries, distinct
// within a row), 0 elsewhere. One invocation per output element, looping
// over the k (<= 128) chosen entries of its row.

override WG: u32 = 256;

struct Params {
  total: u32,
  n: u32,
  inner: u32,
  k: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> ids: array<i32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.x + gid.y * nwg.x * WG;
  if (e >= p.total) {
    return;
  }
  let i = e % p.inner;
  let j = (e / p.inner) % p.n;
  let o = e / (p.inner * p.n);
  var acc = 0.0;
  for (var t = 0u; t < p.k; t++) {
    let at = (o * p.k + t) * p.inner + i;
    if (u32(ids[at]) == j) {
      acc = g[at];
    }
  }
  out[e] = acc;
}
