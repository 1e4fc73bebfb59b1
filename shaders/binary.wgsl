// Elementwise `out = a OP b` with NumPy broadcasting over up to 8 dimensions.
// Broadcast dimensions have stride 0, so one kernel serves bias adds, residual
// adds and same-shape products alike. Needs `storage_f32` (or `storage_f16`)
// and `elementwise_header` in front.

// 0 add, 1 subtract, 2 multiply, 3 divide.
override OP: u32 = 0u;
// False when a, b and out share one shape: index arithmetic is skipped.
override BROADCAST: bool = true;

struct Params {
  n: u32,
  rank: u32,
  _pad0: u32,
  _pad1: u32,
  // Uniform arrays need 16-byte element strides, hence vec4 packing.
  shape: array<vec4<u32>, 2>,
  a_strides: array<vec4<u32>, 2>,
  b_strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<Store>;
@group(0) @binding(2) var<storage, read> b: array<Store>;
@group(0) @binding(3) var<storage, read_write> out: array<Store>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg);
  if (i >= p.n) {
    return;
  }
  var ia = i;
  var ib = i;
  if (BROADCAST) {
    ia = 0u;
    ib = 0u;
    var rest = i;
    for (var k = i32(p.rank) - 1; k >= 0; k--) {
      let d = u32(k);
      let extent = p.shape[d / 4u][d % 4u];
      let index = rest % extent;
      rest = rest / extent;
      ia += index * p.a_strides[d / 4u][d % 4u];
      ib += index * p.b_strides[d / 4u][d % 4u];
    }
  }
  let x = f32(a[ia]);
  let y = f32(b[ib]);
  var r: f32;
  switch OP {
    case 0u: { r = x + y; }
    case 1u: { r = x - y; }
    case 2u: { r = x * y; }
    default: { r = x / y; }
  }
  out[i] = Store(r);
}
