// The WebGPU runtime: pipeline shape through counters, 2-D dispatch folding,
// determinism, causality, bounds of output writes, WGSL errors and device loss.

import assert from "node:assert/strict";
import {
  add,
  compileKernel,
  DeviceLostError,
  dispose,
  GpuError,
  gpuStats,
  nn,
  scale,
  softmax,
  tensor,
  toDevice,
  webgpu,
} from "../../mod.ts";
import { runtimeOf } from "../../src/device.ts";
import { gpuBuffer } from "../../src/tensor.ts";
import { planGrid } from "../../src/gpu/dispatch_plan.ts";
import { bits, gpu, randomData, randomTensor } from "../helpers.ts";

const config = { dIn: 5, dOut: 3, contextLength: 9, dropout: 0, qkvBias: true };

Deno.test("one attention forward is one submit; later forwards compile and allocate nothing", async () => {
  const device = await gpu();
  const m = await toDevice(nn.causalAttention.init(config), device);
  const x = await toDevice(randomTensor([2, 7, 5], 1), device);
  const warm = nn.causalAttention.apply(m, x);
  await warm.data();
  warm.dispose();
  const before = gpuStats(device);
  const out = nn.causalAttention.apply(m, x);
  const recorded = gpuStats(device);
  assert.equal(recorded.submits, before.submits, "nothing is submitted before readback");
  await out.data();
  const after = gpuStats(device);
  assert.equal(after.submits - before.submits, 1);
  assert.equal(after.pipelinesCompiled, before.pipelinesCompiled);
  assert.equal(after.buffersCreated, before.buffersCreated);
  assert.equal(after.uniformBuffersCreated, before.uniformBuffersCreated);
  out.dispose();
  for (let i = 0; i < 100; i++) nn.causalAttention.apply(m, x).dispose();
  await scale(x, 1).data();
  const end = gpuStats(device);
  assert.equal(end.buffersInUse, before.buffersInUse + 1, "only the scale output is live");
  // The scale output may find a buffer of its size that earlier tests pooled.
  assert.ok(end.buffersCreated - before.buffersCreated <= 1, "at most the scale output");
  dispose([m, x]);
});

Deno.test("planGrid folds large launches into 2-D grids", () => {
  assert.deepEqual(planGrid(10, 65535), [10, 1]);
  assert.deepEqual(planGrid(65536, 65535), [32768, 2]);
  assert.deepEqual(planGrid(7, 3), [3, 3]);
  assert.throws(() => planGrid(10, 3), /more than 3\^2 workgroups/);
});

Deno.test("dispatch folding under a lowered limit gives the same results", async () => {
  const device = await gpu();
  const runtime = runtimeOf(device);
  const x = randomTensor([37, 300], 5); // 11100 elements: 44 elementwise workgroups
  const y = randomTensor([300], 6);
  const [gx, gy] = [await toDevice(x, device), await toDevice(y, device)];
  const normal = [await add(gx, gy).data(), await softmax(gx).data()];
  const saved = runtime.maxWorkgroupsPerDimension;
  runtime.maxWorkgroupsPerDimension = 7; // 44 -> 7 x 7, 37 rows -> 7 x 6
  try {
    const folded = [await add(gx, gy).data(), await softmax(gx).data()];
    assert.deepEqual(bits(folded[0]), bits(normal[0]));
    assert.deepEqual(bits(folded[1]), bits(normal[1]));
  } finally {
    runtime.maxWorkgroupsPerDimension = saved;
  }
});

Deno.test("ten forwards on one device are bitwise identical", async () => {
  const device = await gpu();
  const m = await toDevice(nn.causalAttention.init({ ...config, contextLength: 70 }), device);
  const x = await toDevice(randomTensor([3, 65, 5], 2), device);
  const first = bits(await nn.causalAttention.apply(m, x).data());
  for (let i = 0; i < 9; i++) {
    assert.deepEqual(bits(await nn.causalAttention.apply(m, x).data()), first);
  }
});

Deno.test("changing future tokens leaves earlier output rows bit-identical", async () => {
  const device = await gpu();
  const m = await toDevice(nn.causalAttention.init(config), device);
  const T = 8;
  const base = randomData(T * 5, 3);
  const out = async (data: Float32Array) =>
    await nn.causalAttention.apply(m, await toDevice(tensor(data, [1, T, 5]), device)).data();
  const reference = await out(base);
  for (const changed of [3, 7]) {
    const edited = base.slice();
    for (let k = changed * 5; k < T * 5; k++) edited[k] += 1.5; // tokens >= changed
    const result = await out(edited);
    const rowsBefore = changed * config.dOut;
    assert.deepEqual(bits(result.slice(0, rowsBefore)), bits(reference.slice(0, rowsBefore)));
    assert.notDeepEqual(bits(result.slice(rowsBefore)), bits(reference.slice(rowsBefore)));
  }
});

