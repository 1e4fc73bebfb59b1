/**
 * Text generation with a language model: greedy decoding (the book's
 * `generate_text_simple`) and temperature / top-k sampling (its chapter-5
 * `generate`), on cpu and webgpu.
 *
 * @module
 */

import type { WebGpuDevice } from "./device.ts";
import { ArgumentError, DeviceMismatchError, ShapeError, TesseraError } from "./errors.ts";
import { ELEMENTWISE_WG, launch, words } from "./gpu/launch.ts";
import { checkInteger, checkTensor, describe, showShape } from "./ops/checks.ts";
import { slice } from "./ops/layout.ts";
import { Generator, globalGenerator } from "./random.ts";
import { checkDType, cpuInts, cpuTensor, fromHost, Tensor } from "./tensor.ts";
import { checkModule } from "./module.ts";
import { type GptModel, gptModel } from "./nn/gpt_model.ts";
import { chooseTokens, generateCached } from "./generate_cached.ts";
import { cacheSupported } from "./nn/gpt_cache.ts";
import { MAX_DECODE_TOKENS } from "./ops/kv_cache.ts";
import { gpuOf, type KernelTable, kernelTable } from "./ops/kernel_table.ts";

/**
 * A language model as generation sees it: token ids `[batch, tokens]` (int32)
 * in, logits `[batch, tokens, vocab]` (float32, or float16) out, on the ids' device. The
 * function must free its own intermediates; `generate` frees the logits.
 *
 * @example
 * ```ts
 * import { type LanguageModel, tensor } from "@tessera/core";
 * // Uniform logits over a vocabulary of 10, whatever the ids.
 * const model: LanguageModel = (ids) => tensor(new Float32Array(ids.size * 10), [...ids.shape, 10]);
 * ```
 */
export type LanguageModel = (ids: Tensor) => Tensor;

/**
 * Options of {@linkcode generate}.
 *
 * @example
 * ```ts
 * import { Generator, type GenerateOptions } from "@tessera/core";
 * const o: GenerateOptions = { maxNewTokens: 20, temperature: 1.4, topK: 25, generator: new Generator(123) };
 * ```
 */
export interface GenerateOptions {
  /** How many tokens to append (fewer when `eosId` stops generation early). */
  maxNewTokens: number;
  /**
   * The model's context: only the last `contextSize` tokens are fed to it
   * (the book's `idx[:, -context_size:]`). Default: an `nn.gptModel`'s
   * `contextLength`; every token for a plain function.
   */
  contextSize?: number;
  /** 0 (the default) picks the most likely token; above 0 samples from softmax(logits / temperature). */
  temperature?: number;
  /** When sampling, keep only logits >= the k-th largest of the row (others get probability 0). */
  topK?: number;
  /**
   * End-of-sequence id. A row that produced it is finished and is padded
   * with `eosId` from then on; generation stops as soon as every row has
   * produced it, so the result may be shorter than `tokens + maxNewTokens`.
   */
  eosId?: number;
  /** Source of the sampling draws (one float per row per step); default the global generator. */
  generator?: Generator;
  /**
   * Decode an `nn.gptModel` with a KV cache (default true for a module; a
   * function model has none, so `true` is an error there): the prompt is
   * prefilled in one pass, then each step feeds only the new token and
   * attends to the cached keys in place. Gives exactly the tokens of
   * `useCache: false`. Past the window (`contextSize`) no cached key stays
   * valid (the book's sliding window restarts positions at 0), so each such
   * step resets the cache and prefills the last `contextSize` tokens again.
   * Ignored (uncached) when `contextSize` exceeds the model's context length,
   * when the cache would need more than 4096 tokens, or (by default) for
   * webgpu heads over 1024 features.
   */
  useCache?: boolean;
  /**
   * Called once per step, as soon as the step's tokens are known (before the
   * next step runs), with one new id per row (a finished row's is `eosId`)
   * and the step's index (0 for the first new token): stream text as it is
   * produced, without re-running the prompt. Costs no extra submit or read
   * on webgpu (these are the ids every step reads anyway). A returned
   * promise is awaited before the next step; an error it throws ends
   * generation (everything is freed) and propagates.
   */
  onToken?: (ids: Int32Array, step: number) => void | Promise<void>;
}

