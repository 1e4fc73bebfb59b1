/**
 * Layout ops. Views that keep the element order (`reshape`, `unsqueeze`,
 * `squeeze`, and a `permute` that only moves size-1 dimensions) share the
 * input's storage; `permute`, `transpose`, `slice`, `cat` and `stack` copy
 * through the strided gather or buffer copies, which move 32-bit words
 * unchanged, so every dtype (float32, int32) keeps its exact bits.
 *
 * @module
 */

import {
  catBackward,
  permuteBackward,
  reshapeBackward,
  sliceBackward,
} from "../autograd/backward/layout.ts";
import { record } from "../autograd/recording.ts";
import { castKernel } from "./cast.ts";
import { ArgumentError, DTypeError, ShapeError } from "../errors.ts";
import { runtimeOf } from "../device.ts";
import {
  bytesPerElement,
  checkShape,
  cpuRaw,
  cpuTensor,
  gpuBuffer,
  gpuTensor,
  hostArray,
  numel,
  type Tensor,
  viewOf,
} from "../tensor.ts";
import {
  assertSameDevice,
  checkRank,
  checkTensor,
  contiguousStrides,
  describe,
  normalizeDim,
  showShape,
} from "./checks.ts";
import { gather } from "./gather.ts";
import { gpuOf, type KernelTable, kernelTable } from "./kernel_table.ts";

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
  checkTensor("reshape", "x", x);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= -1)) {
    throw new ArgumentError(
      `reshape: shape must be an array of whole numbers >= 0 (one may be -1), but got ` +
        (Array.isArray(shape) ? showShape(shape) : describe(shape)),
    );
  }
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
 * Inserts a dimension of size 1 at `dim` (from `-(rank + 1)` to `rank`), like
 * `torch.unsqueeze`. Zero-copy: the result shares memory with `x`.
 *
 * @example
 * ```ts
 * import { tensor, unsqueeze } from "@tessera/core";
 * console.log(unsqueeze(tensor([1, 2, 3]), 0).shape); // [1, 3]
 * console.log(unsqueeze(tensor([1, 2, 3]), -1).shape); // [3, 1]
 * ```
 */
export function unsqueeze(x: Tensor, dim: number): Tensor {
  checkTensor("unsqueeze", "x", x);
  const d = normalizeDim("unsqueeze", dim, x.shape.length + 1);
  const shape = [...x.shape];
  shape.splice(d, 0, 1);
  return record("unsqueeze", [x], viewOf(x, shape, "unsqueeze"), reshapeBackward);
}

/**
 * Removes size-1 dimensions, like `torch.squeeze`: every one of them, or
 * only `dim` (a dimension of another size is then kept, as in torch).
 * Zero-copy: the result shares memory with `x`.
 *
 * @example
 * ```ts
 * import { squeeze, zeros } from "@tessera/core";
 * const x = zeros([2, 1, 3, 1]);
 * console.log(squeeze(x).shape); // [2, 3]
 * console.log(squeeze(x, 1).shape); // [2, 3, 1]
 * console.log(squeeze(x, 0).shape); // [2, 1, 3, 1]
 * ```
 */
export function squeeze(x: Tensor, dim?: number): Tensor {
  checkTensor("squeeze", "x", x);
  let shape: number[];
  if (dim === undefined) {
    shape = x.shape.filter((d) => d !== 1);
  } else {
    // A scalar takes dim 0 or -1, as in torch.
    const d = normalizeDim("squeeze", dim, Math.max(1, x.shape.length));
    shape = x.shape.filter((size, i) => i !== d || size !== 1);
  }
  return record("squeeze", [x], viewOf(x, shape, "squeeze"), reshapeBackward);
}

