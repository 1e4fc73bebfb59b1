// Training utilities on cpu against PyTorch 1.13 (fixtures from
// scripts/gen_train_gpt_fixtures.py): clipGradNorm, learning-rate schedules,
// optimizer state save/load with a bitwise resume, the GPTDatasetV1 loader,
// and 20 AdamW steps of a tiny GPT.

import assert from "node:assert/strict";
import {
  adamw,
  ArgumentError,
  assertClose,
  batches,
  clipGradNorm,
  constantLr,
  cosineDecay,
  dispose,
  Generator,
  linearWarmup,
  loadOptimizerState,
  loadStateDict,
  type LrSchedule,
  manualSeed,
  type Optimizer,
  optimizerStateDict,
  reshape,
  safetensorsToStateDict,
  sgd,
  splitStateDict,
  stateDict,
  stateDictToSafetensors,
  type Tensor,
  tensor,
  tokenDataset,
  treeLeaves,
  warmupCosine,
} from "../mod.ts";
import {
  assertCloseNan,
  clipCases,
  decode,
  fixtureBatch,
  fixtureGpt,
  fixtureOptimizer,
  gptTrain,
  loaderCases,
  type Run,
  trainStep,
} from "./train_gpt_cases.ts";
import { bits } from "./helpers.ts";

Deno.test("clipGradNorm matches torch.nn.utils.clip_grad_norm_ (norms 1, 2, 3, inf; NaN, inf)", async () => {
  for (const c of clipCases) {
    const grads = c.grads.map(decode);
    const normType = Number(c.normType);
    const { grads: clipped, totalNorm } = clipGradNorm(grads, c.maxNorm, { normType });
    const expected = Number(c.totalNorm);
    const [total] = await totalNorm.data();
    if (Number.isNaN(expected)) assert.ok(Number.isNaN(total), c.name);
    else {
      assert.ok(
        total === expected || Math.abs(total - expected) <= 1e-6 * Math.abs(expected),
        `${c.name}: ${total}`,
      );
    }
    for (let i = 0; i < clipped.length; i++) {
      await assertCloseNan(clipped[i], c.clipped[i], 1e-6, 1e-7, `${c.name}: grads[${i}]`);
    }
    dispose([grads, clipped, totalNorm]);
  }
});

Deno.test("clipGradNorm keeps the tree, never disposes its input, and checks its arguments", async () => {
  const grads = { a: { w: tensor([3, 0]) }, b: [tensor([[4]])], note: "kept" };
  const r = clipGradNorm(grads, 10);
  assert.equal(r.grads.note, "kept");
  assert.deepEqual(await r.grads.a.w.toArray(), [3, 0]); // coef clamped to 1
  assert.deepEqual(await r.grads.b[0].toArray(), [[4]]);
  assert.notEqual(r.grads.a.w, grads.a.w);
  assert.ok(!grads.a.w.isDisposed);
  // One storage at two paths (a tied weight) counts once, as in PyTorch.
  const shared = reshape(grads.a.w, [2]);
  const tied = clipGradNorm({ x: grads.a.w, y: shared, z: grads.b[0] }, 10);
  assert.equal((await tied.totalNorm.data())[0], 5);
  dispose([shared, tied]);
  const empty = clipGradNorm({}, 1);
  assert.deepEqual(await empty.totalNorm.toArray(), 0);
  const checked = await clipGradNorm(grads, 1, { errorIfNonfinite: true });
  assert.equal((await checked.totalNorm.data())[0], 5);
  await assert.rejects(
    () => clipGradNorm({ w: tensor([NaN, 1]) }, 1, { errorIfNonfinite: true }),
    (e: Error) =>
      e instanceof ArgumentError &&
      /clipGradNorm: the total norm of order 2 .* is NaN/.test(e.message),
  );
  assert.throws(() => clipGradNorm(grads, -1), /clipGradNorm: maxNorm must be a number >= 0/);
  assert.throws(() => clipGradNorm(grads, 1, { normType: 0 }), /normType must be a number > 0/);
  assert.throws(
    () => clipGradNorm({ w: tensor([1], undefined, { dtype: "int32" }) }, 1),
    /clipGradNorm: grads.w has dtype int32/,
  );
  dispose([grads, r, empty, checked]);
});

