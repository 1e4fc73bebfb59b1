// One selection pass of max / argmax / topk: workgroup w takes chunk c of row
// r (CHUNK = WG * PER consecutive entries) and writes that chunk's best k
// (value, index) pairs, best first. A row longer than one chunk leaves
// `chunks * k` candidates, which the next pass (first = 0, reading the pairs
// back) merges; passes repeat until one chunk remains. Every loop is bounded
// by PER, log2(WG) and k (<= 128), never by the row length.
//
// Order (PyTorch CPU): NaN beats every number when largest (and loses to
// every number otherwise); equal values, and NaN against NaN, go to the
// lower index. The index NONE pads chunks shorter than k and always loses.

override WG: u32 = 256;
const PER: u32 = 16u;
const NONE: u32 = 0xffffffffu;

struct Params {
  rows: u32,
  // Entries per row in this pass, and the distance between them.
  n: u32,
  inner: u32,
  k: u32,
  chunks: u32,
  // 1 on the first pass: indices are positions in the row, not read from `ids`.
  first: u32,
  largest: u32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
// The first pass binds x's buffer here too and never reads it.
@group(0) @binding(2) var<storage, read> ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> out_values: array<f32>;
@group(0) @binding(4) var<storage, read_write> out_ids: array<u32>;

var<workgroup> lane_value: array<f32, WG>;
var<workgroup> lane_id: array<u32, WG>;

fn is_nan(v: f32) -> bool {
  // A bit test: `v != v` may be folded away by the compiler.
  return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

// Whether (a, ia) comes before (b, ib).
fn beats(a: f32, ia: u32, b: f32, ib: u32) -> bool {
  if (ia == NONE) {
    return false;
  }
  if (ib == NONE) {
    return true;
  }
  let na = is_nan(a);
  let nb = is_nan(b);
  if (na != nb) {
    return na == (p.largest != 0u);
  }
  if (na || a == b) {
    return ia < ib;
  }
  if (p.largest != 0u) {
    return a > b;
  }
  return a < b;
}

// One workgroup per (row, chunk): the entry point is workgroup_job.wgsl's.
fn jobs() -> u32 {
  return p.rows * p.chunks;
}

fn run(w: u32, lid: u32) {
  let row = w / p.chunks;
  let chunk = w % p.chunks;
  let base = (row / p.inner) * p.n * p.inner + row % p.inner;
  var values: array<f32, PER>;
  var indices: array<u32, PER>;
  for (var s = 0u; s < PER; s++) {
    let j = chunk * WG * PER + s * WG + lid;
    values[s] = 0.0;
    indices[s] = NONE;
    if (j < p.n) {
      let at = base + j * p.inner;
      values[s] = x[at];
      if (p.first != 0u) {
        indices[s] = j;
      } else {
        indices[s] = ids[at];
      }
    }
  }
  // Each lane keeps its own best entry; only the lane whose entry was taken
  // rescans its PER entries.
  var mine = 0u;
  for (var s = 1u; s < PER; s++) {
    if (beats(values[s], indices[s], values[mine], indices[mine])) {
      mine = s;
    }
  }
  for (var t = 0u; t < p.k; t++) {
    lane_value[lid] = values[mine];
    lane_id[lid] = indices[mine];
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
      if (lid < stride) {
        let v = lane_value[lid + stride];
        let i = lane_id[lid + stride];
        if (beats(v, i, lane_value[lid], lane_id[lid])) {
          lane_value[lid] = v;
          lane_id[lid] = i;
        }
      }
      workgroupBarrier();
    }
    let best_value = lane_value[0];
    let best_id = lane_id[0];
    // Every lane must read the winner before the next round overwrites it.
    workgroupBarrier();
    if (lid == 0u) {
      out_values[w * p.k + t] = best_value;
      out_ids[w * p.k + t] = best_id;
    }
    if (best_id != NONE && indices[mine] == best_id) {
      indices[mine] = NONE;
      for (var s = 0u; s < PER; s++) {
        if (beats(values[s], indices[s], values[mine], indices[mine])) {
          mine = s;
        }
      }
    }
  }
}
