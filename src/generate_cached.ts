/**
 * `generate` for an `nn.gptModel` with a KV cache (its default): the prompt
 * is prefilled in one pass, then each step feeds only the new token. Gives
 * exactly the tokens of `useCache: false`.
 *
 * @module
 */

import { TesseraError } from "./errors.ts";
import { reshape, slice } from "./ops/layout.ts";
import { selectTokens } from "./ops/select_token.ts";
import { castKernel } from "./ops/cast.ts";
import type { Generator } from "./random.ts";
import { cpuInts, fromHost, type Tensor } from "./tensor.ts";
import type { GptCachedModel } from "./nn/gpt_cache.ts";
import { dropCache, resetCache, stepCached, withCache } from "./nn/gpt_cache.ts";
import type { GptModel } from "./nn/gpt_model.ts";

/**
 * The checked options `generateCached` needs (see `GenerateOptions`).
 *
 * @example
 * ```ts
 * import { Generator } from "@tessera/core";
 * import type { CachedGenerateOptions } from "./generate_cached.ts";
 * const o: CachedGenerateOptions = {
 *   maxNewTokens: 3, contextSize: 8, temperature: 0, generator: new Generator(1),
 * };
 * ```
 */
export interface CachedGenerateOptions {
  /** Tokens to append at most. */
  maxNewTokens: number;
  /** The window (the book's context_size), at most the model's contextLength. */
  contextSize: number;
  /** 0: greedy; above: sampling. */
  temperature: number;
  /** Top-k filter when sampling. */
  topK?: number;
  /** End-of-sequence id. */
  eosId?: number;
  /** Source of the draws (one per row per step, as the uncached loop). */
  generator: Generator;
  /** Receives each step's new ids (one per row; `eosId` for a finished row). */
  onToken?: (ids: Int32Array, step: number) => void | Promise<void>;
}

/**
 * The cached generation loop. The cache holds
 * `min(contextSize, prompt + maxNewTokens)` tokens; a step past that window
 * cannot reuse any cached key (every key depends on the window's first
 * token, and the book's sliding window `idx[:, -context_size:]` restarts
 * positions at 0), so there the cache is reset (no reallocation) and the
 * last `contextSize` tokens are prefilled again: the same tokens as the
 * uncached loop, at its cost for those steps, with logits for the last
 * position only.
 *
 * On webgpu each in-window step is one submit and one read of 4 bytes per
 * row (the chosen ids); the sequences are kept on the host and uploaded once
 * at the end.
 *
 * @example
 * ```ts
 * import { manualSeed, nn, tensor, Generator } from "@tessera/core";
 * import { generateCached } from "./generate_cached.ts";
 * manualSeed(1);
 * const model = nn.gptModel.init({
 *   vocabSize: 20, contextLength: 6, embDim: 8, nHeads: 2, nLayers: 1, dropRate: 0, qkvBias: false,
 * });
 * const ids = tensor([[1, 2]], undefined, { dtype: "int32" });
 * const out = await generateCached("generate", model, ids, {
 *   maxNewTokens: 3, contextSize: 6, temperature: 0, generator: new Generator(1),
 * });
 * console.log(out.shape); // [1, 5]
 * ```
 */
