/**
 * Modules are plain records: `params` (trained), `buffers` (not trained, but
 * part of the module's state, like a causal mask) and a static `config`.
 *
 * @module
 */

import type { Device } from "./device.ts";
import { ArgumentError, DeviceMismatchError, UseAfterDisposeError } from "./errors.ts";
import { describe, showShape } from "./ops/checks.ts";
import type { Tensor } from "./tensor.ts";
import { treeLeaves } from "./tree.ts";

/**
 * A module record. Functions such as `nn.linear.apply` act on it; `toDevice`
 * moves `params` and `buffers` together.
 *
 * @example
 * ```ts
 * import { type Module, tensor } from "@tessera/core";
 * const m: Module<{ weight: ReturnType<typeof tensor> }, Record<string, never>, { n: number }> = {
 *   params: { weight: tensor([[1, 2]]) },
 *   buffers: {},
 *   config: { n: 2 },
 * };
 * ```
 */
export interface Module<P = unknown, B = unknown, C = unknown> {
  /** Trained tensors (nested records). */
  readonly params: P;
  /** Tensors the module needs but never trains. */
  readonly buffers: B;
  /** Static, non-tensor configuration. */
  readonly config: C;
  /** Buffer names left out of `stateDict` (see `markNonPersistent`). */
  readonly nonPersistent?: readonly string[];
}

/**
 * Yields `[name, tensor]` for every parameter, with PyTorch's dotted names
 * (`W_query.weight`).
 *
 * @example
 * ```ts
 * import { namedParameters, nn } from "@tessera/core";
 * const m = nn.linear.init({ inFeatures: 3, outFeatures: 2 });
 * console.log([...namedParameters(m)].map(([name]) => name)); // ["weight", "bias"]
 * ```
 */
export function namedParameters(module: Module): Generator<[string, Tensor]> {
  // Not a generator function itself, so a bad argument throws at the call.
  checkModuleRecord("namedParameters", module);
  return treeLeaves(module.params);
}

/**
 * Yields `[name, tensor]` for every buffer, with PyTorch's dotted names
 * (`mask`).
 *
 * @example
 * ```ts
 * import { namedBuffers, nn } from "@tessera/core";
 * const m = nn.causalAttention.init({ dIn: 3, dOut: 2, contextLength: 6, dropout: 0 });
 * console.log([...namedBuffers(m)].map(([name]) => name)); // ["mask"]
 * ```
 */
export function namedBuffers(module: Module): Generator<[string, Tensor]> {
  checkModuleRecord("namedBuffers", module);
  return treeLeaves(module.buffers);
}

/**
 * Checks a module before a layer uses it: it must be a module record, no
 * parameter or buffer may be disposed, and all must share one device (or
 * `device`, when given, usually the input's). Errors name the tensor's path,
 * e.g. `causalAttention.apply: params.W_query.weight was disposed`, instead of
 * the op deep inside the layer that would otherwise trip over it. Layers call
 * it first thing in `apply`.
 *
 * @example
 * ```ts
 * import { checkModule, nn, UseAfterDisposeError } from "@tessera/core";
 * const m = nn.linear.init({ inFeatures: 3, outFeatures: 2 });
 * m.params.weight.dispose();
 * try {
 *   checkModule("linear.apply", m);
 * } catch (e) {
 *   console.log(e instanceof UseAfterDisposeError); // true
 *   console.log((e as Error).message); // "linear.apply: params.weight was disposed; ..."
 * }
 * ```
 */
export function checkModule(op: string, module: unknown, device?: Device): void {
  if (
    module === null || typeof module !== "object" || !("params" in module) ||
    !("buffers" in module)
  ) {
    throw new ArgumentError(
      `${op}: module must be a module record with params and buffers, but got ${describe(module)}`,
    );
  }
  const m = module as Module;
  let first: [string, Device] | undefined = device ? ["input", device] : undefined;
  const leaves = [
    ...[...treeLeaves(m.params, "params")],
    ...[...treeLeaves(m.buffers, "buffers")],
  ];
  for (const [path, t] of leaves) {
    if (t.isDisposed) {
      throw new UseAfterDisposeError(
        `${op}: ${path} was disposed; it had shape ${showShape(t.shape)} on ${t.device.name}`,
      );
    }
  }
  for (const [path, t] of leaves) {
    if (!first) first = [path, t.device];
    else if (t.device !== first[1]) {
      throw new DeviceMismatchError(op, [first[0], first[1].name], [path, t.device.name]);
    }
  }
}

/**
 * Throws `ArgumentError` unless `module` is a record with `params` and
 * `buffers`; does not look at the tensors (see {@linkcode checkModule}).
 *
 * @example
 * ```ts
 * import { checkModuleRecord, nn } from "@tessera/core";
 * checkModuleRecord("stateDict", nn.linear.init({ inFeatures: 3, outFeatures: 2 }));
 * ```
 */
export function checkModuleRecord(op: string, module: unknown): asserts module is Module {
  if (
    module === null || typeof module !== "object" || !("params" in module) ||
    !("buffers" in module)
  ) {
    throw new ArgumentError(
      `${op}: module must be a module record with params and buffers, but got ${describe(module)}`,
    );
  }
}
