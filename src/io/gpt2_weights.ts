/**
 * Hugging Face GPT-2 checkpoints (`model.safetensors` of
 * `openai-community/gpt2` and its medium, large and xl siblings) onto
 * `nn.gptModel`, as the book's chapter-5 `load_weights_into_gpt` does.
 *
 * @module
 */

import { cpu, type Device } from "../device.ts";
import { ArgumentError, DTypeError, ShapeError } from "../errors.ts";
import type { GptConfig, GptModel, GptParams } from "../nn/gpt_model.ts";
import type { LinearParams } from "../nn/linear.ts";
import type { TransformerBlockParams } from "../nn/transformer_block.ts";
import { describe, showShape } from "../ops/checks.ts";
import { fromF16Bits, toF16Bits } from "../f16.ts";
import { checkF16Device, cpuData, cpuHalf, fromHost, Tensor } from "../tensor.ts";
import { checkDeviceArg } from "./checkpoint.ts";
import type { HostTensor, ParsedSafetensors } from "./safetensors_format.ts";

/**
 * GPT-2 weights by Hugging Face name: a parsed safetensors file (parsed with
 * `{ dtype: "float16" }`, F16 weights stay binary16 bits; by default the
 * reader widens F16 and BF16 to F32), or a `Map` or record of float32 or
 * float16 tensors or host arrays (`Float32Array`, or `Uint16Array` of
 * binary16 bits).
 *
 * @example
 * ```ts
 * import type { Gpt2Weights } from "@tessera/core";
 * const w: Gpt2Weights = new Map(); // "wte.weight" -> Tensor, ...
 * ```
 */
export type Gpt2Weights =
  | ParsedSafetensors
  | ReadonlyMap<string, Tensor | HostTensor>
  | Readonly<Record<string, Tensor | HostTensor>>;

/**
 * Options of {@linkcode gpt2ConfigFromWeights}.
 *
 * @example
 * ```ts
 * import type { Gpt2ConfigOptions } from "@tessera/core";
 * const o: Gpt2ConfigOptions = { nHeads: 12 }; // GPT-2 small (config.json's n_head)
 * ```
 */
export interface Gpt2ConfigOptions {
  /**
   * Attention heads per block (`n_head` in config.json: 12 small, 16 medium,
   * 20 large, 25 xl); the weights do not tell.
   */
  nHeads: number;
  /** Dropout when training (`resid_pdrop`); default 0.1, as GPT-2 and the book. */
  dropRate?: number;
}

/**
 * Options of {@linkcode loadGpt2Weights}.
 *
 * @example
 * ```ts
 * import { cpu, type LoadGpt2WeightsOptions } from "@tessera/core";
 * const o: LoadGpt2WeightsOptions = { device: cpu };
 * ```
 */
export interface LoadGpt2WeightsOptions {
  /** Where the model's tensors go; default the given model's device, else cpu. */
  device?: Device;
  /**
   * The dtype of the model's tensors. Default: `"float16"` when every weight
   * is float16 (an F16 file parsed with `{ dtype: "float16" }`: the bits are
   * kept, never widened), else `"float32"`. Float32 weights asked for as
   * float16 round to nearest even; float16 ones asked for as float32 widen
   * exactly. A float16 model on webgpu needs the `shader-f16` feature.
   */
  dtype?: "float32" | "float16";
}

const OP = "loadGpt2Weights";
const PREFIX = "transformer.";
const BLOCK_KEYS = [
  "ln_1.weight",
  "ln_1.bias",
  "attn.c_attn.weight",
  "attn.c_attn.bias",
  "attn.c_proj.weight",
  "attn.c_proj.bias",
  "ln_2.weight",
  "ln_2.bias",
  "mlp.c_fc.weight",
  "mlp.c_fc.bias",
  "mlp.c_proj.weight",
  "mlp.c_proj.bias",
] as const;
// Attention-mask buffers some exports carry; the model builds its own mask.
const IGNORED_BLOCK_KEYS = new Set(["attn.bias", "attn.masked_bias"]);

