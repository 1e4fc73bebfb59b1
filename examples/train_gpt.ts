/**
 * Trains a small GPT (the book's chapter-5 loop with appendix D's warmup,
 * cosine decay and gradient clipping) on a local text file, on webgpu:
 *
 *   deno run -A examples/train_gpt.ts [--text FILE] [--steps 200] [--resume]
 *
 * Options (defaults in brackets): --text FILE [README.md], --steps N [200]
 * (the schedule's length), --until N [steps] (stop and save there; resume
 * later), --batch N [8], --context N [64], --eval-every N [20], --checkpoint
 * FILE [train_gpt.safetensors], --resume (continue from the checkpoint;
 * pass the same --steps, --batch and --context as the run that saved it, so
 * the schedule and the data order are the same), --cpu.
 *
 * The vocabulary is the 256 byte values (any file works, no tokenizer
 * files needed). 90% of the bytes train, 10% validate (the book's split).
 * Every step is one submit: forward, backward, clipping and the AdamW update
 * are recorded on the device, and only the loss is read back. The
 * checkpoint holds the model and the optimizer state (moments and step) in
 * one safetensors file; the data order (a seeded generator) and dropout
 * (seeded by the step) are replayed, so a resumed run continues exactly.
 * The run ends with a sample generation.
 */

import {
  adamw,
  type AdamWState,
  batches,
  clipGradNorm,
  cpu,
  crossEntropy,
  type Device,
  dispose,
  generate,
  Generator,
  gpuStats,
  loadOptimizerState,
  loadStateDict,
  manualSeed,
  nn,
  optimizerStateDict,
  reshape,
  splitStateDict,
  stateDict,
  type Tensor,
  tensor,
  toDevice,
  type TokenDataset,
  tokenDataset,
  valueAndGrad,
  warmupCosine,
  webgpu,
  WebGpuUnavailableError,
} from "../mod.ts";
import { loadSafetensors, saveSafetensors } from "../src/io/mod.ts";

// --- Command line -----------------------------------------------------------
const args = parseArgs(Deno.args);
const textPath = args.text ?? new URL("../README.md", import.meta.url).pathname;
const totalSteps = Number(args.steps ?? 200);
const until = Math.min(Number(args.until ?? totalSteps), totalSteps);
const batchSize = Number(args.batch ?? 8);
const contextLength = Number(args.context ?? 64);
const evalEvery = Number(args["eval-every"] ?? 20);
const checkpoint = args.checkpoint ?? "train_gpt.safetensors";
const SEED = 123;

let device: Device = cpu;
if (!args.cpu) {
  try {
    device = await webgpu();
  } catch (error) {
    if (!(error instanceof WebGpuUnavailableError)) throw error;
    console.log(`No WebGPU adapter (${error.message}); training on cpu`);
  }
}

// --- Data: bytes as tokens, 90% train / 10% validation ----------------------
const bytes = await Deno.readFile(textPath);
const split = Math.floor(bytes.length * 0.9);
const train = tokenDataset(bytes.subarray(0, split), { contextLength, stride: contextLength });
const val = tokenDataset(bytes.subarray(split), { contextLength, stride: contextLength });
if (train.length < batchSize || val.length < 1) {
  throw new Error(`${textPath} is too short for batches of ${batchSize} x ${contextLength} tokens`);
}
const stepsPerEpoch = Math.floor(train.length / batchSize); // dropLast

// --- Model and optimizer ----------------------------------------------------
const config: nn.GptConfig = {
  vocabSize: 256,
  contextLength,
  embDim: 64,
  nHeads: 4,
  nLayers: 2,
  dropRate: 0.1,
  qkvBias: false,
};
manualSeed(SEED);
let model = await toDevice(nn.gptModel.init(config), device);
const optimizer = adamw({
  lr: warmupCosine({
    peakLr: 4e-3,
    warmupSteps: Math.max(1, Math.floor(totalSteps / 10)),
    totalSteps,
    initialLr: 1e-4,
    minLr: 1e-4,
  }),
  weightDecay: 0.1,
});
let state: AdamWState = optimizer.init(model.params);

if (args.resume) {
  const { prefixed, rest } = splitStateDict(await loadSafetensors(checkpoint, { device }));
  const loaded = await loadStateDict(model, rest);
  const template = state;
  state = await loadOptimizerState(template, prefixed);
  dispose([model, template]);
  model = loaded.module;
  console.log(`Resumed from ${checkpoint} at step ${state.step}`);
}

const nParams = [...stateDict(model).entries()]
  .filter(([k]) => !k.endsWith(".mask"))
  .reduce((n, [, t]) => n + t.size, 0);
console.log(
  `Training a ${nParams.toLocaleString("en")}-parameter GPT on ${device.name}: ` +
    `${train.length} train / ${val.length} validation windows of ${contextLength} bytes ` +
    `from ${textPath}, ${stepsPerEpoch} steps per epoch`,
);

