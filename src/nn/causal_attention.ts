/**
 * `nn.causalAttention`: the seed notebook's `CausalAttention`, with the causal
 * mask registered as a buffer so that it moves with the weights.
 *
 * @module
 */

import { isRecording } from "../autograd/recording.ts";
import { ArgumentError, ShapeError } from "../errors.ts";
import { checkModule, type Module } from "../module.ts";
import {
  attentionWeights,
  fusedAttention,
  fusedAttentionPacked,
  fusedAttentionSupported,
} from "../ops/attention.ts";
import {
  assertSameDevice,
  checkInteger,
  checkOptions,
  checkTensor,
  describe,
  type Named,
  showShape,
} from "../ops/checks.ts";
import { dropout } from "../ops/dropout.ts";
import { reshape, stack } from "../ops/layout.ts";
import { linear } from "../ops/matmul.ts";
import { matmul } from "../ops/matmul.ts";
import { maskedFillCorner } from "../ops/mask.ts";
import { causalMaskValues, maskedSoftmax } from "../ops/masked_softmax.ts";
import { softmax } from "../ops/softmax.ts";
import { type Generator, globalGenerator } from "../random.ts";
import { tidy } from "../scope.ts";
import { cpuTensor, type Tensor } from "../tensor.ts";
import { initLinearParams, type InitOptions, type LinearParams } from "./linear.ts";
import { gpuOf, type KernelTable, kernelTable } from "../ops/kernel_table.ts";

/**
 * Sizes and options of a causal self-attention layer (the seed's
 * `CausalAttention(d_in, d_out, context_length, dropout, qkv_bias)`).
 *
 * @example
 * ```ts
 * import type { nn } from "@tessera/core";
 * const c: nn.CausalAttentionConfig = { dIn: 3, dOut: 2, contextLength: 6, dropout: 0 };
 * ```
 */
export interface CausalAttentionConfig {
  /** Input embedding size. */
  dIn: number;
  /** Query/key/value size. */
  dOut: number;
  /** Longest sequence the mask covers. */
  contextLength: number;
  /** Dropout probability on the attention weights (training only). */
  dropout: number;
  /** Whether the query/key/value projections have biases; default false. */
  qkvBias?: boolean;
}

/**
 * Trained parameters: the three projections, named as in PyTorch.
 *
 * @example
 * ```ts
 * import { nn } from "@tessera/core";
 * const m = nn.causalAttention.init({ dIn: 3, dOut: 2, contextLength: 6, dropout: 0 });
 * const p: nn.CausalAttentionParams = m.params;
 * console.log(p.W_query.weight.shape); // [2, 3]
 * ```
 */
export interface CausalAttentionParams {
  /** Query projection. */
  W_query: LinearParams;
  /** Key projection. */
  W_key: LinearParams;
  /** Value projection. */
  W_value: LinearParams;
}

/**
 * Buffers: the causal mask, `triu(ones([contextLength, contextLength]), 1)`.
 *
 * @example
 * ```ts
 * import { nn } from "@tessera/core";
 * const m = nn.causalAttention.init({ dIn: 3, dOut: 2, contextLength: 6, dropout: 0 });
 * const b: nn.CausalAttentionBuffers = m.buffers;
 * console.log(b.mask.shape); // [6, 6]
 * ```
 */
export interface CausalAttentionBuffers {
  /** 1 above the diagonal (future positions), 0 elsewhere. */
  mask: Tensor;
}

/**
 * A causal self-attention module record.
 *
 * @example
 * ```ts
 * import { nn } from "@tessera/core";
 * const m: nn.CausalAttention = nn.causalAttention.init({
 *   dIn: 3, dOut: 2, contextLength: 6, dropout: 0,
 * });
 * ```
 */
export type CausalAttention = Module<
  CausalAttentionParams,
  CausalAttentionBuffers,
  Required<CausalAttentionConfig>
>;

/**
 * Options for the forward pass.
 *
 * @example
 * ```ts
 * import type { nn } from "@tessera/core";
 * const o: nn.ApplyOptions = { training: true, seed: 7 };
 * ```
 */
