// Shared header of the 1-D elementwise kernels, compiled in front of them
// through launch()'s `includes`: the workgroup size, the flat element index of
// launch()'s folded 2-D grid, and float tests by bit pattern (WGSL may assume
// no NaN or infinity, so `v != v` and comparisons with infinities are not
// reliable; bits are).

override WG: u32 = 256;

// launch() folds more than 65535 workgroups into rows of nwg.x workgroups.
fn flat_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

fn is_nan(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

fn is_inf(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) == 0x7f800000u;
}

// NaN and infinity are shader-creation errors as constant expressions; a
// function call is not one, so these build them at run time.
fn f32_from_bits(b: u32) -> f32 {
  return bitcast<f32>(b);
}

fn nan_f32() -> f32 {
  return f32_from_bits(0x7fc00000u);
}

fn inf_f32() -> f32 {
  return f32_from_bits(0x7f800000u);
}

// +-inf with the sign of `s` (also for s = -0).
fn signed_inf(s: f32) -> f32 {
  return f32_from_bits(0x7f800000u | (bitcast<u32>(s) & 0x80000000u));
}
