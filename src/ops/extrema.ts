/**
 * Extrema along a dimension: `max` (values and indices), `argmax` and `topk`.
 *
 * Order follows PyTorch 1.13 on the CPU: NaN counts as the largest value, so
 * a row holding NaN has a NaN maximum and `argmax` points at its first NaN;
 * equal values go to the lower index (so `max`/`argmax` return the first
 * occurrence, as torch does). `topk` returns the same values as torch; among
 * equal values torch's index order is unspecified, and Tessera lists them by
 * ascending index.
 *
 * On webgpu each row is cut into chunks of 4096 entries, each chunk selects
 * its best k with one workgroup, and later passes merge the candidates, so a
 * 50257-entry logits row runs in parallel and no invocation loops over the
 * row. The GPU path takes k <= {@linkcode TOPK_GPU_MAX_K}.
 *
 * @module
 */

import { record } from "../autograd/recording.ts";
import { runtimeOf, type WebGpuDevice } from "../device.ts";
import { ArgumentError, ShapeError } from "../errors.ts";
import { ELEMENTWISE_WG, launch, words } from "../gpu/launch.ts";
import { SHADERS } from "../gpu/shaders.generated.ts";
import {
  checkDType,
  cpuData,
  cpuInts,
  cpuTensor,
  fromHost,
  gpuBuffer,
  gpuTensor,
  numel,
  type Tensor,
  viewOf,
} from "../tensor.ts";
import { checkOptions, checkTensor, describe, normalizeDim, showShape } from "./checks.ts";
import { gather } from "./gather.ts";
import { gpuOf, type KernelTable, kernelTable } from "./kernel_table.ts";

/**
 * Largest `k` that {@linkcode topk} takes on webgpu (each chunk runs k
 * selection rounds; the bound keeps every kernel loop short).
 *
 * @example
 * ```ts
 * import { TOPK_GPU_MAX_K } from "@tessera/core";
 * console.log(TOPK_GPU_MAX_K); // 128
 * ```
 */
export const TOPK_GPU_MAX_K = 128;

/** Most threads per workgroup of the selection kernel, and entries per thread (its PER). */
const SELECT_WG = 256;
const PER = 16;

/** Threads per workgroup for rows of `n` entries: short rows get small workgroups. */
function selectWorkgroup(n: number): number {
  let wg = 1;
  while (wg < SELECT_WG && wg * PER < n) wg *= 2;
  return wg;
}

/**
 * Options for {@linkcode max} and {@linkcode argmax}.
 *
 * @example
 * ```ts
 * import type { MaxOptions } from "@tessera/core";
 * const o: MaxOptions = { keepDim: true };
 * ```
 */
export interface MaxOptions {
  /** Keep the reduced dimension with size 1 (PyTorch's `keepdim`); default false. */
  keepDim?: boolean;
}

/**
 * Options for {@linkcode topk}.
 *
 * @example
 * ```ts
 * import type { TopkOptions } from "@tessera/core";
 * const o: TopkOptions = { dim: -1, largest: false };
 * ```
 */
export interface TopkOptions {
  /** The dimension to select along; default -1 (the last). */
  dim?: number;
  /** Select the largest entries (default) or, when false, the smallest. */
  largest?: boolean;
  /**
   * Accepted for PyTorch compatibility; results always come sorted (best
   * first), which is one of the orders torch allows for `sorted = false`.
   */
  sorted?: boolean;
}

/**
 * Values and their int32 indices along the reduced dimension, as returned by
 * {@linkcode max} and {@linkcode topk}.
 *
 * @example
 * ```ts
 * import { max, tensor, type ValuesIndices } from "@tessera/core";
 * const r: ValuesIndices = max(tensor([[1, 5, 2]]), 1);
 * console.log(r.indices.dtype); // "int32"
 * ```
 */
export interface ValuesIndices {
  /** The selected values (float32), differentiable. */
  values: Tensor;
  /** Their positions along the dimension (int32), not differentiable. */
  indices: Tensor;
}

