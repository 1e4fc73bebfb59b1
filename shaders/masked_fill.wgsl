// out = mask != 0 ? value : x, where the [rows, cols] mask broadcasts over
// the leading dimensions of x. `mask_stride` is the mask's own row length, so
// a [context, context] causal mask is read as its [:rows, :cols] corner
// without a copy. `value` arrives as bits through the uniform block: WGSL
// rejects -inf as a constant, but a runtime value may hold it.

override WG: u32 = 256;

struct Params {
  n: u32,
  rows: u32,
  cols: u32,
  mask_stride: u32,
  value: f32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mask: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) {
    return;
  }
  let col = i % p.cols;
  let row = (i / p.cols) % p.rows;
  let masked = mask[row * p.mask_stride + col] != 0.0;
  out[i] = select(x[i], p.value, masked);
}
