/**
 * `nn.transformerBlock`: the book's `TransformerBlock` (pre-norm attention
 * and feed-forward, each with dropout and a shortcut) as an `init`/`apply`
 * pair.
 *
 * @module
 */

import { ArgumentError, ShapeError } from "../errors.ts";
import { checkModule, type Module } from "../module.ts";
import { checkInteger, checkOptions, checkTensor, describe, showShape } from "../ops/checks.ts";
import { dropout } from "../ops/dropout.ts";
import { add } from "../ops/elementwise.ts";
import { globalGenerator } from "../random.ts";
import type { Tensor } from "../tensor.ts";
import { feedForward, type FeedForwardParams } from "./feed_forward.ts";
import { layerNorm, type LayerNormParams } from "./layer_norm.ts";
import type { InitOptions } from "./linear.ts";
import {
  checkApplyOptions,
  checkAttentionConfig,
  type GptApplyOptions,
  multiHeadAttention,
  type MultiHeadAttentionBuffers,
  type MultiHeadAttentionConfig,
  type MultiHeadAttentionParams,
} from "./multi_head_attention.ts";

/**
 * Sizes of a transformer block (the block's part of the book's GPT config).
 *
 * @example
 * ```ts
 * import type { nn } from "@tessera/core";
 * const c: nn.TransformerBlockConfig = {
 *   embDim: 768, contextLength: 1024, nHeads: 12, dropRate: 0.1, qkvBias: false,
 * };
 * ```
 */
export interface TransformerBlockConfig {
  /** Embedding size (`emb_dim`). */
  embDim: number;
  /** Longest sequence (`context_length`). */
  contextLength: number;
  /** Attention heads (`n_heads`); must divide `embDim`. */
  nHeads: number;
  /** Dropout probability for the attention weights and both shortcuts (`drop_rate`). */
  dropRate: number;
  /** Query/key/value biases (`qkv_bias`); default false. */
  qkvBias?: boolean;
}

/**
 * Parameters: `att`, `ff`, `norm1`, `norm2` (state-dict keys `att.W_query.weight`, ...).
 *
 * @example
 * ```ts
 * import { nn } from "@tessera/core";
 * const b = nn.transformerBlock.init({ embDim: 4, contextLength: 3, nHeads: 2, dropRate: 0 });
 * const p: nn.TransformerBlockParams = b.params;
 * console.log(p.norm1.scale.shape); // [4]
 * ```
 */
export interface TransformerBlockParams {
  /** Multi-head attention. */
  att: MultiHeadAttentionParams;
  /** Feed-forward network. */
  ff: FeedForwardParams;
  /** Layer norm before the attention. */
  norm1: LayerNormParams;
  /** Layer norm before the feed-forward. */
  norm2: LayerNormParams;
}

/**
 * Buffers: the attention's causal mask (`att.mask`).
 *
 * @example
 * ```ts
 * import { nn } from "@tessera/core";
 * const b = nn.transformerBlock.init({ embDim: 4, contextLength: 3, nHeads: 2, dropRate: 0 });
 * const buffers: nn.TransformerBlockBuffers = b.buffers;
 * console.log(buffers.att.mask.shape); // [3, 3]
 * ```
 */
export interface TransformerBlockBuffers {
  /** The attention's buffers. */
  att: MultiHeadAttentionBuffers;
}

/**
 * A transformer block module record.
 *
 * @example
 * ```ts
 * import { nn } from "@tessera/core";
 * const b: nn.TransformerBlock = nn.transformerBlock.init({
 *   embDim: 4, contextLength: 3, nHeads: 2, dropRate: 0,
 * });
 * ```
 */
export type TransformerBlock = Module<
  TransformerBlockParams,
  TransformerBlockBuffers,
  Required<TransformerBlockConfig>
>;

/** Validates a block config; returns it with defaults filled in. */
export function checkBlockConfig(op: string, config: unknown): Required<TransformerBlockConfig> {
  if (config === null || typeof config !== "object") {
    throw new ArgumentError(
      `${op}: config must be an object like { embDim, contextLength, nHeads, dropRate }, ` +
        `but got ${describe(config)}`,
    );
  }
  const c = config as Record<string, unknown>;
  const embDim = checkInteger(op, "config.embDim", c.embDim, { min: 1 });
  const nHeads = checkInteger(op, "config.nHeads", c.nHeads, { min: 1 });
  if (embDim % nHeads !== 0) {
    throw new ArgumentError(
      `${op}: config.embDim (${embDim}) must be divisible by config.nHeads (${nHeads})`,
    );
  }
  const contextLength = checkInteger(op, "config.contextLength", c.contextLength, { min: 1 });
  const dropRate = c.dropRate;
  if (typeof dropRate !== "number" || !(dropRate >= 0 && dropRate < 1)) {
    throw new ArgumentError(
      `${op}: config.dropRate must be in [0, 1), but got ${describe(dropRate)}`,
    );
  }
  const qkvBias = c.qkvBias ?? false;
  if (typeof qkvBias !== "boolean") {
    throw new ArgumentError(
      `${op}: config.qkvBias must be a boolean, but got ${describe(qkvBias)}`,
    );
  }
  return { embDim, contextLength, nHeads, dropRate, qkvBias };
}

