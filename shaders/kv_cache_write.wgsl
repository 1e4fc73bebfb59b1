// Writes the keys and values of T new tokens into a KV cache in place:
// cache[b, h, pos + t, c] = src[(b * T + t) * stride + offset + h * d + c],
// for keys and values alike, where pos (the first free slot) is read from a
// one-word buffer on the device, so a decode step's uniforms and bind group
// never change. Only the new rows are touched: O(T) work per step, never
// O(tokens so far). Rows past the cache (pos + t >= max_tokens) are dropped;
// the host refuses such steps before launching. Sources and caches share
// one dtype (`Store`, from the storage_f32 / storage_f16 snippet compiled
// first): a copy, no rounding.

override WG: u32 = 256;

struct Params {
  batch: u32,
  T: u32,
  heads: u32,
  d: u32,
  max_tokens: u32,
  stride: u32,
  k_offset: u32,
  v_offset: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> k_src: array<Store>;
@group(0) @binding(2) var<storage, read> v_src: array<Store>;
@group(0) @binding(3) var<storage, read> position: array<u32>;
@group(0) @binding(4) var<storage, read_write> cache_k: array<Store>;
@group(0) @binding(5) var<storage, read_write> cache_v: array<Store>;

@compute @workgroup_size(WG)
fn main(
  @builtin(global_invocation_id) gid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let i = gid.x + gid.y * nwg.x * WG;
  let width = p.heads * p.d;
  if (i >= p.batch * p.T * width) {
    return;
  }
  let ch = i % width;
  let row = i / width;
  let t = row % p.T;
  let b = row / p.T;
  let slot = position[0] + t;
  if (slot >= p.max_tokens) {
    return;
  }
  let h = ch / p.d;
  let c = ch % p.d;
  let dst = ((b * p.heads + h) * p.max_tokens + slot) * p.d + c;
  cache_k[dst] = k_src[row * p.stride + p.k_offset + ch];
  cache_v[dst] = v_src[row * p.stride + p.v_offset + ch];
}
