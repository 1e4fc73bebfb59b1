/**
 * Functional gradients in the style of JAX: `valueAndGrad(f)` and `grad(f)`
 * differentiate `f(params, ...rest)` with respect to every tensor of `params`.
 *
 * @module
 */

import { ArgumentError, ShapeError } from "../errors.ts";
import { describe, showShape } from "../ops/checks.ts";
import { Tensor, viewOf } from "../tensor.ts";
import { mapTree, treeLeaves } from "../tree.ts";
import { tidy } from "../scope.ts";
import { withRecording } from "./recording.ts";
import { filledLike, Tape } from "./tape.ts";

/**
 * What {@linkcode valueAndGrad}'s function returns: the loss and a gradient
 * tree with exactly the keys of `params`.
 *
 * @example
 * ```ts
 * import { type ValueAndGrad, sum, tensor, valueAndGrad } from "@tessera/core";
 * const r: ValueAndGrad<{ w: ReturnType<typeof tensor> }> = valueAndGrad(
 *   (p: { w: ReturnType<typeof tensor> }) => sum(p.w),
 * )({ w: tensor([1, 2]) });
 * console.log(await r.grads.w.toArray()); // [1, 1]
 * ```
 */
export interface ValueAndGrad<P> {
  /** The function's scalar value (shape `[]` or `[1]`), on its device. */
  value: Tensor;
  /** d value / d leaf for every tensor leaf of `params`, in a tree shaped like `params`. */
  grads: P;
}

/**
 * Returns a function that evaluates `fn(params, ...rest)` and its gradient
 * with respect to every tensor in `params` (a nested record or array of
 * tensors, such as a module's `params`). `fn` must return a scalar tensor
 * (shape `[]` or `[1]`).
 *
 * - Only `params` is differentiated. Buffers, inputs and targets go in `rest`
 *   (or are closed over) and never get a gradient.
 * - On webgpu the backward pass records kernels into the same command stream
 *   as the forward pass: nothing is read back, and nothing is submitted
 *   until the caller reads a result.
 * - Memory: every tensor created while `fn` runs (op outputs, and also
 *   `zeros`, `full`, `tensor`, `toDevice` copies) is disposed when the call
 *   returns, except the value itself: do not stash such a tensor for later.
 *   Tensors passed in (params, rest, closed-over tensors) are never
 *   disposed. The caller owns `value` and `grads` and disposes them (or
 *   calls `valueAndGrad` inside `tidy`). A custom kernel run while tracing
 *   needs a `backward` (see `compileKernel`).
 * - Leaves are tensors, not paths: a tensor found at several paths of
 *   `params` (a tied weight) is one leaf, and every such entry receives its
 *   total gradient (each as its own handle).
 * - Gradients of gradients are not supported: the backward pass is not taped.
 *
 * @example
 * ```ts
 * import { mse, tensor, valueAndGrad } from "@tessera/core";
 * const loss = (p: { w: ReturnType<typeof tensor> }, x: ReturnType<typeof tensor>) =>
 *   mse(p.w, x);
 * const { value, grads } = valueAndGrad(loss)({ w: tensor([1, 3]) }, tensor([0, 0]));
 * console.log(await value.toArray(), await grads.w.toArray()); // 5 [1, 3]
 * ```
 */
export function valueAndGrad<P, R extends unknown[]>(
  fn: (params: P, ...rest: R) => Tensor,
): (params: P, ...rest: R) => ValueAndGrad<P> {
  checkFunction("valueAndGrad", fn);
  // The whole trace runs in a scope: whatever `fn` creates besides ops'
  // outputs (zeros, full, tensor(), toDevice copies) is freed with them.
  return (params: P, ...rest: R): ValueAndGrad<P> => tidy(() => trace(fn, params, rest));
}

function trace<P, R extends unknown[]>(
  fn: (params: P, ...rest: R) => Tensor,
  params: P,
  rest: R,
): ValueAndGrad<P> {
  const leaves = [...treeLeaves(params)].map(([, t]) => t);
  const inputs = new Set<Tensor>([...leaves, ...[...treeLeaves(rest)].map(([, t]) => t)]);
  const tape = new Tape(leaves);
  let value: Tensor | undefined;
  let grads = new Map<Tensor, Tensor>();
  try {
    const traced = withRecording(() => fn(params, ...rest), tape);
    checkScalar(traced);
    // The caller owns the value; a tensor passed in stays the caller's own.
    value = inputs.has(traced) ? viewOf(traced, traced.shape, "valueAndGrad") : traced;
    grads = tape.backward(traced, filledLike(traced, 1, "valueAndGrad"));
    const given = new Map<Tensor, Tensor>();
    const out = mapTree(params, (leaf) => {
      // A leaf that appears twice in the tree gets a second handle, so that
      // each entry of the result can be disposed on its own.
      const earlier = given.get(leaf);
      if (earlier) return viewOf(earlier, earlier.shape, "valueAndGrad");
      const g = grads.get(leaf) ?? filledLike(leaf, 0, "valueAndGrad");
      grads.delete(leaf);
      given.set(leaf, g);
      return g;
    });
    return { value, grads: out };
  } catch (error) {
    if (value && !inputs.has(value)) value.dispose();
    throw error;
  } finally {
    for (const g of grads.values()) g.dispose();
    tape.release(value && !value.isDisposed ? new Set([...inputs, value]) : inputs);
  }
}

/**
 * Returns a function computing only the gradient tree of `fn` (see
 * {@linkcode valueAndGrad}, whose rules it follows); the value is disposed.
 *
 * @example
 * ```ts
 * import { grad, mul, sum, tensor } from "@tessera/core";
 * const g = grad((p: { w: ReturnType<typeof tensor> }) => sum(mul(p.w, p.w)));
 * console.log(await g({ w: tensor([1, -2]) }).w.toArray()); // [2, -4]
 * ```
 */
export function grad<P, R extends unknown[]>(
  fn: (params: P, ...rest: R) => Tensor,
): (params: P, ...rest: R) => P {
  checkFunction("grad", fn);
  const both = valueAndGrad(fn);
  return (params: P, ...rest: R): P => {
    const { value, grads } = both(params, ...rest);
    value.dispose();
    return grads;
  };
}

function checkFunction(op: string, fn: unknown): void {
  if (typeof fn !== "function") {
    throw new ArgumentError(
      `${op}: fn must be a function (params, ...rest) => scalar Tensor, but got ${describe(fn)}`,
    );
  }
}

function checkScalar(value: unknown): asserts value is Tensor {
  if (!(value instanceof Tensor)) {
    throw new TypeError(
      `valueAndGrad: the function must return a scalar Tensor, but returned ${typeof value}`,
    );
  }
  if (value.size !== 1 || value.shape.length > 1) {
    throw new ShapeError(
      `valueAndGrad: the function must return a scalar tensor (shape [] or [1]), but ` +
        `returned shape ${showShape(value.shape)}`,
    );
  }
}
