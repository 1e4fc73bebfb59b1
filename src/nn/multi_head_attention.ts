/**
 * `nn.multiHeadAttention`: the book's `MultiHeadAttention` (causal, with the
 * mask registered as a buffer and an output projection) as an
 * `init`/`apply` pair.
 *
 * @module
 */

import { isRecording } from "../autograd/recording.ts";
import { ArgumentError, ShapeError } from "../errors.ts";
import { checkModule, type Module } from "../module.ts";
import { fusedAttentionPacked, fusedAttentionSupported } from "../ops/attention.ts";
import {
  checkBoolean,
  checkInteger,
  checkOptions,
  checkTensor,
  describe,
  showShape,
} from "../ops/checks.ts";
import { dropout } from "../ops/dropout.ts";
import { reshape, stack, transpose } from "../ops/layout.ts";
import { linear, matmul } from "../ops/matmul.ts";
import { maskedSoftmax } from "../ops/masked_softmax.ts";
import { Generator, globalGenerator } from "../random.ts";
import type { Tensor } from "../tensor.ts";
import { causalAttention } from "./causal_attention.ts";
import { initLinearParams, type InitOptions, type LinearParams } from "./linear.ts";

/**
 * Sizes and options of a multi-head attention layer (the book's
 * `MultiHeadAttention(d_in, d_out, context_length, dropout, num_heads, qkv_bias)`).
 *
 * @example
 * ```ts
 * import type { nn } from "@tessera/core";
 * const c: nn.MultiHeadAttentionConfig = {
 *   dIn: 768, dOut: 768, contextLength: 1024, dropout: 0.1, numHeads: 12,
 * };
 * ```
 */
export interface MultiHeadAttentionConfig {
  /** Input features. */
  dIn: number;
  /** Output features, split evenly over the heads. */
  dOut: number;
  /** Longest sequence the mask covers. */
  contextLength: number;
  /** Dropout probability on the attention weights (training only). */
  dropout: number;
  /** Number of heads; must divide `dOut`. */
  numHeads: number;
  /** Whether the query/key/value projections have biases; default false. */
  qkvBias?: boolean;
}

/**
 * Parameters, named as in PyTorch: the three projections and `out_proj`
 * (which always has a bias).
 *
 * @example
 * ```ts
 * import { nn } from "@tessera/core";
 * const m = nn.multiHeadAttention.init({
 *   dIn: 4, dOut: 4, contextLength: 6, dropout: 0, numHeads: 2,
 * });
 * const p: nn.MultiHeadAttentionParams = m.params;
 * console.log(p.out_proj.weight.shape); // [4, 4]
 * ```
 */
export interface MultiHeadAttentionParams {
  /** Query projection `dIn -> dOut`. */
  W_query: LinearParams;
  /** Key projection `dIn -> dOut`. */
  W_key: LinearParams;
  /** Value projection `dIn -> dOut`. */
  W_value: LinearParams;
  /** Output projection `dOut -> dOut`, with bias. */
  out_proj: LinearParams;
}

/**
 * Buffers: the causal mask `triu(ones([contextLength, contextLength]), 1)`
 * (persistent: it is in the state dict as `mask`).
 *
 * @example
 * ```ts
 * import { nn } from "@tessera/core";
 * const m = nn.multiHeadAttention.init({
 *   dIn: 4, dOut: 4, contextLength: 6, dropout: 0, numHeads: 2,
 * });
 * const b: nn.MultiHeadAttentionBuffers = m.buffers;
 * console.log(b.mask.shape); // [6, 6]
 * ```
 */
export interface MultiHeadAttentionBuffers {
  /** 1 above the diagonal (future positions), 0 elsewhere. */
  mask: Tensor;
}

/**
 * A multi-head attention module record.
 *
 * @example
 * ```ts
 * import { nn } from "@tessera/core";
 * const m: nn.MultiHeadAttention = nn.multiHeadAttention.init({
 *   dIn: 4, dOut: 4, contextLength: 6, dropout: 0, numHeads: 2,
 * });
 * ```
 */
export type MultiHeadAttention = Module<
  MultiHeadAttentionParams,
  MultiHeadAttentionBuffers,
  Required<MultiHeadAttentionConfig>
>;

