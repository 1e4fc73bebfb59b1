// out = mask != 0 ? value : x, where x and mask broadcast to out's shape
// (up to 8 dimensions; stride 0 on broadcast dimensions). A causal mask
// buffer [context, context] is read as its [:rows, :cols] corner in place by
// giving its own row length as the row stride.
//
// The mask is read as raw bits, never compared as a float: on llvmpipe a NaN
// compares equal to 0.0, which would leave NaN-masked places unmasked, while
// PyTorch counts every nonzero value, NaN included, as masked. `value`
// arrives as bits through the uniform block: WGSL rejects -inf and NaN as
// constants, but a runtime value may hold them.

override WG: u32 = 256;
// True for a float32 mask (its sign bit is ignored, so -0.0 is zero), false
// for an int32 mask.
override MASK_FLOAT: bool = true;

struct Params {
  n: u32,
  rank: u32,
  value: f32,
  _pad: u32,
  shape: array<vec4<u32>, 2>,
  x_strides: array<vec4<u32>, 2>,
  mask_strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> p: Params;
// `Store` is f32, or f16 with `storage_f16` compiled first.
@group(0) @binding(1) var<storage, read> x: array<Store>;
@group(0) @binding(2) var<storage, read> mask: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<Store>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) {
    return;
  }
  var ix = 0u;
  var im = 0u;
  var rest = i;
  for (var k = i32(p.rank) - 1; k >= 0; k--) {
    let d = u32(k);
    let extent = p.shape[d / 4u][d % 4u];
    let index = rest % extent;
    rest = rest / extent;
    ix += index * p.x_strides[d / 4u][d % 4u];
    im += index * p.mask_strides[d / 4u][d % 4u];
  }
  var bits = mask[im];
  if (MASK_FLOAT) {
    bits = bits & 0x7fffffffu;
  }
  out[i] = Store(select(f32(x[ix]), p.value, bits != 0u));
}
