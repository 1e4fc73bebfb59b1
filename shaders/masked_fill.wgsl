// out = mask != 0 ? value : x, where x and mask broadcast to out's shape
// (up to 8 dimensions; stride 0 on broadcast dimensions). A causal mask
// buffer [context, context] is read as its [:rows, :cols] corner in place by
// giving its own row length as the row stride.
//
// The mask is read as raw bits, never compared as a float: on llvmpipe a NaN
// compares equal to 0.0, which would leave NaN-masked places unmasked, while
// PyTorch counts every nonzero value, NaN included, as masked. `value`
// arrives as bits through the uniform block: WGSL rejects -inf and NaN as
// constants, but a runtime value may hold them. Needs `storage_f32` (or
// `storage_f16`), `elementwise_header`, `broadcast_index` and
// `elementwise_main` in front.

// True for a float32 mask (its sign bit is ignored, so -0.0 is zero), false
// for an int32 mask.
override MASK_FLOAT: bool = true;

struct Params {
  n: u32,
  rank: u32,
  value: f32,
  _pad: u32,
  shape: Dims8,
  x_strides: Dims8,
  mask_strides: Dims8,
}

@group(0) @binding(0) var<uniform> p: Params;
// `Store` is f32, or f16 with `storage_f16` compiled first.
@group(0) @binding(1) var<storage, read> x: array<Store>;
@group(0) @binding(2) var<storage, read> mask: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<Store>;

fn element(i: u32) {
  let at = broadcast_offsets(i, p.rank, p.shape, p.x_strides, p.mask_strides, p.mask_strides);
  var bits = mask[at.y];
  if (MASK_FLOAT) {
    bits = bits & 0x7fffffffu;
  }
  out[i] = Store(select(f32(x[at.x]), p.value, bits != 0u));
}
