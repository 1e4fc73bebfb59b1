/**
 * The GPT's KV cache as non-persistent buffers (the book's
 * `register_buffer("cache_k", None, persistent=False)`): `withCache` adds
 * preallocated `cache_k` / `cache_v` per block and a fill position to a GPT
 * record, `stepCached` runs new tokens through it writing only their keys and
 * values, `resetCache` empties it without reallocating, `dropCache` frees it.
 * Reached as `nn.gptModel.withCache` / `.step` / `.resetCache` / `.dropCache`.
 *
 * @module
 */

import { ArgumentError, ShapeError } from "../errors.ts";
import { checkModule, type Module } from "../module.ts";
import { checkInteger, checkOptions, checkTensor, describe, showShape } from "../ops/checks.ts";
import { add } from "../ops/elementwise.ts";
import { embedding as embeddingOp } from "../ops/embedding.ts";
import {
  advancePosition,
  decodeAttention,
  MAX_DECODE_HEAD_SIZE,
  MAX_DECODE_TOKENS,
  writeKv,
} from "../ops/kv_cache.ts";
import { slice } from "../ops/layout.ts";
import { linear } from "../ops/matmul.ts";
import { checkDType, fromHost, type Tensor, viewOf } from "../tensor.ts";
import { layerNorm } from "./layer_norm.ts";
import type { GptConfig, GptModel, GptParams } from "./gpt_model.ts";
import {
  attendPacked,
  type MultiHeadAttention,
  type MultiHeadAttentionBuffers,
  packQkv,
  stepwise,
  usesFusedPath,
} from "./multi_head_attention.ts";
import { attentionConfig, blockForward, checkBlockConfig } from "./transformer_block.ts";

/**
 * A block's attention buffers with a KV cache: the persistent `mask`, plus
 * the non-persistent `cache_k`, `cache_v` `[batch, heads, maxTokens,
 * headDim]` and the packed projection weights the cached step uses
 * (`qkv_weight` `[3 embDim, embDim]`, `qkv_bias` when `qkvBias`: copies of
 * `W_query`/`W_key`/`W_value` made once by `withCache`, so no step restacks
 * them).
 *
 * @example
 * ```ts
 * import { nn } from "@tessera/core";
 * const m = nn.gptModel.withCache(nn.gptModel.init({
 *   vocabSize: 10, contextLength: 8, embDim: 4, nHeads: 2, nLayers: 1, dropRate: 0, qkvBias: false,
 * }), { batch: 1 });
 * const att: nn.GptCacheAttentionBuffers = m.buffers.trf_blocks[0].att;
 * console.log(att.cache_k.shape); // [1, 2, 8, 2]
 * ```
 */
export interface GptCacheAttentionBuffers extends MultiHeadAttentionBuffers {
  /** Keys of the tokens seen so far, `[batch, heads, maxTokens, headDim]`. */
  cache_k: Tensor;
  /** Values, same layout as `cache_k`. */
  cache_v: Tensor;
  /** `[W_query; W_key; W_value]` weights, `[3 embDim, embDim]`. */
  qkv_weight: Tensor;
  /** Their biases `[3 embDim]` (only with `qkvBias`). */
  qkv_bias?: Tensor;
}

/**
 * Buffers of a GPT with a KV cache: per block the attention's mask and cache,
 * and `cache_position`, an int32 `[1]` tensor holding the number of filled
 * slots on the model's device (kernels read it there, so decode steps never
 * upload anything).
 *
 * @example
 * ```ts
 * import type { nn } from "@tessera/core";
 * type B = nn.GptCacheBuffers["cache_position"];
 * ```
 */
export interface GptCacheBuffers {
  /** Per-block buffers. */
  trf_blocks: { att: GptCacheAttentionBuffers }[];
  /** Filled slots (int32 `[1]`, on the model's device). */
  cache_position: Tensor;
}