// --- One training step: loss, gradients, clipping, AdamW ---------------------
const lossOf = (params: nn.GptParams, ids: Tensor, targets: Tensor, step: number) => {
  const generator = new Generator(SEED * 1000 + step); // dropout, replayable on resume
  const logits = nn.gptModel.apply({ ...model, params }, ids, { training: true, generator });
  const flat = reshape(logits, [-1, config.vocabSize]); // [b*T, vocab]
  return crossEntropy(flat, reshape(targets, [-1])); // []
};
const valueAndGrads = valueAndGrad(lossOf);

function trainStep(ids: Tensor, targets: Tensor): Tensor {
  const { value, grads } = valueAndGrads(model.params, ids, targets, state.step);
  const clipped = clipGradNorm(grads, 1.0);
  const next = optimizer.update(clipped.grads, state, model.params);
  // update returns new tensors; the old ones are ours to release.
  dispose([grads, clipped, state, model.params]);
  model = { ...model, params: next.params };
  state = next.state;
  return value;
}

async function evalLoss(dataset: TokenDataset, maxBatches: number): Promise<number> {
  let total = 0, n = 0;
  for (const batch of batches(dataset, { batchSize })) {
    if (n === maxBatches) {
      dispose(batch);
      break;
    }
    const [ids, targets] = await toDevice([batch.inputs, batch.targets], device);
    const logits = nn.gptModel.apply(model, ids); // [b, T, vocab]
    const flat = reshape(logits, [-1, config.vocabSize]);
    const flatTargets = reshape(targets, [-1]);
    const loss = crossEntropy(flat, flatTargets);
    total += (await loss.data())[0];
    n++;
    dispose([batch, ids, targets, logits, flat, flatTargets, loss]);
  }
  return total / n;
}

// --- The loop ----------------------------------------------------------------
// The loader's order comes from one seeded generator, epoch after epoch, so a
// resumed run replays the epochs it skips (on the host, nothing uploaded).
const order = new Generator(SEED);
const startStep = state.step;
const started = performance.now();
const buffersAtStart = device.kind === "webgpu" ? gpuStats(device).buffersInUse : 0;
let step = 0;
let trainLoss = NaN;
let valLoss = NaN;
outer: while (step < until) {
  for (
    const batch of batches(train, { batchSize, shuffle: true, dropLast: true, generator: order })
  ) {
    if (step >= until) {
      dispose(batch);
      break outer;
    }
    if (step < startStep) {
      dispose(batch);
      step++;
      continue;
    }
    const [ids, targets] = await toDevice([batch.inputs, batch.targets], device);
    const loss = trainStep(ids, targets);
    trainLoss = (await loss.data())[0]; // the step's one submit and readback
    dispose([batch, ids, targets, loss]);
    step++;
    const last = step === until;
    if (step % evalEvery === 0 || last) valLoss = await evalLoss(val, 4);
    if (step % evalEvery === 0 || last || step === startStep + 1) {
      const elapsed = (performance.now() - started) / 1000;
      const done = step - startStep;
      const tokensPerSecond = (done * batchSize * contextLength) / elapsed;
      const remaining = (elapsed / done) * (until - step);
      console.log(
        `step ${String(step).padStart(5)}/${until} | train loss ${trainLoss.toFixed(6)} | ` +
          `val loss ${Number.isNaN(valLoss) ? "  -   " : valLoss.toFixed(4)} | ` +
          `${Math.round(tokensPerSecond)} tok/s | elapsed ${elapsed.toFixed(1)} s | ` +
          `remaining ${remaining.toFixed(1)} s`,
      );
    }
  }
}
if (device.kind === "webgpu") {
  const grown = gpuStats(device).buffersInUse - buffersAtStart;
  console.log(`GPU buffers in use grew by ${grown} over the run (0: nothing leaked)`);
}

// --- Checkpoint and sample -------------------------------------------------
await saveSafetensors(checkpoint, new Map([...stateDict(model), ...optimizerStateDict(state)]), {
  config: JSON.stringify(config),
  step: String(state.step),
});
console.log(`Saved model and optimizer (step ${state.step}) to ${checkpoint}`);

const prompt = new TextEncoder().encode("Tessera ");
const ids = await toDevice(tensor(new Int32Array(prompt), [1, prompt.length]), device);
const out = await generate(model, ids, {
  maxNewTokens: 120,
  temperature: 0.8,
  topK: 20,
  generator: new Generator(SEED),
});
const sample = new Uint8Array(Int32Array.from((await out.toArray() as number[][])[0]));
console.log(`\nSample:\n${new TextDecoder().decode(sample)}`);
dispose([ids, out, model, state]);

function parseArgs(argv: string[]): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) throw new Error(`Unexpected argument ${a}`);
    const key = a.slice(2);
    if (key === "resume" || key === "cpu") out[key] = "true";
    else out[key] = argv[++i];
  }
  return out;
}
