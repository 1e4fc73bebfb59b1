// Shared by tests/train_utils_test.ts (cpu) and tests/gpu/train_gpt_test.ts:
// the PyTorch fixtures of scripts/gen_train_gpt_fixtures.py and a training
// step of the tiny GPT (loss, gradients, clipping, AdamW with a schedule).

import {
  adamw,
  type AdamWState,
  clipGradNorm,
  crossEntropy,
  dispose,
  loadStateDict,
  nn,
  reshape,
  type Tensor,
  tensor,
  valueAndGrad,
  warmupCosine,
} from "../mod.ts";
import gptTrain from "./fixtures/train_gpt/gpt_train.json" with { type: "json" };

export { default as clipCases } from "./fixtures/train_gpt/clip.json" with { type: "json" };
export { default as loaderCases } from "./fixtures/train_gpt/loader.json" with { type: "json" };
export { gptTrain };

export interface Encoded {
  shape: number[];
  data: (number | string)[];
}

/** A fixture tensor (NaN and infinities are stored as strings). */
export function decode(e: Encoded): Tensor {
  return tensor(new Float32Array(e.data.map(Number)), e.shape);
}

/** The fixture's tiny GPT, with PyTorch's initial weights. */
export async function fixtureGpt(): Promise<nn.GptModel> {
  const c = gptTrain.config;
  const fresh = nn.gptModel.init({
    vocabSize: c.vocab_size,
    contextLength: c.context_length,
    embDim: c.emb_dim,
    nHeads: c.n_heads,
    nLayers: c.n_layers,
    dropRate: c.drop_rate,
    qkvBias: c.qkv_bias,
  });
  const dict = new Map(Object.entries(gptTrain.init).map(([k, v]) => [k, decode(v)]));
  const { module } = await loadStateDict(fresh, dict);
  dispose(fresh); // every tensor was replaced; the dict's tensors now belong to the model
  return module;
}

/** The fixture's batch of step `i` as int32 `[batch, tokens]` tensors. */
export function fixtureBatch(i: number): { inputs: Tensor; targets: Tensor } {
  const s = gptTrain.steps[i];
  const ids = (rows: number[][]) =>
    tensor(new Int32Array(rows.flat()), [rows.length, rows[0].length]);
  return { inputs: ids(s.inputs), targets: ids(s.targets) };
}

/** The fixture run's optimizer: AdamW with the appendix-D schedule. */
export function fixtureOptimizer(): ReturnType<typeof adamw> {
  return adamw({ lr: warmupCosine(gptTrain.schedule), weightDecay: gptTrain.weightDecay });
}

/** Training state of a run: the model (its params change), the optimizer state. */
export interface Run {
  model: nn.GptModel;
  state: AdamWState;
}

/**
 * One step: loss, gradients, clipGradNorm, AdamW. Disposes the old params,
 * state and every intermediate; returns the loss and total norm tensors.
 */
export function trainStep(
  run: Run,
  optimizer: ReturnType<typeof adamw>,
  inputs: Tensor,
  targets: Tensor,
): { loss: Tensor; totalNorm: Tensor } {
  const { model } = run;
  const vocab = model.config.vocabSize;
  const lossOf = (params: nn.GptParams, ids: Tensor, next: Tensor) => {
    const logits = nn.gptModel.apply({ ...model, params }, ids, { training: true }); // [b, T, V]
    const flat = reshape(logits, [-1, vocab]); // [b*T, V]
    const flatTargets = reshape(next, [-1]); // [b*T]
    return crossEntropy(flat, flatTargets);
  };
  const { value, grads } = valueAndGrad(lossOf)(model.params, inputs, targets);
  const clipped = clipGradNorm(grads, gptTrain.maxNorm);
  dispose(grads);
  const next = optimizer.update(clipped.grads, run.state, model.params);
  dispose([clipped.grads, run.state, model.params]);
  run.model = { ...model, params: next.params };
  run.state = next.state;
  return { loss: value, totalNorm: clipped.totalNorm };
}

/** Like assertClose, but NaN matches NaN (PyTorch's NaN results are part of the fixtures). */
export async function assertCloseNan(
  actual: Tensor,
  expected: Encoded,
  rtol: number,
  atol: number,
  what: string,
): Promise<void> {
  const a = await actual.data();
  const e = expected.data.map(Number);
  if (a.length !== e.length) throw new Error(`${what}: ${a.length} values, expected ${e.length}`);
  for (let i = 0; i < a.length; i++) {
    const ok = Number.isNaN(e[i])
      ? Number.isNaN(a[i])
      : a[i] === e[i] || Math.abs(a[i] - e[i]) <= atol + rtol * Math.abs(e[i]);
    if (!ok) throw new Error(`${what}[${i}]: got ${a[i]}, expected ${e[i]}`);
  }
}
