// Memory a user cannot get wrong on webgpu: the README's tidy loop keeps the
// buffers in use flat over 1,000 forwards, layers and valueAndGrad free their
// intermediates (error paths included), the pool and staging caches stay
// within their bounds, the FinalizationRegistry backstop returns dropped
// tensors' buffers, and device loss gives DeviceLostError at once.

import assert from "node:assert/strict";
import {
  adamw,
  add,
  compileKernel,
  DeviceLostError,
  dispose,
  format,
  full,
  gpuStats,
  manualSeed,
  mse,
  nn,
  reshape,
  scale,
  setMaxCachedBytes,
  softmax,
  stack,
  type Tensor,
  tensor,
  tidy,
  toDevice,
  UseAfterDisposeError,
  valueAndGrad,
  webgpu,
  zeros,
} from "../../mod.ts";
import { runtimeOf } from "../../src/device.ts";
import { storageOf } from "../../src/tensor.ts";
import { gpu, randomTensor } from "../helpers.ts";

const MiB = 1024 * 1024;

Deno.test("1,000 forwards in the README's tidy loop keep buffersInUse flat", async () => {
  const device = await gpu();
  const attention = await toDevice(
    nn.causalAttention.init({ dIn: 8, dOut: 8, contextLength: 16, dropout: 0 }),
    device,
  );
  let x = await toDevice(randomTensor([2, 16, 8], 3), device);
  const start = gpuStats(device).buffersInUse;
  let peak = start;
  // The README's loop: each step's temporaries die with its scope, and the
  // step's result replaces the previous input.
  for (let step = 0; step < 1000; step++) {
    const next = tidy(() => {
      const out = nn.causalAttention.apply(attention, x); // [2, 16, 8]
      return softmax(add(out, x)); // bounded, and each step feeds the next
    });
    x.dispose();
    x = next;
    peak = Math.max(peak, gpuStats(device).buffersInUse);
    if (step % 250 === 249) await x.data(); // an occasional read, as a real loop has
  }
  const values = await x.data();
  assert.ok(values.every(Number.isFinite));
  assert.equal(gpuStats(device).buffersInUse, start, "one live input, as before the loop");
  assert.ok(
    peak <= start + 1,
    `at most the next step's input on top (peak ${peak}, start ${start})`,
  );
  dispose([attention, x]);
});

Deno.test("1,000 forwards with `using` and no manual dispose keep buffersInUse flat", async () => {
  const device = await gpu();
  const attention = await toDevice(
    nn.causalAttention.init({ dIn: 8, dOut: 8, contextLength: 16, dropout: 0 }),
    device,
  );
  const x = await toDevice(randomTensor([2, 16, 8], 4), device);
  const start = gpuStats(device).buffersInUse;
  let peak = start;
  let checksum = 0;
  for (let step = 0; step < 1000; step++) {
    // apply frees its own intermediates; `using` frees the output at the end of the body.
    using out = nn.causalAttention.apply(attention, x);
    peak = Math.max(peak, gpuStats(device).buffersInUse);
    if (step % 250 === 249) checksum += (await out.data())[0];
  }
  assert.ok(Number.isFinite(checksum));
  assert.equal(gpuStats(device).buffersInUse, start);
  assert.ok(peak <= start + 1, `one output at a time (peak ${peak}, start ${start})`);
  dispose([attention, x]);
});

for (
  const [name, options] of [["unfused", { fused: false }], ["training", {
    training: true,
  }]] as const
) {
  Deno.test(`100 ${name} forwards in a tidy loop keep buffersInUse flat`, async () => {
    const device = await gpu();
    const attention = await toDevice(
      nn.causalAttention.init({ dIn: 8, dOut: 8, contextLength: 17, dropout: 0.1 }),
      device,
    );
    let x = await toDevice(randomTensor([3, 17, 8], 15), device);
    const start = gpuStats(device).buffersInUse;
    for (let step = 0; step < 100; step++) {
      const next = tidy(() => softmax(add(nn.causalAttention.apply(attention, x, options), x)));
      x.dispose();
      x = next;
      assert.equal(gpuStats(device).buffersInUse, start, `step ${step}`);
    }
    assert.ok((await x.data()).every(Number.isFinite));
    dispose([attention, x]);
  });
}

