// Appends each row's next token id to the running sequences on the device:
// out[b, t] = ids[b, t] for t < T, and the new token at t = T (the forced id
// where the host pins a finished row to the end-of-sequence id, else the
// selected one). Int32 values are copied as raw bits.

override WG: u32 = 256;

struct Params {
  rows: u32,
  tokens: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> next: array<u32>;
@group(0) @binding(3) var<storage, read> forced: array<i32>;
@group(0) @binding(4) var<storage, read_write> out: array<u32>;

@compute @workgroup_size(WG)
fn main(
  @builtin(global_invocation_id) gid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let i = gid.x + gid.y * nwg.x * WG;
  let width = p.tokens + 1u;
  if (i >= p.rows * width) {
    return;
  }
  let b = i / width;
  let t = i % width;
  if (t < p.tokens) {
    out[i] = ids[b * p.tokens + t];
  } else if (forced[b] >= 0) {
    out[i] = u32(forced[b]);
  } else {
    out[i] = next[b];
  }
}
