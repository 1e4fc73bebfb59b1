// Fused `out = gelu(x + bias)` for a bias over the last dimension (the GPT
// feed-forward layer's first linear output), in one pass instead of two.
// The sum is rounded to f32 before gelu, exactly as add then gelu would.
// Needs `elementwise_header`, `unary_math` and `elementwise_main` in front.

// True for the tanh approximation, false for the erf form.
override TANH: bool = false;

struct Params {
  n: u32,
  features: u32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
// `Store` is f32, or f16 with `storage_f16` compiled first (the sum and GELU
// stay f32; one rounding per output).
@group(0) @binding(1) var<storage, read> x: array<Store>;
@group(0) @binding(2) var<storage, read> bias: array<Store>;
@group(0) @binding(3) var<storage, read_write> out: array<Store>;

fn element(i: u32) {
  let v = f32(x[i]) + f32(bias[i % p.features]);
  if (TANH) {
    out[i] = Store(gelu_tanh_f32(v));
  } else {
    out[i] = Store(gelu_f32(v));
  }
}
