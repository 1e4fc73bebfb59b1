// sgd and adamw against torch.optim 1.13 (tests/fixtures/training.json, written
// by scripts/gen_training_fixtures.py) on cpu and webgpu, and the optimizer
// contract: pure updates, trees in and out, clear errors.

import assert from "node:assert/strict";
import {
  adamw,
  type AdamWState,
  assertClose,
  crossEntropy,
  dispose,
  gpuStats,
  nn,
  type Optimizer,
  reshape,
  sgd,
  type SgdOptions,
  type SgdState,
  ShapeError,
  type Tensor,
  tensor,
  toDevice,
  treeLeaves,
  valueAndGrad,
} from "../../mod.ts";
import fx from "../fixtures/training.json" with { type: "json" };
import { gpu } from "../helpers.ts";
import { decode, paths } from "../training_helpers.ts";
import { decode as decodeEncoded, fixtureBatch, fixtureGpt } from "../train_gpt_cases.ts";
import tied from "../fixtures/train_gpt/tied.json" with { type: "json" };

// The same float32 arithmetic as torch's CPU kernels, up to operation order
// and fused multiply-adds; one or two ULPs.
const CPU = { rtol: 1e-5, atol: 1e-6 };
const GPU = { rtol: 2e-5, atol: 1e-6 };

type Params = { w: Tensor; b: Tensor };

async function onDevice<T>(tree: T, useGpu: boolean): Promise<T> {
  return useGpu ? await toDevice(tree, await gpu()) : tree;
}

async function assertTree(actual: unknown, expected: unknown, tol: typeof CPU, what: string) {
  assert.deepEqual(paths(actual), paths(expected));
  const want = new Map(treeLeaves(expected));
  for (const [path, t] of treeLeaves(actual)) {
    await assertClose(t, want.get(path)!, tol).catch((e) => {
      throw new Error(`${what} ${path}: ${e.message}`);
    });
  }
}

for (const useGpu of [false, true]) {
  const where = useGpu ? "webgpu" : "cpu";
  const tol = useGpu ? GPU : CPU;

  fx.sgd.forEach((c, i) => {
    Deno.test(`sgd case ${i} (${JSON.stringify(c.options)}) matches torch.optim.SGD on ${where}`, async () => {
      const opt = sgd(c.options as SgdOptions);
      let params: Params = await onDevice(decode(c.params), useGpu);
      let state = opt.init(params);
      for (let step = 0; step < c.grads.length; step++) {
        const grads: Params = await onDevice(decode(c.grads[step]), useGpu);
        const next = opt.update(grads, state, params);
        await assertTree(next.params, decode(c.expected[step]), tol, `step ${step + 1}`);
        assert.equal(next.state.step, step + 1);
        dispose([grads, params, state]);
        ({ params, state } = next);
      }
      dispose([params, state]);
    });
  });

  fx.adamw.forEach((c, i) => {
    const from = c.state ? `from step ${c.state.step}` : "from a fresh state";
    Deno.test(`adamw case ${i} ${from} matches torch.optim.AdamW on ${where}`, async () => {
      const opt = adamw({ ...c.options, betas: c.options.betas as [number, number] });
      let params: Params = await onDevice(decode(c.params), useGpu);
      let state: AdamWState = c.state
        ? await onDevice(
          {
            step: c.state.step,
            expAvg: decode(c.state.expAvg),
            expAvgSq: decode(c.state.expAvgSq),
          },
          useGpu,
        )
        : opt.init(params);
      for (let step = 0; step < c.grads.length; step++) {
        const grads: Params = await onDevice(decode(c.grads[step]), useGpu);
        const next = opt.update(grads, state, params);
        const want = c.expected[step];
        await assertTree(next.params, decode(want.params), tol, `step ${want.step} params`);
        await assertTree(next.state.expAvg, decode(want.expAvg), tol, `step ${want.step} exp_avg`);
        await assertTree(
          next.state.expAvgSq,
          decode(want.expAvgSq),
          tol,
          `step ${want.step} exp_avg_sq`,
        );
        assert.equal(next.state.step, want.step);
        dispose([grads, params, state]);
        ({ params, state } = next);
      }
      dispose([params, state]);
    });
  });
}

