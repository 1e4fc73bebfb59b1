/**
 * Variance over dimensions, like `torch.var`.
 *
 * @module
 */

import { pauseRecording, record, type Saved } from "../autograd/recording.ts";
import { ArgumentError } from "../errors.ts";
import { numel, type Tensor, viewOf } from "../tensor.ts";
import { checkBoolean, checkOptions, checkRank, checkTensor, describe } from "./checks.ts";
import { mul, scale, sub } from "./elementwise.ts";
import { keptShape, reducedDims, reduceOver } from "./reduce.ts";

/**
 * Options for {@linkcode variance}.
 *
 * @example
 * ```ts
 * import type { VarianceOptions } from "@tessera/core";
 * const biased: VarianceOptions = { correction: 0, keepDim: true };
 * ```
 */
export interface VarianceOptions {
  /** Keep reduced dimensions with size 1 (PyTorch's `keepdim`); default false. */
  keepDim?: boolean;
  /**
   * Divide by `max(0, N - correction)`: 1 (the default) is the unbiased
   * sample variance, 0 the population variance.
   */
  correction?: number;
  /** PyTorch's older flag: `false` means `correction: 0`. Ignored when `correction` is given. */
  unbiased?: boolean;
}

/**
 * Variance over `dims` (default: every dimension), like `torch.var`:
 * unbiased by default (`correction: 1`); pass `{ correction: 0 }` or
 * `{ unbiased: false }` for the biased one. Computed in two passes (the mean,
 * then the mean squared deviation) for numerical stability, on both devices,
 * with reductions bounded for any size on webgpu. As in PyTorch, too few
 * elements (N <= correction) give NaN or Infinity, an empty input gives NaN,
 * and NaN propagates.
 *
 * @example
 * ```ts
 * import { tensor, variance } from "@tessera/core";
 * const x = tensor([[1, 2, 3, 4], [2, 2, 2, 2]]);
 * console.log(await variance(x).toArray()); // ≈ 0.7857
 * console.log(await variance(x, 1, { correction: 0 }).toArray()); // [1.25, 0]
 * ```
 */
export function variance(
  x: Tensor,
  dims?: number | readonly number[],
  options: VarianceOptions = {},
): Tensor {
  checkTensor("variance", "input", x);
  checkRank("variance", "input", x.shape);
  checkOptions("variance", options);
  const reduced = reducedDims("variance", x, dims);
  const keepDim = checkBoolean("variance", "options.keepDim", options.keepDim, false);
  const unbiased = checkBoolean("variance", "options.unbiased", options.unbiased, true);
  const correction = options.correction ?? (unbiased ? 1 : 0);
  if (typeof correction !== "number" || !Number.isFinite(correction) || correction < 0) {
    throw new ArgumentError(
      `variance: correction must be a finite number >= 0, but got ${describe(correction)}`,
    );
  }
  const count = numel(reduced.map((d) => x.shape[d]));
  const divisor = Math.max(0, count - correction);
  const out = pauseRecording(() => {
    const centred = deviation(x, reduced, count);
    const squared = mul(centred, centred);
    centred.dispose();
    const v = reduceOver("variance", squared, reduced, 1 / divisor, keepDim);
    squared.dispose();
    return v;
  });
  return record("variance", [x], out, (g: Tensor, s: Saved) => {
    // d var / dx = 2 (x - mean) / divisor, times the output gradient broadcast back.
    const centred = deviation(s.inputs[0], reduced, count);
    const gKept = viewOf(g, keptShape(x, reduced), "variance backward");
    const prod = mul(centred, gKept);
    centred.dispose();
    gKept.dispose();
    const dx = scale(prod, 2 / divisor);
    prod.dispose();
    return [dx];
  });
}

/** x - mean(x) over `reduced` (the mean kept as size-1 dims, broadcast back). */
function deviation(x: Tensor, reduced: readonly number[], count: number): Tensor {
  const m = reduceOver("variance", x, reduced, 1 / count, true);
  const centred = sub(x, m);
  m.dispose();
  return centred;
}
