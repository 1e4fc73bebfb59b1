// Training end to end on webgpu: the tiny next-token model (see
// training_helpers.ts) trained with valueAndGrad + adamw. The loss falls,
// every parameter moves, the mask buffer stays bitwise the same, memory is
// flat across steps, and a step is one submit (at the loss readback) or none.

import assert from "node:assert/strict";
import {
  adamw,
  dispose,
  gpuStats,
  type HostArray,
  manualSeed,
  nn,
  type Tensor,
  toDevice,
  treeLeaves,
  valueAndGrad,
} from "../../mod.ts";
import { bits, gpu } from "../helpers.ts";
import { periodicBatch, tinyLoss, type TinyParams } from "../training_helpers.ts";

const VOCAB = 5;
const TOKENS = 7;
const DIM = 9;

function initTiny(): { params: TinyParams; mask: Tensor } {
  manualSeed(3);
  const embed = nn.linear.init({ inFeatures: VOCAB, outFeatures: DIM, bias: false });
  const attention = nn.causalAttention.init({
    dIn: DIM,
    dOut: DIM,
    contextLength: TOKENS + 2,
    dropout: 0.1,
    qkvBias: true,
  });
  const head = nn.linear.init({ inFeatures: DIM, outFeatures: VOCAB });
  return {
    params: {
      embed: { weight: embed.params.weight },
      attention: attention.params,
      head: { weight: head.params.weight, bias: head.params.bias! },
    },
    mask: attention.buffers.mask,
  };
}

Deno.test("training on webgpu: loss falls, params move, buffers do not, one submit per step", async () => {
  const device = await gpu();
  const model = await toDevice(initTiny(), device);
  const batch = await toDevice(periodicBatch(VOCAB, TOKENS, [0, 1, 2, 3, 4, 2]), device);
  const initial = new Map<string, HostArray>();
  for (const [path, t] of treeLeaves(model.params)) initial.set(path, await t.data());
  const maskBits = bits(await model.mask.data());

  const optimizer = adamw({ lr: 0.02 });
  const lossAndGrads = valueAndGrad(tinyLoss);
  let params = model.params;
  let state = optimizer.init(params);
  const run = (stepIndex: number): Tensor => {
    const { value, grads } = lossAndGrads(params, model.mask, batch.oneHot, batch.targets, {
      dropout: 0.1,
      training: true,
      seed: stepIndex,
    });
    const next = optimizer.update(grads, state, params);
    dispose([grads, state, params]);
    ({ params, state } = next);
    return value;
  };

  const losses: number[] = [];
  const inUse: number[] = [];
  for (let step = 0; step < 30; step++) {
    const before = gpuStats(device);
    const value = run(step);
    assert.equal(gpuStats(device).submits - before.submits, 0, `step ${step}: submitted early`);
    losses.push((await value.data())[0]);
    value.dispose();
    const after = gpuStats(device);
    assert.equal(after.submits - before.submits, 1, `step ${step}: submits`);
    assert.equal(after.readbacks - before.readbacks, 1, `step ${step}: readbacks`);
    inUse.push(after.buffersInUse);
  }
  // Params, two moments per param and the data: the same buffers every step.
  assert.deepEqual(inUse.slice(1), new Array(inUse.length - 1).fill(inUse[0]));

  // Steps whose loss is not read record work but never wait on the device.
  const quiet = gpuStats(device);
  for (let step = 30; step < 33; step++) run(step).dispose();
  assert.equal(gpuStats(device).readbacks - quiet.readbacks, 0);
  assert.equal(gpuStats(device).buffersInUse, inUse[0]);

  const chance = Math.log(VOCAB);
  assert.ok(Math.abs(losses[0] - chance) < 0.3, `first loss ${losses[0]} is not near chance`);
  const lastFive = losses.slice(-5).reduce((a, b) => a + b, 0) / 5;
  assert.ok(lastFive < 0.25 * losses[0], `loss did not fall: ${losses.map((l) => l.toFixed(3))}`);
  for (const [path, t] of treeLeaves(params)) {
    const before = initial.get(path)!;
    const after = await t.data();
    assert.ok(after.some((v, i) => v !== before[i]), `${path} did not move`);
  }
  assert.deepEqual(bits(await model.mask.data()), maskBits);
  dispose([params, state, model.mask, batch]);
});
