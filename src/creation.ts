/**
 * Functions that create tensors from host values.
 *
 * @module
 */

import { cpu, type Device } from "./device.ts";
import { ArgumentError, DeviceLimitError, ShapeError } from "./errors.ts";
import { checkFiniteNumber, checkNumber, checkShapeArg, describe } from "./ops/checks.ts";
import { toF16Bits } from "./f16.ts";
import {
  type DType,
  fromHost,
  type HostData,
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
   * int32 range; float16 rounds values to nearest even (past 65504 to
   * infinity) and needs a WebGPU device with `shader-f16` when not on cpu.
   */
  dtype?: DType;
}

/**
 * Creates a tensor from a number, nested arrays of numbers, or a
 * `Float32Array`, `Float64Array` (rounded to float32) or `Int32Array` (all
 * copied). `shape` is inferred from nested arrays, or given to reshape flat
 * data. Anything else (strings, booleans, `null`) is an `ArgumentError`
 * naming its position, such as `values[1][0]`.
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
  values: NestedArray | Float32Array | Int32Array | Float64Array,
  shape?: readonly number[],
  options: CreateOptions = {},
): Tensor {
  const { device, dtype: requested } = checkOptions("tensor", options);
  const given = shape === undefined ? undefined : checkShapeArg("tensor", "shape", shape);
  const dtype = requested ?? (values instanceof Int32Array ? "int32" : "float32");
  let data: HostData;
  let inferred: number[];
  if (values instanceof Float32Array || values instanceof Int32Array) {
    data = dtype === "int32" ? toInt32("tensor", values) : Float32Array.from(values);
    inferred = [data.length];
  } else if (values instanceof Float64Array) {
    data = dtype === "int32" ? toInt32("tensor", values) : allocate("tensor", values.length);
    if (data instanceof Float32Array) data.set(values);
    inferred = [data.length];
  } else if (typeof values === "number" || Array.isArray(values)) {
    inferred = inferShape(values);
    const flat = allocate("tensor", numel(inferred), Float64Array);
    flattenInto(values, inferred, 0, flat, 0, []);
    data = dtype === "int32" ? toInt32("tensor", flat) : Float32Array.from(flat);
  } else {
    throw new ArgumentError(
      `tensor: values must be a number, nested arrays of numbers, a Float32Array, a ` +
        `Float64Array or an Int32Array, but got ${describe(values)}`,
    );
  }
  // Rounded from float32 values, like torch.tensor(values).half().
  if (dtype === "float16") data = toF16Bits(data);
  const finalShape = given ?? inferred;
  if (numel(finalShape) !== data.length) {
    throw new ShapeError(
      `tensor: shape [${finalShape.join(", ")}] holds ${numel(finalShape)} elements, ` +
        `but ${data.length} values were given`,
    );
  }
  return fromHost(data, finalShape, device);
}

/** Validates creation options; returns the device (default cpu) and dtype. */
function checkOptions(op: string, options: unknown): { device: Device; dtype?: DType } {
  if (options === undefined) return { device: cpu };
  if (options === null || typeof options !== "object") {
    throw new ArgumentError(
      `${op}: options must be an object like { device, dtype }, but got ${describe(options)}`,
    );
  }
  const { device, dtype } = options as CreateOptions;
  if (
    device !== undefined &&
    (device === null || typeof device !== "object" ||
      (device.kind !== "cpu" && device.kind !== "webgpu"))
  ) {
    throw new ArgumentError(
      `${op}: options.device must be cpu or a device from webgpu(), but got ${describe(device)}`,
    );
  }
  if (dtype !== undefined && dtype !== "float32" && dtype !== "float16" && dtype !== "int32") {
    throw new ArgumentError(
      `${op}: options.dtype must be "float32", "float16" or "int32", but got ${describe(dtype)}`,
    );
  }
  return { device: device ?? cpu, dtype };
}

/**
 * Allocates a host array of `n` elements, turning the engine's bare
 * "Array buffer allocation failed" into an error naming the op and size.
 */