/**
 * The host's view of a cache: its size and how many tokens it holds.
 *
 * @example
 * ```ts
 * import type { nn } from "@tessera/core";
 * const s: nn.GptCacheState = { batch: 1, maxTokens: 1024, position: 0 };
 * ```
 */
export interface GptCacheState {
  /** Sequences per step. */
  readonly batch: number;
  /** Tokens the cache holds at most (<= contextLength). */
  readonly maxTokens: number;
  /** Tokens it holds now; the next token gets this position. */
  readonly position: number;
}

/**
 * A GPT record with a KV cache (from `nn.gptModel.withCache`). Its
 * `nonPersistent` lists every cache buffer, so `stateDict` gives exactly the
 * plain model's keys; `toDevice` moves the caches with the weights.
 *
 * @example
 * ```ts
 * import { nn } from "@tessera/core";
 * const m: nn.GptCachedModel = nn.gptModel.withCache(nn.gptModel.init({
 *   vocabSize: 10, contextLength: 8, embDim: 4, nHeads: 2, nLayers: 1, dropRate: 0, qkvBias: false,
 * }), { batch: 2, maxTokens: 6 });
 * console.log(m.cache); // { batch: 2, maxTokens: 6, position: 0 }
 * ```
 */
export interface GptCachedModel extends Module<GptParams, GptCacheBuffers, GptConfig> {
  /** Size and fill of the cache. */
  readonly cache: GptCacheState;
}

/**
 * Options of `nn.gptModel.withCache`.
 *
 * @example
 * ```ts
 * import type { nn } from "@tessera/core";
 * const o: nn.GptCacheOptions = { batch: 1, maxTokens: 256 };
 * ```
 */
export interface GptCacheOptions {
  /** Sequences per step (the ids' first dimension). */
  batch: number;
  /** Capacity in tokens; default (and at most) the model's `contextLength`. */
  maxTokens?: number;
}

/**
 * What `nn.gptModel.step` returns.
 *
 * @example
 * ```ts
 * import type { nn } from "@tessera/core";
 * type Logits = nn.GptStepResult["logits"];
 * ```
 */
export interface GptStepResult {
  /** Logits of the LAST new position only, `[batch, 1, vocabSize]` (new, the caller's). */
  logits: Tensor;
  /** The model for the next step (its cache holds the new tokens). */
  model: GptCachedModel;
}

const CACHE_KEYS = ["cache_k", "cache_v", "qkv_weight", "qkv_bias"] as const;

