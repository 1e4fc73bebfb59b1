/**
 * `nn.embedding`: PyTorch's `nn.Embedding` (a lookup table of rows) as an
 * `init`/`apply` pair over a plain record.
 *
 * @module
 */

import { ArgumentError } from "../errors.ts";
import { checkModule, type Module } from "../module.ts";
import { checkInteger, checkOptions, checkTensor, describe } from "../ops/checks.ts";
import { embedding as embeddingOp } from "../ops/embedding.ts";
import { globalGenerator, randn } from "../random.ts";
import { cpuTensor, type Tensor } from "../tensor.ts";
import type { InitOptions } from "./linear.ts";

/**
 * Sizes of an embedding table.
 *
 * @example
 * ```ts
 * import type { nn } from "@tessera/core";
 * const c: nn.EmbeddingConfig = { numEmbeddings: 50257, embeddingDim: 768 };
 * ```
 */
export interface EmbeddingConfig {
  /** Rows of the table (vocabulary size, or context length for positions). */
  numEmbeddings: number;
  /** Length of each row. */
  embeddingDim: number;
}

/**
 * Parameters of an embedding table: `weight` `[numEmbeddings, embeddingDim]`.
 *
 * @example
 * ```ts
 * import { nn } from "@tessera/core";
 * const p: nn.EmbeddingParams = nn.embedding.init({ numEmbeddings: 5, embeddingDim: 3 }).params;
 * console.log(p.weight.shape); // [5, 3]
 * ```
 */
export interface EmbeddingParams {
  /** `[numEmbeddings, embeddingDim]`. */
  weight: Tensor;
}

/**
 * An embedding module record.
 *
 * @example
 * ```ts
 * import { nn } from "@tessera/core";
 * const e: nn.Embedding = nn.embedding.init({ numEmbeddings: 5, embeddingDim: 3 });
 * ```
 */
export type Embedding = Module<EmbeddingParams, Record<string, never>, EmbeddingConfig>;

/** Validates an embedding config; returns it as a fresh record. */
export function checkEmbeddingConfig(op: string, config: unknown): EmbeddingConfig {
  if (config === null || typeof config !== "object") {
    throw new ArgumentError(
      `${op}: config must be an object like { numEmbeddings, embeddingDim }, but got ${
        describe(config)
      }`,
    );
  }
  const c = config as Record<string, unknown>;
  return {
    numEmbeddings: checkInteger(op, "config.numEmbeddings", c.numEmbeddings, { min: 1 }),
    embeddingDim: checkInteger(op, "config.embeddingDim", c.embeddingDim, { min: 1 }),
  };
}

/**
 * PyTorch's `nn.Embedding`: `init` fills the table with `normal_(0, 1)` draws
 * exactly as PyTorch does (after `manualSeed(s)` the values equal
 * `torch.manual_seed(s)`'s bit for bit); `apply(m, ids)` looks up int32 ids of
 * any shape, giving `[...ids.shape, embeddingDim]`.
 *
 * @example
 * ```ts
 * import { manualSeed, nn, tensor } from "@tessera/core";
 * manualSeed(123);
 * const emb = nn.embedding.init({ numEmbeddings: 10, embeddingDim: 4 });
 * const ids = tensor([[1, 2, 3]], undefined, { dtype: "int32" });
 * console.log(nn.embedding.apply(emb, ids).shape); // [1, 3, 4]
 * ```
 */
export const embedding: {
  init(config: EmbeddingConfig, options?: InitOptions): Embedding;
  apply(module: Embedding, ids: Tensor): Tensor;
} = {
  init(config: EmbeddingConfig, options: InitOptions = {}): Embedding {
    checkOptions("embedding.init", options);
    const { numEmbeddings, embeddingDim } = checkEmbeddingConfig("embedding.init", config);
    const generator = options.generator ?? globalGenerator();
    const shape = [numEmbeddings, embeddingDim];
    return {
      params: { weight: cpuTensor(randn(shape, { generator }), shape) },
      buffers: {},
      config: { numEmbeddings, embeddingDim },
    };
  },
  apply(module: Embedding, ids: Tensor): Tensor {
    checkModule("embedding.apply", module);
    checkTensor("embedding.apply", "ids", ids);
    return embeddingOp(module.params.weight, ids);
  },
};
