/**
 * Optimizer state as a flat state dict and back, so that a model and its
 * optimizer save into one safetensors file and a run resumes exactly.
 *
 * @module
 */

import { ArgumentError } from "../errors.ts";
import { describe, showShape } from "../ops/checks.ts";
import type { StateDict } from "../state_dict.ts";
import { cpuTensor, Tensor } from "../tensor.ts";
import { mapTree, toDevice, treeLeaves } from "../tree.ts";

/**
 * Options of {@linkcode optimizerStateDict} and {@linkcode loadOptimizerState}.
 *
 * @example
 * ```ts
 * import type { OptimizerStateOptions } from "@tessera/core";
 * const o: OptimizerStateOptions = { prefix: "opt." };
 * ```
 */
export interface OptimizerStateOptions {
  /** Prepended to every key, so the keys never collide with a model's; default "optimizer.". */
  prefix?: string;
}

const DEFAULT_PREFIX = "optimizer.";

// PyTorch's names for the per-parameter state of AdamW and SGD.
const TORCH_NAMES: Record<string, string> = {
  expAvg: "exp_avg",
  expAvgSq: "exp_avg_sq",
  momentum: "momentum_buffer",
};

/**
 * The state of {@linkcode adamw} or {@linkcode sgd} (or any optimizer whose
 * state is a record of a numeric `step` and trees of tensors) as a flat
 * state dict:
 *
 * - `<prefix>step`: the step count, an int32 scalar `[]` on cpu;
 * - `<prefix><name>.<param path>` for every tensor, with PyTorch's state
 *   names (`exp_avg`, `exp_avg_sq`, `momentum_buffer`; other fields in
 *   snake case), e.g. `optimizer.exp_avg.trf_blocks.0.att.W_query.weight`.
 *
 * The dict holds the state's own tensors (no copies; do not dispose them
 * through it), plus the new `step` tensor. Merge it with `stateDict(model)`
 * and save both with `stateDictToSafetensors` or `saveSafetensors`.
 *
 * @example
 * ```ts
 * import { adamw, optimizerStateDict, tensor } from "@tessera/core";
 * const state = adamw({ lr: 1e-3 }).init({ w: tensor([1, 2]) });
 * console.log([...optimizerStateDict(state).keys()]);
 * // ["optimizer.step", "optimizer.exp_avg.w", "optimizer.exp_avg_sq.w"]
 * ```
 */
export function optimizerStateDict(
  state: object,
  options: OptimizerStateOptions = {},
): StateDict {
  const op = "optimizerStateDict";
  const prefix = checkArgs(op, state, options);
  const dict: StateDict = new Map();
  for (const [field, value] of Object.entries(state)) {
    const key = prefix + torchName(field);
    if (typeof value === "number") {
      if (!Number.isSafeInteger(value) || value < 0 || value >= 2 ** 31) {
        throw new ArgumentError(
          `${op}: state.${field} must be a whole number in [0, 2^31), but got ${value}`,
        );
      }
      dict.set(key, cpuTensor(new Int32Array([value]), []));
    } else {
      for (const [path, t] of treeLeaves(value)) {
        if (t.isDisposed) {
          throw new ArgumentError(`${op}: state.${field}.${path} was disposed`);
        }
        dict.set(`${key}.${path}`, t);
      }
    }
  }
  return dict;
}

/**
 * Loads an optimizer state saved by {@linkcode optimizerStateDict} into a
 * new state shaped like `template` (a fresh `optimizer.init(params)`, which
 * gives the structure, shapes and devices). Only keys under the prefix are
 * read, so the dict may also hold the model's tensors. Every tensor lands on
 * the device of the template tensor it replaces (a tensor already there is
 * used as is, not copied, as {@linkcode loadStateDict} does). Missing keys,
 * unexpected keys under the prefix, and shape or dtype mismatches throw one
 * `ArgumentError` listing every problem, before anything is allocated. The
 * template is not modified or disposed.
 *
 * @example
 * ```ts
 * import { adamw, loadOptimizerState, optimizerStateDict, tensor } from "@tessera/core";
 * const opt = adamw({ lr: 1e-3 });
 * const params = { w: tensor([1, 2]) };
 * const saved = optimizerStateDict(opt.update({ w: tensor([1, 1]) }, opt.init(params), params).state);
 * const state = await loadOptimizerState(opt.init(params), saved);
 * console.log(state.step); // 1
 * ```
 */