/**
 * Options for the forward pass of the GPT layers.
 *
 * @example
 * ```ts
 * import type { nn } from "@tessera/core";
 * const o: nn.GptApplyOptions = { training: true };
 * ```
 */
export interface GptApplyOptions {
  /** Apply dropout; default false (evaluation, like `model.eval()`). */
  training?: boolean;
  /** Generator for dropout seeds; defaults to the global one. */
  generator?: Generator;
  /**
   * On webgpu, run the attention core of all heads as one fused kernel when
   * nothing records a tape and no dropout applies (default true). `false`
   * forces the step-by-step ops. No effect on cpu.
   */
  fused?: boolean;
}

/**
 * Checks the GPT layers' apply options (an object whose `training` and
 * `fused` are booleans and `generator` a Generator, when given), so that
 * `{ training: "yes" }` throws an `ArgumentError` instead of reading as true.
 */
export function checkApplyOptions(op: string, options: unknown): void {
  checkOptions(op, options);
  if (options === undefined) return;
  const o = options as GptApplyOptions;
  checkBoolean(op, "options.training", o.training, false);
  checkBoolean(op, "options.fused", o.fused, true);
  if (o.generator !== undefined && !(o.generator instanceof Generator)) {
    throw new ArgumentError(
      `${op}: options.generator must be a Generator, but got ${describe(o.generator)}`,
    );
  }
}

/** Validates a multi-head attention config; returns it with defaults filled in. */
export function checkAttentionConfig(
  op: string,
  config: unknown,
): Required<MultiHeadAttentionConfig> {
  if (config === null || typeof config !== "object") {
    throw new ArgumentError(
      `${op}: config must be an object like { dIn, dOut, contextLength, dropout, numHeads }, ` +
        `but got ${describe(config)}`,
    );
  }
  const c = config as Record<string, unknown>;
  const dIn = checkInteger(op, "config.dIn", c.dIn, { min: 1 });
  const dOut = checkInteger(op, "config.dOut", c.dOut, { min: 1 });
  const contextLength = checkInteger(op, "config.contextLength", c.contextLength, { min: 1 });
  const numHeads = checkInteger(op, "config.numHeads", c.numHeads, { min: 1 });
  if (dOut % numHeads !== 0) {
    throw new ArgumentError(
      `${op}: config.dOut (${dOut}) must be divisible by config.numHeads (${numHeads})`,
    );
  }
  const p = c.dropout;
  if (typeof p !== "number" || !(p >= 0 && p < 1)) {
    throw new ArgumentError(`${op}: config.dropout must be in [0, 1), but got ${describe(p)}`);
  }
  const qkvBias = c.qkvBias ?? false;
  if (typeof qkvBias !== "boolean") {
    throw new ArgumentError(
      `${op}: config.qkvBias must be a boolean, but got ${describe(qkvBias)}`,
    );
  }
  return { dIn, dOut, contextLength, dropout: p, numHeads, qkvBias };
}

/** Shapes and devices, checked before any work is recorded. */
function checkInput(module: MultiHeadAttention, x: Tensor): void {
  const op = "multiHeadAttention.apply";
  checkTensor(op, "x", x);
  checkModule(op, module, x.device);
  const dIn = module.params.W_query.weight.shape[1];
  if (x.shape.length !== 3 || x.shape[2] !== dIn) {
    throw new ShapeError(
      `${op}: expected x of shape [batch, tokens, ${dIn}], but got ${showShape(x.shape)}`,
    );
  }
  const mask = module.buffers.mask;
  const tokens = x.shape[1];
  if (mask.shape.length !== 2 || mask.shape[0] < tokens || mask.shape[1] < tokens) {
    throw new ShapeError(
      `${op}: x has ${tokens} tokens, but the mask ${showShape(mask.shape)} covers at most ` +
        `${Math.min(mask.shape[0] ?? 0, mask.shape[1] ?? 0)} (the context length)`,
    );
  }
}

/**
 * The book's forward, one step per line: the cpu reference and the path a
 * tape records.
 *
 * @example
 * ```ts
 * import { nn, ones } from "@tessera/core";
 * import { stepwise } from "./multi_head_attention.ts";
 * const m = nn.multiHeadAttention.init({ dIn: 4, dOut: 4, contextLength: 3, dropout: 0, numHeads: 2 });
 * console.log(stepwise(m, ones([1, 3, 4]), {}).shape); // [1, 3, 4]
 * ```
 */
