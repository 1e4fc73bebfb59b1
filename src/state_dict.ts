/**
 * PyTorch-style state dicts: `stateDict(m)` names every parameter and
 * persistent buffer like `module.state_dict()`; `loadStateDict` returns a new
 * module with the given tensors, on the module's devices.
 *
 * @module
 */

import { ArgumentError, TesseraError } from "./errors.ts";
import { checkModuleRecord, type Module } from "./module.ts";
import { describe, showShape } from "./ops/checks.ts";
import { Tensor } from "./tensor.ts";
import { mapTree, toDevice, treeLeaves } from "./tree.ts";

/**
 * Tensors by PyTorch name. A `Map`, so that names such as `__proto__` are
 * ordinary keys.
 *
 * @example
 * ```ts
 * import { type StateDict, tensor } from "@tessera/core";
 * const dict: StateDict = new Map([["weight", tensor([[1, 2]])]]);
 * ```
 */
export type StateDict = Map<string, Tensor>;

/**
 * Thrown by {@linkcode loadStateDict} when the dict does not fit the module;
 * the message lists every problem at once.
 *
 * @example
 * ```ts
 * import { StateDictError } from "@tessera/core";
 * const e = new StateDictError(["missing key W_query.weight"]);
 * console.log(e.problems.length); // 1
 * ```
 */
export class StateDictError extends TesseraError {
  /** One line per problem. */
  readonly problems: readonly string[];
  /** Creates the error from its list of problems. */
  constructor(problems: readonly string[]) {
    super(
      `loadStateDict: cannot load the state dict: ${problems.length} problem${
        problems.length === 1 ? "" : "s"
      }:\n  ${problems.join("\n  ")}`,
    );
    this.problems = problems;
  }
}

/**
 * Returns the module with `names` marked non-persistent: those buffers move
 * with the module but are left out of {@linkcode stateDict}, like PyTorch's
 * `register_buffer(name, t, persistent=False)`.
 *
 * @example
 * ```ts
 * import { markNonPersistent, nn, stateDict } from "@tessera/core";
 * const m = markNonPersistent(
 *   nn.causalAttention.init({ dIn: 3, dOut: 2, contextLength: 6, dropout: 0 }),
 *   "mask",
 * );
 * console.log(stateDict(m).has("mask")); // false
 * ```
 */
export function markNonPersistent<M extends Module>(module: M, ...names: string[]): M {
  checkModuleRecord("markNonPersistent", module);
  const known = new Set([...treeLeaves(module.buffers)].map(([name]) => name));
  for (const name of names) {
    if (!known.has(name)) {
      throw new TesseraError(
        `markNonPersistent: the module has no buffer named ${JSON.stringify(name)}; its buffers ` +
          `are ${[...known].map((n) => JSON.stringify(n)).join(", ") || "none"}`,
      );
    }
  }
  const previous = module.nonPersistent ?? [];
  return { ...module, nonPersistent: [...new Set([...previous, ...names])] };
}

/**
 * The module's state dict: persistent buffers first, then parameters, with
 * PyTorch's dotted names and order (`mask`, `W_query.weight`, ...). The
 * tensors are the module's own, not copies.
 *
 * @example
 * ```ts
 * import { nn, stateDict } from "@tessera/core";
 * const m = nn.causalAttention.init({ dIn: 3, dOut: 2, contextLength: 6, dropout: 0 });
 * console.log([...stateDict(m).keys()]);
 * // ["mask", "W_query.weight", "W_key.weight", "W_value.weight"]
 * ```
 */
export function stateDict(module: Module): StateDict {
  checkModuleRecord("stateDict", module);
  const skip = new Set(module.nonPersistent ?? []);
  const dict: StateDict = new Map();
  // PyTorch saves a module's own buffers before its submodules' parameters;
  // for the layers here that puts buffers first.
  for (const [name, t] of treeLeaves(module.buffers)) if (!skip.has(name)) dict.set(name, t);
  for (const [name, t] of treeLeaves(module.params)) dict.set(name, t);
  return dict;
}

/**
 * Options for {@linkcode loadStateDict}.
 *
 * @example
 * ```ts
 * import type { LoadStateDictOptions } from "@tessera/core";
 * const o: LoadStateDictOptions = { strict: false };
 * ```
 */
export interface LoadStateDictOptions {
  /** Throw on missing or unexpected keys (default true, as in PyTorch). */
  strict?: boolean;
}

/**
 * What {@linkcode loadStateDict} returns: the new module and the keys that
 * did not match, like PyTorch's `_IncompatibleKeys`.
 *
 * @example
 * ```ts
 * import type { LoadStateDictResult, nn } from "@tessera/core";
 * type R = LoadStateDictResult<nn.CausalAttention>;
 * ```
 */
