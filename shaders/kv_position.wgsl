// The KV cache's fill position, kept on the device so decode steps need no
// new uniforms: position = position * keep + add (keep 1, add T after a
// step of T tokens; keep 0, add 0 to reset).

struct Params {
  keep: u32,
  add: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> position: array<u32>;

@compute @workgroup_size(1)
fn main() {
  position[0] = position[0] * p.keep + p.add;
}