/**
 * Reorders the dimensions: dimension k of the result is dimension `dims[k]`
 * of `x`, like `torch.permute`. The result is a new contiguous tensor (a
 * shared-storage view when only size-1 dimensions move).
 *
 * @example
 * ```ts
 * import { permute, zeros } from "@tessera/core";
 * console.log(permute(zeros([2, 3, 4]), [2, 0, 1]).shape); // [4, 2, 3]
 * ```
 */
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  checkTensor("permute", "x", x);
  checkRank("permute", "x", x.shape);
  const rank = x.shape.length;
  if (!Array.isArray(dims) || dims.length !== rank) {
    throw new ArgumentError(
      `permute: dims must list each of the ${rank} dimensions of x (shape ` +
        `${showShape(x.shape)}) once, but got ${describe(dims)}`,
    );
  }
  const order = dims.map((d) => normalizeDim("permute", d, rank));
  if (new Set(order).size !== rank) {
    throw new ArgumentError(
      `permute: dims [${dims.join(", ")}] repeats a dimension (x has shape ${showShape(x.shape)})`,
    );
  }
  return permuted("permute", x, order);
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
  checkTensor("transpose", "x", x);
  checkRank("transpose", "x", x.shape);
  const rank = x.shape.length;
  const d0 = normalizeDim("transpose", dim0, rank);
  const d1 = normalizeDim("transpose", dim1, rank);
  const order = x.shape.map((_, d) => d);
  [order[d0], order[d1]] = [order[d1], order[d0]];
  return permuted("transpose", x, order);
}

function permuted(op: string, x: Tensor, order: readonly number[]): Tensor {
  const shape = order.map((d) => x.shape[d]);
  const moving = order.filter((d) => x.shape[d] !== 1);
  const inOrder = moving.every((d, i) => i === 0 || moving[i - 1] < d);
  const strides = contiguousStrides(x.shape);
  const out = inOrder
    ? viewOf(x, shape, op)
    : gather(op, x, shape, order.map((d) => strides[d]), 0);
  return record(op, [x], out, permuteBackward(order));
}

/**
 * Slices leading dimensions: `ranges[k] = [start, end)` applies to dimension
 * k, and dimensions without a range are kept whole, like `x[s0:e0, s1:e1]`.
 * Bounds must be whole numbers; negative ones count from the end, and bounds
 * past either end are clamped, as in Python.
 *
 * @example
 * ```ts
 * import { ones, slice, triu } from "@tessera/core";
 * const mask = triu(ones([6, 6]), 1);
 * console.log(slice(mask, [0, 4], [0, 4]).shape); // [4, 4]
 * console.log(slice(mask, [-2, 99]).shape); // [2, 6]
 * ```
 */
export function slice(x: Tensor, ...ranges: readonly [number, number][]): Tensor {
  checkTensor("slice", "x", x);
  checkRank("slice", "x", x.shape);
  if (ranges.length > x.shape.length) {
    throw new ShapeError(
      `slice: ${ranges.length} ranges given for a tensor of shape ${showShape(x.shape)}`,
    );
  }
  ranges.forEach((range, d) => {
    const whole = (v: unknown) => typeof v === "number" && Number.isSafeInteger(v);
    if (!Array.isArray(range) || range.length !== 2 || !whole(range[0]) || !whole(range[1])) {
      const got = Array.isArray(range) ? `[${range.join(", ")}]` : describe(range);
      throw new ArgumentError(
        `slice: the range for dimension ${d} must be two whole numbers [start, end), ` +
          `but got ${got} (x has shape ${showShape(x.shape)})`,
      );
    }
  });
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
 * Joins tensors along an existing dimension `dim` (default 0), like
 * `torch.cat`. Every tensor has the same rank, dtype and device, and the same
 * size in every other dimension; float32 and int32 both work.
 *
 * @example
 * ```ts
 * import { cat, tensor } from "@tessera/core";
 * const a = tensor([[1, 2], [3, 4]]);
 * const b = tensor([[5], [6]]);
 * console.log(await cat([a, b], 1).toArray()); // [[1, 2, 5], [3, 4, 6]]
 * ```
 */
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  const parts = checkParts("cat", tensors);
  const first = parts[0];
  if (first.shape.length === 0) {
    throw new ShapeError("cat: zero-dimensional tensors cannot be concatenated; use stack");
  }
  checkRank("cat", "tensors[0]", first.shape);
  const d = normalizeDim("cat", dim, first.shape.length);
  parts.forEach((t, i) => {
    const fits = t.shape.length === first.shape.length &&
      t.shape.every((size, k) => k === d || size === first.shape[k]);
    if (!fits) {
      throw new ShapeError(
        `cat: tensors[${i}] has shape ${showShape(t.shape)}, but tensors[0] has shape ` +
          `${showShape(first.shape)}: every dimension but ${d} must match`,
      );
    }
  });
  const sizes = parts.map((t) => t.shape[d]);
  const out = joined("cat", parts, d, sizes, first.shape);
  return record("cat", parts, out, catBackward(d, sizes));
}

