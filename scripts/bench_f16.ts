/**
 * float16 against float32 on one WebGPU adapter: matmul 1024^3, the causal
 * attention core, a GPT forward over a short context (a decode step
 * without a KV cache) and a cached decode step (`nn.gptModel.step` of one
 * token after a 16-token prefill), with the GPU bytes each dtype holds.
 *
 *   deno run -A scripts/bench_f16.ts [--quick]
 *
 * Timings are wall-clock medians with the readback included. On Mesa's
 * llvmpipe (a CPU rasteriser) f16 is not faster: its f16 loads convert on
 * the CPU. Hardware with native f16 storage is where the halved bytes pay.
 *
 * @module
 */

import {
  cast,
  gpuStats,
  manualSeed,
  matmul,
  nn,
  type Tensor,
  tensor,
  toDevice,
  uniform,
  webgpu,
} from "../mod.ts";
import { fusedAttention } from "../src/ops/attention.ts";

const quick = Deno.args.includes("--quick");
const reps = quick ? 3 : 7;
const device = await webgpu();

async function median(run: () => Promise<void>): Promise<number> {
  await run(); // compile and warm the pools
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

async function timed(fn: () => Tensor): Promise<number> {
  return await median(async () => {
    const out = fn();
    await out.data();
    out.dispose();
  });
}

const rows: string[] = [
  "| case | float32 ms | float16 ms | f16 / f32 |",
  "| --- | --- | --- | --- |",
];
function report(name: string, f32: number, f16: number): void {
  rows.push(`| ${name} | ${f32.toFixed(1)} | ${f16.toFixed(1)} | ${(f16 / f32).toFixed(2)} |`);
  console.log(rows.at(-1));
}

// matmul 1024^3.
{
  const n = quick ? 512 : 1024;
  const a = await toDevice(tensor(uniform([n * n], -1, 1), [n, n]), device);
  const b = await toDevice(tensor(uniform([n * n], -1, 1), [n, n]), device);
  const [a16, b16] = [cast(a, "float16"), cast(b, "float16")];
  report(`matmul ${n}^3`, await timed(() => matmul(a, b)), await timed(() => matmul(a16, b16)));
  for (const t of [a, b, a16, b16]) t.dispose();
}

// A GPT-2-shaped model, small enough for a software adapter.
manualSeed(123);
const config = {
  vocabSize: 50257,
  contextLength: 256,
  embDim: 256,
  nHeads: 4,
  nLayers: 2,
  dropRate: 0,
  qkvBias: true,
};
const model = nn.gptModel.init(config);
const before = gpuStats(device).bytesInUse;
const m32 = await toDevice(model, device);
const bytes32 = gpuStats(device).bytesInUse - before;
const m16 = await toDevice(model, device, { dtype: "float16" });
const bytes16 = gpuStats(device).bytesInUse - before - bytes32;
console.log(`GPU bytes for the weights: float32 ${bytes32}, float16 ${bytes16}`);

// Attention core: softmax(q k^T / sqrt(d)) v, causal, on [4 heads, T, 64]
// (one dispatch either way: float16 loads widen in the kernel).
{
  const T = quick ? 64 : 256;
  const shape = [4, T, 64];
  const qkv = await Promise.all(
    [1, 2, 3].map(() => toDevice(tensor(uniform([4 * T * 64], -1, 1), shape), device)),
  );
  const half = qkv.map((t) => cast(t, "float16"));
  const scale = 1 / Math.sqrt(64);
  report(
    `attention core [4, ${T}, 64]`,
    await timed(() => fusedAttention(qkv[0], qkv[1], qkv[2], undefined, scale)),
    await timed(() => fusedAttention(half[0], half[1], half[2], undefined, scale)),
  );
  for (const t of [...qkv, ...half]) t.dispose();
}

// A forward over a short context (what a decode step without a cache costs).
{
  const ids = await toDevice(
    tensor([Array.from({ length: 16 }, (_, i) => (i * 977) % 50257)], undefined, {
      dtype: "int32",
    }),
    device,
  );
  report(
    "GPT forward, 16 tokens",
    await timed(() => nn.gptModel.apply(m32, ids)),
    await timed(() => nn.gptModel.apply(m16, ids)),
  );
  ids.dispose();
}

// A cached decode step: one token at position 16 (its logits read back).
{
  const prompt = await toDevice(
    tensor([Array.from({ length: 16 }, (_, i) => (i * 389) % 50257)], undefined, {
      dtype: "int32",
    }),
    device,
  );
  const token = await toDevice(tensor([[42]], undefined, { dtype: "int32" }), device);
  const decode = async (m: typeof m32): Promise<number> => {
    const prefill = nn.gptModel.step(nn.gptModel.withCache(m, { batch: 1 }), prompt);
    await prefill.logits.data(); // compiles the prefill
    prefill.logits.dispose();
    let cached = prefill.model;
    // Steps at positions 16, 17, ...: each consumes the record and returns the next.
    const times: number[] = [];
    for (let i = 0; i <= reps; i++) {
      const t0 = performance.now();
      const { logits, model } = nn.gptModel.step(cached, token);
      cached = model;
      await logits.data();
      logits.dispose();
      if (i > 0) times.push(performance.now() - t0); // the first compiles
    }
    nn.gptModel.dropCache(cached);
    times.sort((a, b) => a - b);
    return times[Math.floor(times.length / 2)];
  };
  report("GPT decode step (KV cache, positions 16+)", await decode(m32), await decode(m16));
  for (const t of [prompt, token]) t.dispose();
}

console.log(["", ...rows].join("\n"));
