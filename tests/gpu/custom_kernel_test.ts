// Custom kernels check every launch against the shader's declarations before
// anything is recorded: a bad launch throws naming the kernel, and work
// recorded around it still reads back right. Grids are never folded; inside
// valueAndGrad a kernel needs a backward.

import assert from "node:assert/strict";
import {
  ArgumentError,
  compileKernel,
  DeviceLimitError,
  dispose,
  gpuStats,
  type Kernel,
  sum,
  type Tensor,
  toDevice,
  valueAndGrad,
  type WebGpuDevice,
} from "../../mod.ts";
import { gpu, randomTensor } from "../helpers.ts";

const AXPY = `
  struct P { n: u32, a: f32, pad: vec2<u32> }
  @group(0) @binding(0) var<uniform> p: P;
  @group(0) @binding(1) var<storage, read> x: array<f32>;
  @group(0) @binding(2) var<storage, read> y: array<f32>;
  @group(0) @binding(3) var<storage, read_write> out: array<f32>;
  @compute @workgroup_size(64)
  fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x < p.n) { out[id.x] = p.a * x[id.x] + y[id.x]; }
  }`;

let axpyKernel: Promise<Kernel> | undefined;
function axpy(device: WebGpuDevice): Promise<Kernel> {
  axpyKernel ??= compileKernel(device, { name: "axpy.wgsl", code: AXPY });
  return axpyKernel;
}

function axpyUniforms(n: number, a: number): Uint32Array {
  const u = new Uint32Array(4);
  u[0] = n;
  new Float32Array(u.buffer)[1] = a;
  return u;
}

const DOUBLE = `@group(0) @binding(0) var<storage, read> x: array<f32>;
  @group(0) @binding(1) var<storage, read_write> y: array<f32>;
  @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x < arrayLength(&y)) { y[id.x] = 2.0 * x[id.x]; }
  }`;

let doubleKernel: Promise<Kernel> | undefined;
function double(device: WebGpuDevice): Promise<Kernel> {
  doubleKernel ??= compileKernel(device, { name: "double.wgsl", code: DOUBLE });
  return doubleKernel;
}

/** Runs `bad` (which must throw) between two recorded launches, and checks both still read right. */
async function isolated(
  device: WebGpuDevice,
  bad: () => unknown,
  expected: (e: Error) => boolean,
): Promise<void> {
  const kernel = await double(device);
  const x = await toDevice(randomTensor([65], 1), device);
  const [before] = kernel.run([x], { outputs: [[65]], workgroups: 2 }); // recorded, not submitted
  const stats = gpuStats(device);
  assert.throws(bad, expected);
  const now = gpuStats(device);
  assert.equal(now.dispatches, stats.dispatches, "the bad launch recorded nothing");
  assert.equal(now.buffersInUse, stats.buffersInUse, "and holds no buffer");
  const [after] = kernel.run([before], { outputs: [[65]], workgroups: 2 });
  const [xs, b, a] = [await x.data(), await before.data(), await after.data()];
  for (let i = 0; i < 65; i++) {
    assert.equal(b[i], Math.fround(xs[i] * 2));
    assert.equal(a[i], Math.fround(xs[i] * 4));
  }
  dispose([x, before, after]);
}

Deno.test("a custom kernel checks input and output counts against its bindings", async () => {
  const device = await gpu();
  const kernel = await axpy(device);
  const x = await toDevice(randomTensor([65], 2), device);
  const u = axpyUniforms(65, 0.5);
  await isolated(
    device,
    () => kernel.run([x], { outputs: [[65]], workgroups: 2, uniforms: u }),
    (e) =>
      e instanceof ArgumentError &&
      /^axpy\.wgsl: got 1 inputs, but the kernel declares 2 \(var<storage, read>: x, y\)/.test(
        e.message,
      ),
  );
  await isolated(
    device,
    () => kernel.run([x, x], { outputs: [[65], [65]], workgroups: 2, uniforms: u }),
    (e) =>
      e instanceof ArgumentError &&
      /^axpy\.wgsl: got 2 output shapes, but the kernel declares 1/.test(e.message),
  );
  x.dispose();
});

Deno.test("a custom kernel checks its uniform block: missing, unexpected, too small", async () => {
  const device = await gpu();
  const kernel = await axpy(device);
  const x = await toDevice(randomTensor([65], 3), device);
  await isolated(
    device,
    () => kernel.run([x, x], { outputs: [[65]], workgroups: 2 }),
    (e) =>
      e instanceof ArgumentError &&
      /^axpy\.wgsl: the kernel declares var<uniform> p: P/.test(e.message),
  );
  await isolated(
    device,
    () => kernel.run([x, x], { outputs: [[65]], workgroups: 2, uniforms: new Uint32Array(2) }),
    (e) =>
      e instanceof ArgumentError &&
      /^axpy\.wgsl: uniforms hold 8 bytes, but p: P needs 16 \(4 32-bit words\)/.test(e.message),
  );
  const noUniform = await compileKernel(device, {
    name: "copy.wgsl",
    code: `@group(0) @binding(0) var<storage, read> x: array<f32>;
      @group(0) @binding(1) var<storage, read_write> y: array<f32>;
      @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3<u32>) {
        if (id.x < arrayLength(&y)) { y[id.x] = x[id.x]; }
      }`,
  });
  await isolated(
    device,
    () => noUniform.run([x], { outputs: [[65]], workgroups: 2, uniforms: new Uint32Array(4) }),
    (e) =>
      e instanceof ArgumentError &&
      /^copy\.wgsl: the launch passes 4 uniform words/.test(e.message),
  );
  x.dispose();
});

