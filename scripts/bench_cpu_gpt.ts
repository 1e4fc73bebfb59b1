/**
 * The GPT decode-step case of the CPU benchmark (scripts/bench_cpu.ts):
 * GPT-2 124M (`GPT_CONFIG_124M`, dropout 0, seeded random init) on
 * Tessera's cpu device with its KV cache, and the jax-js GPT of
 * scripts/bench_gpt_jax.ts on jax-js's "wasm" or "cpu" backend, which has no
 * KV cache and recomputes all P + 1 tokens per step (as in the GPU decode
 * bench).
 *
 * @module
 */

import { manualSeed, nn, setCpuBackend, stateDict, type Tensor, tensor } from "../mod.ts";
import type { Cfg, Runner, Weights } from "./bench_gpt_common.ts";
import { jaxImpl } from "./bench_gpt_jax.ts";
import { mulberry32 } from "./bench_stats.ts";

/**
 * GPT-2 small as the benchmark builds it: the book's `GPT_CONFIG_124M` without dropout.
 *
 * @example
 * ```ts
 * import { CPU_GPT_CONFIG } from "./bench_cpu_gpt.ts";
 * console.log(CPU_GPT_CONFIG.nLayers); // 12
 * ```
 */
export const CPU_GPT_CONFIG: nn.GptConfig = { ...nn.GPT_CONFIG_124M, dropRate: 0 };

/**
 * Multiply-adds (x2) of one token through the linear layers and the head:
 * the decode step's work with a KV cache, attention aside.
 *
 * @example
 * ```ts
 * import { CPU_GPT_CONFIG, tokenFlops } from "./bench_cpu_gpt.ts";
 * console.log(tokenFlops(CPU_GPT_CONFIG) > 2e8); // true
 * ```
 */
export function tokenFlops(c: Cfg): number {
  const E = c.embDim;
  return 2 * (c.nLayers * 12 * E * E + E * c.vocabSize);
}

/**
 * What a full recompute of `tokens` tokens costs (jax-js's decode step):
 * every token through the blocks (projections, MLP, causal attention
 * products) and one position through the head.
 *
 * @example
 * ```ts
 * import { CPU_GPT_CONFIG, recomputeFlops } from "./bench_cpu_gpt.ts";
 * console.log(recomputeFlops(CPU_GPT_CONFIG, 17) > 2e9); // true
 * ```
 */
export function recomputeFlops(c: Cfg, tokens: number): number {
  const E = c.embDim;
  const attention = 2 * 2 * tokens * tokens * E; // QK^T and PV, unmasked
  return c.nLayers * (2 * tokens * 12 * E * E + attention) + 2 * E * c.vocabSize;
}

/**
 * The seeded GPT-2 124M on the cpu device (init takes seconds).
 *
 * @example
 * ```ts ignore
 * import { cpuGpt } from "./bench_cpu_gpt.ts";
 * const model = cpuGpt(1);
 * ```
 */
export function cpuGpt(seed: number): nn.GptModel {
  manualSeed(seed);
  return nn.gptModel.init(CPU_GPT_CONFIG);
}

/**
 * The model's parameters as host arrays keyed like PyTorch's state dict (the
 * layout scripts/bench_gpt_jax.ts reads); the masks are left out.
 *
 * @example
 * ```ts ignore
 * import { cpuGpt, hostWeights } from "./bench_cpu_gpt.ts";
 * const w = await hostWeights(cpuGpt(1));
 * console.log(w.get("out_head.weight")!.shape); // [50257, 768]
 * ```
 */
export async function hostWeights(model: nn.GptModel): Promise<Weights> {
  const w: Weights = new Map();
  for (const [name, t] of stateDict(model)) {
    if (name.endsWith(".mask")) continue;
    w.set(name, { data: new Float32Array(await t.data() as Float32Array), shape: [...t.shape] });
  }
  return w;
}

