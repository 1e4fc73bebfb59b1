// Second step of the embedding backward: grad[v, c] = sum of grad_out[t, c]
// over the positions t linked into row v's list, in ascending t (the CPU's
// order, so the sums agree bit for bit). One invocation owns one
// (row, column) of the gradient and walks at most STEPS list nodes per
// dispatch (llvmpipe stops longer loops silently); the host dispatches
// ceil(count / STEPS) passes, each resuming at the node where the previous
// one stopped (`cursor_in`, written to `cursor_out` by column 0, ping-ponged
// by the host). A gradient larger than one binding is bound as blocks of
// rows starting at `row_start`.

override WG: u32 = 256;
override STEPS: u32 = 4096u;
const END: u32 = 0xffffffffu;

struct Params {
  n: u32,
  dim: u32,
  row_start: u32,
  first_pass: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> grad_out: array<f32>;
@group(0) @binding(2) var<storage, read> next: array<u32>;
@group(0) @binding(3) var<storage, read> cursor_in: array<u32>;
@group(0) @binding(4) var<storage, read_write> cursor_out: array<u32>;
@group(0) @binding(5) var<storage, read_write> grad: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) {
    return;
  }
  let c = i % p.dim;
  let v = p.row_start + i / p.dim;
  var node = cursor_in[v];
  var acc = 0.0;
  if (p.first_pass == 0u) {
    acc = grad[i];
  }
  for (var s = 0u; s < STEPS; s++) {
    if (node == END) {
      break;
    }
    acc += grad_out[node * p.dim + c];
    node = next[node];
  }
  grad[i] = acc;
  if (c == 0u) {
    cursor_out[v] = node;
  }
}
