/**
 * Modules are plain records: `params` (trained), `buffers` (not trained, but
 * part of the module's state, like a causal mask) and a static `config`.
 *
 * @module
 */

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
export function* namedParameters(module: Module): Generator<[string, Tensor]> {
  yield* treeLeaves(module.params);
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
export function* namedBuffers(module: Module): Generator<[string, Tensor]> {
  yield* treeLeaves(module.buffers);
}
