/**
 * A Hugging Face GPT-2 model directory (what `huggingface-cli download
 * openai-community/gpt2` leaves) loaded in one call: `model.safetensors`,
 * `config.json`, and the tokenizer files (`tokenizer.json`, or `vocab.json`
 * + `merges.txt`).
 *
 * @module
 */

import * as nodeFs from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Device } from "../device.ts";
import { ArgumentError } from "../errors.ts";
import type { GptConfig, GptModel } from "../nn/gpt_model.ts";
import { describe } from "../ops/checks.ts";
import { type Gpt2Tokenizer, gpt2Tokenizer } from "../tokenizer/gpt2_tokenizer.ts";
import { PermissionError } from "./checkpoint_errors.ts";
import { gpt2ConfigFromWeights, loadGpt2Weights } from "./gpt2_weights.ts";
import { readSafetensorsFile, type SafetensorsFileOptions } from "./safetensors_file.ts";

/**
 * Options of {@linkcode loadGpt2}.
 *
 * @example
 * ```ts
 * import type { LoadGpt2Options } from "@tessera/core/safetensors";
 * const o: LoadGpt2Options = { nHeads: 12 }; // only needed without config.json
 * ```
 */
export interface LoadGpt2Options extends SafetensorsFileOptions {
  /** Where the model goes; default cpu. */
  device?: Device;
  /** Attention heads; default config.json's `n_head` (required without config.json). */
  nHeads?: number;
}

/**
 * A loaded GPT-2 directory.
 *
 * @example
 * ```ts ignore
 * import { loadGpt2 } from "@tessera/core/safetensors";
 * const { model, tokenizer, config } = await loadGpt2("gpt2");
 * ```
 */
export interface Gpt2Directory {
  /** The model, output head tied to the token embedding. */
  model: GptModel;
  /** The tokenizer from the directory's files. */
  tokenizer: Gpt2Tokenizer;
  /** The model's config (from the weights' shapes and config.json). */
  config: GptConfig;
}

const DIR_HINT = "a Hugging Face GPT-2 directory holds model.safetensors, config.json, and " +
  "tokenizer.json or vocab.json + merges.txt";

function denoApi(): typeof Deno | undefined {
  return (globalThis as { Deno?: typeof Deno }).Deno;
}

function isNotFound(error: unknown): boolean {
  const errors = denoApi()?.errors;
  return (errors !== undefined && error instanceof errors.NotFound) ||
    (error as { code?: unknown } | null)?.code === "ENOENT";
}

function dirPath(op: string, dir: unknown): string {
  if (dir instanceof URL) return fileURLToPath(dir);
  if (typeof dir !== "string" || dir === "") {
    throw new ArgumentError(
      `${op}: dir must be a directory path or file URL, but got ${describe(dir)}`,
    );
  }
  return dir;
}

/** Reads a file; `undefined` when it does not exist. */
async function readOptional(
  path: string,
  dir: string,
  options: SafetensorsFileOptions,
): Promise<Uint8Array | undefined> {
  try {
    if (options.fs) return await options.fs.readFile(path);
    return await (denoApi()?.readFile(path) ?? nodeFs.readFile(path));
  } catch (error) {
    if (isNotFound(error)) return undefined;
    const errors = denoApi()?.errors;
    if (errors && error instanceof errors.NotCapable) {
      const flag = `--allow-read=${dir}`;
      throw new PermissionError(
        `Cannot read ${JSON.stringify(path)}: Deno has no read permission for it; run again ` +
          `with ${flag}`,
        { path, flag, cause: error },
      );
    }
    throw error;
  }
}

function parseJson(op: string, path: string, bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    throw new ArgumentError(`${op}: ${path} is not valid JSON (${(error as Error).message})`);
  }
}

/**
 * Builds the GPT-2 tokenizer from a model directory: `tokenizer.json` when
 * present, else `vocab.json` + `merges.txt`. Needs `--allow-read=<dir>`.
 * Throws an `ArgumentError` naming the missing file when there are none.
 *
 * @example
 * ```ts ignore
 * import { loadGpt2Tokenizer } from "@tessera/core/safetensors";
 * const tokenizer = await loadGpt2Tokenizer("gpt2");
 * console.log(tokenizer.encode("Hello, I am")); // [15496, 11, 314, 716]
 * ```
 */