interface Entry {
  /** The key as the checkpoint spells it (for messages). */
  key: string;
  shape: readonly number[];
  value: Tensor | HostTensor;
  /** The stored dtype. */
  dtype: "float32" | "float16";
}

/** Host values of one weight: float32 values, or binary16 bits. */
type Values = Float32Array | Uint16Array;

/** Keys without the `transformer.` prefix -> entries; rejects int32 and duplicates. */
function collect(op: string, weights: unknown): Map<string, Entry> {
  let source: Iterable<[string, unknown]>;
  if (weights instanceof Map) source = weights.entries();
  else if (
    weights !== null && typeof weights === "object" &&
    (weights as { tensors?: unknown }).tensors instanceof Map
  ) source = (weights as ParsedSafetensors).tensors.entries();
  else if (weights !== null && typeof weights === "object" && !Array.isArray(weights)) {
    source = Object.entries(weights);
  } else {
    throw new ArgumentError(
      `${op}: tensors must be a parsed safetensors file, a Map or a record of name -> tensor, ` +
        `but got ${describe(weights)}`,
    );
  }
  const out = new Map<string, Entry>();
  for (const [key, value] of source) {
    let shape: readonly number[];
    let dtype: Entry["dtype"];
    if (value instanceof Tensor) {
      if (value.dtype !== "float32" && value.dtype !== "float16") {
        throw new DTypeError(
          `${op}: ${key} has dtype ${value.dtype}, but GPT-2 weights are float32 or float16`,
        );
      }
      shape = value.shape;
      dtype = value.dtype;
    } else if (
      value !== null && typeof value === "object" &&
      Array.isArray((value as HostTensor).shape) &&
      ArrayBuffer.isView((value as HostTensor).data)
    ) {
      const host = value as HostTensor & { dtype?: string };
      if (!(host.data instanceof Float32Array) && !(host.data instanceof Uint16Array)) {
        const kind = host.data instanceof Int32Array
          ? "int32"
          : (host.data as object).constructor.name;
        throw new DTypeError(
          `${op}: ${key} holds ${kind} values${
            host.dtype ? ` (${host.dtype} in the file)` : ""
          }, ` +
            `but GPT-2 weights load from float32 values (Float32Array) or float16 bits ` +
            `(Uint16Array), as parseSafetensors gives for F32, F16 and BF16 tensors`,
        );
      }
      shape = host.shape;
      dtype = host.data instanceof Uint16Array ? "float16" : "float32";
    } else {
      throw new ArgumentError(
        `${op}: ${key} must be a tensor or { shape, data }, but got ${describe(value)}`,
      );
    }
    const name = key.startsWith(PREFIX) ? key.slice(PREFIX.length) : key;
    const seen = out.get(name);
    if (seen) {
      throw new ArgumentError(`${op}: ${seen.key} and ${key} are the same weight; keep one`);
    }
    out.set(name, { key, shape, value: value as Tensor | HostTensor, dtype });
  }
  return out;
}

interface Layout {
  config: Omit<GptConfig, "nHeads" | "dropRate">;
  entries: Map<string, Entry>;
}

