/**
 * Functions that create tensors from host values.
 *
 * @module
 */

import { cpu, type Device } from "./device.ts";
import { ArgumentError, ShapeError } from "./errors.ts";
import {
  checkShape,
  type DType,
  fromHost,
  type NestedArray,
  numel,
  type Tensor,
} from "./tensor.ts";

/**
 * Where to create a tensor. Creation on `webgpu` uploads synchronously
 * (WebGPU copies the data at call time).
 *
 * @example
 * ```ts
 * import { cpu, zeros } from "@tessera/core";
 * const z = zeros([2, 2], { device: cpu });
 * ```
 */
export interface CreateOptions {
  /** Defaults to `cpu`. */
  device?: Device;
  /**
   * Element type; defaults to `int32` for an `Int32Array` and `float32`
   * otherwise. Values given for an int32 tensor must be whole numbers in
   * int32 range.
   */
  dtype?: DType;
}

/**
 * Creates a tensor from nested arrays, a flat array, or a `Float32Array`
 * (copied). `shape` is inferred from nested arrays, or required to reshape
 * flat data.
 *
 * @example
 * ```ts
 * import { tensor } from "@tessera/core";
 * const a = tensor([[0.43, 0.15, 0.89], [0.55, 0.87, 0.66]]); // shape [2, 3]
 * const b = tensor(new Float32Array([1, 2, 3, 4]), [2, 2]);
 * const s = tensor(3.5); // a scalar, shape []
 * ```
 */
export function tensor(
  values: NestedArray | Float32Array | Int32Array,
  shape?: readonly number[],
  options: CreateOptions = {},
): Tensor {
  const dtype = options.dtype ?? (values instanceof Int32Array ? "int32" : "float32");
  let data: Float32Array | Int32Array;
  let inferred: number[];
  if (values instanceof Float32Array || values instanceof Int32Array) {
    data = dtype === "int32" ? toInt32(values) : Float32Array.from(values);
    inferred = [data.length];
  } else {
    inferred = inferShape(values);
    const flat = new Float64Array(numel(inferred));
    flattenInto(values, inferred, 0, flat, 0);
    data = dtype === "int32" ? toInt32(flat) : Float32Array.from(flat);
  }
  const finalShape = shape ?? inferred;
  checkShape("tensor", finalShape);
  if (numel(finalShape) !== data.length) {
    throw new ShapeError(
      `tensor: shape [${finalShape.join(", ")}] holds ${numel(finalShape)} elements, ` +
        `but ${data.length} values were given`,
    );
  }
  return fromHost(data, finalShape, options.device ?? cpu);
}

/**
 * A tensor filled with `value`.
 *
 * @example
 * ```ts
 * import { full } from "@tessera/core";
 * console.log(await full([2], 7).toArray()); // [7, 7]
 * ```
 */
export function full(shape: readonly number[], value: number, options: CreateOptions = {}): Tensor {
  checkShape("full", shape);
  const data = options.dtype === "int32"
    ? new Int32Array(numel(shape)).fill(toInt32([value])[0])
    : new Float32Array(numel(shape)).fill(value);
  return fromHost(data, shape, options.device ?? cpu, "full");
}

/**
 * A tensor of zeros.
 *
 * @example
 * ```ts
 * import { zeros } from "@tessera/core";
 * console.log(await zeros([2, 2]).toArray()); // [[0, 0], [0, 0]]
 * ```
 */
export function zeros(shape: readonly number[], options: CreateOptions = {}): Tensor {
  return full(shape, 0, options);
}

/**
 * A tensor of ones.
 *
 * @example
 * ```ts
 * import { ones } from "@tessera/core";
 * console.log(await ones([3]).toArray()); // [1, 1, 1]
 * ```
 */
export function ones(shape: readonly number[], options: CreateOptions = {}): Tensor {
  return full(shape, 1, options);
}

/**
 * Values from `start` (inclusive) to `end` (exclusive) in steps of `step`,
 * like `torch.arange`. With one argument it counts from 0.
 *
 * @example
 * ```ts
 * import { arange } from "@tessera/core";
 * console.log(await arange(4).toArray()); // [0, 1, 2, 3]
 * console.log(await arange(1, 2, 0.25).toArray()); // [1, 1.25, 1.5, 1.75]
 * ```
 */
export function arange(
  start: number,
  end?: number,
  step = 1,
  options: CreateOptions = {},
): Tensor {
  if (end === undefined) [start, end] = [0, start];
  if (step === 0 || !Number.isFinite(step)) {
    throw new RangeError(`arange: step must be a finite non-zero number, but got ${step}`);
  }
  const n = Math.max(0, Math.ceil((end - start) / step));
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = start + i * step;
  return fromHost(data, [n], options.device ?? cpu, "arange");
}

/** Copies values into an Int32Array, refusing fractions and values out of int32 range. */
function toInt32(values: ArrayLike<number>): Int32Array {
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isInteger(v) || v < -2147483648 || v > 2147483647) {
      throw new ArgumentError(
        `tensor: value ${v} at flat index ${i} is not a whole number in int32 range, ` +
          `as dtype int32 requires`,
      );
    }
    out[i] = v;
  }
  return out;
}

function inferShape(values: NestedArray): number[] {
  const shape: number[] = [];
  let level: NestedArray = values;
  while (Array.isArray(level)) {
    shape.push(level.length);
    if (level.length === 0) break;
    level = level[0];
  }
  return shape;
}

function flattenInto(
  values: NestedArray,
  shape: readonly number[],
  dim: number,
  out: Float64Array,
  offset: number,
): number {
  if (dim === shape.length) {
    if (typeof values !== "number") {
      throw new ShapeError(`tensor: nested arrays are ragged: expected a number at depth ${dim}`);
    }
    out[offset] = values;
    return offset + 1;
  }
  if (!Array.isArray(values) || values.length !== shape[dim]) {
    throw new ShapeError(
      `tensor: nested arrays are ragged: expected ${shape[dim]} entries at depth ${dim}, ` +
        `but got ${Array.isArray(values) ? values.length : typeof values}`,
    );
  }
  for (const v of values) offset = flattenInto(v, shape, dim + 1, out, offset);
  return offset;
}
