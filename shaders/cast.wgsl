// Dtype conversion, bit-exact with the host (src/f16.ts, src/ops/cast.ts).
// Everything is u32 words, so halves round in integer arithmetic (nearest
// even, subnormals, infinities and NaN payloads exact) instead of through
// f16() casts, whose rounding and overflow WGSL leaves to the implementation.
// Needs `elementwise_header` in front.

// 0: float32 -> float16, 1: float16 -> float32, 2: int32 -> float32,
// 3: float32 -> int32 (toward zero; NaN and out of range give INT_MIN like x86).
override MODE: u32 = 0u;

struct Params {
  // Output elements.
  n: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;

// Binary16 bits nearest to the float32 with bits `b` (ties to even).
fn half_bits(b: u32) -> u32 {
  let sign = (b >> 16u) & 0x8000u;
  let exp = (b >> 23u) & 0xffu;
  let mant = b & 0x7fffffu;
  if (exp == 0xffu) {
    // Infinity, or a quiet NaN keeping the top payload bits.
    return select(sign | 0x7e00u | (mant >> 13u), sign | 0x7c00u, mant == 0u);
  }
  if (exp > 142u) {
    return sign | 0x7c00u;
  }
  if (exp >= 113u) {
    var h = ((exp - 112u) << 10u) | (mant >> 13u);
    let rest = mant & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u) == 1u)) {
      h += 1u;
    }
    return sign | h;
  }
  if (exp < 102u) {
    return sign;
  }
  // Subnormal half: drop 14..24 bits of the 24-bit significand.
  let full = mant | 0x800000u;
  let shift = 126u - exp;
  var h = full >> shift;
  let rest = full & ((1u << shift) - 1u);
  let halfway = 1u << (shift - 1u);
  if (rest > halfway || (rest == halfway && (h & 1u) == 1u)) {
    h += 1u;
  }
  return sign | h;
}

// Float32 bits of the binary16 bits `h` (exact).
fn float_bits(h: u32) -> u32 {
  let sign = (h & 0x8000u) << 16u;
  let exp = (h >> 10u) & 0x1fu;
  let mant = h & 0x3ffu;
  if (exp == 0x1fu) {
    return sign | 0x7f800000u | (mant << 13u);
  }
  if (exp != 0u) {
    return sign | ((exp + 112u) << 23u) | (mant << 13u);
  }
  if (mant == 0u) {
    return sign;
  }
  // Subnormal half: normalise (mant * 2^-24 is a normal float32).
  let lead = firstLeadingBit(mant);
  let m = (mant << (23u - lead)) & 0x7fffffu;
  return sign | ((lead + 103u) << 23u) | m;
}

fn half_of(e: u32) -> u32 {
  return (x[e / 2u] >> (16u * (e % 2u))) & 0xffffu;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg);
  if (MODE == 0u) {
    // One output word: elements 2i and 2i + 1.
    let e = 2u * i;
    if (e >= p.n) {
      return;
    }
    var word = half_bits(x[e]);
    if (e + 1u < p.n) {
      word = word | (half_bits(x[e + 1u]) << 16u);
    }
    out[i] = word;
    return;
  }
  if (i >= p.n) {
    return;
  }
  let b = x[i];
  switch MODE {
    case 1u: {
      out[i] = float_bits(half_of(i));
    }
    case 2u: {
      out[i] = bitcast<u32>(f32(bitcast<i32>(b)));
    }
    default: {
      // |v| >= 2^31, infinities and NaN all have a biased exponent >= 158.
      let big = ((b >> 23u) & 0xffu) >= 158u;
      out[i] = select(bitcast<u32>(i32(bitcast<f32>(b))), 0x80000000u, big);
    }
  }
}
