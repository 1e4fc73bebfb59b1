// Decode attention, pass 1 of 2 (flash-decoding): the attention of ONE new
// query row per (batch, head) over the keys and values a KV cache holds,
// read in place. The keys are split into chunks of WG * KEYS; workgroup
// (chunk, batch * heads + head) scores its chunk (KEYS keys per lane, so
// that the per-workgroup reductions and barriers are shared by more keys), and
// writes the chunk's max m, sum l = sum exp(s - m) and the d partial outputs
// sum exp(s - m) v to `partials` [batch * heads, chunks, d + 2]
// (outputs first, then m, then l). attention_decode_combine.wgsl merges the
// chunks. Per-invocation loops run over KEYS * d (the dot products) and over
// the WG * KEYS keys of one chunk per channel owned: bounded, whatever the
// sequence length.
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
// With VEC4 (d a multiple of 4, d <= 1024) the query row is staged in
// workgroup memory and the caches are read 4 channels at a time through
// vec4 views of the same buffers (cache_k4, cache_v4); the values pass then
// splits a chunk's keys over WG / (d / 4) lane groups per channel group and
// sums them once. The scalar bindings serve any other d.
//
// Queries, caches and mask are `Store` (f32 or f16, from the storage snippet
// compiled first): loads widen to f32, and all math and `partials` are f32.

override WG: u32 = 64u;
override KEYS: u32 = 4u;
override USE_MASK: bool = false;
// The head size is a multiple of 4: keys are read as vec4 through cache_k4.
override VEC4: bool = false;

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
// cache_k and cache_v again, 4 channels per element (read only with VEC4).
@group(0) @binding(6) var<storage, read> cache_k4: array<vec4<Store>>;
@group(0) @binding(7) var<storage, read> cache_v4: array<vec4<Store>>;
@group(0) @binding(8) var<storage, read_write> partials: array<f32>;

// Scores, then weights, of the chunk's keys: key kk of the chunk at kk.
var<workgroup> weights: array<f32, WG * KEYS>;
var<workgroup> shared_pos: u32;
// VEC4: the query row, 4 channels per element (d <= 4 * 256 = 1024).
var<workgroup> q4: array<vec4<f32>, 256>;
// VEC4: each lane's partial outputs, summed over the lanes of a channel group.
var<workgroup> partial4: array<vec4<f32>, WG>;

fn nonfinite(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7fffffffu) >= 0x7f800000u;
}

fn nonfinite4(x: vec4<f32>) -> vec4<bool> {
  return (bitcast<vec4<u32>>(x) & vec4(0x7fffffffu)) >= vec4(0x7f800000u);
}

// The weighted values of keys j0 + kk, kk = first, first + step, ... <= last,
// for channels 4 c4 .. 4 c4 + 3; a channel meeting a non-finite value is NaN.
fn weighted4(bh: u32, j0: u32, c4: u32, first: u32, step: u32, last: u32) -> vec4<f32> {
  let d4 = p.d / 4u;
  var acc = vec4(0.0);
  var vbad = vec4(false);
  for (var kk = first; kk <= last; kk += step) {
    let v = vec4<f32>(cache_v4[(bh * p.max_tokens + j0 + kk) * d4 + c4]);
    let bad = nonfinite4(v);
    vbad = vbad | bad;
    acc += weights[kk] * select(v, vec4(0.0), bad);
  }
  return select(acc, vec4(bitcast<f32>(p.nan_bits)), vbad);
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_id) lid3: vec3<u32>,
) {
  let lid = lid3.x;
  let chunk = wid.x;
  let bh = wid.y;
  let b = bh / p.heads;
  let h = bh % p.heads;
  let qb = b * p.q_stride + h * p.d;
  if (VEC4) {
    for (var c4 = lid; c4 < p.d / 4u; c4 += WG) {
      let c = qb + 4u * c4;
      q4[c4] = vec4(f32(queries[c]), f32(queries[c + 1u]), f32(queries[c + 2u]), f32(queries[c + 3u]));
    }
  }
  if (lid == 0u) {
    shared_pos = position[0];
  }
  // Also the barrier that publishes q4.
  let pos = workgroupUniformLoad(&shared_pos);
  let base = (bh * p.chunks + chunk) * (p.d + 2u);
  let j0 = chunk * WG * KEYS;
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
  // Keys j0 .. j0 + last of the chunk are at or before pos.
  let last = min(pos - j0, WG * KEYS - 1u);
  // Runtime infinities (WGSL constant expressions may not hold them).
  let inf = bitcast<f32>(p.nan_bits & 0x7f800000u);
  // A lane with a visible NaN or +inf score offers +inf, which no finite
  // score reaches, to the max: one reduction gives the chunk's max and
  // whether the row is NaN.
  var lane_max = LOWEST_F32;
  for (var kk = lid; kk <= last; kk += WG) {
    let j = j0 + kk;
    var visible = true;
    if (USE_MASK) {
      visible = f32(mask[pos * p.mask_stride + j]) == 0.0;
    }
    // -inf marks a key that weighs 0: masked, or a -inf score.
    var s = -inf;
    if (visible) {
      let kb = (bh * p.max_tokens + j) * p.d;
      var sum = 0.0;
      if (VEC4) {
        let kb4 = kb / 4u;
        for (var c4 = 0u; c4 < p.d / 4u; c4++) {
          sum += dot(q4[c4], vec4<f32>(cache_k4[kb4 + c4]));
        }
      } else {
        for (var c = 0u; c < p.d; c++) {
          sum += f32(queries[qb + c]) * f32(cache_k[kb + c]);
        }
      }
      let scaled = p.scale * sum;
      if (!nonfinite(scaled)) {
        s = scaled;
        lane_max = max(lane_max, s);
      } else if (bitcast<u32>(scaled) != 0xff800000u) {
        lane_max = inf;
      }
    }
    weights[kk] = s;
  }
  let m = workgroup_max(lane_max, lid);
  let any_bad = m == inf;
  var lane_sum = 0.0;
  for (var kk = lid; kk <= last; kk += WG) {
    let s = weights[kk];
    let w = select(0.0, exp(s - m), (s != -inf) & !any_bad);
    weights[kk] = w;
    lane_sum += w;
  }
  // workgroup_sum's barriers also publish every lane's weights.
  let l = workgroup_sum(lane_sum, lid);
  if (VEC4) {
    let d4 = p.d / 4u;
    if (d4 >= WG) {
      for (var c4 = lid; c4 < d4; c4 += WG) {
        let out = weighted4(bh, j0, c4, 0u, 1u, last);
        for (var e = 0u; e < 4u; e++) {
          partials[base + 4u * c4 + e] = out[e];
        }
      }
    } else {
      // Lane lid takes channel group lid % d4 over every groups-th key
      // (from lid / d4): all lanes busy when d is small, then one sum per
      // channel group over its lanes. NaN markers survive the sum.
      let groups = WG / d4;
      let g = lid / d4;
      let c4 = lid % d4;
      var out = vec4(0.0);
      if (g < groups) {
        out = weighted4(bh, j0, c4, g, groups, last);
      }
      partial4[lid] = out;
      workgroupBarrier();
      if (lid < d4) {
        var total = partial4[lid];
        for (var k = 1u; k < groups; k++) {
          total += partial4[k * d4 + lid];
        }
        for (var e = 0u; e < 4u; e++) {
          partials[base + 4u * lid + e] = total[e];
        }
      }
    }
  } else {
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
  }
  if (lid == 0u) {
    partials[base + p.d] = m;
    partials[base + p.d + 1u] = select(l, bitcast<f32>(p.nan_bits), any_bad);
  }
}