/** Checks names and shapes against GPT-2's layout and infers the sizes. */
function inspect(op: string, weights: unknown): Layout {
  const entries = collect(op, weights);
  const need = (name: string): Entry => {
    const e = entries.get(name);
    if (!e) {
      throw new ArgumentError(
        `${op}: ${name} is missing; a Hugging Face GPT-2 checkpoint has wte.weight, ` +
          `wpe.weight, h.{i}.* and ln_f.* (with or without "transformer.")`,
      );
    }
    return e;
  };
  const wte = need("wte.weight");
  const wpe = need("wpe.weight");
  if (wte.shape.length !== 2) {
    throw new ShapeError(
      `${op}: ${wte.key} has shape ${showShape(wte.shape)}, but must be [vocab, features]`,
    );
  }
  const [vocabSize, embDim] = wte.shape;
  if (wpe.shape.length !== 2 || wpe.shape[1] !== embDim) {
    throw new ShapeError(
      `${op}: ${wpe.key} has shape ${showShape(wpe.shape)}, but ${wte.key} ` +
        `${showShape(wte.shape)} needs [context, ${embDim}]`,
    );
  }
  const contextLength = wpe.shape[0];
  const blocks = new Set<number>();
  const unknown: string[] = [];
  for (const [name, e] of entries) {
    const m = /^h\.(0|[1-9]\d*)\.(.+)$/.exec(name);
    if (m) {
      if (IGNORED_BLOCK_KEYS.has(m[2])) {
        entries.delete(name);
        continue;
      }
      if ((BLOCK_KEYS as readonly string[]).includes(m[2])) {
        blocks.add(Number(m[1]));
        continue;
      }
    } else if (
      ["wte.weight", "wpe.weight", "ln_f.weight", "ln_f.bias"].includes(name)
    ) continue;
    else if (name === "lm_head.weight") {
      // GPT-2 ties the head to wte; a file that stores it too must agree in shape.
      checkShape(op, e, [vocabSize, embDim], "the output head tied to wte.weight");
      entries.delete(name);
      continue;
    }
    unknown.push(e.key);
  }
  if (unknown.length > 0) {
    throw new ArgumentError(
      `${op}: unknown key${unknown.length > 1 ? "s" : ""} ${unknown.slice(0, 5).join(", ")}${
        unknown.length > 5 ? ` and ${unknown.length - 5} more` : ""
      }: not part of GPT-2's layout`,
    );
  }
  const nLayers = blocks.size === 0 ? 0 : Math.max(...blocks) + 1;
  if (nLayers === 0) throw new ArgumentError(`${op}: the checkpoint has no blocks (h.0.*)`);
  for (let i = 0; i < nLayers; i++) {
    if (!blocks.has(i)) {
      throw new ArgumentError(
        `${op}: block h.${i} is missing: the checkpoint has blocks up to h.${nLayers - 1} ` +
          `but no h.${i}.* weights`,
      );
    }
  }
  const e = embDim;
  const expected: Record<string, number[]> = {
    "ln_1.weight": [e],
    "ln_1.bias": [e],
    "attn.c_attn.weight": [e, 3 * e],
    "attn.c_attn.bias": [3 * e],
    "attn.c_proj.weight": [e, e],
    "attn.c_proj.bias": [e],
    "ln_2.weight": [e],
    "ln_2.bias": [e],
    "mlp.c_fc.weight": [e, 4 * e],
    "mlp.c_fc.bias": [4 * e],
    "mlp.c_proj.weight": [4 * e, e],
    "mlp.c_proj.bias": [e],
  };
  const what = `GPT-2 with ${e} features`;
  for (let i = 0; i < nLayers; i++) {
    for (const k of BLOCK_KEYS) checkShape(op, need(`h.${i}.${k}`), expected[k], what);
  }
  checkShape(op, need("ln_f.weight"), [e], what);
  checkShape(op, need("ln_f.bias"), [e], what);
  return { config: { vocabSize, contextLength, embDim, nLayers, qkvBias: true }, entries };
}

function checkShape(op: string, e: Entry, shape: number[], what: string): void {
  if (e.shape.length !== shape.length || e.shape.some((d, i) => d !== shape[i])) {
    const conv = shape.length === 2 && !e.key.endsWith("lm_head.weight") &&
        !/w[tp]e\.weight$/.test(e.key)
      ? " (Conv1D weights are [in, out])"
      : "";
    throw new ShapeError(
      `${op}: ${e.key} has shape ${showShape(e.shape)}, but ${what} needs ${
        showShape(shape)
      }${conv}`,
    );
  }
}