export interface ApplyOptions {
  /** Apply dropout to the attention weights; default false (evaluation). */
  training?: boolean;
  /** Dropout seed; drawn from `generator` when omitted. */
  seed?: number | bigint;
  /** Generator for the dropout seed; defaults to the global one. */
  generator?: Generator;
  /**
   * On webgpu, run the attention core as one fused kernel when it applies
   * (default true): no gradient tape is recording, no dropout is applied
   * (evaluation, or `dropout: 0`) and the head size is at most 64; the
   * three projections then run as one matmul. `false` forces the unfused
   * path: three projections, scaled `Q K^T`, one masked-softmax pass, `@ V`.
   * The fused kernel honours the mask buffer on and below the diagonal and
   * always masks keys after the query (the layer is causal). No effect on cpu.
   */
  fused?: boolean;
}

/**
 * Options for `nn.causalAttention.core`.
 *
 * @example
 * ```ts
 * import type { nn } from "@tessera/core";
 * const o: nn.CoreOptions = { fused: false };
 * ```
 */
export interface CoreOptions {
  /**
   * A `[context, context]` mask (non-zero = masked) read in its `[:T, :T]`
   * corner; default: the causal mask (key j visible to query i iff j <= i).
   */
  mask?: Tensor;
  /** As in {@linkcode ApplyOptions.fused}; default true. */
  fused?: boolean;
}

/**
 * Every intermediate of one forward pass, for teaching and debugging. The
 * caller owns them all: `dispose(stages)` releases them.
 *
 * @example
 * ```ts
 * import { dispose, nn, ones } from "@tessera/core";
 * const m = nn.causalAttention.init({ dIn: 3, dOut: 2, contextLength: 4, dropout: 0 });
 * const s: nn.AttentionStages = nn.causalAttention.stages(m, ones([1, 4, 3]));
 * console.log(s.weights.shape); // [1, 4, 4]
 * dispose(s);
 * ```
 */
export interface AttentionStages {
  /** `x @ W_query^T (+ b)`, `[B, T, dOut]`. */
  queries: Tensor;
  /** `x @ W_key^T (+ b)`, `[B, T, dOut]`. */
  keys: Tensor;
  /** `x @ W_value^T (+ b)`, `[B, T, dOut]`. */
  values: Tensor;
  /** `queries @ keys^T`, `[B, T, T]`. */
  scores: Tensor;
  /** Scores with future positions set to `-Infinity`. */
  maskedScores: Tensor;
  /** `softmax(maskedScores / sqrt(dOut))`, after dropout when training. */
  weights: Tensor;
  /** `weights @ values`, `[B, T, dOut]`: the output. */
  context: Tensor;
}

/**
 * Validates types, disposal, devices and shapes before anything is recorded,
 * so a failure leaves no work behind. `op` is the public entry point
 * (`causalAttention.apply`, ...), named in every message.
 */
function checkInputs(op: string, params: CausalAttentionParams, mask: Tensor, x: Tensor): void {
  checkTensor(op, "input", x);
  checkTensor(op, "mask", mask);
  if (params === null || typeof params !== "object") {
    throw new ArgumentError(
      `${op}: params must be a record { W_query, W_key, W_value }, but got ${describe(params)}`,
    );
  }
  const leaves: Named[] = [];
  for (const name of ["W_query", "W_key", "W_value"] as const) {
    const layer = params[name] as Partial<LinearParams> | undefined;
    checkTensor(op, `params.${name}.weight`, layer?.weight);
    leaves.push([`params.${name}.weight`, layer!.weight!]);
    if (layer!.bias !== undefined) {
      checkTensor(op, `params.${name}.bias`, layer!.bias);
      leaves.push([`params.${name}.bias`, layer!.bias]);
    }
  }
  assertSameDevice(op, ["input", x], ...leaves);
  // PyTorch's wording for the seed's bug: the scores live where the input does.
  assertSameDevice(op, ["scores", x], ["mask", mask]);
  const dIn = params.W_query.weight.shape[1];
  if (x.shape.length !== 3 || x.shape[2] !== dIn) {
    throw new ShapeError(
      `${op}: expected input [batch, tokens, ${dIn}], but got ${showShape(x.shape)}`,
    );
  }
  const tokens = x.shape[1];
  if (mask.shape.length !== 2 || mask.shape[0] < tokens || mask.shape[1] < tokens) {
    throw new ShapeError(
      `${op}: input has ${tokens} tokens, but mask ${showShape(mask.shape)} covers at most ` +
        `${Math.min(mask.shape[0] ?? 0, mask.shape[1] ?? 0)} (the context length)`,
    );
  }
}

