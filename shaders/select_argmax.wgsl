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

fn jobs() -> u32 {
  return p.rows * p.chunks;
}

fn run(g: u32, lid: u32) {
  let base = (g / p.chunks) * p.row_stride + p.row_offset;
  var pair = no_pair();
  for (var j = 0u; j < PER; j++) {
    let i = element_index(g % p.chunks, lid, j);
    if (i < p.n) {
      pair = better_pair(pair, key_of(logits[base + i]), i);
    }
  }
  let best = workgroup_best(pair, lid);
  if (lid == 0u) {
    pairs[g * 2u] = best.x;
    pairs[g * 2u + 1u] = best.y;
  }
}