/**
 * The maximum along `dim` and its index, like `torch.max(x, dim, keepdim)`.
 * NaN counts as the maximum; ties go to the first index. Gradients flow to
 * the chosen entries only.
 *
 * Signature: `max(x: Tensor, dim: number, options?: { keepDim?: boolean }):
 * { values: Tensor; indices: Tensor }` (indices are int32).
 *
 * @example
 * ```ts
 * import { max, tensor } from "@tessera/core";
 * const { values, indices } = max(tensor([[1, 5, 2], [7, 0, 7]]), 1);
 * console.log(await values.toArray(), await indices.toArray()); // [5, 7] [1, 0]
 * ```
 */
export function max(x: Tensor, dim: number, options: MaxOptions = {}): ValuesIndices {
  checkTensor("max", "x", x);
  checkOptions("max", options);
  checkFlag("max", "keepDim", options?.keepDim);
  const layout = rowLayout("max", x, dim);
  if (layout.n === 0) {
    throw new ShapeError(
      `max: cannot reduce dimension ${dim} of size 0 (x has shape ${showShape(x.shape)})`,
    );
  }
  const outShape = reducedShape(x, layout.dim, 1, options.keepDim ?? false);
  const [values, indices] = select("max", x, layout, 1, true, outShape);
  record("max", [], indices, () => []);
  return {
    values: record("max", [x, indices], values, valuesBackward(layout)),
    indices,
  };
}

/**
 * The index of the maximum as an int32 tensor, like `torch.argmax`: along
 * `dim`, or over the flattened tensor when `dim` is omitted (the result is
 * then a scalar of shape `[]`, or all ones with `keepDim`). NaN counts as the
 * maximum; ties go to the first index. Runs on the tensor's device with no
 * readback.
 *
 * Signature: `argmax(x: Tensor, dim?: number, options?: { keepDim?: boolean }): Tensor`
 * (int32; float32 input).
 *
 * @example
 * ```ts
 * import { argmax, tensor } from "@tessera/core";
 * const x = tensor([[1, NaN, 3], [4, 9, 9]]);
 * console.log(await argmax(x, 1).toArray()); // [1, 1]
 * console.log(await argmax(x).toArray()); // 1
 * ```
 */
export function argmax(x: Tensor, dim?: number, options: MaxOptions = {}): Tensor {
  checkTensor("argmax", "x", x);
  checkOptions("argmax", options);
  checkFlag("argmax", "keepDim", options?.keepDim);
  const keepDim = options.keepDim ?? false;
  let out: Tensor;
  if (dim === undefined) {
    checkDType("argmax", "x", x, ["float32"]);
    const flat = viewOf(x, [x.size], "argmax");
    try {
      const layout = rowLayout("argmax", flat, 0);
      if (layout.n === 0) {
        throw new ShapeError("argmax: x is empty (shape " + showShape(x.shape) + ")");
      }
      const shape = keepDim ? x.shape.map(() => 1) : [];
      const [values, indices] = select("argmax", flat, layout, 1, true, shape);
      values.dispose();
      out = indices;
    } finally {
      flat.dispose();
    }
  } else {
    const layout = rowLayout("argmax", x, dim);
    if (layout.n === 0) {
      throw new ShapeError(
        `argmax: cannot reduce dimension ${dim} of size 0 (x has shape ${showShape(x.shape)})`,
      );
    }
    const [values, indices] = select(
      "argmax",
      x,
      layout,
      1,
      true,
      reducedShape(x, layout.dim, 1, keepDim),
    );
    values.dispose();
    out = indices;
  }
  // Not differentiable; recorded only so that a trace frees it.
  return record("argmax", [], out, () => []);
}

/**
 * The `k` largest (or smallest) entries along `dim` and their int32 indices,
 * like `torch.topk`, best first. NaN counts as the largest value. Among equal
 * values the lower index comes first (torch leaves that order unspecified,
 * so indices of ties may differ from torch's; values never do). Gradients
 * flow to the chosen entries. On webgpu, k is at most
 * {@linkcode TOPK_GPU_MAX_K}.
 *
 * @example
 * ```ts
 * import { tensor, topk } from "@tessera/core";
 * const { values, indices } = topk(tensor([1, 7, 3, 9]), 2);
 * console.log(await values.toArray(), await indices.toArray()); // [9, 7] [3, 1]
 * ```
 */
