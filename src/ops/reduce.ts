/**
 * Reductions and their inverse: `sum`, `mean`, `sumTo` (a broadcast
 * gradient's reduction back to its operand's shape) and `broadcastTo`.
 *
 * @module
 */

import type { WebGpuDevice } from "../device.ts";
import { ArgumentError, ShapeError } from "../errors.ts";
import { dims8, launch, words } from "../gpu/launch.ts";
import { itemsPerInvocation, loopBound } from "../gpu/loop_bound.ts";
import { record } from "../autograd/recording.ts";
import { cpuData, cpuTensor, fromHost, numel, type Tensor, viewOf } from "../tensor.ts";
import {
  broadcastStrides,
  checkBoolean,
  checkInteger,
  checkOptions,
  checkRank,
  checkShapeArg,
  checkTensor,
  contiguousStrides,
  describe,
  normalizeDim,
  showShape,
} from "./checks.ts";
// The mean's gradient scales with the kernel, not the `scale` op: the op
// file imports the elementwise rules, which import sumTo from here.
import { affineKernel } from "./elementwise_kernels.ts";
import { gather } from "./gather.ts";
import { gpuOf, type KernelTable, kernelTable } from "./kernel_table.ts";
import { throughFloat32 } from "./through_float32.ts";

/**
 * Options for {@linkcode sum} and {@linkcode mean}.
 *
 * @example
 * ```ts
 * import type { ReduceOptions } from "@tessera/core";
 * const o: ReduceOptions = { keepDim: true };
 * ```
 */
export interface ReduceOptions {
  /** Keep reduced dimensions with size 1 (PyTorch's `keepdim`); default false. */
  keepDim?: boolean;
}

/** Threads per output element in the GPU kernel (its `WG`; a power of two). */
const REDUCE_WG = 64;
/** Sums this short or shorter run one output per invocation, not per workgroup. */
const PER_LANE_MAX = 32;

/**
 * Sums over `dims` (default: every dimension, giving a scalar of shape `[]`),
 * like `torch.sum`. Negative dimensions count from the end. Float16 inputs
 * are summed in float32 and give a float16 result (rounded once). NaN propagates
 * and an empty sum is 0, as in PyTorch. On webgpu any length works: long sums
 * are split across workgroups and passes (src/gpu/loop_bound.ts).
 *
 * @example
 * ```ts
 * import { sum, tensor } from "@tessera/core";
 * const x = tensor([[1, 2, 3], [4, 5, 6]]);
 * console.log(await sum(x).toArray()); // 21
 * console.log(await sum(x, 0).toArray()); // [5, 7, 9]
 * console.log(sum(x, -1, { keepDim: true }).shape); // [2, 1]
 * ```
 */
export function sum(
  x: Tensor,
  dims?: number | readonly number[],
  options: ReduceOptions = {},
): Tensor {
  checkTensor("sum", "input", x);
  checkRank("sum", "input", x.shape);
  checkOptions("sum", options);
  const keepDim = checkBoolean("sum", "options.keepDim", options.keepDim, false);
  const reduced = reducedDims("sum", x, dims);
  // float16: float32 accumulation, the result rounded once to float16.
  if (x.dtype === "float16") return throughFloat32([x], ([w]) => sum(w, reduced, { keepDim }));
  const out = reduceOver("sum", x, reduced, 1, keepDim);
  return record("sum", [x], out, (g) => [spread("sum", g, keptShape(x, reduced), x.shape)]);
}

/**
 * Averages over `dims` (default: every dimension), like `torch.mean`
 * (float16: float32 math, float16 result rounded once). NaN
 * propagates, and the mean of nothing (an empty tensor or dimension) is NaN,
 * as in PyTorch, on both devices.
 *
 * @example
 * ```ts
 * import { mean, tensor } from "@tessera/core";
 * console.log(await mean(tensor([[1, 2], [3, 6]]), 1).toArray()); // [1.5, 4.5]
 * ```
 */
