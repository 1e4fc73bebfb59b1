// First step of the embedding backward (a scatter-add without float
// atomics): links every id position into a list per vocabulary row.
// head[v] ends as the last position linked for row v, next[t] is the
// position linked before t (END terminates). Integer atomics only; the list
// order (and so the summation order of repeated ids) is unspecified.
// Out-of-range ids are skipped: their forward rows are NaN already.

override WG: u32 = 256;
const END: u32 = 0xffffffffu;

struct Params {
  count: u32,
  vocab: u32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read_write> head: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> next: array<u32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = gid.x + gid.y * nwg.x * WG;
  if (t >= p.count) {
    return;
  }
  let id = ids[t];
  if (id < 0 || u32(id) >= p.vocab) {
    next[t] = END;
    return;
  }
  next[t] = atomicExchange(&head[u32(id)], t);
}
