// Sampling, pass 3: one workgroup per row finishes the inverse CDF inside
// the chunk chosen by pass 2. Each invocation sums its PER weights; then one
// invocation walks the WG partial sums and the PER weights of the invocation
// where the running sum passes the goal (bounded loops: WG + PER steps),
// and writes the token id, or -1 for a row that cannot be sampled.

struct Params {
  rows: u32,
  n: u32,
  row_stride: u32,
  row_offset: u32,
  temperature: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<u32>;
@group(0) @binding(2) var<storage, read> max_key: array<u32>;
@group(0) @binding(3) var<storage, read> state: array<u32>;
@group(0) @binding(4) var<storage, read> pick: array<u32>;
@group(0) @binding(5) var<storage, read_write> ids: array<u32>;

var<workgroup> lane_sums: array<f32, WG>;

fn lane_weight(row: u32, chunk: u32, lane: u32, j: u32, m: f32) -> f32 {
  let i = element_index(chunk, lane, j);
  if (i >= p.n) {
    return 0.0;
  }
  let bits = logits[row * p.row_stride + p.row_offset + i];
  return weight(bits, state[row * 2u], m, p.temperature);
}

fn jobs() -> u32 {
  return p.rows;
}

fn run(row: u32, lid: u32) {
  let chunk = pick[row * 2u];
  let flagged = chunk == 0xffffffffu;
  let m = scaled_max(max_key[row], p.temperature);
  var acc = 0.0;
  for (var j = 0u; j < PER; j++) {
    if (!flagged) {
      acc += lane_weight(row, chunk, lid, j, m);
    }
  }
  lane_sums[lid] = acc;
  workgroupBarrier();
  if (lid != 0u) {
    return;
  }
  if (flagged) {
    ids[row] = 0xffffffffu;
    return;
  }
  let goal = bitcast<f32>(pick[row * 2u + 1u]);
  var running = 0.0;
  var lane = 0xffffffffu;
  var last_lane = 0u;
  for (var l = 0u; l < WG; l++) {
    let s = lane_sums[l];
    if (s > 0.0) {
      last_lane = l;
    }
    if (lane == 0xffffffffu && running + s > goal) {
      lane = l;
    }
    if (lane == 0xffffffffu) {
      running += s;
    }
  }
  var inner_goal = goal - running;
  if (lane == 0xffffffffu) {
    // Rounding ran past the end: the last element with mass.
    lane = last_lane;
    inner_goal = lane_sums[last_lane];
  }
  var inner = 0.0;
  var chosen = 0xffffffffu;
  var last_j = 0u;
  for (var j = 0u; j < PER; j++) {
    let w = lane_weight(row, chunk, lane, j, m);
    if (w > 0.0) {
      last_j = j;
    }
    if (chosen == 0xffffffffu && inner + w > inner_goal) {
      chosen = j;
    }
    inner += w;
  }
  if (chosen == 0xffffffffu) {
    chosen = last_j;
  }
  ids[row] = element_index(chunk, lane, chosen);
}
