// Sampling, pass 1: one workgroup per (row, chunk) sums the chunk's
// unnormalised probabilities (each invocation PER of them in order, then a
// workgroup tree sum). The CPU path repeats these steps in the same order.

struct Params {
  rows: u32,
  n: u32,
  chunks: u32,
  row_stride: u32,
  row_offset: u32,
  temperature: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<u32>;
@group(0) @binding(2) var<storage, read> max_key: array<u32>;
@group(0) @binding(3) var<storage, read> state: array<u32>;
@group(0) @binding(4) var<storage, read_write> sums: array<f32>;

fn jobs() -> u32 {
  return p.rows * p.chunks;
}

fn run(g: u32, lid: u32) {
  let row = g / p.chunks;
  let base = row * p.row_stride + p.row_offset;
  let threshold = state[row * 2u];
  let mk = max_key[row];
  let ok = scaled_max_ok(mk, p.temperature);
  let m = scaled_max(mk, p.temperature);
  var acc = 0.0;
  for (var j = 0u; j < PER; j++) {
    let i = element_index(g % p.chunks, lid, j);
    if (ok && i < p.n) {
      acc += weight(logits[base + i], threshold, m, p.temperature);
    }
  }
  let total = workgroup_sum(acc, lid);
  if (lid == 0u) {
    sums[g] = total;
  }
}
