// Training utilities on webgpu: clipGradNorm against the cpu path and
// PyTorch, batches created on the device, and the tiny GPT's 20 AdamW steps
// (warmup, cosine, clipping, weight decay) against PyTorch's trajectory,
// with a save/load resume in the middle.

import assert from "node:assert/strict";
import {
  batches,
  clipGradNorm,
  dispose,
  gpuStats,
  loadOptimizerState,
  loadStateDict,
  optimizerStateDict,
  safetensorsToStateDict,
  splitStateDict,
  stateDict,
  stateDictToSafetensors,
  type Tensor,
  toDevice,
  tokenDataset,
  treeLeaves,
} from "../../mod.ts";
import { bits, gpu, randomTensor } from "../helpers.ts";
import {
  assertCloseNan,
  clipCases,
  decode,
  fixtureBatch,
  fixtureGpt,
  fixtureOptimizer,
  gptTrain,
  type Run,
  trainStep,
} from "../train_gpt_cases.ts";

Deno.test("webgpu clipGradNorm matches PyTorch (norms 1, 2, 3, inf; NaN, inf) without readback", async () => {
  const device = await gpu();
  for (const c of clipCases) {
    const grads = await toDevice(c.grads.map(decode), device);
    const { grads: clipped, totalNorm } = clipGradNorm(grads, c.maxNorm, {
      normType: Number(c.normType),
    });
    assert.equal(totalNorm.device, device);
    await assertCloseNan(totalNorm, { shape: [], data: [c.totalNorm] }, 1e-6, 0, c.name);
    for (let i = 0; i < clipped.length; i++) {
      await assertCloseNan(clipped[i], c.clipped[i], 1e-6, 1e-7, `${c.name}: grads[${i}]`);
    }
    dispose([grads, clipped, totalNorm]);
  }
});

Deno.test("webgpu clipGradNorm equals the cpu path on awkward sizes", async () => {
  const device = await gpu();
  const sizes = [[1], [3], [7, 17], [65], [257, 3], [1025]];
  const cpuGrads = sizes.map((s, i) => randomTensor(s, 40 + i));
  const gpuGrads = await toDevice(cpuGrads, device);
  const before = gpuStats(device).buffersInUse;
  for (const normType of [2, Infinity, 3]) {
    const a = clipGradNorm(cpuGrads, 3, { normType });
    const b = clipGradNorm(gpuGrads, 3, { normType });
    await assertCloseNan(
      b.totalNorm,
      { shape: [], data: [...await a.totalNorm.data()] },
      1e-6,
      0,
      "total",
    );
    for (let i = 0; i < sizes.length; i++) {
      await assertCloseNan(
        b.grads[i],
        { shape: sizes[i], data: [...await a.grads[i].data()] },
        1e-6,
        1e-7,
        `grads[${i}]`,
      );
    }
    dispose([a, b]);
  }
  assert.equal(gpuStats(device).buffersInUse, before, "clipGradNorm frees its intermediates");
  dispose([cpuGrads, gpuGrads]);
});

Deno.test("webgpu batches: int32 windows created on the device", async () => {
  const device = await gpu();
  const ds = tokenDataset([5, 1, 4, 1, 5, 9, 2, 6, 5, 3], { contextLength: 3, stride: 2 });
  const all = [...batches(ds, { batchSize: 3, device })];
  assert.equal(all.length, 2);
  assert.equal(all[0].inputs.device, device);
  assert.equal(all[0].targets.dtype, "int32");
  assert.deepEqual(await all[0].inputs.toArray(), [[5, 1, 4], [4, 1, 5], [5, 9, 2]]);
  assert.deepEqual(await all[1].targets.toArray(), [[6, 5, 3]]);
  dispose(all);
});

Deno.test("webgpu: 20 AdamW steps of a tiny GPT follow PyTorch, resumed after 10 from safetensors", async () => {
  const device = await gpu();
  const optimizer = fixtureOptimizer();
  const model = await toDevice(await fixtureGpt(), device);
  let run: Run = { model, state: optimizer.init(model.params) };
  const losses: number[] = [];
  for (let i = 0; i < gptTrain.steps.length; i++) {
    if (i === 10) {
      // Save model + optimizer in one file, load into fresh objects on the device.
      const bytes = await stateDictToSafetensors(
        new Map([...stateDict(run.model), ...optimizerStateDict(run.state)]),
      );
      const { prefixed, rest } = splitStateDict(safetensorsToStateDict(bytes, device));
      const template = optimizer.init(run.model.params);
      const state = await loadOptimizerState(template, prefixed);
      const { module } = await loadStateDict(run.model, rest);
      dispose([template, run.state, run.model]);
      run = { model: module, state };
      assert.equal(run.state.step, 10);
    }
    const { inputs, targets } = fixtureBatch(i);
    const [x, y] = await toDevice([inputs, targets], device);
    const { loss, totalNorm } = trainStep(run, optimizer, x, y);
    const [l] = await loss.data();
    const [n] = await totalNorm.data();
    const want = gptTrain.steps[i];
    losses.push(l);
    assert.ok(Math.abs(l - want.loss) <= 1e-4 * want.loss, `step ${i} loss ${l} vs ${want.loss}`);
    assert.ok(Math.abs(n - want.totalNorm) <= 1e-4 * want.totalNorm, `step ${i} norm ${n}`);
    dispose([loss, totalNorm, inputs, targets, x, y]);
  }
  // The same 20 steps straight through: the resumed run is bitwise the same.
  const straight = await toDevice(await fixtureGpt(), device);
  const other: Run = { model: straight, state: optimizer.init(straight.params) };
  for (let i = 0; i < gptTrain.steps.length; i++) {
    const { inputs, targets } = fixtureBatch(i);
    const [x, y] = await toDevice([inputs, targets], device);
    const { loss, totalNorm } = trainStep(other, optimizer, x, y);
    if (i === gptTrain.steps.length - 1) {
      assert.equal((await loss.data())[0], losses[i], "last loss, straight vs resumed");
    }
    dispose([loss, totalNorm, inputs, targets, x, y]);
  }
  const resumedLeaves = [...treeLeaves(run.model.params)];
  for (const [path, t] of treeLeaves(other.model.params)) {
    const mine = resumedLeaves.find(([p]) => p === path)![1];
    assert.deepEqual(bits(await mine.data()), bits(await t.data()), path);
  }
  dispose([run.model, run.state, other.model, other.state]);
});

export type { Tensor };
