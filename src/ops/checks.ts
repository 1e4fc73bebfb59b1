/**
 * Argument checks shared by the ops: devices first (so the user sees the
 * device story, not a confusing shape error), then shapes.
 *
 * @module
 */

import { ArgumentError, DeviceMismatchError, ShapeError, UseAfterDisposeError } from "../errors.ts";
import { Tensor } from "../tensor.ts";

/** A tensor with the name errors should call it. */
export type Named = readonly [string, Tensor];

/**
 * Throws `DeviceMismatchError` unless all tensors share the first one's
 * device. Each one is first checked with {@linkcode checkTensor}, so a
 * non-tensor or disposed argument is named before anything reads it.
 */
export function assertSameDevice(op: string, first: Named, ...others: Named[]): void {
  checkTensor(op, first[0], first[1]);
  for (const other of others) checkTensor(op, other[0], other[1]);
  for (const other of others) {
    if (other[1].device !== first[1].device) {
      throw new DeviceMismatchError(
        op,
        [first[0], first[1].device.name],
        [other[0], other[1].device.name],
      );
    }
  }
}

/** Formats a shape as `[2, 3]`. */
export function showShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/** NumPy broadcasting of two shapes; throws `ShapeError` naming both. */
export function broadcastShapes(op: string, a: Named, b: Named): number[] {
  checkTensor(op, a[0], a[1]);
  checkTensor(op, b[0], b[1]);
  const sa = a[1].shape;
  const sb = b[1].shape;
  checkRank(op, a[0], sa);
  checkRank(op, b[0], sb);
  const rank = Math.max(sa.length, sb.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = sa[sa.length - rank + i] ?? 1;
    const db = sb[sb.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(
        `${op}: ${a[0]} ${showShape(sa)} and ${b[0]} ${showShape(sb)} cannot be broadcast ` +
          `together (dimension ${i}: ${da} vs ${db})`,
      );
    }
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Row-major strides of a shape. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

/** Strides that read `shape` as broadcast to `outShape` (0 on broadcast dims). */
export function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const own = contiguousStrides(shape);
  const lead = outShape.length - shape.length;
  return outShape.map((d, i) => {
    const k = i - lead;
    if (k < 0) return 0;
    return shape[k] === 1 && d !== 1 ? 0 : own[k];
  });
}

/**
 * Resolves a possibly negative dimension index; throws `ArgumentError`
 * naming the op for anything but a whole number in `[-rank, rank)`.
 */
export function normalizeDim(op: string, dim: number, rank: number): number {
  const d = typeof dim === "number" && dim < 0 ? dim + rank : dim;
  if (typeof d !== "number" || !Number.isInteger(d) || d < 0 || d >= rank) {
    throw new ArgumentError(
      `${op}: dimension ${describe(dim)} is out of range for a tensor of rank ${rank}`,
    );
  }
  return d;
}

/**
 * The most dimensions a tensor may have in an op that indexes it dimension by
 * dimension. The WGSL kernels pack shapes and strides into 8 uniform words,
 * and the CPU path refuses the same ranks so both devices agree.
 */
export const MAX_RANK = 8;

/** Throws `ShapeError` when `shape` has more than {@linkcode MAX_RANK} dimensions. */
export function checkRank(op: string, name: string, shape: readonly number[]): void {
  if (shape.length > MAX_RANK) {
    throw new ShapeError(
      `${op}: ${name} has ${shape.length} dimensions ${showShape(shape)}, ` +
        `but at most ${MAX_RANK} are supported`,
    );
  }
}

/** A short description of any value for error messages: `a string "x"`, `null`, `3.5`. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (value instanceof Tensor) return value.toString();
  switch (typeof value) {
    case "string":
      return `a string ${JSON.stringify(value.length > 20 ? value.slice(0, 20) + "..." : value)}`;
    case "number":
    case "bigint":
      return String(value);
    case "boolean":
      return `a boolean ${value}`;
    case "function":
      return "a function";
    case "symbol":
      return "a symbol";
  }
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  const ctor = (value as { constructor?: { name?: string } }).constructor?.name;
  return ctor && ctor !== "Object" ? `${article(ctor)} ${ctor}` : "a plain object";
}

/** "an" before a vowel sound (an Int32Array, an ArrayBuffer), else "a" (a Uint8Array). */
function article(word: string): string {
  return /^[aeio]/i.test(word) || /^u(?!int|ni|rl|s[aeu])/i.test(word) ? "an" : "a";
}

/**
 * A compact JSON-like rendering of an array for error messages, nested
 * arrays kept visible (`[[2], 3]`, not `[2, 3]`) and long ones cut short.
 */
function showArray(values: readonly unknown[], depth = 0): string {
  const shown = values.slice(0, 16).map((v) =>
    Array.isArray(v)
      ? (depth < 3 ? showArray(v, depth + 1) : "[...]")
      : typeof v === "string"
      ? JSON.stringify(v.length > 20 ? v.slice(0, 20) + "..." : v)
      : typeof v === "number" || typeof v === "bigint" || typeof v === "boolean" ||
          v === null || v === undefined
      ? String(v)
      : describe(v)
  );
  if (values.length > 16) shown.push(`... (${values.length} in all)`);
  return `[${shown.join(", ")}]`;
}

/**
 * Throws `ArgumentError` unless `value` is a `Tensor`, and
 * `UseAfterDisposeError` (naming op, argument and shape) if it was disposed.
 * Call it first thing in every public function that takes tensors, so a wrong
 * argument never surfaces as an internal `TypeError`.
 */
export function checkTensor(op: string, name: string, value: unknown): asserts value is Tensor {
  if (!(value instanceof Tensor)) {
    throw new ArgumentError(`${op}: ${name} must be a Tensor, but got ${describe(value)}`);
  }
  if (value.isDisposed) {
    throw new UseAfterDisposeError(
      `${op}: ${name} was disposed; it had shape ${showShape(value.shape)} on ` +
        value.device.name,
    );
  }
}

/**
 * Returns `value` if it is a safe integer within `[min, max]`; otherwise
 * throws `ArgumentError` naming the op, the argument and the bounds.
 */
export function checkInteger(
  op: string,
  name: string,
  value: unknown,
  bounds: { min?: number; max?: number } = {},
): number {
  const { min, max } = bounds;
  const range = min !== undefined && max !== undefined
    ? ` in [${min}, ${max}]`
    : min !== undefined
    ? ` >= ${min}`
    : max !== undefined
    ? ` <= ${max}`
    : "";
  if (
    typeof value !== "number" || !Number.isSafeInteger(value) ||
    (min !== undefined && value < min) || (max !== undefined && value > max)
  ) {
    throw new ArgumentError(
      `${op}: ${name} must be a whole number${range}, but got ${describe(value)}`,
    );
  }
  return value;
}

/** Returns `value` if it is a finite number; otherwise throws `ArgumentError`. */
export function checkFiniteNumber(op: string, name: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new ArgumentError(`${op}: ${name} must be a finite number, but got ${describe(value)}`);
  }
  return value;
}

