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

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_id) lid3: vec3<u32>,
) {
  let row = flat_group(wid, nwg);
  if (row >= p.rows) {
    return;
  }
  let lid = lid3.x;
  var best_key = 0u;
  var best_idx = 0xffffffffu;
  for (var j = 0u; j < PER; j++) {
    let c = lid * PER + j;
    if (c < p.chunks) {
      let at = (row * p.chunks + c) * 2u;
      if (better(pairs[at], pairs[at + 1u], best_key, best_idx)) {
        best_key = pairs[at];
        best_idx = pairs[at + 1u];
      }
    }
  }
  let best = workgroup_best(best_key, best_idx, lid);
  if (lid == 0u) {
    out[row] = select(best.y, best.x, OUT_KEY == 1u);
  }
}