Deno.test("warmupCosine gives the book's appendix-D learning rates", () => {
  const lr = warmupCosine(gptTrain.schedule);
  gptTrain.steps.forEach((s, i) => {
    assert.ok(Math.abs(lr(i) - s.lr) <= 1e-15 * s.lr, `step ${i}: ${lr(i)} vs ${s.lr}`);
  });
  assert.equal(lr(1000), gptTrain.schedule.minLr); // held after totalSteps
  assert.throws(() => lr(-1), /warmupCosine: step must be a whole number >= 0/);
  assert.throws(
    () => warmupCosine({ peakLr: 1, warmupSteps: 5, totalSteps: 5 }),
    /totalSteps must be greater than warmupSteps/,
  );
});

Deno.test("linearWarmup, cosineDecay and constantLr", () => {
  const warm = linearWarmup({ peakLr: 0.01, warmupSteps: 4, initialLr: 0.002 });
  assert.deepEqual([0, 2, 4, 100].map(warm), [0.002, 0.006, 0.01, 0.01]);
  assert.equal(linearWarmup({ peakLr: 0.5, warmupSteps: 0 })(0), 0.5);
  const decay = cosineDecay({ peakLr: 1, decaySteps: 10, minLr: 0.1 });
  assert.equal(decay(0), 1);
  assert.ok(Math.abs(decay(5) - 0.55) < 1e-15);
  assert.ok(Math.abs(decay(10) - 0.1) < 1e-15);
  assert.equal(decay(11), decay(10));
  assert.equal(constantLr(3)(7), 3);
  assert.throws(() => constantLr(-1), /constantLr: lr must be >= 0, but got -1/);
  assert.throws(() => cosineDecay({ peakLr: 1, decaySteps: 0 }), /decaySteps must be >= 1/);
});

Deno.test("adamw and sgd take a schedule as lr, called with state.step", async () => {
  const seen: number[] = [];
  const schedule = (step: number) => (seen.push(step), 0.1 / (step + 1));
  const makers: ((lr: number | LrSchedule) => Optimizer<object>)[] = [
    (lr) => adamw({ lr }),
    (lr) => sgd({ lr, momentum: 0.9 }),
  ];
  for (const make of makers) {
    let params = { w: tensor([1, -2, 3]) };
    const scheduled = make(schedule);
    let state = scheduled.init(params);
    let reference = params;
    let refState = state;
    for (let i = 0; i < 3; i++) {
      const g = { w: tensor([0.5, -1, 2 + i]) };
      const a = scheduled.update(g, state, params);
      const b = make(0.1 / (i + 1)).update(g, refState, reference);
      assert.deepEqual(bits(await a.params.w.data()), bits(await b.params.w.data()));
      ({ params, state } = a);
      ({ params: reference, state: refState } = b);
    }
  }
  assert.deepEqual(seen, [0, 1, 2, 0, 1, 2]);
  const bad = adamw({ lr: () => NaN });
  const p = { w: tensor([1]) };
  assert.throws(
    () => bad.update(p, bad.init(p), p),
    /adamw.update: the learning rate of step 0 must be a finite number >= 0/,
  );
  assert.throws(() => adamw({ lr: -1 }), /adamw: lr must be >= 0, but got -1/);
});

