/**
 * `clipGradNorm`: PyTorch's `torch.nn.utils.clip_grad_norm_` over a tree of
 * gradients, as a function that returns new tensors.
 *
 * @module
 */

import { ArgumentError, ShapeError } from "../errors.ts";
import { assertSameDevice, checkNumber, describe, showShape } from "../ops/checks.ts";
import { add, div, mul, scale } from "../ops/elementwise.ts";
import { max } from "../ops/extrema.ts";
import { reshape, slice, stack } from "../ops/layout.ts";
import { sum } from "../ops/reduce.ts";
import { abs, clamp, pow, sqrt } from "../ops/unary.ts";
import { full } from "../creation.ts";
import { runtimeOf } from "../device.ts";
import { checkDType, storageOf, type Tensor } from "../tensor.ts";
import { mapTree, treeLeaves } from "../tree.ts";

/**
 * Options of {@linkcode clipGradNorm}, named as in PyTorch.
 *
 * @example
 * ```ts
 * import type { ClipGradNormOptions } from "@tessera/core";
 * const o: ClipGradNormOptions = { normType: Infinity };
 * ```
 */
export interface ClipGradNormOptions {
  /** Order of the norm: a number > 0, or `Infinity` for the max-abs norm; default 2. */
  normType?: number;
  /**
   * Throw an `ArgumentError` when the total norm is NaN or infinite (PyTorch's
   * `error_if_nonfinite`). Checking reads the norm back, so with `true` the
   * result is a Promise; default false.
   */
  errorIfNonfinite?: boolean;
  /**
   * The parameter tree the gradients belong to (the tree given to
   * `valueAndGrad`, with the same paths). Gradient entries whose parameters
   * are one tensor (a tied weight such as GPT-2's `out_head.weight` /
   * `tok_emb.weight`) count once in the total norm, as in PyTorch's
   * deduplicated `model.parameters()`, even when the gradients at those paths
   * are separate tensors. Without it, entries that share storage count once.
   */
  params?: unknown;
}

/**
 * What {@linkcode clipGradNorm} returns; the caller owns every tensor in it.
 *
 * @example
 * ```ts
 * import { clipGradNorm, type ClipGradNormResult, tensor } from "@tessera/core";
 * const r: ClipGradNormResult<{ w: ReturnType<typeof tensor> }> =
 *   clipGradNorm({ w: tensor([3, 4]) }, 1);
 * console.log(await r.totalNorm.toArray()); // 5
 * ```
 */
export interface ClipGradNormResult<G> {
  /** The clipped gradients: new tensors, in a tree shaped like the input. */
  grads: G;
  /** The total norm of the gradients before clipping, a scalar `[]` on their device. */
  totalNorm: Tensor;
}

/**
 * Clips a tree of gradients by their total norm with the semantics of
 * PyTorch 1.13's `torch.nn.utils.clip_grad_norm_(parameters, maxNorm,
 * normType)`:
 *
 * ```text
 * total = norm([norm(g, p) for g in grads], p)      (max of max|g| for p = Infinity)
 * coef  = min(maxNorm / (total + 1e-6), 1)
 * g     = g * coef                                  (every gradient, even when coef is 1)
 * ```
 *
 * NaN and infinite gradients give PyTorch's results (a NaN total makes every
 * gradient NaN; an infinite one scales finite gradients to 0). Everything
 * happens on the gradients' device: on webgpu nothing is read back, and the
 * total norm stays a tensor (read it when you log it). Unlike PyTorch's
 * in-place version this returns new tensors and never disposes its input:
 * the caller disposes the old `grads` and, when done, the result's
 * `totalNorm`. Non-tensor leaves pass through. All gradients must be float32
 * and on one device. An empty tree gives a total norm of 0 on cpu. Entries
 * that share storage (a tied weight's gradient at two paths) count once; pass
 * `params` to count each distinct parameter once whatever the gradients are.
 *
 * @example
 * ```ts
 * import { clipGradNorm, tensor } from "@tessera/core";
 * const { grads, totalNorm } = clipGradNorm({ w: tensor([3, 4]), b: tensor([0]) }, 1);
 * console.log(await totalNorm.toArray()); // 5
 * console.log(await grads.w.toArray()); // ≈ [0.6, 0.8]
 * ```
 */