export function topk(x: Tensor, k: number, options: TopkOptions = {}): ValuesIndices {
  checkTensor("topk", "x", x);
  checkOptions("topk", options);
  checkFlag("topk", "largest", options?.largest);
  checkFlag("topk", "sorted", options?.sorted);
  const dim = options.dim ?? -1;
  const layout = rowLayout("topk", x, dim);
  if (!Number.isSafeInteger(k) || k < 0 || k > layout.n) {
    throw new ArgumentError(
      `topk: k must be a whole number from 0 to ${layout.n} (the size of dimension ${dim} ` +
        `of x, shape ${showShape(x.shape)}), but got ${k}`,
    );
  }
  if (x.device.kind === "webgpu" && k > TOPK_GPU_MAX_K) {
    throw new ArgumentError(
      `topk: k = ${k} exceeds ${TOPK_GPU_MAX_K}, the largest k the webgpu path takes ` +
        `(x has shape ${showShape(x.shape)} on ${x.device.name}); move x to cpu for larger k`,
    );
  }
  const outShape = reducedShape(x, layout.dim, k, true);
  const [values, indices] = select("topk", x, layout, k, options.largest ?? true, outShape);
  record("topk", [], indices, () => []);
  return {
    values: record("topk", [x, indices], values, valuesBackward(layout)),
    indices,
  };
}

/** Throws `ArgumentError` unless an optional flag is a boolean. */
function checkFlag(op: string, name: string, value: unknown): void {
  if (value !== undefined && typeof value !== "boolean") {
    throw new ArgumentError(`${op}: options.${name} must be a boolean, but got ${describe(value)}`);
  }
}

/** x read as rows: `outer` blocks of `n` entries along `dim`, each `inner` apart. */
interface RowLayout {
  dim: number;
  outer: number;
  n: number;
  inner: number;
}

function rowLayout(op: string, x: Tensor, dim: number): RowLayout {
  checkDType(op, "x", x, ["float32"]);
  if (typeof dim !== "number") {
    throw new ArgumentError(`${op}: dim must be an integer, but got ${typeof dim}`);
  }
  // A scalar reduces like a one-entry vector, as in torch (dim 0 or -1).
  const shape = x.shape.length === 0 ? [1] : x.shape;
  const d = normalizeDim(op, dim, shape.length);
  return {
    dim: d,
    outer: numel(shape.slice(0, d)),
    n: shape[d],
    inner: numel(shape.slice(d + 1)),
  };
}

/** x's shape with dimension `dim` set to `k`, or dropped when `keep` is false. */
function reducedShape(x: Tensor, dim: number, k: number, keep: boolean): number[] {
  if (x.shape.length === 0) return [];
  const shape = [...x.shape];
  if (keep) shape[dim] = k;
  else shape.splice(dim, 1);
  return shape;
}

/** The best k (value, index) pairs of every row, laid out as `outShape` ([outer, k, inner] order). */
function select(
  op: string,
  x: Tensor,
  layout: RowLayout,
  k: number,
  largest: boolean,
  outShape: readonly number[],
): [Tensor, Tensor] {
  return topkKernels.for(x)(op, x, layout, k, largest, outShape);
}

/** A top-k selection implementation: values and int32 indices of the best k per row. */
export type TopkImpl = (
  op: string,
  x: Tensor,
  layout: RowLayout,
  k: number,
  largest: boolean,
  outShape: readonly number[],
) => [Tensor, Tensor];

