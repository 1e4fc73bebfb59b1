/**
 * `nn.gptModel`: the book's chapter-4 `GPTModel` (GPT-2 architecture) as an
 * `init`/`apply` pair, and its `GPT_CONFIG_124M`.
 *
 * @module
 */

import { ArgumentError, ShapeError } from "../errors.ts";
import { checkModule, type Module } from "../module.ts";
import { checkBoolean, checkOptions, checkTensor, describe, showShape } from "../ops/checks.ts";
import { dropout } from "../ops/dropout.ts";
import { add } from "../ops/elementwise.ts";
import { slice } from "../ops/layout.ts";
import { linear } from "../ops/matmul.ts";
import { globalGenerator } from "../random.ts";
import { checkDType, type Tensor } from "../tensor.ts";
import { embedding, type EmbeddingParams } from "./embedding.ts";
import { layerNorm, type LayerNormParams } from "./layer_norm.ts";
import { initLinearParams, type InitOptions, type LinearParams } from "./linear.ts";
import {
  dropCache,
  type GptCachedModel,
  type GptCacheOptions,
  type GptStepResult,
  resetCache,
  stepCached,
  withCache,
} from "./gpt_cache.ts";
import { checkApplyOptions, type GptApplyOptions } from "./multi_head_attention.ts";
import {
  checkBlockConfig,
  transformerBlock,
  type TransformerBlockBuffers,
  type TransformerBlockParams,
} from "./transformer_block.ts";

/**
 * The book's GPT config (`cfg`), with camel-case names.
 *
 * @example
 * ```ts
 * import type { nn } from "@tessera/core";
 * const tiny: nn.GptConfig = {
 *   vocabSize: 50, contextLength: 8, embDim: 16, nHeads: 2, nLayers: 2,
 *   dropRate: 0.1, qkvBias: false,
 * };
 * ```
 */
export interface GptConfig {
  /** Tokens in the vocabulary (`vocab_size`). */
  vocabSize: number;
  /** Longest input (`context_length`). */
  contextLength: number;
  /** Embedding size (`emb_dim`). */
  embDim: number;
  /** Attention heads per block (`n_heads`); must divide `embDim`. */
  nHeads: number;
  /** Transformer blocks (`n_layers`). */
  nLayers: number;
  /** Dropout probability (`drop_rate`), used only when training. */
  dropRate: number;
  /** Query/key/value biases (`qkv_bias`). */
  qkvBias: boolean;
}

/**
 * The book's `GPT_CONFIG_124M` (GPT-2 small): 50257 tokens, context 1024,
 * 768 features, 12 heads, 12 layers, dropout 0.1, no qkv bias.
 *
 * @example
 * ```ts
 * import { nn } from "@tessera/core";
 * console.log(nn.GPT_CONFIG_124M.embDim); // 768
 * ```
 */
export const GPT_CONFIG_124M: Readonly<GptConfig> = Object.freeze({
  vocabSize: 50257,
  contextLength: 1024,
  embDim: 768,
  nHeads: 12,
  nLayers: 12,
  dropRate: 0.1,
  qkvBias: false,
});

/**
 * Parameters, keyed like PyTorch's state dict: `tok_emb.weight`,
 * `pos_emb.weight`, `trf_blocks.{i}.*`, `final_norm.{scale,shift}`,
 * `out_head.weight`.
 *
 * @example
 * ```ts
 * import { nn } from "@tessera/core";
 * const m = nn.gptModel.init({
 *   vocabSize: 10, contextLength: 4, embDim: 4, nHeads: 2, nLayers: 1, dropRate: 0, qkvBias: false,
 * });
 * const p: nn.GptParams = m.params;
 * console.log(p.out_head.weight.shape); // [10, 4]
 * ```
 */
export interface GptParams {
  /** Token embedding `[vocabSize, embDim]`. */
  tok_emb: EmbeddingParams;
  /** Position embedding `[contextLength, embDim]`. */
  pos_emb: EmbeddingParams;
  /** The transformer blocks, in order. */
  trf_blocks: TransformerBlockParams[];
  /** Final layer norm. */
  final_norm: LayerNormParams;
  /** Output head `embDim -> vocabSize`, no bias. */
  out_head: LinearParams;
}