export function clipGradNorm<G>(
  grads: G,
  maxNorm: number,
  options?: ClipGradNormOptions & { errorIfNonfinite?: false },
): ClipGradNormResult<G>;
/**
 * With `errorIfNonfinite: true`: reads the total norm back and rejects with
 * an `ArgumentError` (disposing the results) when it is NaN or infinite.
 *
 * @example
 * ```ts
 * import { clipGradNorm, tensor } from "@tessera/core";
 * const r = await clipGradNorm({ w: tensor([3, 4]) }, 1, { errorIfNonfinite: true });
 * console.log(await r.totalNorm.toArray()); // 5
 * ```
 */
export function clipGradNorm<G>(
  grads: G,
  maxNorm: number,
  options: ClipGradNormOptions & { errorIfNonfinite: true },
): Promise<ClipGradNormResult<G>>;
/**
 * Either form, when `errorIfNonfinite` is not known statically.
 *
 * @example
 * ```ts
 * import { clipGradNorm, type ClipGradNormOptions, tensor } from "@tessera/core";
 * const options: ClipGradNormOptions = { errorIfNonfinite: false };
 * const r = await clipGradNorm({ w: tensor([3, 4]) }, 1, options);
 * console.log(await r.totalNorm.toArray()); // 5
 * ```
 */
export function clipGradNorm<G>(
  grads: G,
  maxNorm: number,
  options?: ClipGradNormOptions,
): ClipGradNormResult<G> | Promise<ClipGradNormResult<G>>;
export function clipGradNorm<G>(
  grads: G,
  maxNorm: number,
  options: ClipGradNormOptions = {},
): ClipGradNormResult<G> | Promise<ClipGradNormResult<G>> {
  const op = "clipGradNorm";
  if (options === null || typeof options !== "object") {
    throw new ArgumentError(
      `${op}: options must be an object like { normType }, but got ${describe(options)}`,
    );
  }
  const { normType = 2, errorIfNonfinite = false, params } = options;
  if (Number.isNaN(checkNumber(op, "maxNorm", maxNorm)) || maxNorm < 0) {
    throw new ArgumentError(`${op}: maxNorm must be a number >= 0, but got ${maxNorm}`);
  }
  if (typeof normType !== "number" || !(normType > 0)) {
    throw new ArgumentError(
      `${op}: normType must be a number > 0 or Infinity, but got ${describe(normType)}`,
    );
  }
  if (typeof errorIfNonfinite !== "boolean") {
    throw new ArgumentError(
      `${op}: errorIfNonfinite must be a boolean, but got ${describe(errorIfNonfinite)}`,
    );
  }
  const leaves = [...treeLeaves(grads)];
  for (const [path, g] of leaves) {
    assertSameDevice(op, [`grads.${leaves[0][0]}`, leaves[0][1]], [`grads.${path}`, g]);
    checkDType(op, `grads.${path}`, g, ["float32"]);
  }
  // A tied weight's gradient may sit at several paths (valueAndGrad gives each
  // its own handle on one storage); like PyTorch's deduplicated parameters,
  // it counts once in the norm.
  const owners = params === undefined ? undefined : paramsByPath(op, params, leaves);
  const seen = new Set<unknown>();
  const unique = leaves.filter(([path, g]) => {
    const key = owners
      ? storageOf(owners.get(path)!, op, `params.${path}`)
      : storageOf(g, op, `grads.${path}`);
    return seen.has(key) ? false : (seen.add(key), true);
  }).map(([, g]) => g);
  const result = leaves.length === 0
    ? { grads: mapTree(grads, (g) => g), totalNorm: full([], 0) }
    : clip(grads, unique, maxNorm, normType);
  return errorIfNonfinite ? checkFinite(result, normType) : result;
}