export interface LoadStateDictResult<M> {
  /** A new module holding the loaded tensors; the input module is untouched. */
  module: M;
  /** Keys the module has but the dict lacks (their tensors are kept). */
  missingKeys: string[];
  /** Keys the dict has but the module does not. */
  unexpectedKeys: string[];
}

/**
 * Loads tensors by name into a new module. Each loaded tensor lands on the
 * device of the tensor it replaces. A shape or dtype mismatch always throws,
 * naming the key and both shapes (dtypes); in strict mode (the default) missing and unexpected
 * keys throw too, and one {@linkcode StateDictError} lists every problem. The
 * input module is never modified, and on failure nothing is left allocated.
 *
 * @example
 * ```ts
 * import { loadStateDict, manualSeed, nn, stateDict } from "@tessera/core";
 * const config = { dIn: 3, dOut: 2, contextLength: 6, dropout: 0 };
 * manualSeed(1);
 * const trained = nn.causalAttention.init(config);
 * const fresh = nn.causalAttention.init(config);
 * const { module, missingKeys } = await loadStateDict(fresh, stateDict(trained));
 * console.log(missingKeys); // []
 * ```
 */
export async function loadStateDict<M extends Module>(
  module: M,
  dict: StateDict | Record<string, Tensor>,
  options: LoadStateDictOptions = {},
): Promise<LoadStateDictResult<M>> {
  checkModuleRecord("loadStateDict", module);
  if (dict === null || typeof dict !== "object") {
    throw new ArgumentError(
      `loadStateDict: dict must be a Map or a record of tensors, but got ${describe(dict)}`,
    );
  }
  if (options === null || typeof options !== "object") {
    throw new ArgumentError(
      `loadStateDict: options must be an object like { strict }, but got ${describe(options)}`,
    );
  }
  const { strict = true } = options;
  const incoming = new Map<string, unknown>(
    dict instanceof Map ? dict : Object.entries(dict),
  );
  const own = stateDict(module);
  const problems: string[] = [];
  // A present key with a non-tensor value (often `undefined` from a typo'd
  // lookup) is always a problem: skipping it would load nothing silently.
  for (const [key, value] of incoming) {
    if (!(value instanceof Tensor)) {
      problems.push(`value of key ${JSON.stringify(key)} is ${describe(value)}, not a Tensor`);
    } else if (value.isDisposed) {
      problems.push(
        `value of key ${JSON.stringify(key)} was disposed; it had shape ` +
          `${showShape(value.shape)} on ${value.device.name}`,
      );
    }
  }
  const missingKeys = [...own.keys()].filter((k) => !incoming.has(k));
  const unexpectedKeys = [...incoming.keys()].filter((k) => !own.has(k));
  for (const [key, target] of own) {
    const source = incoming.get(key);
    if (source instanceof Tensor && showShape(source.shape) !== showShape(target.shape)) {
      problems.push(
        `size mismatch for ${key}: copying a tensor of shape ${showShape(source.shape)}, ` +
          `but the module's tensor has shape ${showShape(target.shape)}`,
      );
    }
    // Never converted silently: int32 ids read as floats (or back) are wrong values.
    if (source instanceof Tensor && source.dtype !== target.dtype) {
      problems.push(
        `dtype mismatch for ${key}: copying a tensor of dtype ${source.dtype}, ` +
          `but the module's tensor has dtype ${target.dtype}`,
      );
    }
  }
  if (strict) {
    for (const key of missingKeys) problems.push(`missing key ${JSON.stringify(key)}`);
    for (const key of unexpectedKeys) problems.push(`unexpected key ${JSON.stringify(key)}`);
  }
  if (problems.length > 0) throw new StateDictError(problems);

  // Move every incoming tensor to its target's device in one atomic toDevice
  // per device, so a failure leaves nothing allocated.
  const replacements = new Map<Tensor, Tensor>();
  const created: Tensor[] = [];
  try {
    for (const [key, target] of own) {
      const source = incoming.get(key);
      if (!(source instanceof Tensor)) continue;
      const placed = await toDevice(source, target.device);
      if (placed !== source) created.push(placed);
      replacements.set(target, placed);
    }
  } catch (error) {
    for (const t of created) t.dispose();
    throw error;
  }
  const swap = (t: Tensor) => replacements.get(t) ?? t;
  const loaded = {
    ...module,
    params: mapTree(module.params, swap),
    buffers: mapTree(module.buffers, swap),
  };
  return { module: loaded, missingKeys, unexpectedKeys };
}