/** `dropout(x)` when training with p > 0, freeing x; else x itself. */
function maybeDropout(x: Tensor, p: number, options: GptApplyOptions): Tensor {
  if (!options.training || p === 0) return x;
  const out = dropout(x, p, { generator: options.generator ?? globalGenerator() });
  x.dispose();
  return out;
}

/**
 * The book's `TransformerBlock(cfg)`:
 * `x = x + drop(att(norm1(x))); x = x + drop(ff(norm2(x)))` over
 * `[batch, tokens, embDim]`. `init` draws the attention's four linear layers
 * then the feed-forward's two, in PyTorch's order; dropout (attention weights
 * and shortcuts) applies only with `{ training: true }`. Intermediates are
 * freed as soon as the next step has used them.
 *
 * @example
 * ```ts
 * import { manualSeed, nn, ones } from "@tessera/core";
 * manualSeed(123);
 * const b = nn.transformerBlock.init({ embDim: 4, contextLength: 3, nHeads: 2, dropRate: 0.1 });
 * console.log(nn.transformerBlock.apply(b, ones([2, 3, 4])).shape); // [2, 3, 4]
 * ```
 */
export const transformerBlock: {
  init(config: TransformerBlockConfig, options?: InitOptions): TransformerBlock;
  apply(module: TransformerBlock, x: Tensor, options?: GptApplyOptions): Tensor;
} = {
  init(config: TransformerBlockConfig, options: InitOptions = {}): TransformerBlock {
    checkOptions("transformerBlock.init", options);
    const c = checkBlockConfig("transformerBlock.init", config);
    const generator = options.generator ?? globalGenerator();
    const att = multiHeadAttention.init(attentionConfig(c), { generator });
    const ff = feedForward.init({ embDim: c.embDim }, { generator });
    const norm1 = layerNorm.init({ embDim: c.embDim });
    const norm2 = layerNorm.init({ embDim: c.embDim });
    return {
      params: { att: att.params, ff: ff.params, norm1: norm1.params, norm2: norm2.params },
      buffers: { att: att.buffers },
      config: c,
    };
  },
  apply(module: TransformerBlock, x: Tensor, options: GptApplyOptions = {}): Tensor {
    const op = "transformerBlock.apply";
    checkApplyOptions(op, options);
    checkTensor(op, "x", x);
    checkModule(op, module, x.device);
    const c = module.config;
    const embDim = module.params.norm1.scale.shape[0];
    if (x.shape.length !== 3 || x.shape[2] !== embDim) {
      throw new ShapeError(
        `${op}: expected x of shape [batch, tokens, ${embDim}], but got ${showShape(x.shape)}`,
      );
    }
    const att = {
      params: module.params.att,
      buffers: module.buffers.att,
      config: attentionConfig(c),
    };
    return blockForward(
      module,
      x,
      (n1) => multiHeadAttention.apply(att, n1, options), // [b, T, emb]
      options,
    );
  },
};

/**
 * The block's forward around a given attention (`n1 -> [b, T, emb]`): the
 * layer norms, dropouts, shortcuts and feed-forward of
 * {@linkcode transformerBlock}, shared by `apply` and the KV-cached step so
 * both compute the same numbers. Frees its intermediates (not `x`).
 *
 * @example
 * ```ts ignore
 * const out = blockForward(block, x, (n1) => nn.multiHeadAttention.apply(att, n1));
 * ```
 */
export function blockForward(
  module: Module<TransformerBlockParams, unknown, Required<TransformerBlockConfig>>,
  x: Tensor,
  attend: (n1: Tensor) => Tensor,
  options: GptApplyOptions = {},
): Tensor {
  const c = module.config;
  const embDim = module.params.norm1.scale.shape[0];
  const { params } = module;
  const norm = (p: LayerNormParams) => ({
    params: p,
    buffers: {},
    config: { embDim, eps: 1e-5 },
  });
  const ff = { params: params.ff, buffers: {}, config: { embDim } };
  const n1 = layerNorm.apply(norm(params.norm1), x); // [b, T, emb]
  const a = attend(n1); // [b, T, emb]
  n1.dispose();
  const ad = maybeDropout(a, c.dropRate, options);
  const h = add(ad, x); // [b, T, emb]: shortcut
  ad.dispose();
  const n2 = layerNorm.apply(norm(params.norm2), h); // [b, T, emb]
  const f = feedForward.apply(ff, n2); // [b, T, emb]
  n2.dispose();
  const fd = maybeDropout(f, c.dropRate, options);
  const out = add(fd, h); // [b, T, emb]: shortcut
  fd.dispose();
  h.dispose();
  return out;
}

/**
 * The attention config of a block's `att` (internal: shared with the KV-cached step).
 *
 * @example
 * ```ts ignore
 * const c = attentionConfig({ embDim: 4, contextLength: 3, nHeads: 2, dropRate: 0, qkvBias: false });
 * ```
 */
export function attentionConfig(
  c: Required<TransformerBlockConfig>,
): Required<MultiHeadAttentionConfig> {
  return checkAttentionConfig("transformerBlock", {
    dIn: c.embDim,
    dOut: c.embDim,
    contextLength: c.contextLength,
    dropout: c.dropRate,
    numHeads: c.nHeads,
    qkvBias: c.qkvBias,
  });
}
