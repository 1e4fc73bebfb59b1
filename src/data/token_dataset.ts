/**
 * Token-id datasets for language-model training: the book's `GPTDatasetV1`
 * (sliding windows of inputs and next-token targets) and a batch loader
 * that shuffles like PyTorch's `DataLoader`.
 *
 * @module
 */

import { cpu, type Device } from "../device.ts";
import { ArgumentError } from "../errors.ts";
import { checkDeviceArg } from "../io/checkpoint.ts";
import { checkBoolean, describe } from "../ops/checks.ts";
import { Generator as Rng, globalGenerator } from "../random.ts";
import { fromHost, type Tensor } from "../tensor.ts";

/**
 * Options of {@linkcode tokenDataset}, the book's `max_length` and `stride`.
 *
 * @example
 * ```ts
 * import type { TokenDatasetOptions } from "@tessera/core";
 * const o: TokenDatasetOptions = { contextLength: 256, stride: 128 };
 * ```
 */
export interface TokenDatasetOptions {
  /** Tokens per window (`max_length`). */
  contextLength: number;
  /** Tokens between the starts of neighbouring windows; default `contextLength`. */
  stride?: number;
}

/**
 * Sliding windows over token ids, built by {@linkcode tokenDataset}.
 *
 * @example
 * ```ts
 * import { type TokenDataset, tokenDataset } from "@tessera/core";
 * const ds: TokenDataset = tokenDataset([1, 2, 3, 4, 5], { contextLength: 2 });
 * console.log(ds.length); // 2
 * ```
 */
export interface TokenDataset {
  /** The token ids (a copy of what was passed). */
  readonly ids: Int32Array;
  /** Tokens per window. */
  readonly contextLength: number;
  /** Tokens between window starts. */
  readonly stride: number;
  /** Number of windows. */
  readonly length: number;
  /** Window `i`: `contextLength` input ids and the same window shifted by one token. */
  window(i: number): { input: Int32Array; target: Int32Array };
}

/**
 * The book's `GPTDatasetV1` over token ids: window `i` starts at token
 * `i * stride`, for every start in `range(0, ids.length - contextLength,
 * stride)` (so the last token always has a target); its input is
 * `ids[start, start + contextLength)` and its target the same window moved
 * one token on. Ids are whole numbers in int32 range; the vocabulary is not
 * checked here (the embedding checks it).
 *
 * @example
 * ```ts
 * import { tokenDataset } from "@tessera/core";
 * const ds = tokenDataset([10, 11, 12, 13, 14, 15], { contextLength: 2, stride: 2 });
 * console.log(ds.length, ds.window(1)); // 3 { input: [12, 13], target: [13, 14] }
 * ```
 */
export function tokenDataset(
  ids: ArrayLike<number>,
  options: TokenDatasetOptions,
): TokenDataset {
  const op = "tokenDataset";
  if (ids === null || typeof ids !== "object" || typeof ids.length !== "number") {
    throw new ArgumentError(`${op}: ids must be an array of token ids, but got ${describe(ids)}`);
  }
  if (options === null || typeof options !== "object") {
    throw new ArgumentError(
      `${op}: options must be an object like { contextLength, stride }, but got ${
        describe(options)
      }`,
    );
  }
  const { contextLength } = options;
  const stride = options.stride ?? contextLength;
  for (const [name, v] of [["contextLength", contextLength], ["stride", stride]] as const) {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1) {
      throw new ArgumentError(`${op}: ${name} must be a whole number >= 1, but got ${describe(v)}`);
    }
  }
  const copy = new Int32Array(ids.length);
  for (let i = 0; i < ids.length; i++) {
    const v = ids[i];
    if (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31) {
      throw new ArgumentError(
        `${op}: ids[${i}] must be a whole number in int32 range, but got ${describe(v)}`,
      );
    }
    copy[i] = v;
  }
  const length = Math.max(0, Math.ceil((copy.length - contextLength) / stride));
  return {
    ids: copy,
    contextLength,
    stride,
    length,
    window(i: number) {
      if (!Number.isSafeInteger(i) || i < 0 || i >= length) {
        throw new ArgumentError(
          `tokenDataset.window: index must be a whole number in [0, ${length}), but got ${
            describe(i)
          }`,
        );
      }
      const start = i * stride;
      return {
        input: copy.slice(start, start + contextLength),
        target: copy.slice(start + 1, start + contextLength + 1),
      };
    },
  };
}

/**
 * Options of {@linkcode batches}, named as PyTorch's `DataLoader` arguments.
 *
 * @example
 * ```ts
 * import { type BatchesOptions, Generator } from "@tessera/core";
 * const o: BatchesOptions = { batchSize: 4, shuffle: true, generator: new Generator(123) };
 * ```
 */
export interface BatchesOptions {
  /** Windows per batch; default 1. */
  batchSize?: number;
  /** Visit the windows in a random order; default false. */
  shuffle?: boolean;
  /**
   * Source of the order when shuffling: `torch.Generator` semantics, so the
   * same seed gives `DataLoader(..., shuffle=True, generator=g)`'s batches.
   * Default: the global generator (`manualSeed`), like PyTorch's default.
   */
  generator?: Rng;
  /** Skip a last batch smaller than `batchSize`; default false. */
  dropLast?: boolean;
  /** Where the batch tensors are created; default cpu. */
  device?: Device;
}