export function mean(
  x: Tensor,
  dims?: number | readonly number[],
  options: ReduceOptions = {},
): Tensor {
  checkTensor("mean", "input", x);
  checkRank("mean", "input", x.shape);
  checkOptions("mean", options);
  const keepDim = checkBoolean("mean", "options.keepDim", options.keepDim, false);
  const reduced = reducedDims("mean", x, dims);
  if (x.dtype === "float16") return throughFloat32([x], ([w]) => mean(w, reduced, { keepDim }));
  const count = numel(reduced.map((d) => x.shape[d]));
  const factor = 1 / count;
  const out = reduceOver("mean", x, reduced, factor, keepDim);
  return record("mean", [x], out, (g) => {
    const spreadOut = spread("mean", g, keptShape(x, reduced), x.shape);
    // Backward runs with recording paused, so the bare kernel is enough.
    const grad = affineKernel("mean", spreadOut, factor);
    spreadOut.dispose();
    return [grad];
  });
}

/**
 * Sums `x` down to `shape`, the inverse of broadcasting: leading dimensions
 * of x that `shape` lacks are summed away, and so are dimensions where
 * `shape` has 1 and x does not. This is how the gradient of a broadcast
 * operand (a bias) is formed.
 *
 * @example
 * ```ts
 * import { sumTo, tensor } from "@tessera/core";
 * const g = tensor([[1, 2, 3], [4, 5, 6]]);
 * console.log(await sumTo(g, [3]).toArray()); // [5, 7, 9]
 * console.log(await sumTo(g, [2, 1]).toArray()); // [[6], [15]]
 * ```
 */
export function sumTo(x: Tensor, shape: readonly number[]): Tensor {
  checkTensor("sumTo", "input", x);
  checkRank("sumTo", "input", x.shape);
  shape = checkShapeArg("sumTo", "shape", shape);
  const lead = x.shape.length - shape.length;
  const fits = lead >= 0 && shape.every((d, i) => d === x.shape[lead + i] || d === 1);
  if (!fits) {
    throw new ShapeError(
      `sumTo: input ${showShape(x.shape)} cannot be summed to ${showShape(shape)}: ` +
        `${showShape(shape)} does not broadcast to ${showShape(x.shape)}`,
    );
  }
  const reduced = x.shape.map((_, d) => d).filter((d) =>
    d < lead || (shape[d - lead] === 1 && x.shape[d] !== 1)
  );
  const summed = reduced.length === 0 ? x : reduceOver("sumTo", x, reduced, 1, true);
  const out = viewOf(summed, shape, "sumTo");
  if (summed !== x) summed.dispose();
  return record("sumTo", [x], out, (g) => [spread("sumTo", g, shape, x.shape)]);
}

/**
 * Repeats `x` along broadcast dimensions to `shape` (NumPy rules: x's shape
 * is right-aligned, and its size-1 dimensions stretch), into a new
 * contiguous tensor, like `torch.broadcast_to` followed by a copy.
 *
 * @example
 * ```ts
 * import { broadcastTo, tensor } from "@tessera/core";
 * console.log(await broadcastTo(tensor([1, 2]), [2, 2]).toArray()); // [[1, 2], [1, 2]]
 * ```
 */
export function broadcastTo(x: Tensor, shape: readonly number[]): Tensor {
  checkTensor("broadcastTo", "input", x);
  shape = checkShapeArg("broadcastTo", "shape", shape);
  checkRank("broadcastTo", "shape", shape);
  const out = spread("broadcastTo", x, x.shape, shape);
  return record("broadcastTo", [x], out, (g) => [sumTo(g, x.shape)]);
}

/** Broadcasts x, read under `like` (same size as x), to `shape`. */
function spread(op: string, x: Tensor, like: readonly number[], shape: readonly number[]): Tensor {
  const lead = shape.length - like.length;
  const fits = numel(like) === x.size && lead >= 0 &&
    like.every((d, i) => d === shape[lead + i] || d === 1);
  if (!fits) {
    throw new ShapeError(
      `${op}: input ${showShape(like)} cannot be broadcast to ${showShape(shape)}`,
    );
  }
  return gather(op, x, shape, broadcastStrides(like, shape), 0);
}