/**
 * Extends each sequence of `ids` (int32 `[batch, tokens]`) by up to
 * `maxNewTokens` tokens and returns int32 `[batch, tokens + new]` on the ids'
 * device (`ids` itself is left alone). `model` is an `nn.gptModel` module
 * (applied in inference mode: no dropout) or any {@linkcode LanguageModel}
 * function. Each step feeds the last `contextSize` tokens to the model and
 * looks at the logits of the last position:
 *
 * - `temperature` 0 (default): the argmax, as the book's
 *   `generate_text_simple` (the first maximum on ties, as `torch.argmax`);
 * - `temperature` > 0: top-k filtering (`topK`: logits below the k-th largest
 *   are dropped, ties kept), then softmax of `logits / temperature`, then one
 *   draw by inverse CDF with a uniform from `generator` (one per row per
 *   step, drawn on the host), so the same seed gives the same tokens on cpu
 *   and webgpu. (Not PyTorch's `torch.multinomial` stream.)
 *
 * On webgpu the token is chosen by WGSL kernels and appended on the device:
 * each step is one submit and one read of 4 bytes per row (the new ids, for
 * `eosId` and error checks). Sampling a row whose largest logit is NaN or
 * infinite throws, as `torch.multinomial` does. The model must return logits
 * `[batch, tokens, vocab]` with at most 8,388,608 entries per row. Pass
 * `onToken` to receive each step's ids as they are chosen (streaming).
 *
 * @example
 * ```ts
 * import { generate, type Tensor, tensor } from "@tessera/core";
 * // A stand-in model: at position t it favours token (t + 1) % 5.
 * const model = (ids: Tensor): Tensor => {
 *   const [b, t] = ids.shape;
 *   const logits = new Float32Array(b * t * 5);
 *   for (let i = 0; i < b * t; i++) logits[i * 5 + ((i % t) + 1) % 5] = 1;
 *   return tensor(logits, [b, t, 5]);
 * };
 * const ids = tensor([[0, 1]], undefined, { dtype: "int32" });
 * const out = await generate(model, ids, { maxNewTokens: 3 });
 * console.log(await out.toArray()); // [[0, 1, 2, 3, 4]]
 * ```
 */
export async function generate(
  model: GptModel | LanguageModel,
  ids: Tensor,
  options: GenerateOptions,
): Promise<Tensor> {
  const op = "generate";
  const o = checkOptions(op, model, ids, options);
  if (typeof model !== "function" && o.useCache) return generateCached(op, model, ids, o);
  // A module computes the logits of the last position only: the rest are never read.
  const forward: LanguageModel = typeof model === "function"
    ? model
    : (x) => gptModel.apply(model, x, { lastPosition: true });
  const [batch] = ids.shape;
  const sampling = o.temperature > 0;
  const finished = new Array<boolean>(batch).fill(false);
  // On webgpu, per row the id a finished row is pinned to (-1: none yet).
  let forced = ids.device.kind === "cpu" ? undefined : forcedIds(op, ids.device, finished, o.eosId);
  let current = ids;
  try {
    for (let step = 0; step < o.maxNewTokens; step++) {
      const tokens = current.shape[1];
      const cond = tokens > o.contextSize
        ? slice(current, [0, batch], [tokens - o.contextSize, tokens])
        : current;
      let logits: Tensor;
      try {
        logits = forward(cond);
      } finally {
        if (cond !== current) cond.dispose();
      }
      let next: Tensor;
      try {
        checkLogits(op, logits, ids, [batch, typeof model === "function" ? cond.shape[1] : 1]);
        const draws = sampling ? drawUniforms(o.generator, batch) : undefined;
        next = chooseTokens(op, logits, { temperature: o.temperature, topK: o.topK, draws });
      } finally {
        // A model that returned something else gets an ArgumentError, not a TypeError here.
        if (logits instanceof Tensor) logits.dispose();
      }
      let appended: Tensor | undefined;
      let chosen: Int32Array;
      try {
        appended = append(op, current, next, forced, finished, o.eosId);
        chosen = (await next.data()) as Int32Array;
      } catch (error) {
        appended?.dispose();
        throw error;
      } finally {
        next.dispose();
      }
      if (current !== ids) current.dispose();
      current = appended;
      const bad = chosen.indexOf(-1);
      if (bad !== -1) {
        throw new TesseraError(
          `${op}: cannot sample row ${bad} at step ${step}: its largest logit is NaN or ` +
            `infinite (after dividing by temperature ${o.temperature}), so softmax has no ` +
            `finite probabilities (torch.multinomial raises here too)`,
        );
      }
      if (o.onToken) {
        await o.onToken(chosen.map((id, b) => finished[b] ? o.eosId! : id), step);
      }
      if (o.eosId === undefined) continue;
      let changed = false;
      for (let b = 0; b < batch; b++) {
        if (!finished[b] && chosen[b] === o.eosId) finished[b] = changed = true;
      }
      if (finished.every((f) => f)) break;
      if (changed && forced) {
        forced.dispose();
        forced = forcedIds(op, current.device as WebGpuDevice, finished, o.eosId);
      }
    }
    // Always a new tensor, so the caller may dispose ids and the result independently.
    return current === ids ? slice(ids, [0, batch]) : current;
  } catch (error) {
    if (current !== ids) current.dispose();
    throw error;
  } finally {
    forced?.dispose();
  }
}