/** `nn.gptModel.withCache`: see gpt_model.ts for the public description. */
export function withCache(model: GptModel, options: GptCacheOptions): GptCachedModel {
  const op = "gptModel.withCache";
  checkModule(op, model);
  if ("cache" in model) {
    throw new ArgumentError(`${op}: the model already has a KV cache; pass the plain model`);
  }
  checkOptions(op, options);
  if (options === undefined) {
    throw new ArgumentError(`${op}: options must be an object like { batch }, but got undefined`);
  }
  const c = model.config;
  const block = checkBlockConfig(op, c);
  const batch = checkInteger(op, "batch", options.batch, { min: 1 });
  const limit = Math.min(c.contextLength, MAX_DECODE_TOKENS);
  const maxTokens = options.maxTokens === undefined
    ? limit
    : checkInteger(op, "maxTokens", options.maxTokens, { min: 1, max: limit });
  const device = model.params.tok_emb.weight.device;
  const headDim = block.embDim / block.nHeads;
  if (device.kind === "webgpu" && headDim > MAX_DECODE_HEAD_SIZE) {
    throw new ArgumentError(
      `${op}: the model's heads have ${headDim} features (embDim ${block.embDim} / nHeads ` +
        `${block.nHeads}), but the webgpu decode kernel takes at most ${MAX_DECODE_HEAD_SIZE}; ` +
        `generate with useCache: false`,
    );
  }
  if (device.kind === "webgpu" && batch * block.nHeads > 65535) {
    throw new ArgumentError(
      `${op}: batch ${batch} x ${block.nHeads} heads is ${batch * block.nHeads} attention rows, ` +
        `but the webgpu decode kernel takes at most 65535 (one workgroup row each)`,
    );
  }
  const shape = [batch, block.nHeads, maxTokens, headDim];
  const size = batch * headDim * block.nHeads * maxTokens;
  // The caches follow the model's dtype: a float16 model gets float16 caches
  // (half the bytes; the decode attention computes in float32).
  const zeros = () =>
    model.params.tok_emb.weight.dtype === "float16"
      ? new Uint16Array(size)
      : new Float32Array(size);
  const created: Tensor[] = [];
  const make = (
    data: Float32Array | Uint16Array | Int32Array,
    s: number[],
    what: string,
  ): Tensor => {
    const t = fromHost(data, s, device, op, what);
    created.push(t);
    return t;
  };
  try {
    const trf_blocks = model.params.trf_blocks.map((p, i) => {
      const packed = packQkv(p.att);
      created.push(packed.weight);
      if (packed.bias) created.push(packed.bias);
      const att: GptCacheAttentionBuffers = {
        mask: model.buffers.trf_blocks[i].att.mask,
        cache_k: make(zeros(), shape, "cache_k"),
        cache_v: make(zeros(), shape, "cache_v"),
        qkv_weight: packed.weight,
      };
      if (packed.bias) att.qkv_bias = packed.bias;
      return { att };
    });
    const cache_position = make(new Int32Array(1), [1], "cache_position");
    return {
      params: model.params,
      buffers: { trf_blocks, cache_position },
      config: model.config,
      nonPersistent: [...(model.nonPersistent ?? []), ...nonPersistentNames(trf_blocks)],
      cache: { batch, maxTokens, position: 0 },
    };
  } catch (error) {
    for (const t of created) t.dispose();
    throw error;
  }
}

/**
 * Whether `withCache` can serve `model` on its device (webgpu decodes heads
 * of at most 1024 features); `generate` falls back to `useCache: false`
 * by default where not.
 *
 * @example
 * ```ts
 * import { nn } from "@tessera/core";
 * import { cacheSupported } from "./gpt_cache.ts";
 * console.log(cacheSupported(nn.gptModel.init({
 *   vocabSize: 10, contextLength: 4, embDim: 4, nHeads: 2, nLayers: 1, dropRate: 0, qkvBias: false,
 * }))); // true
 * ```
 */
export function cacheSupported(model: GptModel): boolean {
  // A malformed record is left to the uncached path, whose checks name the problem.
  const device = model.params?.tok_emb?.weight?.device;
  const { embDim, nHeads } = model.config ?? {};
  if (!device || typeof embDim !== "number" || typeof nHeads !== "number") return false;
  return device.kind === "cpu" || embDim / nHeads <= MAX_DECODE_HEAD_SIZE;
}

function nonPersistentNames(blocks: { att: GptCacheAttentionBuffers }[]): string[] {
  const names = ["cache_position"];
  blocks.forEach((b, i) => {
    for (const key of CACHE_KEYS) if (b.att[key]) names.push(`trf_blocks.${i}.att.${key}`);
  });
  return names;
}

/** Checks a cached record: a module with a cache whose buffers match its state. */
function checkCached(op: string, model: unknown): asserts model is GptCachedModel {
  checkModule(op, model);
  const m = model as Partial<GptCachedModel>;
  const state = m.cache;
  const buffers = m.buffers as Partial<GptCacheBuffers> | undefined;
  if (
    state === null || typeof state !== "object" || !buffers?.cache_position ||
    !Array.isArray(buffers.trf_blocks) || buffers.trf_blocks.some((b) => !b?.att?.cache_k)
  ) {
    throw new ArgumentError(
      `${op}: model must be a GPT with a KV cache (from nn.gptModel.withCache), but got ` +
        `${describe(model)} without one`,
    );
  }
}

/**
 * A new record over the same storage (views), disposing the old record's
 * cache tensors: the old record is consumed, and using it again throws
 * `UseAfterDisposeError` naming the buffer, instead of silently reading a
 * cache that has moved on.
 */
