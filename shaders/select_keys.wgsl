// Shared by the token-selection kernels (select_*.wgsl), compiled in front of
// them. Logits are read as raw u32 bits and compared as order-preserving
// keys, so no comparison ever sees a NaN (llvmpipe may assume there are
// none): a larger float has a larger key, -0 and +0 share one key (they
// compare equal, as in PyTorch), and every NaN gets the largest key (torch's
// argmax and topk rank NaN above everything).
//
// A row is split into chunks of WG * PER elements; invocation `lid` of a
// chunk's workgroup owns PER contiguous elements, so each invocation loops a
// fixed PER times whatever the row length.

override WG: u32 = 256;
override PER: u32 = 16;

const NAN_KEY: u32 = 0xffffffffu;

fn key_of(bits_in: u32) -> u32 {
  var bits = bits_in;
  if (bits == 0x80000000u) {
    bits = 0u;
  }
  if ((bits & 0x7fffffffu) > 0x7f800000u) {
    return NAN_KEY;
  }
  if ((bits & 0x80000000u) != 0u) {
    return ~bits;
  }
  return bits | 0x80000000u;
}

// The float bits a (non-NaN) key came from (+0 for the shared zero key).
fn bits_of(key: u32) -> u32 {
  if ((key & 0x80000000u) != 0u) {
    return key & 0x7fffffffu;
  }
  return ~key;
}

// Whether a key stands for a finite float (not an infinity, not NaN).
fn key_is_finite(key: u32) -> bool {
  return (bits_of(key) & 0x7f800000u) != 0x7f800000u && key != NAN_KEY;
}

// Index in its row of element j of invocation `lane` in chunk `chunk`.
fn element_index(chunk: u32, lane: u32, j: u32) -> u32 {
  return (chunk * WG + lane) * PER + j;
}

// (key, index) pairs: the larger key wins, and the smaller index on a tie,
// so the first maximum is picked as torch.argmax does. Empty slots hold
// (0, 0xffffffff), which every real element beats.
var<workgroup> wg_key: array<u32, WG>;
var<workgroup> wg_idx: array<u32, WG>;

fn better(ka: u32, ia: u32, kb: u32, ib: u32) -> bool {
  return ka > kb || (ka == kb && ia < ib);
}

// The empty slot. (A module-scope vec2 const trips naga's override
// processing on arrays sized by WG, so this is a function.)
fn no_pair() -> vec2<u32> {
  return vec2<u32>(0u, 0xffffffffu);
}

// The better of `best` and (key, idx).
fn better_pair(best: vec2<u32>, key: u32, idx: u32) -> vec2<u32> {
  return select(best, vec2<u32>(key, idx), better(key, idx, best.x, best.y));
}

// Call in uniform control flow; every invocation gets the best pair.
fn workgroup_best(pair: vec2<u32>, lid: u32) -> vec2<u32> {
  wg_key[lid] = pair.x;
  wg_idx[lid] = pair.y;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) {
      let k = wg_key[lid + stride];
      let i = wg_idx[lid + stride];
      if (better(k, i, wg_key[lid], wg_idx[lid])) {
        wg_key[lid] = k;
        wg_idx[lid] = i;
      }
    }
    workgroupBarrier();
  }
  let best = vec2<u32>(wg_key[0], wg_idx[0]);
  workgroupBarrier();
  return best;
}

// A kept logit's unnormalised probability exp(l / T - m / T), as torch's
// `softmax(logits / temperature)` computes it before dividing by the sum;
// 0 for logits below the top-k threshold key and for -inf.
fn weight(bits: u32, threshold: u32, m_scaled: f32, temperature: f32) -> f32 {
  if (key_of(bits) < threshold) {
    return 0.0;
  }
  let x = bitcast<f32>(bits) / temperature;
  if ((bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u) {
    return 0.0;
  }
  return exp(x - m_scaled);
}

// The row maximum divided by the temperature, or None-like NaN bits when the
// row cannot be sampled (a NaN or infinite maximum, as torch.multinomial
// rejects): callers test `scaled_max_ok` first.
fn scaled_max(max_key: u32, temperature: f32) -> f32 {
  return bitcast<f32>(bits_of(max_key)) / temperature;
}

fn scaled_max_ok(max_key: u32, temperature: f32) -> bool {
  if (!key_is_finite(max_key)) {
    return false;
  }
  let m = bitcast<u32>(scaled_max(max_key, temperature));
  return (m & 0x7f800000u) != 0x7f800000u;
}
