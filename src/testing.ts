/**
 * Tensor assertions for tests: elementwise closeness with a report that
 * locates the worst element.
 *
 * @module
 */

import { ArgumentError, TesseraError } from "./errors.ts";
import { checkFiniteNumber, checkOptions, checkTensor, describe } from "./ops/checks.ts";
import { Tensor } from "./tensor.ts";

/**
 * Tolerances for {@linkcode assertClose}: `|actual - expected| <= atol + rtol * |expected|`.
 * Both must be finite and >= 0; other keys are refused, so a typo such as
 * `aotl` cannot silently fall back to the default.
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

/**
 * What {@linkcode assertClose} compares: a tensor (read back), a typed array
 * or a flat array of numbers.
 *
 * @example
 * ```ts
 * import type { CloseValues } from "@tessera/core";
 * const expected: CloseValues = [1, 2, 3];
 * ```
 */
export type CloseValues = Tensor | Float32Array | Float64Array | Int32Array | readonly number[];

async function flat(values: CloseValues): Promise<ArrayLike<number>> {
  return values instanceof Tensor ? await values.data() : values;
}

// Typed arrays of numbers (not BigInt64Array, not DataView) compare like arrays.
function isNumberTypedArray(value: unknown): boolean {
  return ArrayBuffer.isView(value) && !(value instanceof DataView) &&
    !(value instanceof BigInt64Array) && !(value instanceof BigUint64Array);
}

// A string or a nested array would otherwise be compared index by index
// and fail with a baffling "elements differ" report.
function checkCloseValues(name: string, value: unknown): void {
  if (value instanceof Tensor) return checkTensor("assertClose", name, value);
  if (isNumberTypedArray(value)) return;
  if (!Array.isArray(value)) {
    throw new ArgumentError(
      `assertClose: ${name} must be a Tensor, a numeric typed array or an array of numbers, ` +
        `but got ${describe(value)}`,
    );
  }
  for (let i = 0; i < value.length; i++) {
    if (typeof value[i] !== "number") {
      throw new ArgumentError(
        `assertClose: ${name}[${i}] must be a number (flatten nested arrays), ` +
          `but got ${describe(value[i])}`,
      );
    }
  }
}

function checkTolerance(tolerance: unknown): Required<Tolerance> {
  checkOptions("assertClose", tolerance, "tolerance");
  const t = (tolerance ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(t)) {
    if (key !== "rtol" && key !== "atol") {
      throw new ArgumentError(
        `assertClose: tolerance has an unknown key ${JSON.stringify(key)}; expected rtol, atol`,
      );
    }
  }
  const bound = (key: "rtol" | "atol", fallback: number): number => {
    if (t[key] === undefined) return fallback;
    const v = checkFiniteNumber("assertClose", `tolerance.${key}`, t[key]);
    if (v < 0) {
      throw new ArgumentError(`assertClose: tolerance.${key} must be >= 0, but got ${v}`);
    }
    return v;
  };
  return { rtol: bound("rtol", 1.3e-6), atol: bound("atol", 1e-5) };
}

/**
 * Asserts that two tensors (or arrays) have the same shape and values within
 * `atol + rtol * |expected|` elementwise. NaN never matches; infinities match
 * only themselves. Rejects with `ArgumentError` (`UseAfterDisposeError` for a
 * disposed tensor) before reading any values when an argument is not a
 * tensor, a numeric typed array or a flat array of numbers, or when the
 * tolerance is not a valid {@linkcode Tolerance}.
 *
 * @example
 * ```ts
 * import { assertClose, tensor } from "@tessera/core";
 * await assertClose(tensor([1, 2]), [1, 2.000001]);
 * ```
 */
export async function assertClose(
  actual: CloseValues,
  expected: CloseValues,
  tolerance?: Tolerance,
): Promise<void> {
  checkCloseValues("actual", actual);
  checkCloseValues("expected", expected);
  const { rtol, atol } = checkTolerance(tolerance);
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