/**
 * Stacks tensors of one shape along a new dimension `dim` (default 0), like
 * `torch.stack`; float32 and int32 both work.
 *
 * @example
 * ```ts
 * import { stack, tensor } from "@tessera/core";
 * const x = tensor([[0.43, 0.15, 0.89], [0.55, 0.87, 0.66]]);
 * console.log(stack([x, x]).shape); // [2, 2, 3]
 * ```
 */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  const parts = checkParts("stack", tensors);
  const first = parts[0];
  parts.forEach((t, i) => {
    if (showShape(t.shape) !== showShape(first.shape)) {
      throw new ShapeError(
        `stack: expected every tensor to have shape ${showShape(first.shape)}, but ` +
          `tensors[${i}] has shape ${showShape(t.shape)}`,
      );
    }
  });
  const d = normalizeDim("stack", dim, first.shape.length + 1);
  checkRank("stack", "the result", [tensors.length, ...first.shape]);
  // Each part is read as having size 1 along the new dimension.
  const like = [...first.shape];
  like.splice(d, 0, 1);
  const sizes = parts.map(() => 1);
  const out = joined("stack", parts, d, sizes, like);
  return record("stack", parts, out, catBackward(d, sizes));
}

/** Checks the tensor list of cat/stack: non-empty, tensors on one device with one dtype. */
function checkParts(op: string, tensors: readonly Tensor[]): readonly Tensor[] {
  if (!Array.isArray(tensors) || tensors.length === 0) {
    throw new ArgumentError(
      `${op}: expected a non-empty array of tensors, but got ${describe(tensors)}`,
    );
  }
  tensors.forEach((t, i) => checkTensor(op, `tensors[${i}]`, t));
  const first = tensors[0];
  tensors.forEach((t, i) => {
    assertSameDevice(op, ["tensors[0]", first], [`tensors[${i}]`, t]);
    if (t.dtype !== first.dtype) {
      throw new DTypeError(
        `${op}: tensors[${i}] has dtype ${t.dtype}, but tensors[0] has dtype ${first.dtype}: ` +
          `the dtypes must match`,
      );
    }
  });
  return tensors;
}

/** Largest number of buffer copies a GPU join records before it transposes instead. */
const MAX_COPIES = 64;

/**
 * Concatenates `parts` along `dim`, each read under `like` with `sizes[i]`
 * in place of `like[dim]`: the blocks of every part are laid end to end
 * inside each of the `outer` leading slabs.
 */
function joined(
  op: string,
  parts: readonly Tensor[],
  dim: number,
  sizes: readonly number[],
  like: readonly number[],
): Tensor {
  const total = sizes.reduce((a, b) => a + b, 0);
  const outShape = [...like];
  outShape[dim] = total;
  const outer = numel(like.slice(0, dim));
  const inner = numel(like.slice(dim + 1));
  const n = numel(outShape);
  const plan = { outShape, total, outer, inner, n };
  return joinKernels.for(parts[0])(op, parts, dim, sizes, like, plan);
}