export function reducedDims(op: string, x: Tensor, dims?: number | readonly number[]): number[] {
  if (dims === undefined) return x.shape.map((_, d) => d);
  if (typeof dims !== "number" && !Array.isArray(dims)) {
    throw new ArgumentError(
      `${op}: dims must be a dimension or an array of dimensions, but got ${describe(dims)}`,
    );
  }
  const list: readonly number[] = typeof dims === "number" ? [dims] : dims;
  const out = list.map((d, i) =>
    normalizeDim(op, checkInteger(op, `dims[${i}]`, d), x.shape.length)
  );
  if (new Set(out).size !== out.length) {
    throw new ArgumentError(`${op}: dimension list [${list.join(", ")}] repeats a dimension`);
  }
  return out;
}

/** x's shape with every reduced dimension set to 1. */
export function keptShape(x: Tensor, reduced: readonly number[]): number[] {
  return x.shape.map((d, i) => reduced.includes(i) ? 1 : d);
}

/**
 * `alpha * sum` over `reduced`, with no autograd record: the result has
 * `keptShape` (keepDim) or drops the reduced dims. Other ops (losses,
 * split-K matmul, softmax's gradient) reduce through it; on webgpu it is
 * bounded by {@linkcode loopBound}, taking several passes for long sums.
 */
export function reduceOver(
  op: string,
  x: Tensor,
  reduced: readonly number[],
  alpha: number,
  keepDim: boolean,
): Tensor {
  // Internal callers (softmax's and variance's rules, losses) get the same
  // ShapeError as the public ops instead of dims8's RangeError.
  checkRank(op, "input", x.shape);
  const kept = keptShape(x, reduced);
  const outShape = keepDim ? kept : x.shape.filter((_, i) => !reduced.includes(i));
  const extents = x.shape.map((d, i) => reduced.includes(i) ? d : 1);
  const strides = contiguousStrides(x.shape);
  const nOut = numel(kept);
  const count = numel(extents);
  const factor = Math.fround(alpha);
  const plan = { reduced, kept, outShape, extents, strides, nOut, count, factor };
  return reduceKernels.for(x)(op, x, plan);
}

/** A sum's layout: which dims are summed and how the output is laid out. */
export interface ReducePlan {
  /** The summed dimensions of x. */
  reduced: readonly number[];
  /** x's shape with the summed dimensions set to 1. */
  kept: number[];
  outShape: number[];
  /** x's shape with the kept dimensions set to 1. */
  extents: number[];
  /** x's contiguous strides. */
  strides: number[];
  /** Output elements. */
  nOut: number;
  /** Elements summed per output. */
  count: number;
  /** A float32 factor applied to each rounded sum. */
  factor: number;
}

/** A reduction implementation (see {@linkcode reduceOver}). */
export type ReduceImpl = (op: string, x: Tensor, plan: ReducePlan) => Tensor;

function referenceReduce(op: string, x: Tensor, plan: ReducePlan): Tensor {
  const { kept, outShape, extents, strides, nOut, count, factor } = plan;
  const src = cpuData(x, op, "input");
  const out = new Float32Array(nOut);
  for (let o = 0; o < nOut; o++) {
    const base = offsetOf(o, kept, strides);
    let acc = 0;
    for (let r = 0; r < count; r++) acc += src[base + offsetOf(r, extents, strides)];
    out[o] = factor * Math.fround(acc);
  }
  return cpuTensor(out, outShape);
}

