// `out = condition != 0 ? a : b` with NumPy broadcasting among all three over
// up to 8 dimensions. The condition is read as bits, so one kernel serves
// int32 and float32 conditions (for floats -0 is zero and NaN is nonzero, as
// in PyTorch). Needs `elementwise_header` in front.

// True when the condition holds float32 bits.
override COND_FLOAT: bool = true;

struct Params {
  n: u32,
  rank: u32,
  _pad0: u32,
  _pad1: u32,
  shape: array<vec4<u32>, 2>,
  c_strides: array<vec4<u32>, 2>,
  a_strides: array<vec4<u32>, 2>,
  b_strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> cond: array<u32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg);
  if (i >= p.n) {
    return;
  }
  var ic = 0u;
  var ia = 0u;
  var ib = 0u;
  var rest = i;
  for (var k = i32(p.rank) - 1; k >= 0; k--) {
    let d = u32(k);
    let extent = p.shape[d / 4u][d % 4u];
    let index = rest % extent;
    rest = rest / extent;
    ic += index * p.c_strides[d / 4u][d % 4u];
    ia += index * p.a_strides[d / 4u][d % 4u];
    ib += index * p.b_strides[d / 4u][d % 4u];
  }
  let bits = select(cond[ic], cond[ic] & 0x7fffffffu, COND_FLOAT);
  out[i] = select(b[ib], a[ia], bits != 0u);
}
