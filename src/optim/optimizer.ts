/**
 * The optimizer interface (optax's `GradientTransformation`, with the update
 * applied): `init(params)` makes the state, `update(grads, state, params)`
 * returns new params and a new state. Plus the tree walk both optimizers
 * share.
 *
 * @module
 */

import { ArgumentError, ShapeError } from "../errors.ts";
import { assertSameDevice, describe, showShape } from "../ops/checks.ts";
import { storageOf, type Tensor } from "../tensor.ts";
import { mapTree, treeLeaves } from "../tree.ts";

/**
 * An optimizer as two plain functions over trees of tensors.
 *
 * `update` is pure: it returns new tensors and never disposes or changes its
 * arguments. The caller may dispose the old params, old state and grads once
 * it no longer needs them (a training loop usually does, every step).
 * Non-tensor leaves of `params` pass through unchanged.
 *
 * @example
 * ```ts
 * import { type Optimizer, sgd, type SgdState, tensor } from "@tessera/core";
 * const opt: Optimizer<SgdState> = sgd({ lr: 0.1 });
 * const params = { w: tensor([1, 2]) };
 * const state = opt.init(params);
 * const next = opt.update({ w: tensor([1, 1]) }, state, params);
 * console.log(await next.params.w.toArray()); // [0.9, 1.9]
 * ```
 */
export interface Optimizer<S> {
  /** A fresh state for `params`, on the params' devices. */
  init<P>(params: P): S;
  /** One step: the updated params (a tree shaped like `params`) and the next state. */
  update<P>(grads: P, state: S, params: P): { params: P; state: S };
}

/** Throws `ArgumentError` unless `options` is a record (the learning rate is required). */
export function checkOptimizerOptions(op: string, options: unknown): void {
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw new ArgumentError(
      `${op}: options must be an object like { lr: 0.001 }, but got ${describe(options)}`,
    );
  }
}

/** Throws `ArgumentError` unless the hyperparameter is a number that passes `ok`. */
export function checkHyper(
  op: string,
  name: string,
  value: unknown,
  ok: (x: number) => boolean,
  expected: string,
): void {
  if (typeof value !== "number" || !ok(value)) {
    throw new ArgumentError(`${op}: ${name} must be ${expected}, but got ${describe(value)}`);
  }
}

/** A tensor leaf of the params tree with its gradient and state slots. */
export interface Slot {
  path: string;
  param: Tensor;
  grad: Tensor;
  state: Tensor[];
}

/**
 * Pairs every distinct parameter tensor with its gradient and state tensors
 * by path, and checks that they share shape and device. Throws naming the
 * path. A tensor found at several paths (a tied weight, such as GPT-2's
 * `outHead.weight` and `tokEmb.weight`) is one parameter, as in PyTorch: it
 * gets one slot, at its first path, whose gradient is the one at that path
 * (`valueAndGrad` gives every entry of a tied leaf its total gradient); the
 * returned `owner` maps every path to its slot's path, so that `rebuild`
 * puts the same new tensor at every path that shared the old one.
 */
export function slots(
  op: string,
  params: unknown,
  grads: unknown,
  states: Record<string, unknown>,
): Map<string, Slot> & { owner: (path: string) => string } {
  const byPath = (tree: unknown) => new Map(treeLeaves(tree));
  const gradMap = byPath(grads);
  const stateMaps = Object.entries(states).map(([name, tree]) => [name, byPath(tree)] as const);
  const out = new Map<string, Slot>();
  const first = new Map<Tensor, string>();
  const owners = new Map<string, string>();
  for (const [path, param] of treeLeaves(params)) {
    const earlier = first.get(param);
    if (earlier !== undefined) {
      if (!gradMap.has(path)) {
        throw new ShapeError(`${op}: grads has no tensor at ${path}, but params does`);
      }
      owners.set(path, earlier);
      continue;
    }
    first.set(param, path);
    owners.set(path, path);
    const grad = gradMap.get(path);
    if (!grad) throw new ShapeError(`${op}: grads has no tensor at ${path}, but params does`);
    const state = stateMaps.map(([name, map]) => {
      const t = map.get(path);
      if (!t) throw new ShapeError(`${op}: state.${name} has no tensor at ${path}`);
      return [`state.${name}`, t] as const;
    });
    // Disposed tensors are found here, before any parameter's step is recorded.
    storageOf(param, op, `params.${path}`);
    for (const [name, t] of [["grads", grad] as const, ...state]) {
      storageOf(t, op, `${name}.${path}`);
      assertSameDevice(op, [`params.${path}`, param], [`${name}.${path}`, t]);
      if (showShape(t.shape) !== showShape(param.shape)) {
        throw new ShapeError(
          `${op}: ${name}.${path} has shape ${showShape(t.shape)}, but params.${path} has ` +
            `shape ${showShape(param.shape)}`,
        );
      }
    }
    out.set(path, { path, param, grad, state: state.map(([, t]) => t) });
  }
  return Object.assign(out, { owner: (path: string) => owners.get(path) ?? path });
}

/**
 * Maps every tensor leaf of `params` to `make(leaf)`, calling it once per
 * distinct tensor: a tensor at several paths (a tied weight) gets the same
 * result at each of them (one optimizer state for one parameter).
 */
export function mapDistinct<P>(params: P, make: (leaf: Tensor) => Tensor): P {
  const made = new Map<Tensor, Tensor>();
  return mapTree(params, (leaf) => {
    let t = made.get(leaf);
    if (!t) made.set(leaf, t = make(leaf));
    return t;
  });
}

/** Rebuilds `params`' tree with `pick(path)` at every tensor leaf. */
export function rebuild<P>(params: P, pick: (path: string) => Tensor): P {
  return mapTree(params, (_, path) => pick(path));
}