export function stepwise(module: MultiHeadAttention, x: Tensor, options: GptApplyOptions): Tensor {
  const { W_query, W_key, W_value, out_proj } = module.params;
  const { numHeads, dOut, dropout: p } = module.config;
  const [b, tokens] = x.shape;
  const headDim = dOut / numHeads;
  const split = (t: Tensor): Tensor => {
    const viewed = reshape(t, [b, tokens, numHeads, headDim]);
    const heads = transpose(viewed, 1, 2); // [b, heads, tokens, headDim]
    viewed.dispose();
    t.dispose();
    return heads;
  };
  const keys = split(linear(x, W_key.weight, W_key.bias)); // [b, h, T, hd]
  const queries = split(linear(x, W_query.weight, W_query.bias)); // [b, h, T, hd]
  const values = split(linear(x, W_value.weight, W_value.bias)); // [b, h, T, hd]
  const scores = matmul(queries, keys, { transposeB: true }); // [b, h, T, T]
  queries.dispose();
  keys.dispose();
  let weights = maskedSoftmax( // mask[:T, :T] read in place
    "multiHeadAttention",
    scores,
    module.buffers.mask,
    1 / Math.sqrt(headDim),
  ); // [b, h, T, T]
  scores.dispose();
  if (options.training && p > 0) {
    const kept = dropout(weights, p, { generator: options.generator ?? globalGenerator() });
    weights.dispose();
    weights = kept;
  }
  const context = matmul(weights, values); // [b, h, T, hd]
  weights.dispose();
  values.dispose();
  const merged = transpose(context, 1, 2); // [b, T, h, hd]
  context.dispose();
  const flat = reshape(merged, [b, tokens, dOut]); // [b, T, dOut]
  merged.dispose();
  const out = linear(flat, out_proj.weight, out_proj.bias); // [b, T, dOut]
  flat.dispose();
  return out;
}

/**
 * The three projections stacked, `[3 dOut, dIn]` (rows `q | k | v`), and
 * their biases `[3 dOut]` if any: one `linear` with them gives the packed
 * projection the fused kernels read. New tensors, the caller's to free.
 *
 * @example
 * ```ts
 * import { nn } from "@tessera/core";
 * import { packQkv } from "./multi_head_attention.ts";
 * const m = nn.multiHeadAttention.init({ dIn: 4, dOut: 4, contextLength: 3, dropout: 0, numHeads: 2 });
 * console.log(packQkv(m.params).weight.shape); // [12, 4]
 * ```
 */
export function packQkv(params: MultiHeadAttentionParams): { weight: Tensor; bias?: Tensor } {
  const layers = [params.W_query, params.W_key, params.W_value];
  const [dOut, dIn] = params.W_query.weight.shape;
  const stacked = stack(layers.map((l) => l.weight));
  const weight = reshape(stacked, [3 * dOut, dIn]);
  stacked.dispose();
  if (!params.W_query.bias) return { weight };
  const biases = stack(layers.map((l) => l.bias!));
  const bias = reshape(biases, [3 * dOut]);
  biases.dispose();
  return { weight, bias };
}

/** `x @ [W_query; W_key; W_value]^T (+ biases)`: `[b, T, 3 dOut]`, rows `q | k | v`. */
function projectPacked(x: Tensor, params: MultiHeadAttentionParams): Tensor {
  const { weight, bias } = packQkv(params);
  const qkv = linear(x, weight, bias);
  weight.dispose();
  bias?.dispose();
  return qkv;
}

/**
 * Whether {@linkcode multiHeadAttention}`.apply` takes the fused webgpu path
 * for `[batch, tokens, dIn]` inputs on `x`'s device with these options.
 *
 * @example
 * ```ts
 * import { nn, ones } from "@tessera/core";
 * import { usesFusedPath } from "./multi_head_attention.ts";
 * const m = nn.multiHeadAttention.init({ dIn: 4, dOut: 4, contextLength: 3, dropout: 0, numHeads: 2 });
 * console.log(usesFusedPath(m, ones([1, 3, 4]), {})); // false: cpu
 * ```
 */
