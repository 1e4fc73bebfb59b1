/**
 * The book's chapter 4 ("Implementing a GPT model from scratch to generate
 * text") as a program, on WebGPU (on cpu, with a message, when there is no
 * adapter):
 *
 *   deno run examples/gpt.ts            # 6 new tokens, as in the book
 *   deno run examples/gpt.ts 10         # 10, as in the book's tests
 *
 * `manualSeed(123)` then `nn.gptModel.init(GPT_CONFIG_124M)` gives the very
 * weights of `torch.manual_seed(123); GPTModel(GPT_CONFIG_124M)`, so the
 * untrained model's numbers are PyTorch's:
 *
 * - parameters: 163,009,536 (the output head is not tied to the embedding);
 * - logits for the batch [[6109, 3626, 6100, 345], [6109, 1110, 6622, 257]]
 *   ("Every effort moves you", "Every day holds a"): shape [2, 4, 50257];
 * - greedy continuation of [15496, 11, 314, 716] ("Hello, I am"), from the
 *   book's generate_text_simple run in PyTorch 1.13 (scripts/torch_gpt.py,
 *   recorded in tests/fixtures/generate.json):
 *   6 new tokens: [15496, 11, 314, 716, 27018, 24086, 47843, 30961, 42348, 7267]
 *   10 new tokens: the above then 49706, 43231, 47062, 34657.
 *
 * The program checks its ids against these and says so (exit code 1 if
 * they differ). Measured on this project's development machine (2 cores
 * shared with other jobs, Mesa llvmpipe, no real GPU): about 30 s in all for
 * either 6 or 10 tokens: init 9-16 s (on the host), toDevice 1-3 s, the batch
 * forward 5-9 s (first use compiles the kernels), then 0.7-1.2 s per
 * generated token. `generate` runs twice, with the KV cache (its default)
 * and with `useCache: false`, and prints tokens/s for each (at 4 + 10
 * tokens the cache saves little; see scripts/bench_decode.ts for long
 * sequences).
 *
 * @module
 */

import {
  cpu,
  type Device,
  DeviceLimitError,
  dispose,
  format,
  generate,
  manualSeed,
  namedParameters,
  nn,
  tensor,
  toDevice,
  webgpu,
  WebGpuUnavailableError,
} from "../mod.ts";

/** PyTorch's greedy continuation of "Hello, I am" (10 new tokens). */
const TORCH_TOKENS = [
  15496,
  11,
  314,
  716,
  27018,
  24086,
  47843,
  30961,
  42348,
  7267,
  49706,
  43231,
  47062,
  34657,
];

const newTokens = Number(Deno.args[0] ?? 6);
if (!Number.isSafeInteger(newTokens) || newTokens < 1 || newTokens > 10) {
  throw new Error(`usage: deno run examples/gpt.ts [new tokens, 1..10], got ${Deno.args[0]}`);
}

let device: Device;
try {
  device = await webgpu();
  console.log(`Running on ${device.name} (${device.adapterInfo.description || "WebGPU"})`);
} catch (error) {
  if (!(error instanceof WebGpuUnavailableError)) throw error;
  device = cpu;
  console.log(`No WebGPU adapter (${error.message}); running on cpu instead`);
}

const clock = () => performance.now();
const seconds = (since: number) => `${((clock() - since) / 1000).toFixed(1)} s`;

let t = clock();
manualSeed(123);
const model = nn.gptModel.init(nn.GPT_CONFIG_124M);
console.log(`init (cpu, torch-identical weights): ${seconds(t)}`);

let total = 0;
for (const [, p] of namedParameters(model)) total += p.size;
console.log(`Total number of parameters: ${total.toLocaleString("en-US")}`);

t = clock();
let onDevice = model;
try {
  onDevice = await toDevice(model, device);
  if (onDevice !== model) dispose(model);
} catch (error) {
  if (!(error instanceof DeviceLimitError)) throw error;
  console.log(`The model does not fit ${device.name} (${error.message}); staying on cpu`);
  device = cpu;
}
console.log(`toDevice(${device.name}): ${seconds(t)}`);

t = clock();
const batch = await toDevice(
  tensor([[6109, 3626, 6100, 345], [6109, 1110, 6622, 257]], undefined, { dtype: "int32" }),
  device,
);
const logits = nn.gptModel.apply(onDevice, batch); // [2, 4, 50257]
console.log(`Input batch:\n${await format(batch)}`);
console.log(`Output shape: [${logits.shape.join(", ")}]`);
console.log(await format(logits));
console.log(`forward of the batch: ${seconds(t)}`);
dispose([batch, logits]);

const encoded = await toDevice(
  tensor([[15496, 11, 314, 716]], undefined, { dtype: "int32" }),
  device,
);
// With the KV cache (generate's default for nn.gptModel) and without it.
let same = true;
for (const useCache of [true, false]) {
  t = clock();
  const out = await generate(onDevice, encoded, { maxNewTokens: newTokens, useCache }); // greedy
  const ids = (await out.toArray() as number[][])[0];
  const elapsed = (clock() - t) / 1000;
  out.dispose();
  console.log(`Output (useCache: ${useCache}): [${ids.join(", ")}]`);
  console.log(`Output length: ${ids.length}`);
  const equal = ids.every((id, i) => id === TORCH_TOKENS[i]);
  same &&= equal;
  console.log(
    equal
      ? "The token ids equal PyTorch's generate_text_simple."
      : `MISMATCH: PyTorch gives [${TORCH_TOKENS.slice(0, ids.length).join(", ")}]`,
  );
  console.log(
    `generate (${newTokens} tokens, useCache: ${useCache}): ${elapsed.toFixed(1)} s, ` +
      `${(newTokens / elapsed).toFixed(2)} tokens/s (the first run includes kernel compiles)`,
  );
}
dispose([encoded, onDevice]);
if (!same) Deno.exit(1);
