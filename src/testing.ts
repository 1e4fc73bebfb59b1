/**
 * Tensor assertions for tests: elementwise closeness with a report that
 * locates the worst element.
 *
 * @module
 */

import { TesseraError } from "./errors.ts";
import { Tensor } from "./tensor.ts";

/**
 * Tolerances for {@linkcode assertClose}: `|actual - expected| <= atol + rtol * |expected|`.
 *
 * @example
 * ```ts
 * import type { Tolerance } from "@tessera/core";
 * const f32: Tolerance = { rtol: 1.3e-6, atol: 1e-5 };
 * ```
 */
export interface Tolerance {
  /** Relative tolerance; default 1.3e-6 (PyTorch's float32 default). */
  rtol?: number;
  /** Absolute tolerance; default 1e-5 (PyTorch's float32 default). */
  atol?: number;
}

/**
 * Thrown by {@linkcode assertClose}; the message gives the mismatch count,
 * the largest absolute and relative errors and where the worst one is.
 *
 * @example
 * ```ts
 * import { AssertCloseError } from "@tessera/core";
 * console.log(new AssertCloseError("2 of 4 elements differ").name); // "AssertCloseError"
 * ```
 */
export class AssertCloseError extends TesseraError {}

type Values = Tensor | Float32Array | Float64Array | Int32Array | readonly number[];

async function flat(values: Values): Promise<ArrayLike<number>> {
  return values instanceof Tensor ? await values.data() : values;
}

/**
 * Asserts that two tensors (or arrays) have the same shape and values within
 * `atol + rtol * |expected|` elementwise. NaN never matches; infinities match
 * only themselves.
 *
 * @example
 * ```ts
 * import { assertClose, tensor } from "@tessera/core";
 * await assertClose(tensor([1, 2]), [1, 2.000001]);
 * ```
 */
export async function assertClose(
  actual: Values,
  expected: Values,
  tolerance: Tolerance = {},
): Promise<void> {
  const { rtol = 1.3e-6, atol = 1e-5 } = tolerance;
  if (actual instanceof Tensor && expected instanceof Tensor) {
    if (actual.shape.join(",") !== expected.shape.join(",")) {
      throw new AssertCloseError(
        `Shapes differ: actual [${actual.shape.join(", ")}], expected [${
          expected.shape.join(", ")
        }]`,
      );
    }
  }
  const a = await flat(actual);
  const e = await flat(expected);
  if (a.length !== e.length) {
    throw new AssertCloseError(
      `Sizes differ: actual has ${a.length} elements, expected ${e.length}`,
    );
  }
  let mismatches = 0, worst = -1, worstExcess = -Infinity, maxAbs = 0, maxRel = 0;
  for (let i = 0; i < a.length; i++) {
    const diff = Math.abs(a[i] - e[i]);
    const same = a[i] === e[i];
    if (!same) {
      maxAbs = Math.max(maxAbs, diff);
      if (e[i] !== 0) maxRel = Math.max(maxRel, diff / Math.abs(e[i]));
    }
    const allowed = atol + rtol * Math.abs(e[i]);
    const ok = same || diff <= allowed;
    if (!ok) {
      mismatches++;
      const excess = Number.isNaN(diff) ? Infinity : diff - allowed;
      if (excess > worstExcess) [worst, worstExcess] = [i, excess];
    }
  }
  if (mismatches > 0) {
    throw new AssertCloseError(
      `${mismatches} of ${a.length} elements differ beyond rtol=${rtol}, atol=${atol}: ` +
        `worst at flat index ${worst} (actual ${a[worst]}, expected ${e[worst]}); ` +
        `max abs error ${maxAbs}, max rel error ${maxRel}`,
    );
  }
}