/** Returns `value` if it is a number (NaN and infinities allowed); otherwise throws `ArgumentError`. */
export function checkNumber(op: string, name: string, value: unknown): number {
  if (typeof value !== "number") {
    throw new ArgumentError(`${op}: ${name} must be a number, but got ${describe(value)}`);
  }
  return value;
}

/**
 * Returns `shape` as a plain `number[]` if it is an array of safe integers
 * >= 0 whose product is a safe integer; otherwise throws `ArgumentError`, e.g.
 * `zeros: shape must be an array of whole numbers >= 0, but got 3`.
 */
export function checkShapeArg(op: string, name: string, shape: unknown): number[] {
  const fail = (got: string): never => {
    throw new ArgumentError(
      `${op}: ${name} must be an array of whole numbers >= 0, but got ${got}`,
    );
  };
  if (!Array.isArray(shape)) fail(describe(shape));
  const dims = shape as unknown[];
  let size = 1;
  for (let i = 0; i < dims.length; i++) {
    const d = dims[i];
    if (typeof d !== "number" || !Number.isSafeInteger(d) || d < 0) {
      fail(`${describe(d)} at index ${i} of ${showArray(dims)}`);
    }
    size *= d as number;
  }
  if (!Number.isSafeInteger(size)) {
    throw new ArgumentError(
      `${op}: ${name} [${dims.join(", ")}] has ${size} elements, more than any array can hold`,
    );
  }
  return [...dims] as number[];
}

/**
 * Returns an optional flag, or `fallback` when it is `undefined`; throws
 * `ArgumentError` for anything but a boolean (a truthy string must not pass
 * for `true`), e.g. `sum: options.keepDim must be a boolean, but got 1`.
 *
 * @example
 * ```ts
 * import { checkBoolean } from "./checks.ts";
 * console.log(checkBoolean("sum", "options.keepDim", undefined, false)); // false
 * ```
 */
export function checkBoolean(op: string, name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") {
    throw new ArgumentError(`${op}: ${name} must be a boolean, but got ${describe(value)}`);
  }
  return value;
}

/**
 * Throws `ArgumentError` unless `options` is `undefined` (use the defaults)
 * or a plain object, e.g. `format: options must be an object, but got null`.
 */
export function checkOptions(op: string, options: unknown, name = "options"): void {
  if (options === undefined) return;
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw new ArgumentError(`${op}: ${name} must be an object, but got ${describe(options)}`);
  }
}