function referenceSelect(
  op: string,
  x: Tensor,
  layout: RowLayout,
  k: number,
  largest: boolean,
  outShape: readonly number[],
): [Tensor, Tensor] {
  const { outer, n, inner } = layout;
  const rows = outer * inner;
  const src = cpuData(x, op, "x");
  const values = new Float32Array(rows * k);
  const indices = new Int32Array(rows * k);
  const order = new Array<number>(n);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * n * inner + i;
      const at = (j: number) => src[base + j * inner];
      if (k > 0 && k * 8 <= n) {
        // Few of many: keep the best k sorted, inserting only entries that
        // beat the current k-th (O(n) for random rows, no full sort).
        let kept = 0;
        for (let j = 0; j < n; j++) {
          const v = at(j);
          if (kept === k && !beats(v, j, at(order[k - 1]), order[k - 1], largest)) continue;
          let t = kept < k ? kept++ : k - 1;
          while (t > 0 && beats(v, j, at(order[t - 1]), order[t - 1], largest)) {
            order[t] = order[t - 1];
            t--;
          }
          order[t] = j;
        }
      } else {
        for (let j = 0; j < n; j++) order[j] = j;
        order.sort((a, b) => beats(at(a), a, at(b), b, largest) ? -1 : 1);
      }
      for (let t = 0; t < k; t++) {
        const target = (o * k + t) * inner + i;
        values[target] = at(order[t]);
        indices[target] = order[t];
      }
    }
  }
  return [cpuTensor(values, outShape), cpuTensor(indices, outShape)];
}

function webgpuSelect(
  op: string,
  x: Tensor,
  layout: RowLayout,
  k: number,
  largest: boolean,
  outShape: readonly number[],
): [Tensor, Tensor] {
  const { outer, n, inner } = layout;
  const rows = outer * inner;
  const device = gpuOf(x);
  if (rows * k === 0) {
    runtimeOf(device).ensureAlive(op);
    gpuBuffer(x, op, "x");
    return [gpuTensor(device, null, outShape), gpuTensor(device, null, outShape, "int32")];
  }
  // Pass 1 reads x in place; each later pass merges contiguous candidate rows.
  let pass = selectPass(op, device, x, null, rows, n, inner, k, largest);
  while (pass.chunks > 1) {
    const length = pass.chunks * k;
    const next = selectPass(op, device, pass.values, pass.ids, rows, length, 1, k, largest);
    pass.values.dispose();
    pass.ids.dispose();
    pass = next;
  }
  const { values, ids: indices } = pass;
  if (inner === 1 || k === 1) {
    // [outer, inner, k] is already [outer, k, inner] in memory.
    const out: [Tensor, Tensor] = [
      viewOf(values, outShape, op),
      viewOf(indices, outShape, op),
    ];
    values.dispose();
    indices.dispose();
    return out;
  }
  // Move k in front of the inner dimensions: a bit-exact strided copy.
  const strides = [inner * k, 1, k];
  const out: [Tensor, Tensor] = [
    reshapeTo(gather(op, values, [outer, k, inner], strides, 0), outShape, op),
    reshapeTo(gather(op, indices, [outer, k, inner], strides, 0), outShape, op),
  ];
  values.dispose();
  indices.dispose();
  return out;
}

/** topk, max, min, argmax and argmin selection, per backend (src/ops/kernel_table.ts). */
export const topkKernels: KernelTable<TopkImpl> = kernelTable<TopkImpl>("topk", {
  reference: referenceSelect,
  webgpu: webgpuSelect,
});

function reshapeTo(t: Tensor, shape: readonly number[], op: string): Tensor {
  const out = viewOf(t, shape, op);
  t.dispose();
  return out;
}

/** Whether (a, ia) ranks before (b, ib): the kernel's `beats`, for the cpu path. */
function beats(a: number, ia: number, b: number, ib: number, largest: boolean): boolean {
  const na = Number.isNaN(a);
  const nb = Number.isNaN(b);
  if (na !== nb) return na === largest;
  if (na || a === b) return ia < ib;
  return largest ? a > b : a < b;
}

/** One selection pass: `[rows, chunks * k]` values and int32 indices. */
interface Pass {
  values: Tensor;
  ids: Tensor;
  chunks: number;
}