export async function loadOptimizerState<S extends object>(
  template: S,
  dict: StateDict | Record<string, Tensor>,
  options: OptimizerStateOptions = {},
): Promise<S> {
  const op = "loadOptimizerState";
  const prefix = checkArgs(op, template, options);
  if (dict === null || typeof dict !== "object") {
    throw new ArgumentError(
      `${op}: dict must be a Map or a record of tensors, but got ${describe(dict)}`,
    );
  }
  const incoming = new Map<string, unknown>(dict instanceof Map ? dict : Object.entries(dict));
  const problems: string[] = [];
  const used = new Set<string>();
  const lookup = (key: string, target: Tensor | "step"): Tensor | undefined => {
    used.add(key);
    const source = incoming.get(key);
    if (source === undefined) {
      problems.push(`missing key ${JSON.stringify(key)}`);
      return undefined;
    }
    if (!(source instanceof Tensor) || source.isDisposed) {
      problems.push(
        `value of key ${JSON.stringify(key)} is ${describe(source)}, not a live Tensor`,
      );
      return undefined;
    }
    if (target === "step") {
      if (source.size !== 1) {
        problems.push(`${key} must hold one number, but has shape ${showShape(source.shape)}`);
        return undefined;
      }
    } else if (showShape(source.shape) !== showShape(target.shape)) {
      problems.push(
        `size mismatch for ${key}: the dict's tensor has shape ${showShape(source.shape)}, ` +
          `but the state's has shape ${showShape(target.shape)}`,
      );
      return undefined;
    } else if (source.dtype !== target.dtype) {
      problems.push(
        `dtype mismatch for ${key}: the dict's tensor has dtype ${source.dtype}, but the ` +
          `state's has dtype ${target.dtype}`,
      );
      return undefined;
    }
    return source;
  };
  // First pass: find every problem, allocate nothing.
  const plan: [field: string, value: unknown][] = [];
  for (const [field, value] of Object.entries(template)) {
    const key = prefix + torchName(field);
    if (typeof value === "number") {
      plan.push([field, lookup(key, "step")]);
    } else {
      const sources = new Map<string, Tensor | undefined>();
      for (const [path, t] of treeLeaves(value)) sources.set(path, lookup(`${key}.${path}`, t));
      plan.push([field, sources]);
    }
  }
  for (const key of incoming.keys()) {
    if (key.startsWith(prefix) && !used.has(key)) {
      problems.push(`unexpected key ${JSON.stringify(key)}`);
    }
  }
  if (problems.length > 0) {
    throw new ArgumentError(
      `${op}: cannot load the optimizer state: ${problems.length} problem${
        problems.length === 1 ? "" : "s"
      }:\n  ${problems.join("\n  ")}`,
    );
  }
  const out: Record<string, unknown> = {};
  const created: Tensor[] = [];
  try {
    for (const [field, planned] of plan) {
      const value = (template as Record<string, unknown>)[field];
      if (planned instanceof Tensor) {
        const [step] = await planned.data();
        if (!Number.isSafeInteger(step) || step < 0) {
          throw new ArgumentError(
            `${op}: ${prefix}${torchName(field)} must be a whole number >= 0, but holds ${step}`,
          );
        }
        out[field] = step;
        continue;
      }
      const sources = planned as Map<string, Tensor>;
      const placed = new Map<string, Tensor>();
      for (const [path, t] of treeLeaves(value)) {
        const moved = await toDevice(sources.get(path)!, t.device);
        if (moved !== sources.get(path)) created.push(moved);
        placed.set(path, moved);
      }
      out[field] = mapTree(value, (_, path) => placed.get(path)!);
    }
  } catch (error) {
    for (const t of created) t.dispose();
    throw error;
  }
  return out as S;
}

/**
 * Splits a state dict by key prefix: the entries under `prefix` (with the
 * prefix kept) and the rest, e.g. a checkpoint's optimizer state and its
 * model state. The tensors are shared, not copied.
 *
 * @example
 * ```ts
 * import { splitStateDict, tensor } from "@tessera/core";
 * const dict = new Map([["w", tensor([1])], ["optimizer.step", tensor([3])]]);
 * const { prefixed, rest } = splitStateDict(dict, "optimizer.");
 * console.log([...prefixed.keys()], [...rest.keys()]); // ["optimizer.step"] ["w"]
 * ```
 */
export function splitStateDict(
  dict: StateDict | Record<string, Tensor>,
  prefix: string = DEFAULT_PREFIX,
): { prefixed: StateDict; rest: StateDict } {
  if (dict === null || typeof dict !== "object") {
    throw new ArgumentError(
      `splitStateDict: dict must be a Map or a record of tensors, but got ${describe(dict)}`,
    );
  }
  if (typeof prefix !== "string" || prefix === "") {
    throw new ArgumentError(
      `splitStateDict: prefix must be a non-empty string, but got ${describe(prefix)}`,
    );
  }
  const prefixed: StateDict = new Map();
  const rest: StateDict = new Map();
  for (const [key, t] of dict instanceof Map ? dict : Object.entries(dict)) {
    if (!(t instanceof Tensor)) {
      throw new ArgumentError(
        `splitStateDict: dict entry ${JSON.stringify(key)} must be a Tensor, but got ${
          describe(t)
        }`,
      );
    }
    (key.startsWith(prefix) ? prefixed : rest).set(key, t);
  }
  return { prefixed, rest };
}

function torchName(field: string): string {
  return TORCH_NAMES[field] ?? field.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase());
}

function checkArgs(op: string, state: unknown, options: unknown): string {
  // Without a numeric step it is not an optimizer state (an empty dict would hide the mistake).
  if (
    state === null || typeof state !== "object" || Array.isArray(state) ||
    typeof (state as { step?: unknown }).step !== "number"
  ) {
    throw new ArgumentError(
      `${op}: state must be an optimizer state like { step, expAvg, expAvgSq }, but got ${
        describe(state)
      }${state !== null && typeof state === "object" ? " without a numeric step" : ""}`,
    );
  }
  if (options === null || typeof options !== "object") {
    throw new ArgumentError(`${op}: options must be an object, but got ${describe(options)}`);
  }
  const { prefix = DEFAULT_PREFIX } = options as OptimizerStateOptions;
  if (typeof prefix !== "string") {
    throw new ArgumentError(`${op}: prefix must be a string, but got ${describe(prefix)}`);
  }
  return prefix;
}