Deno.test("optimizer state round-trips through safetensors with the model", async () => {
  const opt = sgd({ lr: 0.1, momentum: 0.9 });
  const params = { w: tensor([[1, 2], [3, 4]]), layers: [{ b: tensor([5]) }] };
  const { state } = opt.update(
    { w: tensor([[1, 1], [1, 1]]), layers: [{ b: tensor([2]) }] },
    opt.init(params),
    params,
  );
  const dict = optimizerStateDict(state);
  assert.deepEqual([...dict.keys()], [
    "optimizer.step",
    "optimizer.momentum_buffer.w",
    "optimizer.momentum_buffer.layers.0.b",
  ]);
  const bytes = await stateDictToSafetensors(new Map([["w", params.w], ...dict]));
  const loaded = safetensorsToStateDict(bytes);
  const { prefixed, rest } = splitStateDict(loaded);
  assert.deepEqual([...rest.keys()], ["w"]);
  const back = await loadOptimizerState(opt.init(params), loaded);
  assert.equal(back.step, 1);
  const momentum = back.momentum as typeof params;
  assert.deepEqual(await momentum.layers[0].b.toArray(), [2]);
  assert.equal(prefixed.size, 3);
  // Problems are listed together, before anything is loaded.
  loaded.delete("optimizer.momentum_buffer.w");
  loaded.set("optimizer.extra", tensor([1]));
  await assert.rejects(
    () => loadOptimizerState(opt.init(params), loaded),
    (e: Error) =>
      e instanceof ArgumentError && /2 problems/.test(e.message) &&
      /missing key "optimizer.momentum_buffer.w"/.test(e.message) &&
      /unexpected key "optimizer.extra"/.test(e.message),
  );
  loaded.set("optimizer.momentum_buffer.w", tensor([1, 2]));
  loaded.delete("optimizer.extra");
  await assert.rejects(
    () => loadOptimizerState(opt.init(params), loaded),
    /size mismatch for optimizer.momentum_buffer.w: the dict's tensor has shape \[2\]/,
  );
});

async function paramBits(run: Run): Promise<Map<string, Uint32Array>> {
  const out = new Map<string, Uint32Array>();
  for (const [path, t] of treeLeaves(run.model.params)) out.set(path, bits(await t.data()));
  return out;
}

Deno.test("resume: 10 steps, save, load into fresh objects, 10 more = 20 straight (bitwise)", async () => {
  const optimizer = fixtureOptimizer();
  const fresh = async (): Promise<Run> => {
    const model = await fixtureGpt();
    return { model, state: optimizer.init(model.params) };
  };
  const losses = async (run: Run, from: number, to: number) => {
    const out: number[] = [];
    for (let i = from; i < to; i++) {
      const { inputs, targets } = fixtureBatch(i);
      const { loss, totalNorm } = trainStep(run, optimizer, inputs, targets);
      out.push((await loss.data())[0]);
      dispose([loss, totalNorm, inputs, targets]);
    }
    return out;
  };
  const straight = await fresh();
  const straightLosses = await losses(straight, 0, 20);

  const first = await fresh();
  const firstLosses = await losses(first, 0, 10);
  const bytes = await stateDictToSafetensors(
    new Map([...stateDict(first.model), ...optimizerStateDict(first.state)]),
  );
  const saved = safetensorsToStateDict(bytes);
  const { prefixed, rest } = splitStateDict(saved);
  const resumed = await fresh();
  const template = resumed.state;
  resumed.state = await loadOptimizerState(template, prefixed);
  dispose(template);
  const oldModel = resumed.model;
  resumed.model = (await loadStateDict(oldModel, rest)).module;
  dispose(oldModel.params);
  assert.equal(resumed.state.step, 10);
  const secondLosses = await losses(resumed, 10, 20);

  assert.deepEqual(
    bits(new Float32Array([...firstLosses, ...secondLosses])),
    bits(new Float32Array(straightLosses)),
  );
  assert.deepEqual(await paramBits(resumed), await paramBits(straight));
  for (const [path, t] of treeLeaves(resumed.state.expAvgSq)) {
    const other = [...treeLeaves(straight.state.expAvgSq)].find(([p]) => p === path)![1];
    assert.deepEqual(bits(await t.data()), bits(await other.data()), path);
  }
});