interface CheckedOptions {
  maxNewTokens: number;
  contextSize: number;
  temperature: number;
  topK?: number;
  eosId?: number;
  generator: Generator;
  useCache: boolean;
  onToken?: (ids: Int32Array, step: number) => void | Promise<void>;
}

function checkOptions(
  op: string,
  model: unknown,
  ids: unknown,
  options: unknown,
): CheckedOptions {
  const isModule = model !== null && typeof model === "object" && "params" in model &&
    "config" in model;
  if (typeof model !== "function" && !isModule) {
    throw new ArgumentError(
      `${op}: model must be an nn.gptModel module or a function from token ids to logits, ` +
        `but got ${describe(model)}`,
    );
  }
  checkTensor(op, "ids", ids);
  checkDType(op, "ids", ids, ["int32"]);
  // Disposed parameters or a module on another device are named here, as
  // generate's error, not as gptModel.apply's on the first step.
  if (isModule) checkModule(op, model, ids.device);
  if (ids.shape.length !== 2 || ids.shape[0] === 0 || ids.shape[1] === 0) {
    throw new ShapeError(
      `${op}: ids must have shape [batch, tokens] with at least one row and one token, ` +
        `but got ${showShape(ids.shape)}`,
    );
  }
  if (options === null || typeof options !== "object") {
    throw new ArgumentError(
      `${op}: options must be an object with maxNewTokens, but got ${describe(options)}`,
    );
  }
  const given = options as GenerateOptions;
  const maxNewTokens = checkInteger(op, "maxNewTokens", given.maxNewTokens, { min: 0 });
  const moduleContext = isModule ? (model as GptModel).config?.contextLength ?? Infinity : Infinity;
  const contextSize = given.contextSize === undefined
    ? moduleContext
    : checkInteger(op, "contextSize", given.contextSize, { min: 1 });
  const temperature = given.temperature ?? 0;
  if (typeof temperature !== "number" || !Number.isFinite(temperature) || temperature < 0) {
    throw new ArgumentError(
      `${op}: temperature must be a finite number >= 0 (0 for greedy), but got ` +
        describe(given.temperature),
    );
  }
  // A module states its vocabulary up front; a function's shows with its first logits.
  const vocab = isModule ? (model as GptModel).config?.vocabSize : undefined;
  const topK = given.topK === undefined
    ? undefined
    : checkInteger(op, "topK", given.topK, { min: 1, max: vocab });
  const eosId = given.eosId === undefined
    ? undefined
    : checkInteger(op, "eosId", given.eosId, { min: 0, max: 2 ** 31 - 1 });
  const generator = given.generator ?? globalGenerator();
  if (!(generator instanceof Generator)) {
    throw new ArgumentError(
      `${op}: generator must be a Generator, but got ${describe(given.generator)}`,
    );
  }
  const useCache = given.useCache ?? (isModule && cacheSupported(model as GptModel));
  if (typeof useCache !== "boolean") {
    throw new ArgumentError(
      `${op}: useCache must be a boolean, but got ${describe(given.useCache)}`,
    );
  }
  const onToken = given.onToken;
  if (onToken !== undefined && typeof onToken !== "function") {
    throw new ArgumentError(
      `${op}: onToken must be a function (ids, step) => void, but got ${describe(onToken)}`,
    );
  }
  if (useCache && !isModule) {
    throw new ArgumentError(
      `${op}: useCache: true needs an nn.gptModel module; a function model has no KV cache`,
    );
  }
  return {
    maxNewTokens,
    contextSize,
    temperature,
    topK,
    eosId,
    generator,
    onToken,
    // Beyond the model's context the uncached loop throws; keep that behaviour. A cache
    // holds at most MAX_DECODE_TOKENS (4096) tokens.
    useCache: useCache && contextSize <= moduleContext &&
      Math.min(contextSize, ids.shape[1] + maxNewTokens) <= MAX_DECODE_TOKENS,
  };
}