/** Checks a layer config and returns the dropout probability. */
function checkConfig(op: string, config: unknown): Required<CausalAttentionConfig> {
  if (config === null || typeof config !== "object" || Array.isArray(config)) {
    throw new ArgumentError(
      `${op}: config must be an object like { dIn, dOut, contextLength, dropout }, but got ` +
        describe(config),
    );
  }
  const c = config as CausalAttentionConfig;
  const dIn = checkInteger(op, "config.dIn", c.dIn, { min: 1 });
  const dOut = checkInteger(op, "config.dOut", c.dOut, { min: 1 });
  const contextLength = checkInteger(op, "config.contextLength", c.contextLength, { min: 1 });
  const dropout = checkDropout(op, "config.dropout", c.dropout);
  if (c.qkvBias !== undefined && typeof c.qkvBias !== "boolean") {
    throw new ArgumentError(
      `${op}: config.qkvBias must be a boolean, but got ${describe(c.qkvBias)}`,
    );
  }
  return { dIn, dOut, contextLength, dropout, qkvBias: c.qkvBias ?? false };
}

function checkDropout(op: string, name: string, p: unknown): number {
  if (typeof p !== "number" || !(p >= 0 && p < 1)) {
    throw new ArgumentError(`${op}: ${name} must be a number in [0, 1), but got ${describe(p)}`);
  }
  return p;
}

/** Checks an apply-style call's options record. */
function checkApplyOptions(op: string, options: unknown): void {
  checkOptions(op, options);
  const o = (options ?? {}) as ApplyOptions;
  if (o.fused !== undefined && typeof o.fused !== "boolean") {
    throw new ArgumentError(`${op}: options.fused must be a boolean, but got ${describe(o.fused)}`);
  }
  if (o.training !== undefined && typeof o.training !== "boolean") {
    throw new ArgumentError(
      `${op}: options.training must be a boolean, but got ${describe(o.training)}`,
    );
  }
}

/**
 * The forward pass with every intermediate kept: the seed's `forward`, one
 * step per line.
 */
function run(
  op: string,
  params: CausalAttentionParams,
  mask: Tensor,
  x: Tensor,
  dropoutP: number,
  options: ApplyOptions,
): AttentionStages {
  checkInputs(op, params, mask, x);
  const { W_query, W_key, W_value } = params;
  const dOut = W_key.weight.shape[0];
  const keys = linear(x, W_key.weight, W_key.bias); // [B, T, dOut]
  const queries = linear(x, W_query.weight, W_query.bias); // [B, T, dOut]
  const values = linear(x, W_value.weight, W_value.bias); // [B, T, dOut]
  const scores = matmul(queries, keys, { transposeB: true }); // [B, T, T]
  const maskedScores = maskedFillCorner( // mask[:T, :T] read in place
    "causalAttention",
    scores,
    mask,
    -Infinity,
    ["scores", "mask"],
  );
  let weights = softmax(maskedScores, { scale: 1 / Math.sqrt(dOut) }); // [B, T, T]
  if (options.training && dropoutP > 0) {
    const kept = dropout(weights, dropoutP, {
      seed: options.seed,
      generator: options.generator ?? globalGenerator(),
    });
    weights.dispose();
    weights = kept;
  }
  const context = matmul(weights, values); // [B, T, dOut]
  return { queries, keys, values, scores, maskedScores, weights, context };
}

