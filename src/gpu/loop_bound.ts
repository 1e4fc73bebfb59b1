/**
 * The per-invocation loop budget every reduction kernel respects. Mesa's
 * llvmpipe silently stops a shader's loops after 65,535 iterations per
 * invocation (all loops together), so a kernel whose loop trip count grows
 * with its input gives wrong answers there past some size. Kernels that
 * reduce (sum, softmax, losses, matmul's K loop) instead split any reduction
 * longer than this budget across workgroups and passes.
 *
 * @module
 */

/**
 * The largest number of loop iterations (all loops together) one invocation
 * of a built-in kernel may run. Tests lower `max` to exercise the multi-pass
 * paths at small sizes; keep it well under 65,535.
 *
 * @example
 * ```ts
 * import { loopBound } from "./loop_bound.ts";
 * const saved = loopBound.max;
 * loopBound.max = 8; // every reduction longer than a few elements now takes several passes
 * loopBound.max = saved;
 * ```
 */
export const loopBound: { max: number } = { max: 4096 };

/**
 * How many items one invocation may handle when each item costs
 * `costPerItem` loop iterations and the kernel spends `overhead` iterations
 * on fixed work (index decoding, tree reductions); at least 1.
 *
 * @example
 * ```ts
 * import { itemsPerInvocation } from "./loop_bound.ts";
 * console.log(itemsPerInvocation(1, 0) > 1); // true
 * ```
 */
export function itemsPerInvocation(costPerItem: number, overhead: number): number {
  return Math.max(1, Math.floor((loopBound.max - overhead) / costPerItem));
}