function checkLogits(op: string, logits: unknown, ids: Tensor, leading: number[]): void {
  checkTensor(op, "the model's output", logits);
  if (logits.device !== ids.device) {
    throw new DeviceMismatchError(op, ["ids", ids.device.name], ["logits", logits.device.name]);
  }
  checkDType(op, "the model's output", logits, ["float32", "float16"]);
  const [b, t] = leading;
  const s = logits.shape;
  if (s.length !== 3 || s[0] !== b || s[1] !== t || s[2] === 0) {
    throw new ShapeError(
      `${op}: the model returned logits of shape ${showShape(s)} for ids of shape ` +
        `${showShape(leading)}, but expected [${b}, ${t}, vocab]`,
    );
  }
}

function drawUniforms(generator: Generator, rows: number): Float32Array {
  const draws = new Float32Array(rows);
  for (let r = 0; r < rows; r++) draws[r] = generator.nextFloat();
  return draws;
}

/** `[ids | next]`, with finished rows pinned to `eosId`. */
function append(
  op: string,
  ids: Tensor,
  next: Tensor,
  forced: Tensor | undefined,
  finished: readonly boolean[],
  eosId: number | undefined,
): Tensor {
  return appendKernels.for(ids)(op, ids, next, forced, finished, eosId);
}

/** Appends the chosen ids as a new last column (finished rows pinned to eosId; on webgpu by `forced`). */
export type AppendImpl = (
  op: string,
  ids: Tensor,
  next: Tensor,
  forced: Tensor | undefined,
  finished: readonly boolean[],
  eosId: number | undefined,
) => Tensor;

function referenceAppend(
  op: string,
  ids: Tensor,
  next: Tensor,
  _forced: Tensor | undefined,
  finished: readonly boolean[],
  eosId: number | undefined,
): Tensor {
  const [rows, tokens] = ids.shape;
  const src = cpuInts(ids, op, "ids");
  const chosen = cpuInts(next, op, "next ids");
  const out = new Int32Array(rows * (tokens + 1));
  for (let b = 0; b < rows; b++) {
    out.set(src.subarray(b * tokens, (b + 1) * tokens), b * (tokens + 1));
    out[b * (tokens + 1) + tokens] = finished[b] ? eosId! : chosen[b];
  }
  return cpuTensor(out, [rows, tokens + 1]);
}

function webgpuAppend(
  op: string,
  ids: Tensor,
  next: Tensor,
  forced: Tensor | undefined,
  _finished: readonly boolean[],
  _eosId: number | undefined,
): Tensor {
  const [rows, tokens] = ids.shape;
  return launch(gpuOf(ids), {
    op,
    shader: "select_append",
    constants: { WG: ELEMENTWISE_WG },
    uniforms: words(rows, tokens),
    inputs: [["ids", ids], ["next ids", next], ["finished rows", forced!]],
    dtypes: ["int32"],
    outShape: [rows, tokens + 1],
    workgroups: Math.ceil((rows * (tokens + 1)) / ELEMENTWISE_WG),
  });
}

/** generate's token append, per backend (src/ops/kernel_table.ts). */
export const appendKernels: KernelTable<AppendImpl> = kernelTable<AppendImpl>("generate append", {
  reference: referenceAppend,
  webgpu: webgpuAppend,
});

/** Per row: `eosId` for a finished row, -1 for one still generating. */
function forcedIds(
  op: string,
  device: WebGpuDevice,
  finished: readonly boolean[],
  eosId: number | undefined,
): Tensor {
  const values = Int32Array.from(finished, (done) => done ? eosId! : -1);
  return fromHost(values, [finished.length], device, op, "finished rows");
}