function forwardOnly(
  op: string,
  params: CausalAttentionParams,
  mask: Tensor,
  x: Tensor,
  dropoutP: number,
  options: ApplyOptions,
): Tensor {
  checkInputs(op, params, mask, x);
  return attentionKernels.for(x)(op, params, mask, x, dropoutP, options);
}

/** A causal attention forward implementation (inputs checked by the layer). */
export type AttentionImpl = (
  op: string,
  params: CausalAttentionParams,
  mask: Tensor,
  x: Tensor,
  dropoutP: number,
  options: ApplyOptions,
) => Tensor;

// The cpu path is the reference, and a recording tape needs every step as
// its own op: both run the stages one by one.
function stagedAttention(
  op: string,
  params: CausalAttentionParams,
  mask: Tensor,
  x: Tensor,
  dropoutP: number,
  options: ApplyOptions,
): Tensor {
  const stages = run(op, params, mask, x, dropoutP, options);
  // Intermediates go back to the pool now; recorded passes still read them.
  for (const [name, t] of Object.entries(stages)) if (name !== "context") t.dispose();
  return stages.context;
}

function webgpuAttention(
  op: string,
  params: CausalAttentionParams,
  mask: Tensor,
  x: Tensor,
  dropoutP: number,
  options: ApplyOptions,
): Tensor {
  if (isRecording()) return stagedAttention(op, params, mask, x, dropoutP, options);
  const { W_query, W_key, W_value } = params;
  const [batch, tokens] = x.shape;
  const headSize = W_query.weight.shape[0];
  const packable = [W_key, W_value].every((w) =>
    showShape(w.weight.shape) === showShape(W_query.weight.shape) &&
    (w.bias === undefined) === (W_query.bias === undefined)
  );
  const evaluating = !(options.training && dropoutP > 0);
  if (
    evaluating && packable && options.fused !== false &&
    fusedAttentionSupported(gpuOf(x), batch, tokens, headSize)
  ) {
    // One projection matmul for q | k | v: on small heads a launch costs as
    // much as its work, and the fused kernel reads the packed rows in place.
    const qkv = projectPacked(x, params);
    const context = fusedAttentionPacked(qkv, headSize, mask, 1 / Math.sqrt(headSize));
    qkv.dispose();
    return context;
  }
  const keys = linear(x, W_key.weight, W_key.bias);
  const queries = linear(x, W_query.weight, W_query.bias);
  const values = linear(x, W_value.weight, W_value.bias);
  const drop = options.training && dropoutP > 0
    ? {
      p: dropoutP,
      // The same draw `dropout()` makes, so a seed or generator gives the stages' mask.
      seed: options.seed ?? seedFrom(options.generator ?? globalGenerator()),
    }
    : undefined;
  const context = attendGpu(queries, keys, values, mask, drop, options.fused !== false);
  for (const t of [queries, keys, values]) t.dispose();
  return context;
}

/**
 * causalAttention's forward without a tape, per backend
 * (src/ops/kernel_table.ts): the stages on cpu, fused or packed passes on
 * webgpu.
 */
export const attentionKernels: KernelTable<AttentionImpl> = kernelTable<AttentionImpl>(
  "causalAttention",
  { reference: stagedAttention, webgpu: webgpuAttention },
);

/** `x @ [W_query; W_key; W_value]^T (+ [b_q; b_k; b_v])`: `[B, T, 3 * dOut]`, rows `q | k | v`. */
function projectPacked(x: Tensor, params: CausalAttentionParams): Tensor {
  const layers = [params.W_query, params.W_key, params.W_value];
  const [dOut, dIn] = params.W_query.weight.shape;
  // Stacking is three buffer copies; the stacked views share their storage.
  const stacked = stack(layers.map((l) => l.weight));
  const weight = reshape(stacked, [3 * dOut, dIn]);
  stacked.dispose();
  let bias: Tensor | undefined;
  if (params.W_query.bias) {
    const biases = stack(layers.map((l) => l.bias!));
    bias = reshape(biases, [3 * dOut]);
    biases.dispose();
  }
  const qkv = linear(x, weight, bias);
  weight.dispose();
  bias?.dispose();
  return qkv;
}

