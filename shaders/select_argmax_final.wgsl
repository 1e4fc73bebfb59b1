// Second pass of the row argmax: one workgroup per row merges the chunks'
// (key, index) pairs (each invocation loops over at most PER chunks) and
// writes the winning index (greedy decoding, OUT_KEY = 0) or its key (the
// row maximum that sampling subtracts before exp, OUT_KEY = 1).

override OUT_KEY: u32 = 0u;

struct Params {
  rows: u32,
  chunks: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> pairs: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;

fn jobs() -> u32 {
  return p.rows;
}

fn run(row: u32, lid: u32) {
  var pair = no_pair();
  for (var j = 0u; j < PER; j++) {
    let c = lid * PER + j;
    if (c < p.chunks) {
      let at = (row * p.chunks + c) * 2u;
      pair = better_pair(pair, pairs[at], pairs[at + 1u]);
    }
  }
  let best = workgroup_best(pair, lid);
  if (lid == 0u) {
    out[row] = select(best.y, best.x, OUT_KEY == 1u);
  }
}
