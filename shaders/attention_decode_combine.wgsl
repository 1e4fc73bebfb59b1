// Decode attention, pass 2 of 2: merges the per-chunk results of
// attention_decode.wgsl. One invocation per (batch, head, channel c):
//   M = max_k m_k, out = sum_k a_k[c] exp(m_k - M) / sum_k l_k exp(m_k - M)
// written to the merged [batch, 1, heads * d] layout (heads side by side, as
// the book's transpose + view). Empty chunks (l = 0) are skipped, a row with
// no visible key gives zeros (as the fused kernel), and a NaN l or a_k[c]
// (a chunk's NaN / non-finite markers) gives NaN. Loops run over the chunks:
// at most ceil(4096 / 256) = 16 (src/ops/kv_cache.ts, DECODE_KEYS_PER_CHUNK). The output is `Store` (the model's dtype,
// from the storage snippet compiled first), rounded once.

override WG: u32 = 64u;

struct Params {
  bh: u32,
  d: u32,
  chunks: u32,
  nan_bits: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<Store>;

fn is_nan(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

@compute @workgroup_size(WG)
fn main(
  @builtin(global_invocation_id) gid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.bh * p.d) {
    return;
  }
  let bh = i / p.d;
  let c = i % p.d;
  let width = p.d + 2u;
  var big = -3.4028234663852886e38;
  for (var k = 0u; k < p.chunks; k++) {
    let at = (bh * p.chunks + k) * width;
    if (partials[at + p.d + 1u] > 0.0) {
      big = max(big, partials[at + p.d]);
    }
  }
  var total = 0.0;
  var acc = 0.0;
  var nan = false;
  for (var k = 0u; k < p.chunks; k++) {
    let at = (bh * p.chunks + k) * width;
    let l = partials[at + p.d + 1u];
    let a = partials[at + c];
    nan = nan | is_nan(l) | is_nan(a);
    if (!is_nan(l) & (l > 0.0)) {
      let f = exp(partials[at + p.d] - big);
      total += l * f;
      acc += a * f;
    }
  }
  var value = 0.0;
  if (total > 0.0) {
    value = acc / total;
  }
  // i = bh * d + c is already the merged [batch, heads * d] index.
  out[i] = Store(select(value, bitcast<f32>(p.nan_bits), nan));
}