function handOver(model: GptCachedModel, position: number): GptCachedModel {
  const op = "gptModel.step";
  const old: Tensor[] = [];
  const take = (t: Tensor): Tensor => {
    old.push(t);
    return viewOf(t, t.shape, op);
  };
  const trf_blocks = model.buffers.trf_blocks.map((b) => ({
    att: { ...b.att, cache_k: take(b.att.cache_k), cache_v: take(b.att.cache_v) },
  }));
  const cache_position = take(model.buffers.cache_position);
  for (const t of old) t.dispose();
  return {
    ...model,
    buffers: { trf_blocks, cache_position },
    cache: { ...model.cache, position },
  };
}

/** `nn.gptModel.step`: see gpt_model.ts for the public description. */
export function stepCached(model: GptCachedModel, ids: Tensor): GptStepResult {
  const op = "gptModel.step";
  checkCached(op, model);
  checkTensor(op, "ids", ids);
  checkDType(op, "ids", ids, ["int32"]);
  checkModule(op, model, ids.device);
  const { batch, maxTokens, position } = model.cache;
  if (ids.shape.length !== 2 || ids.shape[1] < 1 || ids.shape[0] !== batch) {
    throw new ShapeError(
      `${op}: ids must have shape [${batch}, tokens] with tokens >= 1 (the cache was made ` +
        `for batch ${batch}), but got ${showShape(ids.shape)}`,
    );
  }
  const tokens = ids.shape[1];
  if (position + tokens > maxTokens) {
    throw new ShapeError(
      `${op}: the cache holds ${position} of ${maxTokens} tokens and cannot take ${tokens} ` +
        `more; reset it (nn.gptModel.resetCache) and feed the last tokens again, as ` +
        `generate does past the context`,
    );
  }
  if (position > 0 && tokens > 1) {
    // Keys of earlier slots are final: feed the new tokens one at a time.
    let current = model;
    let logits: Tensor | undefined;
    for (let t = 0; t < tokens; t++) {
      logits?.dispose();
      const one = slice(ids, [0, batch], [t, t + 1]);
      try {
        ({ logits, model: current } = stepCached(current, one));
      } finally {
        one.dispose();
      }
    }
    return { logits: logits!, model: current };
  }
  const logits = position === 0 ? prefill(model, ids) : decode(model, ids);
  advancePosition(model.buffers.cache_position, 1, tokens);
  return { logits, model: handOver(model, position + tokens) };
}

/** A block as `blockForward` takes it, with its attention module. */
function blocks(model: GptCachedModel) {
  const config = checkBlockConfig("gptModel.step", model.config);
  const attConfig = attentionConfig(config);
  return model.params.trf_blocks.map((params, i) => {
    const buffers = model.buffers.trf_blocks[i].att;
    const att: MultiHeadAttention = { params: params.att, buffers, config: attConfig };
    return { block: { params, buffers: {}, config }, att, buffers };
  });
}

/** `linear(n1, [W_query; W_key; W_value])`: `[b, T, 3 embDim]`, rows `q | k | v`. */
function projectQkv(n1: Tensor, buffers: GptCacheAttentionBuffers): Tensor {
  return linear(n1, buffers.qkv_weight, buffers.qkv_bias);
}

/**
 * An empty cache and T tokens at positions 0..T-1: the uncached forward
 * (the same attention code: fused on webgpu where `apply` fuses, else the
 * book's steps), with each block's keys and values also written to its
 * cache. Logits of the last position only.
 */
