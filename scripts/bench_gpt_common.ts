/**
 * Shared pieces of the model-scale benchmark (scripts/bench_gpt.ts): the GPT
 * shape, random weights keyed like PyTorch's state dict, host-side layout
 * helpers, and the interfaces every implementation fills in.
 *
 * @module
 */

import { mulberry32 } from "./bench_stats.ts";

/**
 * The GPT shape the benchmark builds (a subset of `nn.GptConfig`).
 *
 * @example
 * ```ts
 * import type { Cfg } from "./bench_gpt_common.ts";
 * const c: Cfg = { vocabSize: 50, contextLength: 8, embDim: 16, nHeads: 2, nLayers: 1 };
 * ```
 */
export interface Cfg {
  vocabSize: number;
  contextLength: number;
  embDim: number;
  nHeads: number;
  nLayers: number;
}

/**
 * A host array with its shape.
 *
 * @example
 * ```ts
 * import type { HostArray } from "./bench_gpt_common.ts";
 * const a: HostArray = { data: new Float32Array(6), shape: [2, 3] };
 * ```
 */
export type HostArray = { data: Float32Array; shape: number[] };

/**
 * Weights keyed like PyTorch's state dict (`trf_blocks.0.att.W_query.weight`, ...).
 *
 * @example
 * ```ts
 * import type { Weights } from "./bench_gpt_common.ts";
 * const w: Weights = new Map();
 * ```
 */
export type Weights = Map<string, HostArray>;

function uniform(n: number, lo: number, hi: number, rand: () => number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * rand();
  return out;
}

/**
 * Random weights keyed like PyTorch's state dict: PyTorch-like ranges, layer
 * norms away from identity so that they matter.
 *
 * @example
 * ```ts
 * import { makeWeights } from "./bench_gpt_common.ts";
 * const w = makeWeights({ vocabSize: 8, contextLength: 4, embDim: 4, nHeads: 2, nLayers: 1 }, 1);
 * console.log(w.get("out_head.weight")!.shape); // [8, 4]
 * ```
 */
export function makeWeights(c: Cfg, seed: number): Weights {
  const rand = mulberry32(seed);
  const w: Weights = new Map();
  const put = (name: string, shape: number[], lo: number, hi: number) =>
    w.set(name, { data: uniform(shape.reduce((a, b) => a * b, 1), lo, hi, rand), shape });
  const E = c.embDim;
  const emb = 0.02 * Math.sqrt(3); // std 0.02, like GPT-2's init
  const lin = (fanIn: number) => 1 / Math.sqrt(fanIn); // nn.Linear's range
  put("tok_emb.weight", [c.vocabSize, E], -emb, emb);
  put("pos_emb.weight", [c.contextLength, E], -emb, emb);
  for (let i = 0; i < c.nLayers; i++) {
    const p = `trf_blocks.${i}.`;
    put(p + "norm1.scale", [E], 0.9, 1.1);
    put(p + "norm1.shift", [E], -0.1, 0.1);
    for (const n of ["W_query", "W_key", "W_value", "out_proj"]) {
      put(`${p}att.${n}.weight`, [E, E], -lin(E), lin(E));
    }
    put(p + "att.out_proj.bias", [E], -lin(E), lin(E));
    put(p + "norm2.scale", [E], 0.9, 1.1);
    put(p + "norm2.shift", [E], -0.1, 0.1);
    put(p + "ff.layers.0.weight", [4 * E, E], -lin(E), lin(E));
    put(p + "ff.layers.0.bias", [4 * E], -lin(E), lin(E));
    put(p + "ff.layers.2.weight", [E, 4 * E], -lin(4 * E), lin(4 * E));
    put(p + "ff.layers.2.bias", [E], -lin(4 * E), lin(4 * E));
  }
  put("final_norm.scale", [E], 0.9, 1.1);
  put("final_norm.shift", [E], -0.1, 0.1);
  put("out_head.weight", [c.vocabSize, E], -lin(E), lin(E));
  return w;
}

/**
 * The transpose of a `[rows, cols]` matrix (PyTorch's `[out, in]` linear
 * weights become the `[in, out]` right operand the peers multiply by).
 *
 * @example
 * ```ts
 * import { transposed } from "./bench_gpt_common.ts";
 * console.log(transposed({ data: new Float32Array([1, 2, 3, 4, 5, 6]), shape: [2, 3] }));
 * // Float32Array [1, 4, 2, 5, 3, 6]
 * ```
 */
export function transposed(a: HostArray): Float32Array {
  const [rows, cols] = a.shape;
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) out[j * rows + i] = a.data[i * cols + j];
  }
  return out;
}