function allocate(op: string, n: number, Host: Float32ArrayConstructor): Float32Array;
function allocate(op: string, n: number, Host: Int32ArrayConstructor): Int32Array;
function allocate(op: string, n: number, Host: Uint16ArrayConstructor): Uint16Array;
function allocate(op: string, n: number, Host: Float64ArrayConstructor): Float64Array;
function allocate(op: string, n: number): Float32Array;
function allocate(
  op: string,
  n: number,
  Host:
    | Float32ArrayConstructor
    | Int32ArrayConstructor
    | Uint16ArrayConstructor
    | Float64ArrayConstructor = Float32Array,
): Float32Array | Int32Array | Uint16Array | Float64Array {
  try {
    return new Host(n);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    throw new DeviceLimitError(
      `${op}: cannot allocate ${n} elements (${n * Host.BYTES_PER_ELEMENT} bytes) in host memory`,
      { cause: error },
    );
  }
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
  return filled("full", shape, value, options);
}

function filled(op: string, shape: unknown, value: unknown, options: unknown): Tensor {
  const dims = checkShapeArg(op, "shape", shape);
  const fillValue = checkNumber(op, "value", value);
  const { device, dtype } = checkOptions(op, options);
  const n = numel(dims);
  const data = dtype === "int32"
    ? allocate(op, n, Int32Array).fill(toInt32(op, [fillValue])[0])
    : dtype === "float16"
    ? allocate(op, n, Uint16Array).fill(toF16Bits([fillValue])[0])
    : allocate(op, n, Float32Array).fill(fillValue);
  return fromHost(data, dims, device, op);
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
  return filled("zeros", shape, 0, options);
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
  return filled("ones", shape, 1, options);
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
  if (end === undefined) {
    end = checkFiniteNumber("arange", "end", start);
    start = 0;
  } else {
    checkFiniteNumber("arange", "start", start);
    checkFiniteNumber("arange", "end", end);
  }
  checkFiniteNumber("arange", "step", step);
  if (step === 0) {
    throw new ArgumentError(`arange: step must be a finite non-zero number, but got 0`);
  }
  const { device } = checkOptions("arange", options);
  // torch.arange refuses a range that runs against the step (start == end is empty).
  if ((step > 0 && end < start) || (step < 0 && end > start)) {
    throw new ArgumentError(
      `arange: upper bound and larger bound inconsistent with step sign: the range ${start} ` +
        `to ${end} cannot be walked in steps of ${step}`,
    );
  }
  const n = Math.max(0, Math.ceil((end - start) / step));
  if (!Number.isSafeInteger(n)) {
    throw new ArgumentError(
      `arange: the range ${start} to ${end} in steps of ${step} has ${n} elements, ` +
        `more than any array can hold`,
    );
  }
  const data = allocate("arange", n);
  for (let i = 0; i < n; i++) data[i] = start + i * step;
  return fromHost(data, [n], device, "arange");
}

/** Copies values into an Int32Array, refusing fractions and values out of int32 range. */
function toInt32(op: string, values: ArrayLike<number>): Int32Array {
  const out = allocate(op, values.length, Int32Array);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isInteger(v) || v < -2147483648 || v > 2147483647) {
      throw new ArgumentError(
        `${op}: value ${v} at flat index ${i} is not a whole number in int32 range, ` +
          `as dtype int32 requires`,
      );
    }
    out[i] = v;
  }
  return out;
}

/** Deeper nesting than any real tensor: most likely an array that contains itself. */
const MAX_NESTING = 64;

function inferShape(values: NestedArray): number[] {
  const shape: number[] = [];
  let level: NestedArray = values;
  while (Array.isArray(level)) {
    if (shape.length === MAX_NESTING) {
      throw new ArgumentError(
        `tensor: values are nested more than ${MAX_NESTING} arrays deep (an array that ` +
          `contains itself?)`,
      );
    }
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
  path: number[],
): number {
  const at = () => `values${path.map((i) => `[${i}]`).join("")}`;
  if (!Array.isArray(values) && typeof values !== "number") {
    throw new ArgumentError(
      `tensor: ${at()} must be a number or an array of numbers, but got ${describe(values)}`,
    );
  }
  if (dim === shape.length) {
    if (typeof values !== "number") {
      throw new ShapeError(
        `tensor: nested arrays are ragged: ${at()} is an array, but a number was expected at ` +
          `depth ${dim}`,
      );
    }
    out[offset] = values;
    return offset + 1;
  }
  if (!Array.isArray(values) || values.length !== shape[dim]) {
    throw new ShapeError(
      `tensor: nested arrays are ragged: expected ${shape[dim]} entries at ${at()}, ` +
        `but got ${Array.isArray(values) ? `${values.length} entries` : describe(values)}`,
    );
  }
  for (let i = 0; i < values.length; i++) {
    path.push(i);
    offset = flattenInto(values[i], shape, dim + 1, out, offset, path);
    path.pop();
  }
  return offset;
}