/**
 * Buffers: each block's causal mask (`trf_blocks.{i}.att.mask`).
 *
 * @example
 * ```ts
 * import { nn } from "@tessera/core";
 * const m = nn.gptModel.init({
 *   vocabSize: 10, contextLength: 4, embDim: 4, nHeads: 2, nLayers: 1, dropRate: 0, qkvBias: false,
 * });
 * const b: nn.GptBuffers = m.buffers;
 * console.log(b.trf_blocks[0].att.mask.shape); // [4, 4]
 * ```
 */
export interface GptBuffers {
  /** Per-block buffers. */
  trf_blocks: TransformerBlockBuffers[];
}

/**
 * Options of `nn.gptModel.apply`: the layers' options, and `lastPosition`.
 *
 * @example
 * ```ts
 * import type { nn } from "@tessera/core";
 * const o: nn.GptModelApplyOptions = { lastPosition: true };
 * ```
 */
export interface GptModelApplyOptions extends GptApplyOptions {
  /**
   * Compute logits for the last position only, `[batch, 1, vocabSize]`
   * (what generation needs; default false). The output head is the largest
   * matmul of a step, and GPT-2's logits over more than 667 positions do not
   * fit one storage binding.
   */
  lastPosition?: boolean;
}

/**
 * A GPT model record.
 *
 * @example
 * ```ts
 * import { nn } from "@tessera/core";
 * const m: nn.GptModel = nn.gptModel.init({
 *   vocabSize: 10, contextLength: 4, embDim: 4, nHeads: 2, nLayers: 1, dropRate: 0, qkvBias: false,
 * });
 * ```
 */
export type GptModel = Module<GptParams, GptBuffers, GptConfig>;

/** Validates a GPT config; returns a fresh copy. */
function checkGptConfig(op: string, config: unknown): GptConfig {
  if (config === null || typeof config !== "object") {
    throw new ArgumentError(
      `${op}: config must be an object like nn.GPT_CONFIG_124M, but got ${describe(config)}`,
    );
  }
  const c = config as Record<string, unknown>;
  const block = checkBlockConfig(op, c);
  for (const key of ["vocabSize", "nLayers"]) {
    const v = c[key];
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1) {
      throw new ArgumentError(
        `${op}: config.${key} must be a whole number >= 1, but got ${describe(v)}`,
      );
    }
  }
  if (typeof c.qkvBias !== "boolean") {
    throw new ArgumentError(
      `${op}: config.qkvBias must be a boolean, but got ${describe(c.qkvBias)}`,
    );
  }
  return {
    vocabSize: c.vocabSize as number,
    contextLength: block.contextLength,
    embDim: block.embDim,
    nHeads: block.nHeads,
    nLayers: c.nLayers as number,
    dropRate: block.dropRate,
    qkvBias: block.qkvBias,
  };
}

/** Checks the ids: an int32 `[batch, tokens]` tensor with 1..contextLength tokens. */
/** Every block's mask must cover `tokens`: checked before any work, naming the block. */
function checkMasks(op: string, buffers: GptBuffers, tokens: number): void {
  buffers.trf_blocks.forEach((b, i) => {
    const shape = b.att.mask.shape;
    if (shape.length !== 2 || shape[0] < tokens || shape[1] < tokens) {
      throw new ShapeError(
        `${op}: buffers.trf_blocks.${i}.att.mask has shape ${showShape(shape)}, but ids has ` +
          `${tokens} tokens: the mask must be [T, T] with T >= ${tokens} (the context length)`,
      );
    }
  });
}

function checkIds(op: string, model: GptModel, ids: unknown): asserts ids is Tensor {
  checkTensor(op, "ids", ids);
  checkDType(op, "ids", ids, ["int32"]);
  const context = model.params.pos_emb.weight.shape[0];
  if (ids.shape.length !== 2 || ids.shape[1] < 1) {
    throw new ShapeError(
      `${op}: ids must have shape [batch, tokens] with tokens >= 1, but got ${
        showShape(ids.shape)
      }`,
    );
  }
  if (ids.shape[1] > context) {
    throw new ShapeError(
      `${op}: ids has ${ids.shape[1]} tokens, but the model's context length is ${context}; ` +
        `keep the last ${context} (the book's idx[:, -context_size:])`,
    );
  }
}

