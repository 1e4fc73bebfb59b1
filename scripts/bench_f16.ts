/**
 * float16 against float32 on one WebGPU adapter: matmul 1024^3, the causal
 * attention core, a GPT forward over a short context (a decode step
 * without a KV cache) and a cached decode step (`nn.gptModel.step` of one
 * token after a 16-token prefill), with the GPU bytes each dtype holds.
 *
 *   deno run -A scripts/bench_f16.ts [--quick]
 *
 * `deno task bench` runs the same cases as its "f16 vs f32" section
 * (`deno task bench --cases=f16` runs only them) through {@linkcode f16Bench}.
 *
 * Timings are wall-clock milliseconds with the readback included, reported
 * as median (min-max). On Mesa's llvmpipe (a CPU rasteriser) f16 is not
 * faster: its f16 loads convert on the CPU. Hardware with native f16
 * storage is where the halved bytes pay.
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
  type WebGpuDevice,
} from "../mod.ts";
import { fusedAttention } from "../src/ops/attention.ts";
import { fmtSummary, summarize, type Summary } from "./bench_stats.ts";

/**
 * One f16-vs-f32 case: both dtypes' timing summaries.
 *
 * @example
 * ```ts
 * import type { F16Row } from "./bench_f16.ts";
 * const s = { n: 1, median: 1, min: 1, max: 1, q1: 1, q3: 1 };
 * const row: F16Row = { name: "matmul 1024^3", f32: s, f16: s };
 * ```
 */
export interface F16Row {
  /** Case label. */
  name: string;
  /** float32 timings (ms). */
  f32: Summary;
  /** float16 timings (ms). */
  f16: Summary;
}

/**
 * What {@linkcode f16Bench} measured.
 *
 * @example
 * ```ts
 * import type { F16Result } from "./bench_f16.ts";
 * const r: F16Result = { rows: [], bytes32: 0, bytes16: 0, markdown: "" };
 * ```
 */
export interface F16Result {
  /** One row per case. */
  rows: F16Row[];
  /** GPU bytes of the GPT weights in float32. */
  bytes32: number;
  /** GPU bytes of the GPT weights in float16. */
  bytes16: number;
  /** Table and notes, ready for bench/results.md. */
  markdown: string;
}

/**
 * Times float16 against float32 on `device` (matmul, attention core, GPT
 * forward, cached decode step) and renders a markdown table; `quick`
 * shrinks the shapes and repetitions. Logs each row as it finishes.
 *
 * @example
 * ```ts ignore
 * import { webgpu } from "../mod.ts";
 * import { f16Bench } from "./bench_f16.ts";
 * const { markdown } = await f16Bench(await webgpu(), { quick: true });
 * console.log(markdown);
 * ```
 */
export async function f16Bench(
  device: WebGpuDevice,
  options: { quick?: boolean } = {},
): Promise<F16Result> {
  const quick = options.quick ?? false;
  const reps = quick ? 3 : 7;

  async function samples(run: () => Promise<void>): Promise<Summary> {
    await run(); // compile and warm the pools
    const times: number[] = [];
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      await run();
      times.push(performance.now() - t0);
    }
    return summarize(times);
  }

  async function timed(fn: () => Tensor): Promise<Summary> {
    return await samples(async () => {
      const out = fn();
      await out.data();
      out.dispose();
    });
  }

  const rows: F16Row[] = [];
  function report(name: string, f32: Summary, f16: Summary): void {
    rows.push({ name, f32, f16 });
    console.log(`${name}: float32 ${fmtSummary(f32)} ms, float16 ${fmtSummary(f16)} ms`);
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
    const decode = async (m: typeof m32): Promise<Summary> => {
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
      return summarize(times);
    };
    report("GPT decode step (KV cache, positions 16+)", await decode(m32), await decode(m16));
    for (const t of [prompt, token]) t.dispose();
  }

  const markdown = [
    "| case | float32 ms | float16 ms | f16 / f32 |",
    "| --- | --- | --- | --- |",
    ...rows.map((r) =>
      `| ${r.name} | ${fmtSummary(r.f32)} | ${fmtSummary(r.f16)} | ${
        (r.f16.median / r.f32.median).toFixed(2)
      } |`
    ),
    "",
    `Median (min-max) of ${reps} wall-clock repetitions after a warm-up, readback included; ` +
    `the ratio is of medians (below 1: float16 is faster). GPT cases: a 2-block GPT-2-shaped ` +
    `model (vocab 50257, 256 features, 4 heads) whose weights take ${bytes32} GPU bytes in ` +
    `float32 and ${bytes16} in float16 (${
      ((bytes16 / bytes32) * 100).toFixed(1)
    } %). On a software ` +
    `adapter (llvmpipe) float16 loads convert on the CPU, so it is not expected to be faster.`,
  ].join("\n");
  return { rows, bytes32, bytes16, markdown };
}

if (import.meta.main) {
  const { markdown } = await f16Bench(await webgpu(), { quick: Deno.args.includes("--quick") });
  console.log("\n" + markdown);
}