export async function loadGpt2Tokenizer(
  dir: string | URL,
  options: SafetensorsFileOptions = {},
): Promise<Gpt2Tokenizer> {
  const op = "loadGpt2Tokenizer";
  const root = dirPath(op, dir);
  const jsonPath = join(root, "tokenizer.json");
  const json = await readOptional(jsonPath, root, options);
  if (json) return gpt2Tokenizer({ tokenizerJson: parseJson(op, jsonPath, json) });
  const vocabPath = join(root, "vocab.json");
  const mergesPath = join(root, "merges.txt");
  const vocab = await readOptional(vocabPath, root, options);
  const merges = await readOptional(mergesPath, root, options);
  if (!vocab || !merges) {
    const missing = !vocab && !merges
      ? "neither tokenizer.json nor vocab.json + merges.txt"
      : `no tokenizer.json and no ${!vocab ? "vocab.json" : "merges.txt"} (${
        !vocab ? "merges.txt" : "vocab.json"
      } alone is not enough)`;
    throw new ArgumentError(`${op}: ${root} has ${missing}; ${DIR_HINT}`);
  }
  return gpt2Tokenizer({
    vocab: parseJson(op, vocabPath, vocab) as Record<string, number>,
    merges: new TextDecoder().decode(merges),
  });
}

/**
 * Loads a Hugging Face GPT-2 directory: the weights (`model.safetensors`,
 * F32, F16 or BF16) onto `device` through {@linkcode loadGpt2Weights}, as
 * float32 (default) or, with `{ dtype: "float16" }`, as float16 (an F16
 * file's bits kept, half the memory; webgpu needs `shader-f16`), heads
 * and dropout from `config.json` (whose sizes must agree with the weights),
 * and the tokenizer ({@linkcode loadGpt2Tokenizer}). Needs
 * `--allow-read=<dir>`. A missing file gives an `ArgumentError` naming it.
 *
 * @example
 * ```ts ignore
 * import { generate, tensor, webgpu } from "@tessera/core";
 * import { loadGpt2 } from "@tessera/core/safetensors";
 * const { model, tokenizer } = await loadGpt2("gpt2", { device: await webgpu() });
 * ```
 */
export async function loadGpt2(
  dir: string | URL,
  options: LoadGpt2Options = {},
): Promise<Gpt2Directory> {
  const op = "loadGpt2";
  const root = dirPath(op, dir);
  const configPath = join(root, "config.json");
  const configBytes = await readOptional(configPath, root, options);
  const hf = configBytes
    ? parseJson(op, configPath, configBytes) as Record<string, unknown>
    : undefined;
  const nHeads = options.nHeads ?? hf?.n_head;
  if (nHeads === undefined) {
    throw new ArgumentError(
      `${op}: ${root} has no config.json, so the number of heads is unknown; pass ` +
        `{ nHeads } (12 for gpt2, 16 medium, 20 large, 25 xl) or add config.json`,
    );
  }
  // Read the tokenizer first: it is cheap, and a missing file is found before the big read.
  const tokenizer = await loadGpt2Tokenizer(root, options);
  const modelPath = join(root, "model.safetensors");
  let weights;
  try {
    weights = await readSafetensorsFile(modelPath, options);
  } catch (error) {
    if (isNotFound(error)) {
      throw new ArgumentError(`${op}: ${root} has no model.safetensors; ${DIR_HINT}`);
    }
    throw error;
  }
  const dropRate = typeof hf?.resid_pdrop === "number" ? hf.resid_pdrop : undefined;
  const config = gpt2ConfigFromWeights(weights, { nHeads: nHeads as number, dropRate });
  const sizes: [string, keyof GptConfig][] = [
    ["vocab_size", "vocabSize"],
    ["n_embd", "embDim"],
    ["n_layer", "nLayers"],
    ["n_positions", "contextLength"],
  ];
  for (const [key, field] of sizes) {
    if (hf?.[key] !== undefined && hf[key] !== config[field]) {
      throw new ArgumentError(
        `${op}: ${configPath} has ${key} ${describe(hf[key])}, but model.safetensors has ` +
          `${field} ${config[field]}`,
      );
    }
  }
  if (tokenizer.vocabSize > config.vocabSize) {
    throw new ArgumentError(
      `${op}: the tokenizer has ${tokenizer.vocabSize} ids, but the model's vocabulary has ` +
        `${config.vocabSize}`,
    );
  }
  // dtype float16: the file's F16 bits go to the model as they are (F32/BF16 round once).
  const model = await loadGpt2Weights(config, weights, {
    device: options.device,
    dtype: options.dtype ?? "float32",
  });
  return { model, tokenizer, config };
}