export async function generateCached(
  op: string,
  model: GptModel,
  ids: Tensor,
  o: CachedGenerateOptions,
): Promise<Tensor> {
  const [batch, promptLength] = ids.shape;
  if (o.maxNewTokens === 0) return slice(ids, [0, batch]);
  const window = o.contextSize;
  const maxTokens = Math.min(window, promptLength + o.maxNewTokens);
  const prompt = ids.device.kind === "cpu"
    ? cpuInts(ids, op, "ids")
    : (await ids.data()) as Int32Array;
  const rows = Array.from(
    { length: batch },
    (_, b) => Array.from(prompt.subarray(b * promptLength, (b + 1) * promptLength)),
  );
  const sampling = o.temperature > 0;
  const finished = new Array<boolean>(batch).fill(false);
  let cached: GptCachedModel = withCache(model, { batch, maxTokens });
  let input: Tensor | undefined = promptLength > window
    ? slice(ids, [0, batch], [promptLength - window, promptLength])
    : ids;
  try {
    for (let step = 0; step < o.maxNewTokens; step++) {
      const result = stepCached(cached, input!);
      cached = result.model;
      if (input !== ids) input?.dispose();
      input = undefined;
      let next: Tensor;
      try {
        const draws = sampling ? drawUniforms(o.generator, batch) : undefined;
        next = chooseTokens(op, result.logits, {
          temperature: o.temperature,
          topK: o.topK,
          draws,
        });
      } finally {
        result.logits.dispose();
      }
      let chosen: Int32Array;
      try {
        chosen = (await next.data()) as Int32Array;
      } catch (error) {
        next.dispose();
        throw error;
      }
      const bad = chosen.indexOf(-1);
      if (bad !== -1) {
        next.dispose();
        throw new TesseraError(
          `${op}: cannot sample row ${bad} at step ${step}: its largest logit is NaN or ` +
            `infinite (after dividing by temperature ${o.temperature}), so softmax has no ` +
            `finite probabilities (torch.multinomial raises here too)`,
        );
      }
      const pinned = rows.map((row, b) => {
        const token = finished[b] ? o.eosId! : chosen[b];
        row.push(token);
        return token;
      });
      if (o.onToken) {
        try {
          await o.onToken(Int32Array.from(pinned), step);
        } catch (error) {
          next.dispose();
          throw error;
        }
      }
      if (o.eosId !== undefined) {
        for (let b = 0; b < batch; b++) if (chosen[b] === o.eosId) finished[b] = true;
      }
      const done = step === o.maxNewTokens - 1 ||
        (o.eosId !== undefined && finished.every((f) => f));
      if (done) {
        next.dispose();
        break;
      }
      if (cached.cache.position === maxTokens) {
        // Past the window: no cached key stays valid; prefill the last `window` tokens.
        next.dispose();
        cached = resetCache(cached);
        const length = rows[0].length;
        const w = Math.min(window, length);
        const flat = new Int32Array(batch * w);
        rows.forEach((row, b) => flat.set(row.slice(length - w), b * w));
        input = fromHost(flat, [batch, w], ids.device, op, "ids");
      } else if (pinned.some((token, b) => token !== chosen[b])) {
        next.dispose();
        input = fromHost(Int32Array.from(pinned), [batch, 1], ids.device, op, "ids");
      } else {
        input = reshape(next, [batch, 1]);
        next.dispose();
      }
    }
  } finally {
    if (input !== undefined && input !== ids) input.dispose();
    dropCache(cached);
  }
  const length = rows[0].length;
  const flat = new Int32Array(batch * length);
  rows.forEach((row, b) => flat.set(row, b * length));
  return fromHost(flat, [batch, length], ids.device, op, "ids");
}

/**
 * `selectTokens` on float32 logits: a float16 model's logits are widened
 * first (exactly, so the argmax is the float16 one; sampling's softmax runs
 * in float32).
 *
 * @example
 * ```ts
 * import { tensor } from "@tessera/core";
 * import { chooseTokens } from "./generate_cached.ts";
 * const logits = tensor([[[0.5, 2, 1]]]); // [1, 1, 3]
 * console.log(await chooseTokens("generate", logits, { temperature: 0 }).toArray()); // [1]
 * ```
 */
export function chooseTokens(
  op: string,
  logits: Tensor,
  options: { temperature: number; topK?: number; draws?: Float32Array },
): Tensor {
  if (logits.dtype !== "float16") return selectTokens(op, logits, options);
  const wide = castKernel(op, logits, "float32");
  try {
    return selectTokens(op, wide, options);
  } finally {
    wide.dispose();
  }
}

function drawUniforms(generator: Generator, rows: number): Float32Array {
  const draws = new Float32Array(rows);
  for (let r = 0; r < rows; r++) draws[r] = generator.nextFloat();
  return draws;
}