export function usesFusedPath(
  module: MultiHeadAttention,
  x: Tensor,
  options: GptApplyOptions,
): boolean {
  const { numHeads, dOut, dropout: p } = module.config;
  const headDim = dOut / numHeads;
  const [batch, tokens] = x.shape;
  const dropping = options.training === true && p > 0;
  return x.device.kind === "webgpu" && !isRecording() && !dropping && options.fused !== false &&
    fusedAttentionSupported(x.device, batch * numHeads, tokens, headDim);
}

/**
 * The fused path's attention from a packed projection `[b, T, 3 dOut]`:
 * the fused causal core of every head, then `out_proj`; `[b, T, dOut]`.
 *
 * @example
 * ```ts ignore
 * const out = attendPacked(m, linear(x, packed.weight, packed.bias));
 * ```
 */
export function attendPacked(module: MultiHeadAttention, qkv: Tensor): Tensor {
  const { numHeads, dOut } = module.config;
  const headDim = dOut / numHeads;
  const context = fusedAttentionPacked( // [b, T, dOut], heads merged
    qkv,
    headDim,
    module.buffers.mask,
    1 / Math.sqrt(headDim),
    numHeads,
  );
  const { out_proj } = module.params;
  const out = linear(context, out_proj.weight, out_proj.bias); // [b, T, dOut]
  context.dispose();
  return out;
}

/**
 * The book's `MultiHeadAttention`:
 *
 * - `init(config)` creates `W_query`, `W_key`, `W_value`, `out_proj` (in that
 *   order, with PyTorch's initialisation, so `manualSeed(s)` gives torch's
 *   weights) and registers the causal `mask` buffer.
 * - `apply(m, x)` maps `[batch, tokens, dIn]` to `[batch, tokens, dOut]`:
 *   projections, heads split to `[b, heads, T, headDim]`, scaled masked
 *   softmax, dropout when training, `@ V`, heads merged, `out_proj`.
 *
 * On webgpu, without a tape or dropout and for head sizes up to 64, the three
 * projections run as one matmul and the attention core of every head runs as
 * one fused kernel that reads each head's queries, keys and values in place
 * from the packed projection and writes the merged `[b, T, dOut]` layout
 * directly (no head split or merge copies, no `[T, T]` buffer). NaN in the
 * inputs or weights gives NaN out on every path, as in PyTorch; the one
 * deliberate difference is a row whose keys are all masked (possible only
 * with a custom mask buffer), which gives zeros instead of NaN.
 *
 * @example
 * ```ts
 * import { manualSeed, nn, ones } from "@tessera/core";
 * manualSeed(123);
 * const m = nn.multiHeadAttention.init({
 *   dIn: 3, dOut: 2, contextLength: 6, dropout: 0, numHeads: 2,
 * });
 * console.log(nn.multiHeadAttention.apply(m, ones([2, 6, 3])).shape); // [2, 6, 2]
 * ```
 */
export const multiHeadAttention: {
  init(config: MultiHeadAttentionConfig, options?: InitOptions): MultiHeadAttention;
  apply(module: MultiHeadAttention, x: Tensor, options?: GptApplyOptions): Tensor;
} = {
  init(config: MultiHeadAttentionConfig, options: InitOptions = {}): MultiHeadAttention {
    checkOptions("multiHeadAttention.init", options);
    const c = checkAttentionConfig("multiHeadAttention.init", config);
    const generator = options.generator ?? globalGenerator();
    // PyTorch's order: __init__ creates W_query, W_key, W_value, out_proj.
    const W_query = initLinearParams(c.dIn, c.dOut, c.qkvBias, generator);
    const W_key = initLinearParams(c.dIn, c.dOut, c.qkvBias, generator);
    const W_value = initLinearParams(c.dIn, c.dOut, c.qkvBias, generator);
    const out_proj = initLinearParams(c.dOut, c.dOut, true, generator);
    return {
      params: { W_query, W_key, W_value, out_proj },
      buffers: { mask: causalAttention.causalMask(c.contextLength) },
      config: c,
    };
  },
  apply(module: MultiHeadAttention, x: Tensor, options: GptApplyOptions = {}): Tensor {
    checkApplyOptions("multiHeadAttention.apply", options);
    checkInput(module, x);
    if (usesFusedPath(module, x, options)) {
      const qkv = projectPacked(x, module.params); // [b, T, 3 dOut]
      const out = attendPacked(module, qkv); // [b, T, dOut]
      qkv.dispose();
      return out;
    }
    return stepwise(module, x, options);
  },
};
