/**
 * Workgroup grid planning: WebGPU caps each grid dimension (65535 by default),
 * so large 1-D launches are folded into a 2-D grid and the kernels rebuild the
 * linear workgroup index as `wid.x + wid.y * num_workgroups.x`.
 *
 * @module
 */

/**
 * Folds `count` workgroups into an `[x, y]` grid with `x, y <= maxPerDimension`
 * and `x * y >= count`; kernels skip the surplus with a bounds check.
 *
 * @example
 * ```ts
 * import { planGrid } from "./dispatch_plan.ts";
 * console.log(planGrid(100_000, 65535)); // [50000, 2]
 * ```
 */
export function planGrid(count: number, maxPerDimension: number): [number, number] {
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new RangeError(`Cannot plan a grid of ${count} workgroups: expected a whole number >= 0`);
  }
  if (count <= maxPerDimension) return [count, 1];
  const y = Math.ceil(count / maxPerDimension);
  if (y > maxPerDimension) {
    throw new RangeError(
      `Cannot plan a grid of ${count} workgroups: more than ${maxPerDimension}^2 workgroups`,
    );
  }
  return [Math.ceil(count / y), y];
}