function prefill(model: GptCachedModel, ids: Tensor): Tensor {
  const { params } = model;
  const [b, tokens] = ids.shape;
  const width = model.config.embDim;
  const tok = embeddingOp(params.tok_emb.weight, ids); // [b, T, emb]
  const pos = slice(params.pos_emb.weight, [0, tokens]); // [T, emb]
  let x = add(tok, pos); // [b, T, emb]
  tok.dispose();
  pos.dispose();
  for (const { block, att, buffers } of blocks(model)) {
    const next = blockForward(block, x, (n1) => {
      const qkv = projectQkv(n1, buffers); // [b, T, 3 emb]
      try {
        writeKv(
          qkv,
          width,
          2 * width,
          model.buffers.cache_position,
          buffers.cache_k,
          buffers.cache_v,
        );
        return usesFusedPath(att, n1, {}) ? attendPacked(att, qkv) : stepwise(att, n1, {});
      } finally {
        qkv.dispose();
      }
    }); // [b, T, emb]
    x.dispose();
    x = next;
  }
  const last = tokens === 1 ? x : slice(x, [0, b], [tokens - 1, tokens]); // [b, 1, emb]
  if (last !== x) x.dispose();
  return head(model, last);
}

/**
 * One token per sequence at the device-held position p (> 0): its keys and
 * values are written to slot p, and its query attends to slots 0..p in place.
 */
function decode(model: GptCachedModel, ids: Tensor): Tensor {
  const { params } = model;
  const position = model.buffers.cache_position;
  const width = model.config.embDim;
  const headDim = width / model.config.nHeads;
  const tok = embeddingOp(params.tok_emb.weight, ids); // [b, 1, emb]
  const pos = embeddingOp(params.pos_emb.weight, position); // [1, emb]: row p
  let x = add(tok, pos); // [b, 1, emb]
  tok.dispose();
  pos.dispose();
  for (const { block, att, buffers } of blocks(model)) {
    const next = blockForward(block, x, (n1) => {
      const qkv = projectQkv(n1, buffers); // [b, 1, 3 emb]
      let context: Tensor;
      try {
        writeKv(qkv, width, 2 * width, position, buffers.cache_k, buffers.cache_v);
        context = decodeAttention( // [b, 1, emb], heads merged
          qkv,
          buffers.cache_k,
          buffers.cache_v,
          buffers.mask,
          position,
          1 / Math.sqrt(headDim),
        );
      } finally {
        qkv.dispose();
      }
      const { out_proj } = att.params;
      const out = linear(context, out_proj.weight, out_proj.bias); // [b, 1, emb]
      context.dispose();
      return out;
    }); // [b, 1, emb]
    x.dispose();
    x = next;
  }
  return head(model, x);
}

/** Final norm and output head of `[b, 1, emb]` (consumed): `[b, 1, vocab]`. */
function head(model: GptCachedModel, x: Tensor): Tensor {
  const c = model.config;
  const normed = layerNorm.apply( // [b, 1, emb]
    { params: model.params.final_norm, buffers: {}, config: { embDim: c.embDim, eps: 1e-5 } },
    x,
  );
  x.dispose();
  const logits = linear(normed, model.params.out_head.weight); // [b, 1, vocab]
  normed.dispose();
  return logits;
}

/** `nn.gptModel.resetCache`: see gpt_model.ts for the public description. */
export function resetCache(model: GptCachedModel): GptCachedModel {
  const op = "gptModel.resetCache";
  checkCached(op, model);
  checkModule(op, model);
  advancePosition(model.buffers.cache_position, 0, 0);
  return handOver(model, 0);
}

/** `nn.gptModel.dropCache`: see gpt_model.ts for the public description. */
export function dropCache(model: GptCachedModel): GptModel {
  const op = "gptModel.dropCache";
  checkCached(op, model);
  const { trf_blocks, cache_position } = model.buffers;
  for (const b of trf_blocks) for (const key of CACHE_KEYS) b.att[key]?.dispose();
  cache_position.dispose();
  const names = new Set(nonPersistentNames(trf_blocks));
  const kept = (model.nonPersistent ?? []).filter((n) => !names.has(n));
  const plain: GptModel = {
    params: model.params,
    buffers: { trf_blocks: trf_blocks.map((b) => ({ att: { mask: b.att.mask } })) },
    config: model.config,
  };
  if (kept.length > 0) return { ...plain, nonPersistent: kept };
  return plain;
}
