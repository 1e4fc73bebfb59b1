/**
 * GPT-2 124M decode steps on the cpu device with float32 and with float16
 * weights (`toDevice(model, cpu, { dtype: "float16" })`), in one process,
 * interleaved: median milliseconds per step at position 16 (the KV cache
 * filled by an untimed prefill). float16 logits differ from float32 ones by
 * the weights' rounding, so they are compared loosely (the largest logit
 * difference is printed), not checked like scripts/bench_cpu.ts's cases.
 *
 *   deno run -A scripts/bench_cpu_f16.ts [--steps=15]
 *
 * @module
 */

import { cpu, toDevice } from "../mod.ts";
import { cpuGpt, decodeIds, tesseraDecode } from "./bench_cpu_gpt.ts";

const steps = Number(Deno.args.find((a) => a.startsWith("--steps="))?.slice(8) ?? 15);
const model32 = cpuGpt(1234);
const model16 = await toDevice(model32, cpu, { dtype: "float16" });
const ids = decodeIds(16, 1234);
const runners = {
  float32: tesseraDecode(model32, "wasm", ids),
  float16: tesseraDecode(model16, "wasm", ids),
};
const times: Record<string, number[]> = { float32: [], float16: [] };
let worst = 0;
for (let i = 0; i < steps; i++) {
  const outs: Record<string, Float32Array> = {};
  for (const [name, runner] of Object.entries(runners)) {
    const t0 = performance.now();
    outs[name] = await runner.run();
    times[name].push(performance.now() - t0);
  }
  for (let j = 0; j < outs.float32.length; j++) {
    worst = Math.max(worst, Math.abs(outs.float32[j] - outs.float16[j]));
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const name of ["float32", "float16"]) {
  const ms = median(times[name]);
  console.log(
    `${name} weights: ${ms.toFixed(1)} ms per decode step (${(1000 / ms).toFixed(1)} tokens/s)`,
  );
}
console.log(`largest |float16 - float32| logit over ${steps} steps: ${worst.toFixed(3)}`);
for (const runner of Object.values(runners)) runner.dispose();