Deno.test("kernels write nothing past the end of their output", async () => {
  const device = await gpu();
  const runtime = runtimeOf(device);
  // 5 floats round up to a 32-byte allocation: fill all 8 slots with a sentinel,
  // release it to the pool, and make the next 5-element output reuse it.
  const x = await toDevice(randomTensor([5], 8), device);
  const sentinel = await toDevice(tensor(new Float32Array(8).fill(-7.5)), device);
  const handle = gpuBuffer(sentinel, "test", "sentinel")!;
  sentinel.dispose();
  await scale(await toDevice(tensor([1]), device), 1).data(); // submit: the buffer becomes reusable
  const out = softmax(x);
  assert.equal(gpuBuffer(out, "test", "out"), handle, "the output reuses the sentinel buffer");
  const raw = new Float32Array(await runtime.read("test", handle, 32));
  assert.deepEqual([...raw.slice(5)], [-7.5, -7.5, -7.5]);
  assert.ok(raw.slice(0, 5).every((v) => v > 0 && v < 1));
});

Deno.test("invalid WGSL in a user kernel reports the file and line:column", async () => {
  const device = await gpu();
  await assert.rejects(
    () =>
      compileKernel(device, {
        name: "broken.wgsl",
        code: "@compute @workgroup_size(1)\nfn main() {\n  let x: f32 = undefined_thing;\n}\n",
      }),
    (e: Error) =>
      e instanceof GpuError && /^broken\.wgsl:3:16: error: .*undefined_thing/.test(e.message),
  );
});

Deno.test("a user kernel runs over tensors in the same batch as built-in ops", async () => {
  const device = await gpu();
  const kernel = await compileKernel(device, {
    name: "axpy.wgsl",
    code: `
      struct P { n: u32, a: f32 }
      @group(0) @binding(0) var<uniform> p: P;
      @group(0) @binding(1) var<storage, read> x: array<f32>;
      @group(0) @binding(2) var<storage, read> y: array<f32>;
      @group(0) @binding(3) var<storage, read_write> out: array<f32>;
      @compute @workgroup_size(64)
      fn main(@builtin(global_invocation_id) id: vec3<u32>) {
        if (id.x < p.n) { out[id.x] = p.a * x[id.x] + y[id.x]; }
      }`,
  });
  const n = 257;
  const x = await toDevice(randomTensor([n], 10), device);
  const y = scale(await toDevice(randomTensor([n], 11), device), 2); // recorded, not yet submitted
  const uniforms = new Uint32Array(4);
  uniforms[0] = n;
  new Float32Array(uniforms.buffer)[1] = 0.5;
  const [out] = kernel.run([x, y], { outputs: [[n]], workgroups: Math.ceil(n / 64), uniforms });
  const [xs, ys, os] = [await x.data(), await y.data(), await out.data()];
  for (let i = 0; i < n; i++) assert.equal(os[i], Math.fround(Math.fround(0.5 * xs[i]) + ys[i]));
});

Deno.test("a destroyed device fails every later op and pending readbacks with DeviceLostError", async () => {
  const adapter = await navigator.gpu.requestAdapter();
  assert.ok(adapter, "a WebGPU adapter is required");
  const own = await webgpu({ device: await adapter.requestDevice() });
  const x = await toDevice(randomTensor([64, 64], 12), own);
  // A readback in flight when the device dies must settle, never hang: it
  // either completed first or rejects with DeviceLostError.
  const pending = softmax(x).data().then(() => "completed", (e: unknown) => e);
  own.gpu.destroy();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const settled = await Promise.race([
    pending,
    new Promise((resolve) => timer = setTimeout(() => resolve("hung"), 5000)),
  ]);
  clearTimeout(timer);
  assert.ok(settled === "completed" || settled instanceof DeviceLostError, String(settled));
  await own.gpu.lost;
  assert.throws(
    () => softmax(x),
    (e: Error) =>
      e instanceof DeviceLostError &&
      /softmax: the WebGPU device was lost \(reason: destroyed/.test(e.message),
  );
  await assert.rejects(() => x.data(), DeviceLostError);
  assert.notEqual(await webgpu(), own, "the default device is unaffected");
});

Deno.test("zero-size tensors move, compute and read back without dispatching", async () => {
  const device = await gpu();
  const empty = await toDevice(tensor(new Float32Array(0), [0, 3]), device);
  const before = gpuStats(device);
  const outs = [add(empty, empty), softmax(empty), scale(empty, 2)];
  for (const out of outs) {
    assert.deepEqual(out.shape, [0, 3]);
    assert.deepEqual(await out.data(), new Float32Array(0));
  }
  assert.equal(gpuStats(device).dispatches, before.dispatches);
  assert.equal(gpuStats(device).buffersInUse, before.buffersInUse);
});
