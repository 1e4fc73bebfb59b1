/**
 * Layout ops: reshape (zero-copy), transpose, slice and stack.
 *
 * @module
 */

import {
  reshapeBackward,
  sliceBackward,
  stackBackward,
  transposeBackward,
} from "../autograd/backward/layout.ts";
import { record } from "../autograd/recording.ts";
import { ShapeError } from "../errors.ts";
import { runtimeOf } from "../device.ts";
import {
  checkDType,
  checkShape,
  cpuRaw,
  cpuTensor,
  gpuBuffer,
  gpuTensor,
  numel,
  type Tensor,
  viewOf,
} from "../tensor.ts";
import { assertSameDevice, contiguousStrides, normalizeDim, showShape } from "./checks.ts";
import { gather } from "./gather.ts";

/**
 * Returns the same values under a new shape; one dimension may be `-1` and is
 * inferred. Zero-copy: the result shares memory with `x` (disposing one does
 * not free the other's values).
 *
 * @example
 * ```ts
 * import { arange, reshape } from "@tessera/core";
 * console.log(reshape(arange(6), [2, -1]).shape); // [2, 3]
 * ```
 */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const inferred = shape.indexOf(-1);
  let target = [...shape];
  if (inferred !== -1) {
    const known = numel(shape.filter((_, i) => i !== inferred));
    if (shape.lastIndexOf(-1) !== inferred || known === 0 || x.size % known !== 0) {
      throw new ShapeError(
        `reshape: cannot reshape a tensor of shape ${showShape(x.shape)} to ${showShape(shape)}`,
      );
    }
    target = shape.map((d, i) => i === inferred ? x.size / known : d);
  }
  checkShape("reshape", target);
  if (numel(target) !== x.size) {
    throw new ShapeError(
      `reshape: cannot reshape a tensor of shape ${showShape(x.shape)} (${x.size} elements) ` +
        `to ${showShape(target)} (${numel(target)} elements)`,
    );
  }
  return record("reshape", [x], viewOf(x, target, "reshape"), reshapeBackward);
}

/**
 * Swaps two dimensions (default: the last two), like `torch.transpose`. The
 * result is a new contiguous tensor.
 *
 * @example
 * ```ts
 * import { tensor, transpose } from "@tessera/core";
 * console.log(await transpose(tensor([[1, 2, 3], [4, 5, 6]])).toArray());
 * // [[1, 4], [2, 5], [3, 6]]
 * ```
 */
export function transpose(x: Tensor, dim0 = -2, dim1 = -1): Tensor {
  const rank = x.shape.length;
  const d0 = normalizeDim("transpose", dim0, rank);
  const d1 = normalizeDim("transpose", dim1, rank);
  const shape = [...x.shape];
  const strides = contiguousStrides(x.shape);
  [shape[d0], shape[d1]] = [shape[d1], shape[d0]];
  [strides[d0], strides[d1]] = [strides[d1], strides[d0]];
  const out = gather("transpose", x, shape, strides, 0);
  return record("transpose", [x], out, transposeBackward(d0, d1));
}

/**
 * Slices leading dimensions: `ranges[k] = [start, end)` applies to dimension
 * k, and dimensions without a range are kept whole, like `x[s0:e0, s1:e1]`.
 * Negative bounds count from the end; bounds are clamped like Python's.
 *
 * @example
 * ```ts
 * import { ones, slice, triu } from "@tessera/core";
 * const mask = triu(ones([6, 6]), 1);
 * console.log(slice(mask, [0, 4], [0, 4]).shape); // [4, 4]
 * ```
 */
export function slice(x: Tensor, ...ranges: readonly [number, number][]): Tensor {
  if (ranges.length > x.shape.length) {
    throw new ShapeError(
      `slice: ${ranges.length} ranges given for a tensor of shape ${showShape(x.shape)}`,
    );
  }
  const strides = contiguousStrides(x.shape);
  const shape = [...x.shape];
  const starts = x.shape.map(() => 0);
  let offset = 0;
  ranges.forEach(([start, end], d) => {
    const size = x.shape[d];
    const s = clamp(start < 0 ? start + size : start, size);
    const e = clamp(end < 0 ? end + size : end, size);
    shape[d] = Math.max(0, e - s);
    starts[d] = s;
    offset += s * strides[d];
  });
  const out = gather("slice", x, shape, strides, shape.every((d) => d > 0) ? offset : 0);
  return record("slice", [x], out, sliceBackward(starts));
}

function clamp(v: number, size: number): number {
  return Math.min(Math.max(v, 0), size);
}

/**
 * Stacks tensors of one shape along a new dimension `dim` (default 0), like
 * `torch.stack`.
 *
 * @example
 * ```ts
 * import { stack, tensor } from "@tessera/core";
 * const x = tensor([[0.43, 0.15, 0.89], [0.55, 0.87, 0.66]]);
 * console.log(stack([x, x]).shape); // [2, 2, 3]
 * ```
 */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  const out = stacked(tensors, dim);
  return record("stack", tensors, out, stackBackward(normalizeDim("stack", dim, out.ndim)));
}

function stacked(tensors: readonly Tensor[], dim: number): Tensor {
  if (tensors.length === 0) throw new ShapeError("stack: expected a non-empty list of tensors");
  const first = tensors[0];
  tensors.forEach((t, i) => {
    assertSameDevice("stack", ["tensors[0]", first], [`tensors[${i}]`, t]);
    if (showShape(t.shape) !== showShape(first.shape)) {
      throw new ShapeError(
        `stack: expected every tensor to have shape ${showShape(first.shape)}, but ` +
          `tensors[${i}] has shape ${showShape(t.shape)}`,
      );
    }
  });
  const d = normalizeDim("stack", dim, first.shape.length + 1);
  const stackedShape = [tensors.length, ...first.shape];
  const joined = concatenate("stack", tensors, stackedShape);
  if (d === 0) return joined;
  // Move the new leading dimension into place.
  const outShape = [...first.shape];
  outShape.splice(d, 0, tensors.length);
  const src = contiguousStrides(stackedShape);
  const strides = src.slice(1);
  strides.splice(d, 0, src[0]);
  try {
    return gather("stack", joined, outShape, strides, 0);
  } finally {
    joined.dispose();
  }
}

// Lays equally sized tensors end to end: host copies on cpu, in-stream
// buffer copies on webgpu (no kernel needed).
function concatenate(op: string, parts: readonly Tensor[], shape: readonly number[]): Tensor {
  const n = parts[0].size;
  const device = parts[0].device;
  const dtype = parts[0].dtype;
  parts.forEach((t, i) => checkDType(op, `tensors[${i}]`, t, [dtype]));
  if (device.kind === "cpu") {
    const out = new (dtype === "int32" ? Int32Array : Float32Array)(n * parts.length);
    parts.forEach((t, i) => out.set(cpuRaw(t, op, `tensors[${i}]`), i * n));
    return cpuTensor(out, shape);
  }
  const runtime = runtimeOf(device);
  runtime.ensureAlive(op);
  const sources = parts.map((t, i) => gpuBuffer(t, op, `tensors[${i}]`, [dtype]));
  if (n === 0) return gpuTensor(device, null, shape, dtype);
  const out = runtime.acquire(op, `${op} output`, n * parts.length * 4);
  sources.forEach((h, i) => runtime.copy(op, h!, out, n * 4, 0, i * n * 4));
  return gpuTensor(device, out, shape, dtype);
}
