// Second half of a radix-select round: one workgroup per row adds up the
// chunks' digit counts and picks the digit that holds the wanted rank
// (counting from the largest), extending the row's prefix by it. After the
// round with shift 0 the prefix is the exact key of the k-th largest logit.

struct Params {
  rows: u32,
  chunks: u32,
  shift: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> hist: array<u32>;
@group(0) @binding(2) var<storage, read> state: array<u32>;
@group(0) @binding(3) var<storage, read_write> next_state: array<u32>;

var<workgroup> totals: array<u32, 256>;

fn jobs() -> u32 {
  return p.rows;
}

fn run(row: u32, lid: u32) {
  // chunks <= WG * PER (checked on the host): a bounded loop per digit.
  for (var d = lid; d < 256u; d += WG) {
    var total = 0u;
    for (var c = 0u; c < p.chunks; c++) {
      total += hist[(row * p.chunks + c) * 256u + d];
    }
    totals[d] = total;
  }
  workgroupBarrier();
  if (lid == 0u) {
    let prefix = state[row * 2u];
    let wanted = state[row * 2u + 1u];
    var above = 0u;
    var digit = 0u;
    for (var i = 0u; i < 256u; i++) {
      let d = 255u - i;
      if (above + totals[d] >= wanted) {
        digit = d;
        break;
      }
      above += totals[d];
    }
    next_state[row * 2u] = prefix | (digit << p.shift);
    next_state[row * 2u + 1u] = wanted - above;
  }
}