function checkHeads(op: string, nHeads: unknown, embDim: number): number {
  if (typeof nHeads !== "number" || !Number.isSafeInteger(nHeads) || nHeads < 1) {
    throw new ArgumentError(
      `${op}: nHeads must be a whole number >= 1 (config.json's n_head: 12 for gpt2, 16 ` +
        `medium, 20 large, 25 xl), but got ${describe(nHeads)}`,
    );
  }
  if (embDim % nHeads !== 0) {
    throw new ArgumentError(
      `${op}: nHeads ${nHeads} does not divide the embedding size ${embDim}`,
    );
  }
  return nHeads;
}

/**
 * The `nn.gptModel` config of a Hugging Face GPT-2 checkpoint: vocabulary,
 * context, features and layers from the weights' shapes (all checked), heads
 * from the caller, `qkvBias` true (GPT-2 has query/key/value biases).
 *
 * @example
 * ```ts ignore
 * import { gpt2ConfigFromWeights, parseSafetensors } from "@tessera/core";
 * const weights = parseSafetensors(await Deno.readFile("gpt2/model.safetensors"));
 * console.log(gpt2ConfigFromWeights(weights, { nHeads: 12 }));
 * // { vocabSize: 50257, contextLength: 1024, embDim: 768, nLayers: 12, qkvBias: true,
 * //   nHeads: 12, dropRate: 0.1 }
 * ```
 */
export function gpt2ConfigFromWeights(weights: Gpt2Weights, options: Gpt2ConfigOptions): GptConfig {
  const op = "gpt2ConfigFromWeights";
  const { config } = inspect(op, weights);
  return configWith(op, config, options);
}

function configWith(
  op: string,
  config: Layout["config"],
  options: Partial<Gpt2ConfigOptions> | undefined,
): GptConfig {
  if (options === null || typeof options !== "object") {
    throw new ArgumentError(`${op}: options must be { nHeads }, but got ${describe(options)}`);
  }
  const nHeads = checkHeads(op, options.nHeads, config.embDim);
  const dropRate = options.dropRate ?? 0.1;
  if (typeof dropRate !== "number" || !(dropRate >= 0 && dropRate < 1)) {
    throw new ArgumentError(`${op}: dropRate must be in [0, 1), but got ${describe(dropRate)}`);
  }
  return { ...config, nHeads, dropRate };
}

/**
 * Loads Hugging Face GPT-2 weights into an `nn.gptModel`, exactly as the
 * book's `load_weights_into_gpt`: `wte`/`wpe` become `tok_emb`/`pos_emb`;
 * each `h.{i}.attn.c_attn` (a Conv1D, weight `[in, 3 out]`) is split into
 * `W_query`, `W_key`, `W_value` (weights transposed, with biases);
 * `attn.c_proj`, `mlp.c_fc`, `mlp.c_proj` are transposed into `out_proj`,
 * `ff.layers.0`, `ff.layers.2`; `ln_1`, `ln_2`, `ln_f` become `norm1`,
 * `norm2`, `final_norm` (`scale`, `shift`); the output head is tied to `wte`:
 * `out_head.weight` is the very tensor `tok_emb.weight` (stored once on the
 * device; `toDevice` and `dispose` handle the shared leaf).
 *
 * `model` is either an existing model (its config must match the weights,
 * checked key by key; its tensors are left alone) or a config (no random
 * init: the fast way for big models); heads come from it. Keys may carry a
 * `transformer.` prefix; the `attn.bias` / `attn.masked_bias` buffers and an
 * `lm_head.weight` copy of `wte` are ignored; every other key must belong to
 * GPT-2's layout. Every shape is checked before any tensor is made, and errors
 * name the key. Weights may be float32 or float16 (`options.dtype` picks the
 * model's dtype; by default float16 only when every weight is float16). The returned model has `qkvBias: true` and one causal mask
 * tensor shared by all blocks.
 *
 * @example
 * ```ts ignore
 * import { gpt2ConfigFromWeights, loadGpt2Weights, parseSafetensors, webgpu } from "@tessera/core";
 * const weights = parseSafetensors(await Deno.readFile("gpt2/model.safetensors"));
 * const config = gpt2ConfigFromWeights(weights, { nHeads: 12 });
 * const model = await loadGpt2Weights(config, weights, { device: await webgpu() });
 * // float16 (half the memory): the F16 file's bits go to the GPU as they are.
 * const halves = parseSafetensors(await Deno.readFile("gpt2/model.safetensors"), {
 *   dtype: "float16",
 * });
 * const half = await loadGpt2Weights(config, halves, { device: await webgpu() });
 * ```
 */
