// Dropout: keeps element i when its Philox bits pass the threshold, scaling
// kept values by 1 / (1 - p); a dropped value is x * 0 (NaN for NaN or inf). Compiled after philox.wgsl, whose functions it
// calls, so a given seed drops the same elements as the CPU path.

override WG: u32 = 256;

struct Params {
  n: u32,
  seed_lo: u32,
  seed_hi: u32,
  offset: u32,
  threshold: u32,
  scale: f32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) {
    return;
  }
  let keep = dropout_keep(vec2<u32>(p.seed_lo, p.seed_hi), p.offset, i, p.threshold);
  let v = x[i];
  // PyTorch computes x * mask * scale: a dropped value becomes a zero of its
  // sign, or NaN when it is NaN or infinite (0 * inf). Done on the bits, as
  // WGSL may fold x * 0.0 to 0.0; ORing the quiet bit into an all-ones
  // exponent gives NaN at run time.
  let b = bitcast<u32>(v);
  let special = (b & 0x7f800000u) == 0x7f800000u;
  let dropped = bitcast<f32>(select(b & 0x80000000u, b | 0x7fc00000u, special));
  out[i] = select(dropped, v * p.scale, keep);
}