/** Where a join's blocks go: the output's shape, `like[dim]`'s total and the slabs around it. */
export interface JoinPlan {
  outShape: number[];
  total: number;
  outer: number;
  inner: number;
  n: number;
}

/** A concatenation implementation (see the `joined` helper of src/ops/layout.ts). */
export type JoinImpl = (
  op: string,
  parts: readonly Tensor[],
  dim: number,
  sizes: readonly number[],
  like: readonly number[],
  plan: JoinPlan,
) => Tensor;

function referenceJoin(
  op: string,
  parts: readonly Tensor[],
  _dim: number,
  sizes: readonly number[],
  _like: readonly number[],
  plan: JoinPlan,
): Tensor {
  const { outShape, total, outer, inner, n } = plan;
  const dtype = parts[0].dtype;
  const out = hostArray(dtype, n);
  let start = 0;
  parts.forEach((t, i) => {
    const src = cpuRaw(t, op, `tensors[${i}]`);
    const block = sizes[i] * inner;
    for (let o = 0; o < outer; o++) {
      out.set(src.subarray(o * block, (o + 1) * block), (o * total + start) * inner);
    }
    start += sizes[i];
  });
  return cpuTensor(out, outShape);
}

function webgpuJoin(
  op: string,
  parts: readonly Tensor[],
  dim: number,
  sizes: readonly number[],
  like: readonly number[],
  plan: JoinPlan,
): Tensor {
  const { outShape, total, outer, inner, n } = plan;
  const device = gpuOf(parts[0]);
  const dtype = parts[0].dtype;
  const runtime = runtimeOf(device);
  runtime.ensureAlive(op);
  const sources = parts.map((t, i) => gpuBuffer(t, op, `tensors[${i}]`, [dtype]));
  if (n === 0) return gpuTensor(device, null, outShape, dtype);
  if (outer > 1 && outer * parts.length > MAX_COPIES) {
    // Many small blocks: move dim to the front, join whole buffers, move it back.
    const front = (t: Tensor, size: number) =>
      gather(op, t, [size, outer, inner], [inner, size * inner, 1], 0);
    const moved = parts.map((t, i) => front(t, sizes[i]));
    const flat = joined(op, moved, 0, sizes, [1, outer, inner]);
    moved.forEach((t) => t.dispose());
    const back = gather(op, flat, [outer, total, inner], [inner, outer * inner, 1], 0);
    flat.dispose();
    const out = viewOf(back, outShape, op);
    back.dispose();
    return out;
  }
  // Buffer copies move whole 4-byte words: float16 blocks at odd element
  // offsets join as float32 (exact both ways) and convert back.
  if (dtype === "float16" && (inner % 2 === 1 || sizes.some((s) => s % 2 === 1))) {
    const wide = parts.map((t) => castKernel(op, t, "float32"));
    const flat = joined(op, wide, dim, sizes, like);
    wide.forEach((t) => t.dispose());
    const out = castKernel(op, flat, "float16");
    flat.dispose();
    return out;
  }
  const size = bytesPerElement(dtype);
  const out = runtime.acquire(op, `${op} output`, n * size);
  let start = 0;
  sources.forEach((h, i) => {
    const block = sizes[i] * inner;
    if (h) {
      for (let o = 0; o < outer; o++) {
        runtime.copy(
          op,
          h,
          out,
          block * size,
          o * block * size,
          (o * total + start) * inner * size,
        );
      }
    }
    start += sizes[i];
  });
  return gpuTensor(device, out, outShape, dtype);
}

/** cat and stack's joins, per backend (src/ops/kernel_table.ts). */
export const joinKernels: KernelTable<JoinImpl> = kernelTable<JoinImpl>("join", {
  reference: referenceJoin,
  webgpu: webgpuJoin,
});