/** Selects the best k of every chunk of every row. */
function selectPass(
  op: string,
  device: WebGpuDevice,
  values: Tensor,
  ids: Tensor | null,
  rows: number,
  n: number,
  inner: number,
  k: number,
  largest: boolean,
): Pass {
  const wg = selectWorkgroup(n);
  const chunks = Math.ceil(n / (wg * PER));
  const runtime = runtimeOf(device);
  runtime.ensureAlive(op);
  const vh = gpuBuffer(values, op, "x")!;
  const ih = ids ? gpuBuffer(ids, op, "indices", ["int32"])! : vh;
  const shape = [rows, chunks * k];
  const count = rows * chunks * k;
  const pipeline = runtime.pipeline({
    name: "topk_select.wgsl",
    // The kernel first so compile errors keep its line numbers; the shared entry point after.
    code: `${SHADERS.topk_select}\n${SHADERS.workgroup_job}`,
    constants: { WG: wg },
  });
  const outValues = gpuTensor(device, runtime.acquire(op, `${op} values`, count * 4), shape);
  const outIds = gpuTensor(
    device,
    runtime.acquire(op, `${op} indices`, count * 4),
    shape,
    "int32",
  );
  try {
    runtime.dispatch(
      op,
      pipeline,
      [vh, ih, gpuBuffer(outValues, op, "values")!, gpuBuffer(outIds, op, "indices", ["int32"])!],
      words(rows, n, inner, k, chunks, ids ? 0 : 1, largest ? 1 : 0, 0),
      rows * chunks,
    );
  } catch (error) {
    outValues.dispose();
    outIds.dispose();
    throw error;
  }
  return { values: outValues, ids: outIds, chunks };
}

/** Backward of the selected values: the gradient lands on the chosen entries, 0 elsewhere. */
function valuesBackward(layout: RowLayout) {
  return (g: Tensor, saved: { inputs: readonly Tensor[] }): (Tensor | null)[] => {
    const [x, indices] = saved.inputs;
    return [scatterRows(g, indices, x.shape, layout), null];
  };
}

function scatterRows(
  g: Tensor,
  indices: Tensor,
  shape: readonly number[],
  layout: RowLayout,
): Tensor {
  return topkBackwardKernels.for(g)(g, indices, shape, layout);
}

/** Scatters topk's gradient rows back onto x's shape (zeros elsewhere). */
export type TopkBackwardImpl = (
  g: Tensor,
  indices: Tensor,
  shape: readonly number[],
  layout: RowLayout,
) => Tensor;

function referenceScatterRows(
  g: Tensor,
  indices: Tensor,
  shape: readonly number[],
  layout: RowLayout,
): Tensor {
  const { outer, n, inner } = layout;
  const op = "topk backward";
  const k = indices.size / Math.max(1, outer * inner);
  const total = outer * n * inner;
  const src = cpuData(g, op, "gradient");
  const ids = cpuInts(indices, op, "indices");
  const out = new Float32Array(total);
  for (let o = 0; o < outer; o++) {
    for (let t = 0; t < k; t++) {
      for (let i = 0; i < inner; i++) {
        const at = (o * k + t) * inner + i;
        out[(o * n + ids[at]) * inner + i] = src[at];
      }
    }
  }
  return cpuTensor(out, shape);
}

function webgpuScatterRows(
  g: Tensor,
  indices: Tensor,
  shape: readonly number[],
  layout: RowLayout,
): Tensor {
  const { outer, n, inner } = layout;
  const op = "topk backward";
  const k = indices.size / Math.max(1, outer * inner);
  const total = outer * n * inner;
  const device = gpuOf(g);
  if (g.size === 0) {
    // k = 0 chose nothing: the gradient is all zeros (an upload, no kernel).
    return fromHost(new Float32Array(total), shape, device, op, "gradient");
  }
  return launch(device, {
    op,
    shader: "topk_backward",
    uniforms: words(total, n, inner, k),
    inputs: [["gradient", g], ["indices", indices]],
    dtypes: ["float32", "int32"],
    outShape: shape,
    workgroups: Math.ceil(total / ELEMENTWISE_WG),
  });
}

/** topk's backward scatter, per backend (src/ops/kernel_table.ts). */
export const topkBackwardKernels: KernelTable<TopkBackwardImpl> = kernelTable<TopkBackwardImpl>(
  "topk backward",
  {
    reference: referenceScatterRows,
    webgpu: webgpuScatterRows,
  },
);
