/**
 * Training a tiny next-token model built on nn.causalAttention:
 *
 *   deno run examples/train.ts
 *
 * Tokens of a periodic sequence (0, 1, ..., V-1, 0, 1, ...) arrive one-hot;
 * a linear layer embeds them, causal self-attention (with dropout while
 * training) mixes them, a residual connection keeps each token's own
 * embedding, and a linear head predicts the next token under cross-entropy.
 * Gradients come from valueAndGrad, updates from adamw; on webgpu each step
 * is recorded into one command stream and submitted once, when the loss is
 * read. The run ends by showing that the causal mask, a buffer, is bitwise
 * unchanged while every parameter moved.
 */

import {
  adamw,
  add,
  cpu,
  crossEntropy,
  type Device,
  dispose,
  gpuStats,
  type HostArray,
  linear,
  manualSeed,
  nn,
  reshape,
  type Tensor,
  tensor,
  toDevice,
  treeLeaves,
  valueAndGrad,
  webgpu,
  WebGpuUnavailableError,
} from "../mod.ts";

const VOCAB = 7;
const TOKENS = 8;
const DIM = 16;
const EPOCHS = 8;
const STEPS_PER_EPOCH = 20;

let device: Device;
try {
  device = await webgpu();
  console.log(`Training on ${device.name} (${device.adapterInfo.description || "WebGPU"})`);
} catch (error) {
  if (!(error instanceof WebGpuUnavailableError)) throw error;
  device = cpu;
  console.log(`No WebGPU adapter (${error.message}); training on cpu instead`);
}

// The model: parameters in one tree, the causal mask as the attention's buffer.
manualSeed(0);
const embed = nn.linear.init({ inFeatures: VOCAB, outFeatures: DIM, bias: false });
const attention = nn.causalAttention.init({
  dIn: DIM,
  dOut: DIM,
  contextLength: TOKENS,
  dropout: 0.1,
  qkvBias: true,
});
const head = nn.linear.init({ inFeatures: DIM, outFeatures: VOCAB });
const model = await toDevice({
  params: { embed: embed.params, attention: attention.params, head: head.params },
  buffers: attention.buffers,
}, device);
type Params = typeof model.params;

function loss(params: Params, mask: Tensor, oneHot: Tensor, targets: Tensor, seed: number) {
  const h = linear(oneHot, params.embed.weight); // [B, T, DIM]
  const attended = nn.causalAttention.forward(params.attention, mask, h, attention.config, {
    training: true,
    seed,
  });
  const logits = linear(add(h, attended), params.head.weight, params.head.bias); // [B, T, VOCAB]
  return crossEntropy(reshape(logits, [-1, VOCAB]), targets);
}

// Every window of the sequence, one per starting token: inputs and next tokens.
function batch(): { oneHot: Tensor; targets: Tensor } {
  const oneHot = new Float32Array(VOCAB * TOKENS * VOCAB);
  const targets = new Float32Array(VOCAB * TOKENS);
  for (let b = 0; b < VOCAB; b++) {
    for (let t = 0; t < TOKENS; t++) {
      oneHot[(b * TOKENS + t) * VOCAB + (b + t) % VOCAB] = 1;
      targets[b * TOKENS + t] = (b + t + 1) % VOCAB;
    }
  }
  return {
    oneHot: tensor(oneHot, [VOCAB, TOKENS, VOCAB]),
    targets: tensor(targets, [VOCAB * TOKENS]),
  };
}
const data = await toDevice(batch(), device);

const initialParams = new Map<string, HostArray>();
for (const [path, t] of treeLeaves(model.params)) initialParams.set(path, await t.data());
const maskBits = new Uint32Array((await model.buffers.mask.data()).buffer);

const optimizer = adamw({ lr: 0.03, weightDecay: 0.01 });
const step = valueAndGrad(loss);
let params = model.params;
let state = optimizer.init(params);
const started = performance.now();
const submitsBefore = device.kind === "webgpu" ? gpuStats(device).submits : 0;

console.log(`Chance level: ln(${VOCAB}) = ${Math.log(VOCAB).toFixed(4)}`);
for (let epoch = 1; epoch <= EPOCHS; epoch++) {
  let total = 0;
  for (let s = 0; s < STEPS_PER_EPOCH; s++) {
    const stepIndex = (epoch - 1) * STEPS_PER_EPOCH + s;
    const { value, grads } = step(params, model.buffers.mask, data.oneHot, data.targets, stepIndex);
    const next = optimizer.update(grads, state, params);
    // update returns new tensors; the old ones are ours to release.
    dispose([grads, state, params]);
    ({ params, state } = next);
    const lossValue = (await value.data())[0]; // the step's one submit and readback
    value.dispose();
    total += lossValue;
    if (s % 5 === 0) {
      console.log(`  step ${String(stepIndex + 1).padStart(3)}  loss ${lossValue.toFixed(4)}`);
    }
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(
    `epoch ${epoch}/${EPOCHS}: mean loss ${(total / STEPS_PER_EPOCH).toFixed(4)} (${seconds} s)`,
  );
}

const steps = EPOCHS * STEPS_PER_EPOCH;
if (device.kind === "webgpu") {
  const submits = gpuStats(device).submits - submitsBefore;
  console.log(`${submits} submits for ${steps} steps (one per step, at the loss readback)`);
}

const maskAfter = new Uint32Array((await model.buffers.mask.data()).buffer);
const maskSame = maskAfter.every((bits, i) => bits === maskBits[i]);
console.log(`\nmask buffer bitwise unchanged: ${maskSame}`);
for (const [path, t] of treeLeaves(params)) {
  const before = initialParams.get(path)!;
  const after = await t.data();
  let moved = 0;
  for (let i = 0; i < after.length; i++) moved = Math.max(moved, Math.abs(after[i] - before[i]));
  console.log(`  ${path.padEnd(26)} moved (max |change| ${moved.toFixed(4)})`);
  if (!(moved > 0)) throw new Error(`${path} did not move`);
}
if (!maskSame) throw new Error("The mask buffer changed");
