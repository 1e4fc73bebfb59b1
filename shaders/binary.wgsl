// Elementwise `out = a OP b` with NumPy broadcasting over up to 8 dimensions.
// Broadcast dimensions have stride 0, so one kernel serves bias adds, residual
// adds and same-shape products alike. Needs `storage_f32` (or `storage_f16`)
// `elementwise_header`, `broadcast_index` and `elementwise_main` in front.

// 0 add, 1 subtract, 2 multiply, 3 divide.
override OP: u32 = 0u;
// False when a, b and out share one shape: index arithmetic is skipped.
override BROADCAST: bool = true;

struct Params {
  n: u32,
  rank: u32,
  _pad0: u32,
  _pad1: u32,
  shape: Dims8,
  a_strides: Dims8,
  b_strides: Dims8,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<Store>;
@group(0) @binding(2) var<storage, read> b: array<Store>;
@group(0) @binding(3) var<storage, read_write> out: array<Store>;

fn element(i: u32) {
  var ia = i;
  var ib = i;
  if (BROADCAST) {
    let at = broadcast_offsets(i, p.rank, p.shape, p.a_strides, p.b_strides, p.b_strides);
    ia = at.x;
    ib = at.y;
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