function seedFrom(generator: Generator): bigint {
  return (BigInt(generator.random()) << 32n) | BigInt(generator.random());
}

/**
 * The attention core on webgpu without a tape: the fused kernel when it
 * applies, else three passes (scaled `Q K^T`; mask, softmax and dropout in
 * one; `@ V`) that give the stages' bits.
 */
function attendGpu(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  mask: Tensor | undefined,
  drop: { p: number; seed: number | bigint } | undefined,
  fused: boolean,
): Tensor {
  const [batch, tokens, headSize] = q.shape;
  const scale = 1 / Math.sqrt(headSize);
  if (
    !drop && fused && q.device.kind === "webgpu" &&
    fusedAttentionSupported(q.device, batch, tokens, headSize)
  ) {
    return fusedAttention(q, k, v, mask, scale);
  }
  const scores = matmul(q, k, { transposeB: true, alpha: scale });
  const weights = attentionWeights(scores, { causal: !mask, mask, dropout: drop });
  scores.dispose();
  const context = matmul(weights, v);
  weights.dispose();
  return context;
}

/** `nn.causalAttention.core`: checks, then the GPU fast paths or the step-by-step reference. */
function attentionCore(q: Tensor, k: Tensor, v: Tensor, options: CoreOptions): Tensor {
  const op = "causalAttention.core";
  const named: Named[] = [["keys", k], ["values", v]];
  for (const [name, t] of [["queries", q], ...named] as Named[]) checkTensor(op, name, t);
  checkOptions(op, options);
  if (options.mask !== undefined) checkTensor(op, "options.mask", options.mask);
  if (options.fused !== undefined && typeof options.fused !== "boolean") {
    throw new ArgumentError(
      `${op}: options.fused must be a boolean, but got ${describe(options.fused)}`,
    );
  }
  if (options.mask) named.push(["mask", options.mask]);
  assertSameDevice(op, ["queries", q], ...named);
  const shape = showShape(q.shape);
  if (q.shape.length !== 3 || showShape(k.shape) !== shape || showShape(v.shape) !== shape) {
    throw new ShapeError(
      `${op}: expected queries, keys and values of one shape [batch, tokens, headSize], but got ` +
        `${shape}, ${showShape(k.shape)} and ${showShape(v.shape)}`,
    );
  }
  const tokens = q.shape[1];
  const mask = options.mask;
  if (mask && (mask.shape.length !== 2 || mask.shape[0] < tokens || mask.shape[1] < tokens)) {
    throw new ShapeError(
      `${op}: mask ${showShape(mask.shape)} cannot cover ${tokens} tokens: expected ` +
        `[context, context] with context >= ${tokens}`,
    );
  }
  if (q.device.kind === "webgpu" && !isRecording()) {
    return attendGpu(q, k, v, mask, undefined, options.fused !== false);
  }
  const scores = matmul(q, k, { transposeB: true }); // [B, T, T]
  const weights = maskedSoftmax(op, scores, mask ?? null, 1 / Math.sqrt(q.shape[2])); // [B, T, T]
  const context = matmul(weights, v); // [B, T, d]
  scores.dispose();
  weights.dispose();
  return context;
}

/**
 * Causal self-attention as an `init`/`apply` pair over a plain record:
 *
 * - `init(config)` creates `W_query`, `W_key`, `W_value` (in that order, with
 *   PyTorch's initialisation) and registers the causal `mask` as a buffer.
 * - `apply(m, x)` runs the seed's forward: projections, `Q K^T`, the mask
 *   sliced to `[:T, :T]`, softmax of scores / sqrt(dOut), dropout when
 *   training, `@ V`. On webgpu it records one pipeline of passes that is
 *   submitted once, when the result is read; without dropout or a recording
 *   tape the three projections are one matmul and the attention core is one
 *   fused pass with no `[T, T]` buffer (see {@linkcode ApplyOptions.fused}).
 * - `forward(params, mask, x)` is the same with the mask passed separately:
 *   the seed's `CausalAttentionWithoutBuffers`, whose mask `toDevice` cannot
 *   see.
 * - `stages(m, x)` returns every intermediate (always the step-by-step passes).
 * - `core(q, k, v)` is the attention core alone, `softmax(q k^T / sqrt(d),
 *   causal) v` on already projected `[batch, tokens, d]` tensors.
 *
 * @example
 * ```ts
 * import { format, manualSeed, nn, stack, tensor } from "@tessera/core";
 * manualSeed(123);
 * const inputs = tensor([[0.43, 0.15, 0.89], [0.55, 0.87, 0.66], [0.57, 0.85, 0.64]]);
 * const m = nn.causalAttention.init({ dIn: 3, dOut: 2, contextLength: 3, dropout: 0 });
 * console.log(await format(nn.causalAttention.apply(m, stack([inputs, inputs]))));
 * ```
 */