for (const useGpu of [false, true]) {
  const where = useGpu ? "webgpu" : "cpu";
  for (const c of tied.cases) {
    Deno.test(`${c.optimizer} keeps a tied out_head.weight / tok_emb.weight one tensor and matches torch on ${where}`, async () => {
      const opt = (c.optimizer === "sgd" ? sgd(c.options) : adamw(c.options)) as Optimizer<
        unknown
      >;
      const loaded = await fixtureGpt();
      let model: nn.GptModel = await onDevice(loaded, useGpu);
      if (useGpu) dispose(loaded);
      // GPT-2's tie: the head IS the embedding (one tensor at two paths).
      model.params.out_head.weight.dispose();
      model = {
        ...model,
        params: { ...model.params, out_head: { weight: model.params.tok_emb.weight } },
      };
      const vocab = model.config.vocabSize;
      const lossOf = (params: nn.GptParams, ids: Tensor, next: Tensor) => {
        const logits = nn.gptModel.apply({ ...model, params }, ids); // [b, T, V]
        return crossEntropy(reshape(logits, [-1, vocab]), reshape(next, [-1]));
      };
      let state = opt.init(model.params);
      const sizeOf = (tree: unknown) => new Set([...treeLeaves(tree)].map(([, t]) => t)).size;
      // One state tensor per distinct parameter.
      assert.equal(sizeOf(state), sizeOf(model.params) * (c.optimizer === "sgd" ? 1 : 2));
      for (let step = 0; step < tied.steps; step++) {
        const batch = fixtureBatch(step);
        const [inputs, targets] = await onDevice([batch.inputs, batch.targets], useGpu);
        const { value, grads } = valueAndGrad(lossOf)(model.params, inputs, targets);
        const loss = (await value.data())[0];
        assert.ok(Math.abs(loss - c.losses[step]) <= 1e-5, `step ${step}: loss ${loss}`);
        const next = opt.update(grads, state, model.params);
        assert.equal(next.params.out_head.weight, next.params.tok_emb.weight);
        dispose([grads, value, state, model.params, batch, inputs, targets]);
        model = { ...model, params: next.params };
        state = next.state;
      }
      const { tok_emb, out_head, final_norm } = model.params;
      assert.equal(out_head.weight, tok_emb.weight);
      assert.equal(out_head.weight.isDisposed, false);
      const tol = { rtol: 1e-4, atol: 1e-5 };
      await assertClose(tok_emb.weight, decodeEncoded(c.tokEmb), tol);
      await assertClose(final_norm.scale, decodeEncoded(c.finalNormScale), tol);
      dispose([model, state]);
    });
  }
}

Deno.test("updates on webgpu are one kernel per parameter, with no readback or submit", async () => {
  const device = await gpu();
  const params = await toDevice(decode(fx.adamw[0].params) as Params, device);
  const grads = await toDevice(decode(fx.adamw[0].grads[0]) as Params, device);
  const optimizers: [string, Optimizer<unknown>][] = [
    ["adamw", adamw({ lr: 0.01 }) as Optimizer<unknown>],
    ["sgd with momentum", sgd({ lr: 0.1, momentum: 0.9 }) as Optimizer<unknown>],
    ["plain sgd", sgd({ lr: 0.1 }) as Optimizer<unknown>],
  ];
  for (const [name, opt] of optimizers) {
    const state = opt.init(params);
    const before = gpuStats(device);
    const next = opt.update(grads, state, params);
    const after = gpuStats(device);
    assert.equal(after.dispatches - before.dispatches, 2, name);
    assert.equal(after.readbacks - before.readbacks, 0, name);
    assert.equal(after.submits - before.submits, 0, name);
    for (const [, t] of treeLeaves(next)) assert.equal(t.device, device, name);
    dispose([state, next]);
  }
  dispose([params, grads]);
});

Deno.test("update is pure: arguments stay alive and unchanged, non-tensor leaves pass through", async () => {
  const params = { layer: { w: tensor([[1, 2, 3]]), note: "kept" }, scale: 3 };
  const grads = { layer: { w: tensor([[0.5, -1, 0.25]]), note: "kept" }, scale: 3 };
  const opt = sgd({ lr: 0.1, momentum: 0.5 });
  const state: SgdState = opt.init(params);
  const first = opt.update(grads, state, params);
  assert.deepEqual(await params.layer.w.toArray(), [[1, 2, 3]]);
  assert.deepEqual(await grads.layer.w.toArray(), [[0.5, -1, 0.25]]);
  assert.equal(first.params.layer.note, "kept");
  assert.equal(first.params.scale, 3);
  assert.notEqual(first.params.layer.w, params.layer.w);
  // PyTorch's momentum buffer starts as the first gradient (no dampening yet).
  const buffer = (first.state.momentum as typeof params).layer.w;
  assert.deepEqual(await buffer.toArray(), [[0.5, -1, 0.25]]);
  await assertClose(first.params.layer.w, [0.95, 2.1, 2.975], CPU);
});

Deno.test("mismatched trees and bad options fail with messages naming the path", () => {
  const opt = adamw({ lr: 0.01 });
  const params = { a: tensor([1, 2]), b: tensor([3]) };
  const state = opt.init(params);
  assert.throws(
    () => opt.update({ a: tensor([1, 2]) } as typeof params, state, params),
    (e: unknown) =>
      e instanceof ShapeError &&
      e.message === "adamw.update: grads has no tensor at b, but params does",
  );
  assert.throws(
    () => opt.update({ a: tensor([1, 2, 3]), b: tensor([1]) }, state, params),
    (e: unknown) =>
      e instanceof ShapeError &&
      e.message === "adamw.update: grads.a has shape [3], but params.a has shape [2]",
  );
  assert.throws(
    () => adamw({ lr: 0.01, betas: [0.9, 1] }),
    /adamw: betas\[1\] must be in \[0, 1\)/,
  );
  assert.throws(() => sgd({ lr: -1 }), /sgd: lr must be >= 0, but got -1/);
  assert.throws(
    () => sgd({ lr: 0.1, nesterov: true }),
    /sgd: Nesterov momentum requires a momentum > 0 and zero dampening/,
  );
});

Deno.test("a gradient on another device than its parameter is refused", async () => {
  const device = await gpu();
  const params = { w: await toDevice(tensor([1, 2, 3]), device) };
  const opt = sgd({ lr: 0.1 });
  assert.throws(
    () => opt.update({ w: tensor([1, 1, 1]) }, opt.init(params), params),
    /expected params\.w and grads\.w to be on the same device/,
  );
  dispose(params);
});
