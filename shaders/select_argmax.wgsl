// First pass of the row argmax behind greedy decoding and sampling: one
// workgroup per (row, chunk) writes the chunk's best (key, index) pair.
// Row r of the logits starts at r * row_stride + row_offset (the last
// position of each sequence), so no slice is copied first.

struct Params {
  rows: u32,
  n: u32,
  chunks: u32,
  row_stride: u32,
  row_offset: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<u32>;
@group(0) @binding(2) var<storage, read_write> pairs: array<u32>;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_id) lid3: vec3<u32>,
) {
  let g = flat_group(wid, nwg);
  if (g >= p.rows * p.chunks) {
    return;
  }
  let lid = lid3.x;
  let row = g / p.chunks;
  let chunk = g % p.chunks;
  let base = row * p.row_stride + p.row_offset;
  let first = chunk * WG * PER + lid * PER;
  var best_key = 0u;
  var best_idx = 0xffffffffu;
  for (var j = 0u; j < PER; j++) {
    let i = first + j;
    if (i < p.n) {
      let k = key_of(logits[base + i]);
      if (better(k, i, best_key, best_idx)) {
        best_key = k;
        best_idx = i;
      }
    }
  }
  let best = workgroup_best(best_key, best_idx, lid);
  if (lid == 0u) {
    pairs[g * 2u] = best.x;
    pairs[g * 2u + 1u] = best.y;
  }
}