function webgpuReduce(op: string, x: Tensor, plan: ReducePlan): Tensor {
  const { reduced, kept, outShape, extents, strides, nOut, count, factor } = plan;
  const device = gpuOf(x);
  if (count === 0 || nOut === 0) {
    // Nothing to read: an empty sum is 0 as in PyTorch, and an empty mean
    // (alpha = 1/0) is 0 * Infinity = NaN, also as in PyTorch.
    const fill = new Float32Array(nOut).fill(factor * 0);
    return fromHost(fill, outShape, device, op, `${op} output`);
  }
  const rank = x.shape.length;
  const flat = isFlat(x.shape, reduced);
  const cost = flat ? 1 : rank + 1;
  if (count <= PER_LANE_MAX && count * cost + 2 * rank + 16 <= loopBound.max) {
    // Short sums over many outputs: one invocation per output.
    return launch(device, {
      op,
      shader: "reduce_sum",
      includes: ["workgroup_reduce"],
      constants: { WG: REDUCE_WG, PER_LANE: 1 },
      uniforms: words(
        nOut,
        rank,
        count,
        { f32: factor },
        count,
        1,
        flat ? 1 : 0,
        0,
        ...dims8(kept),
        ...dims8(extents),
        ...dims8(strides),
      ),
      inputs: [["input", x]],
      outShape,
      workgroups: Math.ceil(nOut / REDUCE_WG),
    });
  }
  // A flat pass costs one loop iteration per element; otherwise each element
  // also decodes its index (rank more iterations).
  const chunk = REDUCE_WG * itemsPerInvocation(cost, 2 * rank + 16);
  const chunks = Math.ceil(count / chunk);
  const first = launch(device, {
    op,
    shader: "reduce_sum",
    includes: ["workgroup_reduce"],
    constants: { WG: REDUCE_WG },
    uniforms: words(
      nOut,
      rank,
      count,
      { f32: chunks === 1 ? factor : 1 },
      chunk,
      chunks,
      flat ? 1 : 0,
      0,
      ...dims8(kept),
      ...dims8(extents),
      ...dims8(strides),
    ),
    inputs: [["input", x]],
    outShape: chunks === 1 ? outShape : [nOut, chunks],
    workgroups: nOut * chunks,
  });
  return chunks === 1 ? first : reducePartials(op, first, nOut, chunks, factor, outShape);
}

/** Sums over dimensions, per backend (src/ops/kernel_table.ts). */
export const reduceKernels: KernelTable<ReduceImpl> = kernelTable<ReduceImpl>("reduce", {
  reference: referenceReduce,
  webgpu: webgpuReduce,
});

/** Sums partials `[nOut, chunks]` (contiguous) down to `outShape`, pass after pass. */
function reducePartials(
  op: string,
  partials: Tensor,
  nOut: number,
  chunks: number,
  factor: number,
  outShape: readonly number[],
): Tensor {
  let input = partials;
  let count = chunks;
  for (;;) {
    const chunk = REDUCE_WG * itemsPerInvocation(1, 20);
    const next = Math.ceil(count / chunk);
    const last = next === 1;
    const out = launch(partials.device as WebGpuDevice, {
      op,
      shader: "reduce_sum",
      includes: ["workgroup_reduce"],
      constants: { WG: REDUCE_WG },
      uniforms: words(
        nOut,
        2,
        count,
        { f32: last ? factor : 1 },
        chunk,
        next,
        1,
        0,
        ...dims8([]),
        ...dims8([]),
        ...dims8([]),
      ),
      inputs: [["input", input]],
      outShape: last ? outShape : [nOut, next],
      workgroups: nOut * next,
    });
    input.dispose();
    if (last) return out;
    input = out;
    count = next;
  }
}

/** True when the reduced dimensions are the trailing ones (size-1 dims aside). */
function isFlat(shape: readonly number[], reduced: readonly number[]): boolean {
  const firstReduced = Math.min(...reduced);
  return shape.every((d, i) => d === 1 || reduced.includes(i) || i < firstReduced);
}

function offsetOf(i: number, extents: readonly number[], strides: readonly number[]): number {
  let offset = 0;
  for (let d = extents.length - 1; d >= 0; d--) {
    offset += (i % extents[d]) * strides[d];
    i = Math.floor(i / extents[d]);
  }
  return offset;
}