/**
 * The book's `GPTModel(cfg)`:
 *
 * - `init(cfg)` draws, in PyTorch's order, `tok_emb`, `pos_emb` (normal),
 *   then per block `W_query`, `W_key`, `W_value`, `out_proj`, `ff.layers.0`,
 *   `ff.layers.2`, then `out_head` (layer norms draw nothing): after
 *   `manualSeed(s)` the weights equal `torch.manual_seed(s); GPTModel(cfg)`'s.
 * - `apply(model, ids, { training?, generator? })` maps int32 ids
 *   `[batch, tokens]` (tokens <= contextLength, on the model's device) to
 *   logits `[batch, tokens, vocabSize]` (`[batch, 1, vocabSize]` with
 *   `{ lastPosition: true }`); dropout applies only when training.
 *   Every intermediate is freed before it returns.
 *
 * @example
 * ```ts
 * import { manualSeed, nn, tensor } from "@tessera/core";
 * manualSeed(123);
 * const model = nn.gptModel.init({
 *   vocabSize: 50, contextLength: 8, embDim: 16, nHeads: 2, nLayers: 2,
 *   dropRate: 0.1, qkvBias: false,
 * });
 * const ids = tensor([[6, 3, 6, 5], [6, 1, 2, 7]], undefined, { dtype: "int32" });
 * console.log(nn.gptModel.apply(model, ids).shape); // [2, 4, 50]
 * ```
 *
 * KV cache (inference only; the book's `cache_k` / `cache_v` buffers,
 * registered with `persistent=False`):
 *
 * - `withCache(model, { batch, maxTokens? })` returns a record sharing the
 *   model's parameters and masks (not copies) whose buffers add, per block,
 *   `att.cache_k` / `att.cache_v` `[batch, heads, maxTokens, headDim]`
 *   (zeros, allocated once on the model's device; maxTokens defaults to
 *   `contextLength` and is at most min(contextLength, 4096)), `att.qkv_weight`
 *   (+ `att.qkv_bias`: the three projections stacked once, a copy: load new
 *   weights into the plain model, then make a new cache), and
 *   `cache_position` (int32 `[1]`, the filled slots, on the device). All are
 *   non-persistent: `stateDict` gives the plain model's keys. `toDevice`
 *   moves them with the weights; `dispose(record)` frees everything,
 *   weights included (use `dropCache` to free only the cache).
 * - `step(cached, ids)` feeds int32 ids `[batch, T]` at positions
 *   `cache.position ..`, writes only their keys and values into the cache,
 *   and returns `{ logits, model }`: logits of the last new position only,
 *   `[batch, 1, vocabSize]` (equal to `apply`'s at that position), and the
 *   record for the next step. A step on an empty cache is one pass over the
 *   prompt (the same attention code as `apply`); later steps attend to the
 *   cached prefix in place (T > 1 then runs token by token). Ownership: the
 *   cache storage is written in place and handed to the returned record; the
 *   input record is CONSUMED (its `cache_k`, `cache_v` and `cache_position`
 *   are disposed, so using it again throws `UseAfterDisposeError`); its
 *   parameters, masks and packed weights stay valid and are shared with the
 *   new record. `ids` and the logits are the caller's. A step that does not
 *   fit (`position + T > maxTokens`) throws before any work.
 * - `resetCache(cached)` consumes the record and returns one with position 0
 *   over the same storage (nothing reallocated; stale slots are never read).
 * - `dropCache(cached)` frees the cache buffers and returns the plain model
 *   (sharing its parameters and masks).
 *
 * Past the context length `generate` re-prefills the window (see its docs).
 *
 * ```ts
 * import { manualSeed, nn, tensor } from "@tessera/core";
 * manualSeed(123);
 * const model = nn.gptModel.init({
 *   vocabSize: 50, contextLength: 8, embDim: 16, nHeads: 2, nLayers: 2,
 *   dropRate: 0, qkvBias: false,
 * });
 * let cached = nn.gptModel.withCache(model, { batch: 1 });
 * const prompt = tensor([[6, 3, 6]], undefined, { dtype: "int32" });
 * const first = nn.gptModel.step(cached, prompt); // one pass over the prompt
 * cached = first.model;
 * const next = tensor([[5]], undefined, { dtype: "int32" });
 * const second = nn.gptModel.step(cached, next); // attends to 4 cached tokens
 * console.log(second.logits.shape, second.model.cache.position); // [1, 1, 50] 4
 * nn.gptModel.dropCache(second.model);
 * ```
 */
