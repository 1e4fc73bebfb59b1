// Philox4x32-10 counter-based RNG and the dropout draw built on it.
// Library snippet: functions only, meant to be concatenated in front of a
// kernel. Bit-identical to src/philox.ts; see that file for the scheme.

// (hi, lo) of the 64-bit product a * b. WGSL has no u64, so the high word is
// assembled from 16-bit halves (each partial product fits in a u32).
fn philox_mulhilo(a: u32, b: u32) -> vec2<u32> {
  let al = a & 0xffffu;
  let ah = a >> 16u;
  let bl = b & 0xffffu;
  let bh = b >> 16u;
  let lolo = al * bl;
  let hilo = ah * bl;
  let lohi = al * bh;
  let mid = (lolo >> 16u) + (hilo & 0xffffu) + (lohi & 0xffffu);
  let hi = ah * bh + (hilo >> 16u) + (lohi >> 16u) + (mid >> 16u);
  return vec2<u32>(hi, a * b);
}

fn philox4x32_10(ctr: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
  var c = ctr;
  var k = key;
  for (var round = 0u; round < 10u; round++) {
    if (round > 0u) {
      k += vec2<u32>(0x9e3779b9u, 0xbb67ae85u);
    }
    let p0 = philox_mulhilo(0xd2511f53u, c.x);
    let p1 = philox_mulhilo(0xcd9e8d57u, c.z);
    c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
  }
  return c;
}

// The 24 random bits of element `index`; indices are u32 here, so the high
// word of the block counter is always 0.
fn dropout_bits(seed: vec2<u32>, offset: u32, index: u32) -> u32 {
  let words = philox4x32_10(vec4<u32>(index / 4u, 0u, offset, 0u), seed);
  return words[index % 4u] >> 8u;
}

// Uniform in [0, 1); exact, since a 24-bit integer times 2^-24 fits an f32.
fn dropout_uniform(seed: vec2<u32>, offset: u32, index: u32) -> f32 {
  return f32(dropout_bits(seed, offset, index)) * 0x1p-24f;
}

// `threshold` is dropoutThreshold(p) from src/philox.ts: comparing integers
// avoids f32(p) != p flipping elements near the boundary.
fn dropout_keep(seed: vec2<u32>, offset: u32, index: u32, threshold: u32) -> bool {
  return dropout_bits(seed, offset, index) >= threshold;
}