/**
 * Rows [from, to) of a [rows, cols] matrix, transposed to [cols, to - from].
 *
 * @example
 * ```ts
 * import { rowsTransposed } from "./bench_gpt_common.ts";
 * const m = { data: new Float32Array([1, 2, 3, 4, 5, 6]), shape: [3, 2] };
 * console.log(rowsTransposed(m, 1, 3)); // Float32Array [3, 5, 4, 6]
 * ```
 */
export function rowsTransposed(a: HostArray, from: number, to: number): Float32Array {
  const cols = a.shape[1];
  return transposed({ data: a.data.subarray(from * cols, to * cols), shape: [to - from, cols] });
}

/**
 * Rows of the first half of a vocabulary matrix: the peers get the 50257 x
 * 768 tables as two halves, since one storage binding holds 128 MiB here.
 *
 * @example
 * ```ts
 * import { half } from "./bench_gpt_common.ts";
 * console.log(half({ vocabSize: 50257, contextLength: 1, embDim: 1, nHeads: 1, nLayers: 1 }));
 * // 25129
 * ```
 */
export const half = (c: Cfg): number => Math.ceil(c.vocabSize / 2);

/**
 * Token ids for a vocabulary held in two halves: ids clamped into each half
 * and a selector (1 where the id is in the second half).
 *
 * @example
 * ```ts
 * import { splitIds } from "./bench_gpt_common.ts";
 * const c = { vocabSize: 4, contextLength: 2, embDim: 2, nHeads: 1, nLayers: 1 };
 * console.log(splitIds(new Int32Array([1, 3]), c).sel); // Float32Array [0, 1]
 * ```
 */
export function splitIds(
  ids: Int32Array,
  c: Cfg,
): { lo: Int32Array; hi: Int32Array; sel: Float32Array } {
  const h = half(c);
  const lo = new Int32Array(ids.length);
  const hi = new Int32Array(ids.length);
  const sel = new Float32Array(ids.length);
  ids.forEach((id, i) => {
    lo[i] = Math.min(id, h - 1);
    hi[i] = Math.max(id - h, 0);
    sel[i] = id >= h ? 1 : 0;
  });
  return { lo, hi, sel };
}

/**
 * One prepared case: `run()` computes and reads back the last position's logits.
 *
 * @example
 * ```ts
 * import type { Runner } from "./bench_gpt_common.ts";
 * const r: Runner = { run: () => Promise.resolve(new Float32Array(1)), dispose() {} };
 * ```
 */
export interface Runner {
  run(): Promise<Float32Array>;
  dispose(): Promise<void> | void;
}

/**
 * An inference case: prefill of `tokens` ids, or decode at position `tokens`.
 *
 * @example
 * ```ts
 * import type { InferCase } from "./bench_gpt_common.ts";
 * const k: InferCase = { id: "prefill-128", label: "prefill 128", kind: "prefill", tokens: 128 };
 * ```
 */
export type InferCase = { id: string; label: string; kind: "prefill" | "decode"; tokens: number };

/**
 * One implementation holding the model's weights on its device.
 *
 * @example
 * ```ts
 * import type { Impl } from "./bench_gpt_common.ts";
 * type SetupFn = Impl["setup"];
 * ```
 */
export interface Impl {
  name: string;
  failure?: string;
  /** `ids` holds tokens + 1 ids for decode (P earlier tokens and the new one). */
  setup(c: InferCase, ids: Int32Array): Promise<Runner>;
  dispose(): Promise<void> | void;
}

/**
 * The training-step GPT: small enough for llvmpipe, every layer kind of GPT-2.
 *
 * @example
 * ```ts
 * import { TRAIN_CFG } from "./bench_gpt_common.ts";
 * console.log(TRAIN_CFG.nLayers); // 2
 * ```
 */
export const TRAIN_CFG: Cfg = {
  vocabSize: 512,
  contextLength: 64,
  embDim: 128,
  nHeads: 4,
  nLayers: 2,
};
/**
 * Sequences per training step.
 *
 * @example
 * ```ts
 * import { TRAIN_BATCH } from "./bench_gpt_common.ts";
 * console.log(TRAIN_BATCH); // 4
 * ```
 */
export const TRAIN_BATCH = 4;
/**
 * AdamW hyperparameters of the training step (torch 1.13 semantics).
 *
 * @example
 * ```ts
 * import { ADAMW } from "./bench_gpt_common.ts";
 * console.log(ADAMW.lr); // 0.001
 * ```
 */
export const ADAMW: {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
} = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 };

/**
 * One implementation's training loop state.
 *
 * @example
 * ```ts
 * import type { Trainer } from "./bench_gpt_common.ts";
 * const t: Trainer = { step: () => Promise.resolve(0), dispose() {} };
 * ```
 */
export interface Trainer {
  /** One AdamW step; resolves to the loss before the update (read back). */
  step(): Promise<number>;
  dispose(): void;
}
