// Shared by embedding.wgsl and embedding_f16.wgsl (compiled in front of
// them): the uniform block, the bindings and where an output element comes
// from. A weight larger than one storage binding is bound as blocks of rows
// [row_start, row_start + rows), one dispatch each; every dispatch writes the
// output elements whose id falls in its block. Ids outside [0, vocab) cannot
// raise an error on the GPU: the dispatch with `write_invalid` set fills
// their elements with NaN (`nan_bits`, float32 or float16 bits, through the
// uniform block as WGSL rejects a NaN constant), so a bad id is loud
// downstream and never reads a wrong row. Elements move as raw bits in u32
// words, so every payload survives.

override WG: u32 = 256;

struct Params {
  // Elements, not words (they differ for 16-bit elements).
  n: u32,
  dim: u32,
  vocab: u32,
  row_start: u32,
  rows: u32,
  write_invalid: u32,
  nan_bits: u32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> weight: array<u32>;
@group(0) @binding(2) var<storage, read> ids: array<i32>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;

// weight_index's answers besides an element index (a bound block holds far
// fewer elements than these).
const BAD_ID: u32 = 0xffffffffu;
const OTHER_BLOCK: u32 = 0xfffffffeu;

// The element of this dispatch's weight block that output element e copies,
// BAD_ID when its id is out of range, or OTHER_BLOCK when another dispatch's
// block holds its row.
fn weight_index(e: u32) -> u32 {
  let id = ids[e / p.dim];
  if (id < 0 || u32(id) >= p.vocab) {
    return BAD_ID;
  }
  let row = u32(id);
  if (row < p.row_start || row - p.row_start >= p.rows) {
    return OTHER_BLOCK;
  }
  return (row - p.row_start) * p.dim + e % p.dim;
}
