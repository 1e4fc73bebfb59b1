/**
 * Your own WGSL over tensors: a fused GELU (tanh approximation) kernel that
 * records into the same pipeline as the built-in ops.
 *
 *   deno run examples/custom_kernel.ts
 */

import {
  compileKernel,
  dispose,
  format,
  linear,
  manualSeed,
  randn,
  tensor,
  tidy,
  toDevice,
  webgpu,
} from "../mod.ts";

const gpu = await webgpu();

const gelu = await compileKernel(gpu, {
  name: "gelu.wgsl",
  code: `
    struct Params { n: u32 }
    @group(0) @binding(0) var<uniform> p: Params;
    @group(0) @binding(1) var<storage, read> x: array<f32>;
    @group(0) @binding(2) var<storage, read_write> y: array<f32>;

    @compute @workgroup_size(64)
    fn main(@builtin(global_invocation_id) id: vec3<u32>) {
      if (id.x >= p.n) { return; }
      let v = x[id.x];
      // tanh is only accurate for moderate arguments in WGSL: clamp it.
      let inner = clamp(0.7978845608 * (v + 0.044715 * v * v * v), -15.0, 15.0);
      y[id.x] = 0.5 * v * (1.0 + tanh(inner));
    }`,
});

manualSeed(0);
const x = await toDevice(tensor(randn([4, 8]), [4, 8]), gpu);
const w = await toDevice(tensor(randn([8, 8]), [8, 8]), gpu);
// The scope frees `hidden` once the kernel has read it; only the result survives.
const activated = tidy(() => {
  const hidden = linear(x, w); // built-in op, [4, 8]
  // run() checks the launch against the shader's bindings (1 input, 1 output,
  // a 4-byte uniform block) before recording anything.
  const [y] = gelu.run([hidden], {
    outputs: [hidden.shape],
    workgroups: Math.ceil(hidden.size / 64),
    uniforms: new Uint32Array([hidden.size]),
  });
  return y;
});
console.log(await format(activated)); // one submit for both passes, at readback
dispose([x, w, activated]);
