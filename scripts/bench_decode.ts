/**
 * Decode speed of the book's GPT_CONFIG_124M (random weights) on WebGPU,
 * with and without the KV cache: wall-clock milliseconds per generated token
 * at positions ~16, ~256 and ~1000 (a step = forward, greedy token choice on
 * the device, and the 4-byte readback of the token), medians.
 *
 *   deno run -A scripts/bench_decode.ts               # 12 layers, as GPT-2 small
 *   deno run -A scripts/bench_decode.ts --layers=2    # faster: 2 blocks, same widths
 *   deno run -A scripts/bench_decode.ts --steps=9 --reps=3 --positions=16,256,1000
 *
 * - cached: one prefill of P tokens (`nn.gptModel.step` on an empty cache,
 *   also reported), then `--steps` decode steps at positions P, P+1, ...;
 * - uncached: `nn.gptModel.apply` over P+1 tokens with the logits of the
 *   last position only (what `generate(..., { useCache: false })` runs per
 *   step), `--reps` times.
 *
 * Not a test: numbers depend on the machine (Mesa llvmpipe here is a CPU).
 *
 * @module
 */

import {
  dispose,
  gpuStats,
  manualSeed,
  nn,
  reshape,
  type Tensor,
  tensor,
  toDevice,
  webgpu,
  type WebGpuDevice,
} from "../mod.ts";
import { selectTokens } from "../src/ops/select_token.ts";

function flag(name: string, fallback: string): string {
  const arg = Deno.args.find((a) => a.startsWith(`--${name}=`));
  return arg ? arg.slice(name.length + 3) : fallback;
}

const layers = Number(flag("layers", "12"));
const steps = Number(flag("steps", "7"));
const reps = Number(flag("reps", "3"));
const positions = flag("positions", "16,256,1000").split(",").map(Number);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function randomIds(n: number, seed: number): number[] {
  let x = seed;
  return Array.from({ length: n }, () => (x = (x * 1103515245 + 12345) % 2 ** 31) % 50257);
}

async function choose(logits: Tensor): Promise<Tensor> {
  const next = selectTokens("bench", logits, { temperature: 0 });
  logits.dispose();
  await next.data();
  return next;
}

const device: WebGpuDevice = await webgpu();
console.log(`device: ${device.name} (${device.adapterInfo.description || "WebGPU"})`);
const config = { ...nn.GPT_CONFIG_124M, nLayers: layers };
let t0 = performance.now();
manualSeed(123);
const host = nn.gptModel.init(config);
const model = await toDevice(host, device);
dispose(host);
console.log(
  `GPT_CONFIG_124M with ${layers} layers: init + toDevice ${
    ((performance.now() - t0) / 1000).toFixed(1)
  } s`,
);

const rows: string[] = [];
let cached = nn.gptModel.withCache(model, { batch: 1 });
for (const p of positions) {
  const ids = randomIds(p + 1, p);
  // Cached: prefill p tokens, then decode steps at p, p + 1, ...
  cached = nn.gptModel.resetCache(cached);
  const prompt = await toDevice(tensor([ids.slice(0, p)], undefined, { dtype: "int32" }), device);
  t0 = performance.now();
  let result = nn.gptModel.step(cached, prompt);
  cached = result.model;
  let next = await choose(result.logits);
  const prefillMs = performance.now() - t0;
  prompt.dispose();
  const times: number[] = [];
  const before = gpuStats(device);
  for (let s = 0; s < steps; s++) {
    t0 = performance.now();
    // The chosen token, fed back on the device as generate does.
    const input = reshape(next, [1, 1]);
    next.dispose();
    result = nn.gptModel.step(cached, input);
    cached = result.model;
    next = await choose(result.logits);
    times.push(performance.now() - t0);
    input.dispose();
  }
  next.dispose();
  const after = gpuStats(device);
  // Uncached: the whole window again, logits of the last position only.
  const window = await toDevice(
    tensor([ids.slice(0, p + 1)], undefined, { dtype: "int32" }),
    device,
  );
  const uncached: number[] = [];
  for (let r = 0; r < reps + 1; r++) {
    t0 = performance.now();
    const logits = nn.gptModel.apply(model, window, { lastPosition: true });
    (await choose(logits)).dispose();
    if (r > 0) uncached.push(performance.now() - t0); // the first compiles
  }
  window.dispose();
  const c = median(times.slice(1)); // the first decode step at a new size may compile
  const u = median(uncached);
  const line =
    `position ~${p}: cached ${c.toFixed(1)} ms/token, uncached ${u.toFixed(1)} ms/token (${
      (u / c).toFixed(1)
    }x); prefill of ${p} tokens ${prefillMs.toFixed(0)} ms; ` +
    `per cached step: ${(after.submits - before.submits) / steps} submits, ` +
    `${(after.buffersCreated - before.buffersCreated)} buffers created in ${steps} steps`;
  console.log(line);
  rows.push(`| ~${p} | ${c.toFixed(1)} | ${u.toFixed(1)} | ${(u / c).toFixed(1)}x |`);
}
nn.gptModel.dropCache(cached);
console.log(`\n| position | cached ms/token | uncached ms/token | speed-up |`);
console.log(`| -------- | --------------- | ----------------- | -------- |`);
for (const row of rows) console.log(row);
dispose(model);