/**
 * One batch: int32 `inputs` and `targets` of shape `[batch, contextLength]`.
 *
 * @example
 * ```ts
 * import type { Batch } from "@tessera/core";
 * const show = (b: Batch) => b.inputs.shape; // [batch, contextLength]
 * ```
 */
export interface Batch {
  /** Input token ids `[batch, contextLength]`, int32. */
  inputs: Tensor;
  /** Next-token ids `[batch, contextLength]`, int32. */
  targets: Tensor;
}

/**
 * One epoch of batches over a {@linkcode TokenDataset}, like iterating
 * `DataLoader(dataset, batch_size, shuffle, drop_last, generator)` once.
 * With `shuffle`, the order is drawn the way PyTorch 1.13 draws it when the
 * iteration starts (the loader's base seed, one 64-bit draw, then
 * `torch.randperm(n, generator)`; without a generator, a fresh generator
 * seeded from the global one; and at the end of a full epoch, the draws of
 * the sampler's trailing empty `randperm`), so the same seed gives the same
 * batches as PyTorch, epoch after epoch. Call it again for the next epoch. Each batch's tensors are new
 * and the caller's to dispose; they are created lazily, one batch at a time.
 *
 * @example
 * ```ts
 * import { batches, Generator, tokenDataset } from "@tessera/core";
 * const ds = tokenDataset([0, 1, 2, 3, 4, 5, 6, 7, 8], { contextLength: 2 });
 * for (const { inputs, targets } of batches(ds, { batchSize: 2, dropLast: true })) {
 *   console.log(await inputs.toArray(), await targets.toArray());
 *   // [[0, 1], [2, 3]] [[1, 2], [3, 4]], then [[4, 5], [6, 7]] [[5, 6], [7, 8]]
 * }
 * const g = new Generator(123);
 * const shuffled = [...batches(ds, { batchSize: 2, shuffle: true, generator: g })];
 * console.log(shuffled.length); // 2
 * ```
 */
export function batches(
  dataset: TokenDataset,
  options: BatchesOptions = {},
): IterableIterator<Batch> {
  const op = "batches";
  if (
    dataset === null || typeof dataset !== "object" || typeof dataset.window !== "function"
  ) {
    throw new ArgumentError(
      `${op}: dataset must come from tokenDataset(), but got ${describe(dataset)}`,
    );
  }
  if (options === null || typeof options !== "object") {
    throw new ArgumentError(`${op}: options must be an object, but got ${describe(options)}`);
  }
  const { batchSize = 1, device = cpu } = options;
  if (typeof batchSize !== "number" || !Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new ArgumentError(
      `${op}: batchSize must be a whole number >= 1, but got ${describe(batchSize)}`,
    );
  }
  const shuffle = checkBoolean(op, "shuffle", options.shuffle, false);
  const dropLast = checkBoolean(op, "dropLast", options.dropLast, false);
  // Checked here, not at the first batch, so the message names batches.
  checkDeviceArg(op, device);
  if (options.generator !== undefined && typeof options.generator?.random !== "function") {
    throw new ArgumentError(
      `${op}: generator must be a Generator, but got ${describe(options.generator)}`,
    );
  }
  return iterate(dataset, batchSize, shuffle, dropLast, device, options.generator);
}

function* iterate(
  dataset: TokenDataset,
  batchSize: number,
  shuffle: boolean,
  dropLast: boolean,
  device: Device,
  generator: Rng | undefined,
): IterableIterator<Batch> {
  const n = dataset.length;
  const order = shuffle ? shuffledOrder(n, generator) : Array.from({ length: n }, (_, i) => i);
  const T = dataset.contextLength;
  for (let start = 0; start < n; start += batchSize) {
    const rows = order.slice(start, start + batchSize);
    if (dropLast && rows.length < batchSize) break;
    const inputs = new Int32Array(rows.length * T);
    const targets = new Int32Array(rows.length * T);
    rows.forEach((i, r) => {
      const { input, target } = dataset.window(i);
      inputs.set(input, r * T);
      targets.set(target, r * T);
    });
    const x = fromHost(inputs, [rows.length, T], device, "batches", "inputs");
    yield { inputs: x, targets: fromHost(targets, [rows.length, T], device, "batches", "targets") };
  }
  // RandomSampler ends with `randperm(n)[:num_samples % n]`, an empty slice
  // whose draws still advance the caller's generator at the end of an epoch.
  if (shuffle && generator) { for (let i = 0; i < n - 1; i++) generator.random(); }
}

/**
 * PyTorch 1.13's shuffled order: `_BaseDataLoaderIter` first draws its base
 * seed (`random_()` on an int64: one 64-bit draw) from the loader's
 * generator; then `RandomSampler` (with no generator, seeded by a second
 * 64-bit draw from the global one) runs `randperm`, whose CPU kernel swaps
 * position i with i + random() % (n - i).
 */
function shuffledOrder(n: number, generator: Rng | undefined): number[] {
  let g: Rng;
  if (generator) {
    generator.random64();
    g = generator;
  } else {
    const global = globalGenerator();
    global.random64();
    const seed = global.random64() % (1n << 63n);
    g = new Rng(seed);
  }
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < n - 1; i++) {
    const z = g.random() % (n - i);
    [order[i], order[z + i]] = [order[z + i], order[i]];
  }
  return order;
}