/** The parameter at each gradient path; an `ArgumentError` when the trees differ. */
function paramsByPath(
  op: string,
  params: unknown,
  leaves: [string, Tensor][],
): Map<string, Tensor> {
  const owners = new Map<string, Tensor>(treeLeaves(params));
  for (const [path, g] of leaves) {
    const p = owners.get(path);
    if (!p) {
      throw new ArgumentError(
        `${op}: grads.${path} has no parameter at params.${path}: pass the tree given to ` +
          `valueAndGrad as params`,
      );
    }
    if (p.size !== g.size) {
      throw new ShapeError(
        `${op}: grads.${path} has shape ${showShape(g.shape)}, but params.${path} has ` +
          `shape ${showShape(p.shape)}`,
      );
    }
  }
  return owners;
}

function clip<G>(grads: G, leaves: Tensor[], maxNorm: number, p: number): ClipGradNormResult<G> {
  const device = leaves[0].device;
  const temps: Tensor[] = [];
  const t = (x: Tensor) => (temps.push(x), x);
  try {
    const norms = leaves.map((g) => norm(g, p, t));
    const stacked = t(stack(norms)); // [leaves]
    const totalNorm = norm(stacked, p, t);
    temps.pop(); // the total norm is returned, not freed
    // torch computes max_norm / (total + 1e-6) as reciprocal(total + 1e-6) * max_norm.
    const one = t(full([], 1, { device }));
    const eps = t(full([], 1e-6, { device }));
    const coef = t(scale(t(div(one, t(add(totalNorm, eps)))), maxNorm));
    const clamped = t(clamp(coef, { max: 1 }));
    return { grads: mapTree(grads, (g) => mul(g, clamped)), totalNorm };
  } finally {
    for (const x of temps) x.dispose();
  }
}

/** torch.norm(x, p) of all of x's elements, a scalar `[]`; `t` collects temporaries. */
function norm(x: Tensor, p: number, t: (x: Tensor) => Tensor): Tensor {
  const blocks = bindable(x, t);
  if (blocks.length === 1) return blockNorm(blocks[0], p, t);
  // A gradient over one binding (GPT-2's tied embedding): the same norm of
  // the blocks' partial norms (partial sums for finite p).
  if (p === Infinity) return blockNorm(t(stack(blocks.map((b) => blockNorm(b, p, t)))), p, t);
  const powered = t(
    stack(blocks.map((b) => t(sum(p === 2 ? t(mul(b, b)) : t(pow(t(abs(b)), p)))))),
  );
  const total = t(sum(powered));
  return p === 2 ? t(sqrt(total)) : t(pow(total, 1 / p));
}

function blockNorm(x: Tensor, p: number, t: (x: Tensor) => Tensor): Tensor {
  if (p === Infinity) {
    const { values, indices } = max(t(reshape(t(abs(x)), [-1])), 0);
    indices.dispose();
    return t(values);
  }
  if (p === 2) return t(sqrt(t(sum(t(mul(x, x))))));
  if (p === 1) return t(sum(t(abs(x))));
  return t(pow(t(sum(t(pow(t(abs(x)), p)))), 1 / p));
}

/**
 * x's elements as flat blocks that each fit one storage binding (x alone
 * when it fits): reductions bind their whole input.
 */
function bindable(x: Tensor, t: (x: Tensor) => Tensor): Tensor[] {
  if (x.device.kind === "cpu") return [x];
  const limit = runtimeOf(x.device).maxBindingBytes;
  if (x.size * 4 <= limit) return [x];
  // Half the limit: a slice binds its span from an aligned offset below it.
  const per = Math.max(1, Math.floor(limit / 8));
  const flat = t(reshape(x, [-1]));
  const blocks: Tensor[] = [];
  for (let start = 0; start < x.size; start += per) {
    blocks.push(t(slice(flat, [start, Math.min(start + per, x.size)])));
  }
  return blocks;
}

async function checkFinite<G>(
  result: ClipGradNormResult<G>,
  normType: number,
): Promise<ClipGradNormResult<G>> {
  const [total] = await result.totalNorm.data();
  if (Number.isFinite(total)) return result;
  result.totalNorm.dispose();
  for (const [, g] of treeLeaves(result.grads)) g.dispose();
  throw new ArgumentError(
    `clipGradNorm: the total norm of order ${normType} of the gradients is ${total}, so they ` +
      `cannot be clipped; pass errorIfNonfinite: false to clip them anyway`,
  );
}