/**
 * `P + 1` seeded token ids: P earlier tokens and the one the step decodes.
 *
 * @example
 * ```ts
 * import { decodeIds } from "./bench_cpu_gpt.ts";
 * console.log(decodeIds(16, 1).length); // 17
 * ```
 */
export function decodeIds(P: number, seed: number): Int32Array {
  const rand = mulberry32(seed + P);
  return Int32Array.from({ length: P + 1 }, () => Math.floor(rand() * 50257));
}

/**
 * Tessera's decode step on the cpu device: one step over the P earlier ids
 * fills the KV cache (prefill, untimed), then each run is one step with the
 * last id at positions P, P + 1, ... and returns its logits `[V]`. Every
 * call runs on `backend`.
 *
 * @example
 * ```ts ignore
 * import { cpuGpt, decodeIds, tesseraDecode } from "./bench_cpu_gpt.ts";
 * const r = tesseraDecode(cpuGpt(1), "wasm", decodeIds(16, 1));
 * console.log((await r.run()).length); // 50257
 * r.dispose();
 * ```
 */
export function tesseraDecode(
  model: nn.GptModel,
  backend: "wasm" | "reference",
  ids: Int32Array,
): Runner {
  setCpuBackend(backend);
  const P = ids.length - 1;
  const prompt = tensor(ids.slice(0, P), [1, P]);
  const token = tensor(ids.slice(P), [1, 1]);
  const first = nn.gptModel.step(nn.gptModel.withCache(model, { batch: 1 }), prompt);
  first.logits.dispose();
  prompt.dispose();
  let cached = first.model;
  return {
    async run() {
      setCpuBackend(backend);
      const { logits, model: next }: { logits: Tensor; model: nn.GptCachedModel } = nn.gptModel
        .step(cached, token); // [1, 1, V]
      cached = next;
      const data = new Float32Array(await logits.data() as Float32Array);
      logits.dispose();
      return data;
    },
    dispose() {
      token.dispose();
      nn.gptModel.dropCache(cached); // the cache only; the weights stay
    },
  };
}

interface JaxDevices {
  defaultDevice(device?: string): string;
}

/**
 * The jax-js GPT (scripts/bench_gpt_jax.ts, `jit` of the whole forward) with
 * `weights` on jax-js's `device` ("wasm" or "cpu"). Its decode step
 * recomputes all P + 1 tokens and returns the last position's logits.
 *
 * @example
 * ```ts ignore
 * import { cpuGpt, decodeIds, hostWeights, jaxDecoder } from "./bench_cpu_gpt.ts";
 * const jax = await jaxDecoder("wasm", await hostWeights(cpuGpt(1)));
 * const r = await jax.setup(decodeIds(16, 1));
 * console.log((await r.run()).length); // 50257
 * ```
 */
export async function jaxDecoder(
  device: "wasm" | "cpu",
  weights: Weights,
): Promise<{ setup(ids: Int32Array): Promise<Runner>; dispose(): void }> {
  const c = CPU_GPT_CONFIG;
  const cfg: Cfg = {
    vocabSize: c.vocabSize,
    contextLength: c.contextLength,
    embDim: c.embDim,
    nHeads: c.nHeads,
    nLayers: c.nLayers,
  };
  // The same module instance bench_gpt_jax.ts loads: its arrays land on the default device.
  const jax = await import(["npm:@jax-js", "jax@0.1.25"].join("/")) as unknown as JaxDevices;
  const impl = await jaxImpl(cfg, weights, device);
  return {
    async setup(ids) {
      jax.defaultDevice(device);
      const P = ids.length - 1;
      const runner = await impl.setup(
        { id: `decode-${P}`, label: `decode at ${P}`, kind: "decode", tokens: P },
        ids,
      );
      return {
        run() {
          jax.defaultDevice(device);
          return runner.run();
        },
        dispose: () => runner.dispose(),
      };
    },
    dispose() {
      jax.defaultDevice(device);
      impl.dispose();
    },
  };
}