Deno.test("custom grids are never folded: over the per-dimension limit is an error", async () => {
  const device = await gpu();
  const kernel = await axpy(device);
  const x = await toDevice(randomTensor([65], 4), device);
  const u = axpyUniforms(65, 1);
  for (const workgroups of [70000, [70000, 1, 1], [1, 1, 65536]] as const) {
    await isolated(
      device,
      () => kernel.run([x, x], { outputs: [[65]], workgroups, uniforms: u }),
      (e) =>
        e instanceof DeviceLimitError &&
        /^axpy\.wgsl: workgroups .*maxComputeWorkgroupsPerDimension of 65535/.test(e.message),
    );
  }
  await isolated(
    device,
    () => kernel.run([x, x], { outputs: [[65]], workgroups: 1.5, uniforms: u }),
    (e) => e instanceof ArgumentError && /workgroups must be a whole number/.test(e.message),
  );
  await isolated(
    device,
    () => kernel.run([x, x], { outputs: [[65]], workgroups: [0, 1, 1], uniforms: u }),
    (e) => e instanceof ArgumentError && /would leave the outputs unwritten/.test(e.message),
  );
  x.dispose();
});

Deno.test("a declared input the entry point never reads is still bound", async () => {
  const device = await gpu();
  const kernel = await compileKernel(device, {
    name: "ignores_y.wgsl",
    code: `@group(0) @binding(0) var<storage, read> x: array<f32>;
      @group(0) @binding(1) var<storage, read> unused: array<f32>;
      @group(0) @binding(2) var<storage, read_write> y: array<f32>;
      @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3<u32>) {
        if (id.x < arrayLength(&y)) { y[id.x] = x[id.x] + 1.0; }
      }`,
  });
  for (const n of [1, 7, 257]) {
    const x = await toDevice(randomTensor([n], 5), device);
    const [y] = kernel.run([x, x], { outputs: [[n]], workgroups: Math.ceil(n / 64) });
    const [xs, ys] = [await x.data(), await y.data()];
    for (let i = 0; i < n; i++) assert.equal(ys[i], Math.fround(xs[i] + 1));
    dispose([x, y]);
  }
});

Deno.test("elements a kernel leaves unwritten are zeros, never a pooled buffer's old values", async () => {
  const device = await gpu();
  const half = await compileKernel(device, {
    name: "first_half.wgsl",
    code: `@group(0) @binding(0) var<storage, read> x: array<f32>;
      @group(0) @binding(1) var<storage, read_write> y: array<f32>;
      @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3<u32>) {
        if (id.x < 65u) { y[id.x] = x[id.x]; } // arrayLength counts the padded allocation
      }`,
  });
  const x = await toDevice(randomTensor([130], 7), device);
  // Leave a 130-float buffer full of values in the pool.
  const [full] = (await double(device)).run([x], { outputs: [[130]], workgroups: 3 });
  await full.data();
  full.dispose();
  const [y] = half.run([x], { outputs: [[130]], workgroups: 3 });
  const [xs, ys] = [await x.data(), await y.data()];
  for (let i = 0; i < 130; i++) assert.equal(ys[i], i < 65 ? xs[i] : 0);
  dispose([x, y]);
});

Deno.test("compileKernel rejects declarations it cannot bind, naming the kernel", async () => {
  const device = await gpu();
  await assert.rejects(
    () =>
      compileKernel(device, {
        name: "gap.wgsl",
        code: `@group(0) @binding(0) var<storage, read> x: array<f32>;
          @group(0) @binding(2) var<storage, read_write> y: array<f32>;
          @compute @workgroup_size(1) fn main() { y[0] = x[0]; }`,
      }),
    (e: Error) => e instanceof ArgumentError && /gap\.wgsl declares bindings 0, 2/.test(e.message),
  );
  await assert.rejects(
    () =>
      compileKernel(device, {
        name: "order.wgsl",
        code: `@group(0) @binding(0) var<storage, read_write> y: array<f32>;
          @group(0) @binding(1) var<storage, read> x: array<f32>;
          @compute @workgroup_size(1) fn main() { y[0] = x[0]; }`,
      }),
    (e: Error) =>
      e instanceof ArgumentError && /order\.wgsl declares x .* out of order/.test(e.message),
  );
});

Deno.test("inside valueAndGrad a custom kernel needs a backward, and uses it", async () => {
  const device = await gpu();
  const kernel = await double(device);
  const w = await toDevice(randomTensor([17], 6), device);
  const run = (p: { w: Tensor }, backward?: boolean) => {
    const [y] = kernel.run([p.w], {
      outputs: [p.w.shape],
      workgroups: 1,
      // d(2w)/dw = 2: the kernel itself computes the backward.
      backward: backward
        ? (g) => kernel.run([g], { outputs: [g.shape], workgroups: 1 })
        : undefined,
    });
    return sum(y);
  };
  const before = gpuStats(device).buffersInUse;
  assert.throws(
    () => valueAndGrad((p: { w: Tensor }) => run(p))({ w }),
    (e: Error) =>
      e instanceof ArgumentError &&
      /^double\.wgsl: valueAndGrad needs the gradient through this custom kernel's outputs\[0\]/
        .test(
          e.message,
        ),
  );
  assert.equal(gpuStats(device).buffersInUse, before, "the failed trace leaked nothing");
  const { value, grads } = valueAndGrad((p: { w: Tensor }) => run(p, true))({ w });
  assert.deepEqual([...await grads.w.data()], new Array(17).fill(2));
  const ws = await w.data();
  const expected = [...ws].reduce((a, b) => a + 2 * b, 0);
  assert.ok(Math.abs((await value.data())[0] - expected) < 1e-4);
  dispose([value, grads, w]);
});
