// Decode attention, pass 1 of 2 (flash-decoding): the attention of ONE new
// query row per (batch, head) over the keys and values a KV cache holds,
// read in place. The keys are split into chunks of WG; workgroup
// (chunk, batch * heads + head) scores its chunk (one key per lane), and
// writes the chunk's max m, sum l = sum exp(s - m) and the d partial outputs
// sum exp(s - m) v to `partials` [batch * heads, chunks, d + 2]
// (outputs first, then m, then l). attention_decode_combine.wgsl merges the
// chunks. Per-invocation loops run over d (the head size) and over the WG
// keys of one chunk: bounded, whatever the sequence length.
//
// The new token's position `pos` (its keys already written) is read from a
// one-word buffer, so the uniforms and grid of a decode step never change:
// the grid covers the cache's capacity and chunks past `pos` only write an
// empty result. Key j is visible iff j <= pos and, with USE_MASK, the
// [context, context] mask buffer has mask[pos][j] == 0.
//
// NaN and infinities as in attention_fused.wgsl, tracked by bit tests: a
// visible score that is NaN or +inf makes the row NaN (l is set to NaN); a
// -inf score weighs 0; a non-finite value v[j][c] for any j <= pos makes
// channel c NaN. Visible finite scores never meet infinities in arithmetic.
//
// Queries, caches and mask are `Store` (f32 or f16, from the storage snippet
// compiled first): loads widen to f32, and all math and `partials` are f32.

override WG: u32 = 64u;
override USE_MASK: bool = false;

const LOWEST_F32: f32 = -3.4028234663852886e38;

struct Params {
  heads: u32,
  d: u32,
  max_tokens: u32,
  chunks: u32,
  scale: f32,
  // Floats from one batch entry's query row to the next (3 * heads * d for a
  // packed q | k | v projection; queries start at 0 of each row).
  q_stride: u32,
  mask_stride: u32,
  // A quiet NaN's bits: WGSL constant expressions may not hold NaN.
  nan_bits: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> queries: array<Store>;
@group(0) @binding(2) var<storage, read> cache_k: array<Store>;
@group(0) @binding(3) var<storage, read> cache_v: array<Store>;
@group(0) @binding(4) var<storage, read> mask: array<Store>;
@group(0) @binding(5) var<storage, read> position: array<u32>;
@group(0) @binding(6) var<storage, read_write> partials: array<f32>;

var<workgroup> weights: array<f32, WG>;
var<workgroup> shared_pos: u32;

fn nonfinite(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7fffffffu) >= 0x7f800000u;
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_id) lid3: vec3<u32>,
) {
  let lid = lid3.x;
  let chunk = wid.x;
  let bh = wid.y;
  if (lid == 0u) {
    shared_pos = position[0];
  }
  let pos = workgroupUniformLoad(&shared_pos);
  let b = bh / p.heads;
  let h = bh % p.heads;
  let base = (bh * p.chunks + chunk) * (p.d + 2u);
  let j0 = chunk * WG;
  if (j0 > pos) {
    for (var c = lid; c < p.d; c += WG) {
      partials[base + c] = 0.0;
    }
    if (lid == 0u) {
      partials[base + p.d] = LOWEST_F32;
      partials[base + p.d + 1u] = 0.0;
    }
    return;
  }
  let j = j0 + lid;
  var visible = j <= pos;
  if (USE_MASK) {
    visible = visible & (f32(mask[pos * p.mask_stride + min(j, pos)]) == 0.0);
  }
  var s = 0.0;
  if (visible) {
    let qb = b * p.q_stride + h * p.d;
    let kb = (bh * p.max_tokens + j) * p.d;
    var dot = 0.0;
    for (var c = 0u; c < p.d; c++) {
      dot += f32(queries[qb + c]) * f32(cache_k[kb + c]);
    }
    s = p.scale * dot;
  }
  let bad = visible & nonfinite(s) & (bitcast<u32>(s) != 0xff800000u);
  let usable = visible & !nonfinite(s);
  let m = workgroup_max(select(LOWEST_F32, s, usable), lid);
  let w = select(0.0, exp(select(0.0, s - m, usable)), usable);
  weights[lid] = w;
  let l = workgroup_sum(w, lid);
  let any_bad = workgroup_max(select(0.0, 1.0, bad), lid);
  // workgroup_sum's barriers have published every lane's weight.
  let last = min(pos - j0, WG - 1u);
  for (var c = lid; c < p.d; c += WG) {
    var acc = 0.0;
    var vbad = false;
    for (var kk = 0u; kk <= last; kk++) {
      let v = f32(cache_v[(bh * p.max_tokens + j0 + kk) * p.d + c]);
      vbad = vbad | nonfinite(v);
      acc += weights[kk] * select(v, 0.0, nonfinite(v));
    }
    partials[base + c] = select(acc, bitcast<f32>(p.nan_bits), vbad);
  }
  if (lid == 0u) {
    partials[base + p.d] = m;
    partials[base + p.d + 1u] = select(l, bitcast<f32>(p.nan_bits), any_bad > 0.0);
  }
}
