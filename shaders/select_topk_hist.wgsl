// One round of the radix select that finds each row's k-th largest logit
// (the top-k threshold), 8 bits per round from the most significant: one
// workgroup per (row, chunk) counts, per value of the current digit, the
// keys whose higher digits equal the row's prefix found so far.

struct Params {
  rows: u32,
  n: u32,
  chunks: u32,
  row_stride: u32,
  row_offset: u32,
  shift: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<u32>;
// Per row: (prefix, rank still wanted within the prefix).
@group(0) @binding(2) var<storage, read> state: array<u32>;
@group(0) @binding(3) var<storage, read_write> hist: array<u32>;

var<workgroup> counts: array<atomic<u32>, 256>;

fn jobs() -> u32 {
  return p.rows * p.chunks;
}

fn run(g: u32, lid: u32) {
  for (var d = lid; d < 256u; d += WG) {
    atomicStore(&counts[d], 0u);
  }
  workgroupBarrier();
  let row = g / p.chunks;
  let base = row * p.row_stride + p.row_offset;
  let prefix = state[row * 2u];
  // Bits above the current digit; shifting a u32 by 32 is not allowed.
  let high = select(0xffffffffu << (p.shift + 8u), 0u, p.shift == 24u);
  for (var j = 0u; j < PER; j++) {
    let i = element_index(g % p.chunks, lid, j);
    if (i < p.n) {
      let k = key_of(logits[base + i]);
      if ((k & high) == prefix) {
        atomicAdd(&counts[(k >> p.shift) & 255u], 1u);
      }
    }
  }
  workgroupBarrier();
  for (var d = lid; d < 256u; d += WG) {
    hist[g * 256u + d] = atomicLoad(&counts[d]);
  }
}