Deno.test("the README quick start leaves nothing allocated once disposed", async () => {
  const device = await gpu();
  const before = gpuStats(device).buffersInUse;
  manualSeed(123);
  const inputs = tensor([[0.43, 0.15, 0.89], [0.55, 0.87, 0.66], [0.57, 0.85, 0.64]]);
  const batch = stack([inputs, inputs]);
  const attention = nn.causalAttention.init({ dIn: 3, dOut: 2, contextLength: 3, dropout: 0 });
  const onGpu = await toDevice(attention, device);
  const x = await toDevice(batch, device);
  const out = nn.causalAttention.apply(onGpu, x);
  assert.match(await format(out), /device='webgpu/);
  dispose([onGpu, x, out]);
  assert.equal(gpuStats(device).buffersInUse, before);
});

for (const fused of [true, false]) {
  Deno.test(`causalAttention with a disposed mask throws and leaks nothing (fused: ${fused})`, async () => {
    const device = await gpu();
    const m = await toDevice(
      nn.causalAttention.init({ dIn: 4, dOut: 4, contextLength: 7, dropout: 0 }),
      device,
    );
    const x = await toDevice(randomTensor([1, 7, 4], 4), device);
    m.buffers.mask.dispose();
    const before = gpuStats(device);
    assert.throws(
      () => nn.causalAttention.apply(m, x, { fused }),
      (e: Error) =>
        e instanceof UseAfterDisposeError &&
        /causalAttention\.apply: buffers\.mask was disposed/.test(e.message),
    );
    const after = gpuStats(device);
    assert.equal(after.buffersInUse, before.buffersInUse);
    assert.equal(after.dispatches, before.dispatches, "nothing was recorded");
    dispose([m, x]);
  });
}

Deno.test("nn.linear with a disposed bias throws before recording anything", async () => {
  const device = await gpu();
  const layer = await toDevice(nn.linear.init({ inFeatures: 3, outFeatures: 5 }), device);
  const x = await toDevice(randomTensor([4, 3], 5), device);
  layer.params.bias!.dispose();
  const before = gpuStats(device);
  assert.throws(() => nn.linear.apply(layer, x), /linear\.apply: params\.bias was disposed/);
  assert.equal(gpuStats(device).buffersInUse, before.buffersInUse);
  assert.equal(gpuStats(device).dispatches, before.dispatches);
  dispose([layer, x]);
});

Deno.test("an optimizer step with a disposed gradient throws before recording anything", async () => {
  const device = await gpu();
  const params = await toDevice({ a: randomTensor([17], 10), b: randomTensor([3], 11) }, device);
  const grads = await toDevice({ a: randomTensor([17], 12), b: randomTensor([3], 13) }, device);
  const opt = adamw({ lr: 0.1 });
  const state = opt.init(params);
  grads.b.dispose();
  const before = gpuStats(device);
  assert.throws(
    () => opt.update(grads, state, params),
    (e: Error) =>
      e instanceof UseAfterDisposeError && /adamw\.update: grads\.b was disposed/.test(e.message),
  );
  assert.equal(gpuStats(device).buffersInUse, before.buffersInUse);
  assert.equal(gpuStats(device).dispatches, before.dispatches);
  dispose([params, grads, state]);
});

Deno.test("valueAndGrad on webgpu frees zeros and full made inside the loss", async () => {
  const device = await gpu();
  const w = await toDevice(randomTensor([65], 6), device);
  const loss = (p: { w: Tensor }) => {
    const target = zeros([65], { device });
    const shift = full([65], 0.5, { device });
    return mse(add(p.w, shift), target);
  };
  const first = valueAndGrad(loss)({ w });
  dispose(first);
  const before = gpuStats(device).buffersInUse;
  const { value, grads } = valueAndGrad(loss)({ w });
  assert.equal(gpuStats(device).buffersInUse, before + 2, "only the value and one gradient");
  const [wv, g] = [await w.data(), await grads.w.data()];
  for (let i = 0; i < 65; i++) {
    assert.ok(Math.abs(g[i] - (2 * (wv[i] + 0.5)) / 65) < 1e-6);
  }
  dispose([value, grads]);
  dispose(w);
});

Deno.test("the pool stays within maxCachedBytes: 300 uploads of 1 MiB", async () => {
  const device = await gpu();
  setMaxCachedBytes(device, 8 * MiB);
  try {
    const data = new Float32Array(MiB / 4).fill(1.5);
    for (let i = 0; i < 300; i++) {
      const t = await toDevice(tensor(data, [MiB / 4]), device);
      t.dispose();
      assert.ok(gpuStats(device).bytesCached <= 8 * MiB, `after ${i + 1}: over the bound`);
    }
    // A kernel output released while its batch is still recording is held
    // until the submit, then trimmed.
    const big = await toDevice(tensor(data, [MiB / 4]), device);
    for (let i = 0; i < 20; i++) softmax(big).dispose();
    assert.ok(gpuStats(device).bytesCached <= 8 * MiB);
    const probe = softmax(big);
    assert.ok(Math.abs((await probe.data())[0] - 1 / (MiB / 4)) < 1e-9);
    dispose([big, probe]);
    assert.ok(gpuStats(device).bytesCached <= 8 * MiB);
    setMaxCachedBytes(device, 0);
    assert.equal(gpuStats(device).bytesCached, 0, "0 keeps nothing cached");
    assert.equal(gpuStats(device).buffersCached, 0);
  } finally {
    setMaxCachedBytes(device, 256 * MiB);
  }
});

Deno.test("readbacks of many distinct sizes keep at most 8 staging buffers", async () => {
  const device = await gpu();
  const x = await toDevice(randomTensor([4096], 7), device);
  const created = gpuStats(device).stagingBuffersCreated;
  for (let n = 1; n <= 4096; n = n * 2 + 1) {
    const part = await toDevice(tensor(new Float32Array(n).fill(n), [n]), device);
    assert.equal((await part.data())[n - 1], n);
    part.dispose();
  }
  assert.ok(gpuStats(device).stagingBuffersCached <= 8);
  // Power-of-two staging sizes: reading the same sizes again creates nothing.
  const again = gpuStats(device).stagingBuffersCreated;
  await x.data();
  await x.data();
  assert.ok(gpuStats(device).stagingBuffersCreated - again <= 1);
  assert.ok(again - created <= 13);
  x.dispose();
});

Deno.test("the pipeline cache keeps at most 256 pipelines, least recently used out first", async () => {
  const device = await gpu();
  const runtime = runtimeOf(device);
  const source = (k: number) => ({
    name: "constant.wgsl",
    code: `override K: f32 = 0.0;
      @group(0) @binding(0) var<storage, read_write> y: array<f32>;
      @compute @workgroup_size(1) fn main() { y[0] = K; }`,
    constants: { K: k },
  });
  const first = runtime.pipeline(source(0));
  for (let k = 1; k < 300; k++) {
    runtime.pipeline(source(k));
    if (k % 50 === 0) runtime.pipeline(source(0)); // recently used: stays
  }
  assert.equal(gpuStats(device).pipelinesCached, 256);
  const compiled = gpuStats(device).pipelinesCompiled;
  assert.equal(runtime.pipeline(source(0)), first, "kept while in use");
  runtime.pipeline(source(1));
  assert.equal(gpuStats(device).pipelinesCompiled, compiled + 1, "the oldest was evicted");
});

Deno.test("webgpu({ cacheLimits }) bounds the pipeline cache and refuses bad limits", async () => {
  const device = await gpu();
  const runtime = runtimeOf(device);
  const saved = { ...runtime.cacheLimits };
  try {
    assert.equal(await webgpu({ device: runtime.device, cacheLimits: { pipelines: 5 } }), device);
    assert.equal(runtime.cacheLimits.pipelines, 5);
    for (let k = 0; k < 12; k++) {
      runtime.pipeline({
        name: "limit.wgsl",
        code: `override K: f32 = 0.0;
          @group(0) @binding(0) var<storage, read_write> y: array<f32>;
          @compute @workgroup_size(1) fn main() { y[0] = K; }`,
        constants: { K: 1000 + k },
      });
    }
    assert.ok(gpuStats(device).pipelinesCached <= 5, `${gpuStats(device).pipelinesCached} kept`);
    await assert.rejects(
      () => webgpu({ device: runtime.device, cacheLimits: { pipelines: 0 } }),
      (e) =>
        e instanceof Error && /cacheLimits\.pipelines must be a whole number >= 1/.test(e.message),
    );
    await assert.rejects(
      () => webgpu({ device: runtime.device, cacheLimits: { pipeline: 3 } as never }),
      (e) => e instanceof Error && /unknown key "pipeline"/.test(e.message),
    );
    assert.equal(runtime.cacheLimits.pipelines, 5, "a refused call changes nothing");
  } finally {
    Object.assign(runtime.cacheLimits, saved);
  }
});

Deno.test("the backstop: dropped, undisposed GPU tensors return their buffers after GC", async () => {
  const device = await gpu();
  const x = await toDevice(randomTensor([257], 8), device);
  await x.data();
  await webgpu({ reclaimUnreachable: true }); // the suite turns the backstop off
  const before = gpuStats(device).buffersInUse;
  const reclaimed = gpuStats(device).buffersReclaimed;
  (() => {
    for (let i = 0; i < 50; i++) softmax(x); // results dropped, never disposed
  })();
  assert.equal(gpuStats(device).buffersInUse, before + 50);
  const gc = (globalThis as { gc?: () => void }).gc;
  // Finalizers run between turns after a collection; churn the young
  // generation until they have (bounded, so a broken backstop fails).
  for (let round = 0; round < 400 && gpuStats(device).buffersInUse > before; round++) {
    if (gc) gc();
    else for (let i = 0; i < 2000; i++) new Array(256).fill(i);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await webgpu({ reclaimUnreachable: false });
  // Garbage left by earlier tests may be reclaimed in the same window.
  assert.ok(gpuStats(device).buffersInUse <= before, "every dropped result was released");
  assert.ok(gpuStats(device).buffersReclaimed - reclaimed >= 50);
  x.dispose();
});

Deno.test("the backstop respects views: a collected tensor's view keeps the storage", async () => {
  const device = await gpu();
  const x = await toDevice(randomTensor([257], 14), device);
  const reference = softmax(x);
  const expected = await reference.data();
  reference.dispose();
  await webgpu({ reclaimUnreachable: true });
  try {
    let collected = false;
    const watcher = new FinalizationRegistry(() => collected = true);
    const start = gpuStats(device).buffersInUse;
    let view: Tensor | undefined;
    (() => {
      const base = softmax(x); // dropped without dispose; its view lives on
      watcher.register(base, 0);
      view = reshape(base, [1, 257]);
    })();
    assert.equal(gpuStats(device).buffersInUse, start + 1, "one buffer, two tensors");
    for (let round = 0; round < 400 && !collected; round++) {
      for (let i = 0; i < 2000; i++) new Array(256).fill(i);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assert.ok(collected, "the base tensor was collected");
    // The library's own finalizer may run a turn after the watcher's.
    const refs = () => storageOf(view!, "test", "view").refs;
    for (let turn = 0; turn < 100 && refs() > 1; turn++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    // Garbage from earlier tests may be reclaimed too, so look at the storage itself.
    assert.equal(storageOf(view!, "test", "view").refs, 1, "the view still holds the buffer");
    for (let i = 0; i < 5; i++) softmax(scale(x, 2)).dispose(); // reuse whatever the pool has
    assert.deepEqual(await view!.data(), expected);
    const held = gpuStats(device).buffersInUse;
    view!.dispose();
    assert.equal(gpuStats(device).buffersInUse, held - 1, "the last reference frees it");
  } finally {
    await webgpu({ reclaimUnreachable: false });
    x.dispose();
  }
});

Deno.test("device destroyed: an op in the same tick and a compile in flight give DeviceLostError", async () => {
  const adapter = await navigator.gpu.requestAdapter();
  assert.ok(adapter, "a WebGPU adapter is required");
  const own = await webgpu({ device: await adapter.requestDevice() });
  const x = await toDevice(randomTensor([17], 9), own);
  const compiling = compileKernel(own, {
    name: "late.wgsl",
    code: `@group(0) @binding(0) var<storage, read_write> y: array<f32>;
      @compute @workgroup_size(1) fn main() { y[0] = 1.0; }`,
  });
  own.gpu.destroy();
  assert.throws(
    () => softmax(x),
    (e: Error) =>
      e instanceof DeviceLostError && /^softmax: the WebGPU device was lost/.test(e.message),
  );
  await assert.rejects(() => toDevice(tensor([1]), own), DeviceLostError);
  await assert.rejects(() => compiling, DeviceLostError);
  await assert.rejects(() => x.data(), DeviceLostError);
});