export async function loadGpt2Weights(
  model: GptModel | GptConfig,
  weights: Gpt2Weights,
  options: LoadGpt2WeightsOptions = {},
): Promise<GptModel> {
  const op = OP;
  if (model === null || typeof model !== "object") {
    throw new ArgumentError(
      `${op}: model must be an nn.gptModel or its config, but got ${describe(model)}`,
    );
  }
  const layout = inspect(op, weights);
  const isModel = "params" in model && "config" in model;
  const given = (isModel ? (model as GptModel).config : model) as Partial<GptConfig>;
  const config = configWith(op, layout.config, {
    nHeads: given.nHeads,
    dropRate: given.dropRate,
  });
  const checks: [keyof GptConfig, string][] = [
    ["vocabSize", "wte.weight"],
    ["embDim", "wte.weight"],
    ["contextLength", "wpe.weight"],
    ["nLayers", "h.*"],
  ];
  for (const [field, name] of checks) {
    if (given[field] !== undefined && given[field] !== config[field]) {
      const key = layout.entries.get(name)?.key ?? name;
      const found = name === "h.*"
        ? `${config.nLayers} blocks`
        : `shape ${showShape(layout.entries.get(name)!.shape)}`;
      throw new ShapeError(
        `${op}: the model has ${field} ${given[field]}, but the checkpoint's ${key} has ${found}`,
      );
    }
  }
  if (options === null || typeof options !== "object") {
    throw new ArgumentError(
      `${op}: options must be { device?, dtype? }, but got ${describe(options)}`,
    );
  }
  let device = options.device ?? cpu;
  if (options.device === undefined && isModel) {
    device = (model as GptModel).params.tok_emb?.weight?.device ?? cpu;
  }
  checkDeviceArg(op, device);
  const entries = [...layout.entries.values()];
  const dtype = options.dtype ??
    (entries.every((e) => e.dtype === "float16") ? "float16" : "float32");
  if (dtype !== "float32" && dtype !== "float16") {
    throw new ArgumentError(
      `${op}: options.dtype must be "float32" or "float16", but got ${describe(dtype)}`,
    );
  }
  if (dtype === "float16") checkF16Device(op, "the model", device);
  // Read every weight to the host first (GPU inputs: one read each), in the model's dtype.
  const host = new Map<string, Values>();
  for (const [name, e] of layout.entries) {
    const v = e.value;
    let values: Values;
    if (v instanceof Tensor) {
      // A copy: the model must not share storage with a tensor the caller may dispose.
      if (v.device.kind !== "cpu") values = (await v.data()) as Float32Array;
      else {values = v.dtype === "float16"
          ? cpuHalf(v, op, e.key).slice()
          : cpuData(v, op, e.key).slice();}
    } else values = v.data as Values;
    host.set(name, convert(values, dtype));
  }
  const created: Tensor[] = [];
  const make = (data: Values, shape: number[], what: string): Tensor => {
    const t = fromHost(data, shape, device, op, what);
    created.push(t);
    return t;
  };
  const get = (name: string) => host.get(name)!;
  const e = config.embDim;
  try {
    const tokEmb = make(get("wte.weight"), [config.vocabSize, e], "tok_emb.weight");
    const c = config.contextLength;
    // 0/1 are exact in float16 too: the mask takes the model's dtype, as toDevice would.
    const maskData = dtype === "float16" ? new Uint16Array(c * c) : new Float32Array(c * c);
    const one = dtype === "float16" ? 0x3c00 : 1;
    for (let i = 0; i < c; i++) maskData.fill(one, i * c + i + 1, (i + 1) * c);
    const mask = make(maskData, [c, c], "trf_blocks.*.att.mask");
    const linear = (
      weight: Values,
      bias: Values,
      inF: number,
      outF: number,
      what: string,
    ) => ({
      weight: make(transpose(weight, inF, outF), [outF, inF], `${what}.weight`),
      bias: make(bias, [outF], `${what}.bias`),
    });
    const norm = (p: string, what: string) => ({
      scale: make(get(`${p}.weight`), [e], `${what}.scale`),
      shift: make(get(`${p}.bias`), [e], `${what}.shift`),
    });
    const blocks: TransformerBlockParams[] = [];
    for (let i = 0; i < config.nLayers; i++) {
      const h = `h.${i}.`;
      const t = `trf_blocks.${i}.`;
      const [qw, kw, vw] = splitColumns(get(h + "attn.c_attn.weight"), e, 3);
      const qkvBias = get(h + "attn.c_attn.bias");
      const part = (j: number) => qkvBias.slice(j * e, (j + 1) * e);
      blocks.push({
        att: {
          W_query: linear(qw, part(0), e, e, t + "att.W_query"),
          W_key: linear(kw, part(1), e, e, t + "att.W_key"),
          W_value: linear(vw, part(2), e, e, t + "att.W_value"),
          out_proj: linear(
            get(h + "attn.c_proj.weight"),
            get(h + "attn.c_proj.bias"),
            e,
            e,
            t + "att.out_proj",
          ),
        },
        ff: {
          layers: {
            0: linear(
              get(h + "mlp.c_fc.weight"),
              get(h + "mlp.c_fc.bias"),
              e,
              4 * e,
              t + "ff.layers.0",
            ),
            2: linear(
              get(h + "mlp.c_proj.weight"),
              get(h + "mlp.c_proj.bias"),
              4 * e,
              e,
              t + "ff.layers.2",
            ),
          },
        },
        norm1: norm(h + "ln_1", t + "norm1"),
        norm2: norm(h + "ln_2", t + "norm2"),
      });
    }
    const outHead: LinearParams = { weight: tokEmb };
    const params: GptParams = {
      tok_emb: { weight: tokEmb },
      pos_emb: { weight: make(get("wpe.weight"), [c, e], "pos_emb.weight") },
      trf_blocks: blocks,
      final_norm: norm("ln_f", "final_norm"),
      out_head: outHead,
    };
    return {
      params,
      buffers: { trf_blocks: blocks.map(() => ({ att: { mask } })) },
      config,
    };
  } catch (error) {
    for (const t of created) t.dispose();
    throw error;
  }
}

/** `values` in `dtype`'s host storage (float16: bits, rounded to nearest even). */
function convert(values: Values, dtype: "float32" | "float16"): Values {
  if (dtype === "float16") return values instanceof Uint16Array ? values : toF16Bits(values);
  return values instanceof Float32Array ? values : fromF16Bits(values);
}

/** An empty array of `data`'s kind. */
function like<T extends Values>(data: T, n: number): T {
  return (data instanceof Uint16Array ? new Uint16Array(n) : new Float32Array(n)) as T;
}

/** `[rows, cols]` row-major -> `[cols, rows]`. */
function transpose<T extends Values>(data: T, rows: number, cols: number): T {
  const out = like(data, rows * cols);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = data[base + c];
  }
  return out;
}

/** Splits `[rows, parts * width]` into `parts` arrays `[rows, width]` (numpy's split on axis -1). */
function splitColumns<T extends Values>(data: T, rows: number, parts: number): T[] {
  const width = data.length / rows / parts;
  return Array.from({ length: parts }, (_, p) => {
    const out = like(data, rows * width);
    for (let r = 0; r < rows; r++) {
      out.set(
        data.subarray(r * parts * width + p * width, r * parts * width + (p + 1) * width),
        r * width,
      );
    }
    return out;
  });
}
