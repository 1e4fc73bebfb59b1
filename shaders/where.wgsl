// `out = condition != 0 ? a : b` with NumPy broadcasting among all three over
// up to 8 dimensions. The condition is read as bits, so one kernel serves
// int32 and float32 conditions (for floats -0 is zero and NaN is nonzero, as
// in PyTorch). Needs `elementwise_header`, `broadcast_index` and
// `elementwise_main` in front.

// True when the condition holds float32 bits.
override COND_FLOAT: bool = true;

struct Params {
  n: u32,
  rank: u32,
  _pad0: u32,
  _pad1: u32,
  shape: Dims8,
  c_strides: Dims8,
  a_strides: Dims8,
  b_strides: Dims8,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> cond: array<u32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

fn element(i: u32) {
  let at = broadcast_offsets(i, p.rank, p.shape, p.c_strides, p.a_strides, p.b_strides);
  let bits = select(cond[at.x], cond[at.x] & 0x7fffffffu, COND_FLOAT);
  out[i] = select(b[at.z], a[at.y], bits != 0u);
}
