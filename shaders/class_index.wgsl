// Class index of row r for the cross-entropy kernels, compiled in front of a
// kernel that declares `override INT_TARGETS: bool` and the binding
// `targets: array<u32>` (the raw words of float32 or int32 targets).
// Targets cannot be validated without a readback, so an index outside
// [0, cols) or a fractional, NaN or infinite float target maps to
// BAD_CLASS, and the kernels turn it into NaN: loud, never a plausible
// finite loss. Float targets are decoded from their bits, because WGSL may
// assume no NaN/Inf in comparisons.

const BAD_CLASS: u32 = 0xffffffffu;

fn target_of(r: u32, cols: u32) -> u32 {
  let word = targets[r];
  if (INT_TARGETS) {
    // Negative i32 words are >= 2^31 as u32, so one comparison covers both ends.
    return select(BAD_CLASS, word, word < cols);
  }
  let magnitude = word & 0x7fffffffu;
  if (magnitude == 0u) {
    return 0u; // +0 or -0
  }
  // Negative, NaN or infinite.
  if (word != magnitude || magnitude >= 0x7f800000u) {
    return BAD_CLASS;
  }
  let f = bitcast<f32>(word);
  if (f >= f32(cols)) {
    return BAD_CLASS;
  }
  let index = u32(f);
  return select(BAD_CLASS, index, f32(index) == f);
}

// Whether row r's target is ignore_word: the target's raw word for int32
// targets, the float bits of ignore_index for float32 ones (-0 counts as 0).
fn is_ignored(r: u32, ignore_word: u32) -> bool {
  let word = targets[r];
  if (INT_TARGETS) {
    return word == ignore_word;
  }
  return select(word, 0u, word == 0x80000000u) == ignore_word;
}
