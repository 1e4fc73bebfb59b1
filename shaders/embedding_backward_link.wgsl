// First step of the embedding backward (a scatter-add without float
// atomics): links the positions of each id into a list in ascending order,
// so the sums of repeated ids run in the CPU's order and give its bits.
// next[t] is the next position after t holding the same id (END if none);
// first[v] ends as the first position holding v. One workgroup links one
// block of BLOCK positions; the host dispatches the blocks from last to
// first, so `first` holds, for each id, its first position after the block.
// Per invocation: BLOCK / WG positions, each scanning at most BLOCK ids in
// workgroup memory (bounded well under llvmpipe's 65,535-iteration cap).
// Out-of-range ids are skipped: their forward rows are NaN already.

override WG: u32 = 256;
// Positions per block, a multiple of WG.
override BLOCK: u32 = 1024;
const END: u32 = 0xffffffffu;

struct Params {
  count: u32,
  vocab: u32,
  block_start: u32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read_write> first: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> next: array<u32>;

var<workgroup> block_ids: array<i32, BLOCK>;

fn valid(id: i32) -> bool {
  return id >= 0 && u32(id) < p.vocab;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid3: vec3<u32>) {
  let lid = lid3.x;
  for (var k = lid; k < BLOCK; k += WG) {
    let t = p.block_start + k;
    // -1 past the end: never a valid id, so it never links.
    block_ids[k] = select(-1, ids[min(t, p.count - 1u)], t < p.count);
  }
  workgroupBarrier();
  for (var k = lid; k < BLOCK; k += WG) {
    let id = block_ids[k];
    if (valid(id)) {
      var after = END;
      for (var j = k + 1u; j < BLOCK; j++) {
        if (block_ids[j] == id) {
          after = p.block_start + j;
          break;
        }
      }
      if (after == END) {
        after = atomicLoad(&first[u32(id)]);
      }
      next[p.block_start + k] = after;
    } else if (p.block_start + k < p.count) {
      next[p.block_start + k] = END;
    }
  }
  // Every read of `first` above happens before any update below.
  storageBarrier();
  for (var k = lid; k < BLOCK; k += WG) {
    let id = block_ids[k];
    if (valid(id)) {
      atomicMin(&first[u32(id)], p.block_start + k);
    }
  }
}