export const causalAttention: {
  init(config: CausalAttentionConfig, options?: InitOptions): CausalAttention;
  apply(module: CausalAttention, x: Tensor, options?: ApplyOptions): Tensor;
  forward(
    params: CausalAttentionParams,
    mask: Tensor,
    x: Tensor,
    config: Pick<CausalAttentionConfig, "dropout">,
    options?: ApplyOptions,
  ): Tensor;
  stages(module: CausalAttention, x: Tensor, options?: ApplyOptions): AttentionStages;
  core(q: Tensor, k: Tensor, v: Tensor, options?: CoreOptions): Tensor;
  causalMask(contextLength: number): Tensor;
} = {
  init(config: CausalAttentionConfig, options: InitOptions = {}): CausalAttention {
    const op = "causalAttention.init";
    const { dIn, dOut, contextLength, dropout, qkvBias } = checkConfig(op, config);
    checkOptions(op, options);
    const generator = options.generator ?? globalGenerator();
    // PyTorch's order: the seed's __init__ creates W_query, W_key, W_value.
    const W_query = initLinearParams(dIn, dOut, qkvBias, generator);
    const W_key = initLinearParams(dIn, dOut, qkvBias, generator);
    const W_value = initLinearParams(dIn, dOut, qkvBias, generator);
    return {
      params: { W_query, W_key, W_value },
      buffers: { mask: causalAttention.causalMask(contextLength) },
      config: { dIn, dOut, contextLength, dropout, qkvBias },
    };
  },
  apply(module: CausalAttention, x: Tensor, options: ApplyOptions = {}): Tensor {
    const op = "causalAttention.apply";
    checkModule(op, module);
    checkApplyOptions(op, options);
    const p = checkDropout(op, "module.config.dropout", module.config?.dropout ?? 0);
    // The scope frees intermediates on error paths too.
    return tidy(() => forwardOnly(op, module.params, module.buffers.mask, x, p, options));
  },
  forward(
    params: CausalAttentionParams,
    mask: Tensor,
    x: Tensor,
    config: Pick<CausalAttentionConfig, "dropout">,
    options: ApplyOptions = {},
  ): Tensor {
    const op = "causalAttention.forward";
    checkOptions(op, config, "config");
    checkApplyOptions(op, options);
    const p = checkDropout(op, "config.dropout", config?.dropout ?? 0);
    return tidy(() => forwardOnly(op, params, mask, x, p, options));
  },
  stages(module: CausalAttention, x: Tensor, options: ApplyOptions = {}): AttentionStages {
    const op = "causalAttention.stages";
    checkModule(op, module);
    checkApplyOptions(op, options);
    const p = checkDropout(op, "module.config.dropout", module.config?.dropout ?? 0);
    return tidy(() => run(op, module.params, module.buffers.mask, x, p, options));
  },
  core(q: Tensor, k: Tensor, v: Tensor, options: CoreOptions = {}): Tensor {
    return tidy(() => attentionCore(q, k, v, options));
  },
  causalMask(contextLength: number): Tensor {
    checkInteger("causalAttention.causalMask", "contextLength", contextLength, { min: 1 });
    return cpuTensor(causalMaskValues(contextLength, contextLength), [
      contextLength,
      contextLength,
    ]);
  },
};