export const gptModel: {
  init(config: GptConfig, options?: InitOptions): GptModel;
  apply(model: GptModel, ids: Tensor, options?: GptModelApplyOptions): Tensor;
  withCache(model: GptModel, options: GptCacheOptions): GptCachedModel;
  step(model: GptCachedModel, ids: Tensor): GptStepResult;
  resetCache(model: GptCachedModel): GptCachedModel;
  dropCache(model: GptCachedModel): GptModel;
} = {
  withCache,
  step: stepCached,
  resetCache,
  dropCache,
  init(config: GptConfig, options: InitOptions = {}): GptModel {
    checkOptions("gptModel.init", options);
    const c = checkGptConfig("gptModel.init", config);
    const generator = options.generator ?? globalGenerator();
    const tok_emb = embedding.init(
      { numEmbeddings: c.vocabSize, embeddingDim: c.embDim },
      { generator },
    );
    const pos_emb = embedding.init(
      { numEmbeddings: c.contextLength, embeddingDim: c.embDim },
      { generator },
    );
    const blocks = Array.from(
      { length: c.nLayers },
      () => transformerBlock.init(c, { generator }),
    );
    const final_norm = layerNorm.init({ embDim: c.embDim });
    const out_head = initLinearParams(c.embDim, c.vocabSize, false, generator);
    return {
      params: {
        tok_emb: tok_emb.params,
        pos_emb: pos_emb.params,
        trf_blocks: blocks.map((b) => b.params),
        final_norm: final_norm.params,
        out_head,
      },
      buffers: { trf_blocks: blocks.map((b) => b.buffers) },
      config: c,
    };
  },
  apply(model: GptModel, ids: Tensor, options: GptModelApplyOptions = {}): Tensor {
    const op = "gptModel.apply";
    checkApplyOptions(op, options);
    checkBoolean(op, "options.lastPosition", options.lastPosition, false);
    checkModule(op, model);
    checkIds(op, model, ids);
    checkModule(op, model, ids.device);
    const c = checkGptConfig(op, model.config);
    const { params, buffers } = model;
    if (params.trf_blocks.length !== buffers.trf_blocks.length) {
      throw new ArgumentError(
        `${op}: the model has ${params.trf_blocks.length} blocks of parameters but ` +
          `${buffers.trf_blocks.length} of buffers`,
      );
    }
    const tokens = ids.shape[1];
    checkMasks(op, buffers, tokens);
    const tok = embedding.apply( // [b, T, emb]
      { params: params.tok_emb, buffers: {}, config: tokEmbConfig(params) },
      ids,
    );
    const pos = slice(params.pos_emb.weight, [0, tokens]); // [T, emb]: rows 0..T-1
    let x = add(tok, pos); // [b, T, emb]
    tok.dispose();
    pos.dispose();
    if (options.training && c.dropRate > 0) {
      const dropped = dropout(x, c.dropRate, { generator: options.generator ?? globalGenerator() });
      x.dispose();
      x = dropped;
    }
    const blockConfig = checkBlockConfig(op, c);
    params.trf_blocks.forEach((p, i) => {
      const block = { params: p, buffers: buffers.trf_blocks[i], config: blockConfig };
      const next = transformerBlock.apply(block, x, options); // [b, T, emb]
      x.dispose();
      x = next;
    });
    if (options.lastPosition && tokens > 1) {
      const last = slice(x, [0, ids.shape[0]], [tokens - 1, tokens]); // [b, 1, emb]
      x.dispose();
      x = last;
    }
    const normed = layerNorm.apply( // [b, T, emb] ([b, 1, emb] with lastPosition)
      { params: params.final_norm, buffers: {}, config: { embDim: c.embDim, eps: 1e-5 } },
      x,
    );
    x.dispose();
    const logits = linear(normed, params.out_head.weight); // [b, T, vocab]
    normed.dispose();
    return logits;
  },
};

function tokEmbConfig(params: GptParams) {
  const [numEmbeddings, embeddingDim] = params.tok_emb.weight.shape;
  return { numEmbeddings, embeddingDim };
}
