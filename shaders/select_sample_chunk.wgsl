// Sampling, pass 2: one invocation per row walks the chunk sums in order
// (at most WG * PER of them), scales its uniform draw u in [0, 1) by the
// total, and finds the chunk where the running sum first exceeds it: the
// inverse CDF at the chunk level. Writes (chunk, what is left of the
// goal) or chunk 0xffffffff for a row that cannot be sampled.

struct Params {
  rows: u32,
  chunks: u32,
  temperature: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> sums: array<f32>;
@group(0) @binding(2) var<storage, read> max_key: array<u32>;
@group(0) @binding(3) var<storage, read> draws: array<f32>;
@group(0) @binding(4) var<storage, read_write> pick: array<u32>;

@compute @workgroup_size(64)
fn main(
  @builtin(global_invocation_id) gid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let row = gid.x + gid.y * nwg.x * 64u;
  if (row >= p.rows) {
    return;
  }
  if (!scaled_max_ok(max_key[row], p.temperature)) {
    pick[row * 2u] = 0xffffffffu;
    pick[row * 2u + 1u] = 0u;
    return;
  }
  var total = 0.0;
  for (var c = 0u; c < p.chunks; c++) {
    total += sums[row * p.chunks + c];
  }
  let goal = draws[row] * total;
  var running = 0.0;
  var chosen = 0xffffffffu;
  var left = 0.0;
  var last_positive = 0u;
  for (var c = 0u; c < p.chunks; c++) {
    let s = sums[row * p.chunks + c];
    if (s > 0.0) {
      last_positive = c;
    }
    if (chosen == 0xffffffffu && running + s > goal) {
      chosen = c;
      left = goal - running;
    }
    running += s;
  }
  if (chosen == 0xffffffffu) {
    // Rounding put the goal at the very end: take the last chunk with mass.
    chosen = last_positive;
    left = sums[row * p.chunks + last_positive];
  }
  pick[row * 2u] = chosen;
  pick[row * 2u + 1u] = bitcast<u32>(left);
}