Deno.test("20 AdamW steps of a tiny GPT (warmup, cosine, clipping, weight decay) follow PyTorch", async () => {
  const optimizer = fixtureOptimizer();
  const model = await fixtureGpt();
  const run: Run = { model, state: optimizer.init(model.params) };
  for (let i = 0; i < gptTrain.steps.length; i++) {
    const { inputs, targets } = fixtureBatch(i);
    const { loss, totalNorm } = trainStep(run, optimizer, inputs, targets);
    const [l] = await loss.data();
    const [n] = await totalNorm.data();
    const want = gptTrain.steps[i];
    assert.ok(Math.abs(l - want.loss) <= 1e-4 * want.loss, `step ${i} loss ${l} vs ${want.loss}`);
    assert.ok(
      Math.abs(n - want.totalNorm) <= 1e-4 * want.totalNorm,
      `step ${i} total norm ${n} vs ${want.totalNorm}`,
    );
    dispose([loss, totalNorm, inputs, targets]);
  }
  await assertClose(
    run.model.params.out_head.weight,
    decode(gptTrain.finalOutHead["out_head.weight"]),
    {
      rtol: 1e-4,
      atol: 1e-5,
    },
  );
});

Deno.test("tokenDataset equals the book's GPTDatasetV1", () => {
  for (const d of loaderCases.datasets) {
    const ds = tokenDataset(loaderCases.ids, { contextLength: d.contextLength, stride: d.stride });
    assert.equal(ds.length, d.inputs.length, `${d.contextLength}/${d.stride}`);
    for (let i = 0; i < ds.length; i++) {
      const w = ds.window(i);
      assert.deepEqual([...w.input], d.inputs[i]);
      assert.deepEqual([...w.target], d.targets[i]);
    }
  }
  assert.equal(tokenDataset([1, 2, 3], { contextLength: 3 }).length, 0);
  assert.throws(() => tokenDataset([1.5], { contextLength: 1 }), /ids\[0\] must be a whole number/);
  assert.throws(() => tokenDataset([1], { contextLength: 0 }), /contextLength must be a whole/);
  assert.throws(() => tokenDataset([1, 2], { contextLength: 1 }).window(1), /index must be/);
});

async function epoch(ds: ReturnType<typeof tokenDataset>, options: Parameters<typeof batches>[1]) {
  const out: number[][][] = [];
  for (const { inputs, targets } of batches(ds, options)) {
    assert.equal(inputs.dtype, "int32");
    assert.deepEqual(targets.shape, inputs.shape);
    out.push(await inputs.toArray() as number[][]);
    dispose([inputs, targets]);
  }
  return out;
}

Deno.test("batches shuffles like torch's DataLoader with a seeded generator", async () => {
  const ds = tokenDataset(loaderCases.ids, { contextLength: 4, stride: 1 });
  for (const c of loaderCases.loaders) {
    const generator = new Generator(c.seed);
    const options = { batchSize: c.batchSize, shuffle: true, dropLast: c.dropLast, generator };
    for (const expected of c.epochs) assert.deepEqual(await epoch(ds, options), expected);
  }
  manualSeed(loaderCases.global.seed);
  for (const expected of loaderCases.global.epochs) {
    assert.deepEqual(
      await epoch(ds, { batchSize: loaderCases.global.batchSize, shuffle: true }),
      expected,
    );
  }
  const inOrder = await epoch(ds, { batchSize: 10, dropLast: true });
  assert.equal(inOrder.length, 3);
  assert.deepEqual(inOrder[0][1], loaderCases.datasets[1].inputs[1]);
  assert.throws(
    () => batches(ds, { batchSize: 0 }),
    /batches: batchSize must be a whole number >= 1/,
  );
});

// Keeps the type import used when the file is read alone.
export type { Tensor };
