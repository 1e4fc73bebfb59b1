/**
 * Masking ops: `maskedFill`, `triu`, `tril`, with their backward rules kept
 * beside them (a rule file importing these ops back would form a cycle).
 *
 * @module
 */

import { type Backward, record, type Saved } from "../autograd/recording.ts";
import { ShapeError } from "../errors.ts";
import { dims8, ELEMENTWISE_WG, launch, words } from "../gpu/launch.ts";
import { checkDType, cpuData, cpuRaw, cpuTensor, numel, type Tensor } from "../tensor.ts";
import {
  assertSameDevice,
  broadcastShapes,
  broadcastStrides,
  checkInteger,
  checkNumber,
  checkRank,
  checkTensor,
  showShape,
} from "./checks.ts";
import { sumTo } from "./reduce.ts";
import { castKernel } from "./cast.ts";
import {
  cpuFloatTensor,
  type FloatDType,
  floatDType,
  storageSnippet,
  widened,
} from "./float_dtype.ts";
import { gpuOf, type KernelTable, kernelTable } from "./kernel_table.ts";

/** How a kernel reads x and the mask under the output's shape. */
interface FillPlan {
  outShape: readonly number[];
  xStrides: readonly number[];
  maskStrides: readonly number[];
}

/**
 * Like {@linkcode maskedFill}, but reads the top-left `[rows, cols]` corner
 * of a larger 2-D mask in place: the causal mask buffer sliced to `[:T, :T]`
 * without a copy.
 */
export function maskedFillCorner(
  op: string,
  x: Tensor,
  mask: Tensor,
  value: number,
  names: readonly [string, string] = ["input", "mask"],
): Tensor {
  checkTensor(op, names[0], x);
  checkTensor(op, names[1], mask);
  checkNumber(op, "value", value);
  assertSameDevice(op, [names[0], x], [names[1], mask]);
  checkMaskDTypes(op, x, mask, names);
  checkRank(op, names[0], x.shape);
  const cols = x.shape.at(-1) ?? 1;
  const rows = x.shape.at(-2) ?? 1;
  const [maskRows, maskCols] = mask.shape.length === 2 ? mask.shape : [rows, mask.shape[0] ?? 1];
  if (x.shape.length < 1 || mask.shape.length > 2 || maskRows < rows || maskCols < cols) {
    throw new ShapeError(
      `${op}: ${names[1]} ${showShape(mask.shape)} cannot cover the last two dimensions of ` +
        `${names[0]} ${showShape(x.shape)}`,
    );
  }
  const rank = x.shape.length;
  const maskStrides = x.shape.map((_, d) =>
    d === rank - 1 ? 1 : d === rank - 2 && mask.shape.length === 2 ? maskCols : 0
  );
  const plan = { outShape: x.shape, xStrides: broadcastStrides(x.shape, x.shape), maskStrides };
  const out = fill(op, x, mask, value, names, plan);
  return record(op, [x, mask], out, fillBackward(op, plan));
}

/**
 * Returns `x` with `value` wherever `mask` is nonzero, like PyTorch's
 * `torch.masked_fill(x, mask.bool(), value)`. `mask` may have any shape that
 * broadcasts with x (NumPy rules, at most 8 dimensions); the result has the
 * broadcast shape, which is x's shape whenever the mask fits inside x. The
 * mask may be float32 or int32: every nonzero value, NaN included, means
 * "fill". `value` may be any number, including `-Infinity` and `NaN`. The
 * gradient is zero at filled places and x's gradient elsewhere; the mask gets
 * none.
 *
 * @example
 * ```ts
 * import { maskedFill, ones, tensor, triu } from "@tessera/core";
 * const scores = tensor([[1, 2], [3, 4]]);
 * console.log(await maskedFill(scores, triu(ones([2, 2]), 1), -Infinity).toArray());
 * // [[1, -Infinity], [3, 4]]
 * const rows = tensor([[1], [0]], undefined, { dtype: "int32" }); // broadcasts over columns
 * console.log(await maskedFill(scores, rows, 0).toArray()); // [[0, 0], [3, 4]]
 * ```
 */
export function maskedFill(x: Tensor, mask: Tensor, value: number): Tensor {
  const op = "maskedFill";
  const names = ["input", "mask"] as const;
  checkTensor(op, "input", x);
  checkTensor(op, "mask", mask);
  checkNumber(op, "value", value);
  assertSameDevice(op, ["input", x], ["mask", mask]);
  checkMaskDTypes(op, x, mask, names);
  const outShape = broadcastShapes(op, ["input", x], ["mask", mask]);
  const plan = {
    outShape,
    xStrides: broadcastStrides(x.shape, outShape),
    maskStrides: broadcastStrides(mask.shape, outShape),
  };
  const out = fill(op, x, mask, value, names, plan);
  return record(op, [x, mask], out, fillBackward(op, plan));
}

function checkMaskDTypes(
  op: string,
  x: Tensor,
  mask: Tensor,
  names: readonly [string, string],
): void {
  checkDType(op, names[0], x, ["float32", "float16"]);
  checkDType(op, names[1], mask, ["float32", "float16", "int32"]);
}

/** Gradient: zero where filled; summed back to x's shape if x was broadcast. */
function fillBackward(op: string, plan: FillPlan): Backward {
  return (g: Tensor, s: Saved) => {
    const [x, mask] = s.inputs;
    const names = ["grad", "mask"] as const;
    const masked = fill(`${op} backward`, g, mask, 0, names, {
      ...plan,
      xStrides: broadcastStrides(plan.outShape, plan.outShape),
    });
    if (masked.shape.length === x.shape.length && masked.size === x.size) return [masked, null];
    const summed = sumTo(masked, x.shape);
    masked.dispose();
    return [summed, null];
  };
}

function fill(
  op: string,
  x: Tensor,
  mask: Tensor,
  value: number,
  names: readonly [string, string],
  plan: FillPlan,
): Tensor {
  // A float16 x gives float16 (exact: values are copied or filled).
  const dtype = floatDType(op, [names[0], x]);
  return maskedFillKernels.for(x)(op, x, mask, value, names, plan, dtype);
}

/** A masked fill implementation (`names` name x and mask in errors). */
export type MaskedFillImpl = (
  op: string,
  x: Tensor,
  mask: Tensor,
  value: number,
  names: readonly [string, string],
  plan: FillPlan,
  dtype: FloatDType,
) => Tensor;

function referenceFill(
  op: string,
  x: Tensor,
  mask: Tensor,
  value: number,
  names: readonly [string, string],
  plan: FillPlan,
  dtype: FloatDType,
): Tensor {
  const { outShape, xStrides, maskStrides } = plan;
  const n = numel(outShape);
  const src = widened(x, op, names[0]);
  // Widened, so a float16 -0 counts as zero as PyTorch's bool() does.
  const m = mask.dtype === "float16" ? widened(mask, op, names[1]) : cpuRaw(mask, op, names[1]);
  const out = new Float32Array(n);
  const fillValue = Math.fround(value);
  const rank = outShape.length;
  const index = new Array<number>(rank).fill(0);
  let ix = 0;
  let im = 0;
  for (let i = 0; i < n; i++) {
    // `!== 0` is true for NaN and false for -0, as PyTorch's bool() is.
    out[i] = m[im] !== 0 ? fillValue : src[ix];
    // Odometer step: advance the last index, carrying into earlier ones.
    for (let d = rank - 1; d >= 0; d--) {
      ix += xStrides[d];
      im += maskStrides[d];
      if (++index[d] < outShape[d]) break;
      ix -= xStrides[d] * outShape[d];
      im -= maskStrides[d] * outShape[d];
      index[d] = 0;
    }
  }
  return cpuFloatTensor(out, outShape, dtype);
}

function webgpuFill(
  op: string,
  x: Tensor,
  mask: Tensor,
  value: number,
  names: readonly [string, string],
  plan: FillPlan,
  dtype: FloatDType,
): Tensor {
  const { outShape, xStrides, maskStrides } = plan;
  const n = numel(outShape);
  if (mask.dtype === "float16") {
    // The kernel tests mask bits as f32 or i32: widen a float16 mask first.
    const wide = castKernel(op, mask, "float32");
    const out = fill(op, x, wide, value, names, plan);
    wide.dispose();
    return out;
  }
  return launch(gpuOf(x), {
    op,
    shader: "masked_fill",
    includes: [storageSnippet(dtype), "elementwise_header", "broadcast_index", "elementwise_main"],
    constants: { MASK_FLOAT: mask.dtype === "float32" ? 1 : 0 },
    uniforms: words(
      n,
      outShape.length,
      { f32: value },
      0,
      ...dims8(outShape),
      ...dims8(xStrides),
      ...dims8(maskStrides),
    ),
    inputs: [[names[0], x], [names[1], mask]],
    dtypes: [dtype, "float32", "int32"],
    outShape,
    workgroups: Math.ceil(n / ELEMENTWISE_WG),
  });
}

/** maskedFill and its gradient's masking, per backend (src/ops/kernel_table.ts). */
export const maskedFillKernels: KernelTable<MaskedFillImpl> = kernelTable<MaskedFillImpl>(
  "maskedFill",
  {
    reference: referenceFill,
    webgpu: webgpuFill,
  },
);

function triangle(op: "triu" | "tril", x: Tensor, diagonal: number): Tensor {
  checkTensor(op, "input", x);
  checkInteger(op, "diagonal", diagonal);
  checkDType(op, "input", x, ["float32"]);
  if (x.shape.length < 2) {
    throw new ShapeError(`${op}: expected at least 2 dimensions, but got ${showShape(x.shape)}`);
  }
  const out = triangleValues(op, x, diagonal);
  return record(op, [x], out, (g) => [triangleValues(op, g, diagonal)]);
}

function triangleValues(op: "triu" | "tril", x: Tensor, diagonal: number): Tensor {
  const [rows, cols] = x.shape.slice(-2);
  // Past [-rows, cols] every diagonal keeps all or nothing, so the clamp
  // changes no result and lets the kernel hold it in an i32.
  const clamped = Math.max(-rows, Math.min(cols, diagonal));
  return triangleKernels.for(x)(op, x, rows, cols, clamped);
}

/** A triu/tril implementation over the last two dims (`clamped` diagonal). */
export type TriangleImpl = (
  op: "triu" | "tril",
  x: Tensor,
  rows: number,
  cols: number,
  clamped: number,
) => Tensor;

function referenceTriangle(
  op: "triu" | "tril",
  x: Tensor,
  rows: number,
  cols: number,
  clamped: number,
): Tensor {
  const upper = op === "triu";
  const src = cpuData(x, op, "input");
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const offset = (i % cols) - (Math.floor(i / cols) % rows);
    out[i] = (upper ? offset >= clamped : offset <= clamped) ? src[i] : 0;
  }
  return cpuTensor(out, x.shape);
}

function webgpuTriangle(
  op: "triu" | "tril",
  x: Tensor,
  rows: number,
  cols: number,
  clamped: number,
): Tensor {
  const upper = op === "triu";
  return launch(gpuOf(x), {
    op,
    shader: "triangle",
    constants: { UPPER: upper ? 1 : 0 },
    uniforms: words(x.size, rows, cols, clamped),
    inputs: [["input", x]],
    outShape: x.shape,
    workgroups: Math.ceil(x.size / ELEMENTWISE_WG),
  });
}

/** triu and tril, per backend (src/ops/kernel_table.ts). */
export const triangleKernels: KernelTable<TriangleImpl> = kernelTable<TriangleImpl>("triangle", {
  reference: referenceTriangle,
  webgpu: webgpuTriangle,
});

/**
 * The upper triangle of the last two dimensions (`j - i >= diagonal`), the
 * rest zeroed, like `torch.triu`. `diagonal` must be a whole number (any
 * size: past the matrix it keeps everything or nothing).
 * `triu(ones([T, T]), 1)` is the causal mask.
 *
 * @example
 * ```ts
 * import { ones, triu } from "@tessera/core";
 * console.log(await triu(ones([3, 3]), 1).toArray());
 * // [[0, 1, 1], [0, 0, 1], [0, 0, 0]]
 * ```
 */
export function triu(x: Tensor, diagonal = 0): Tensor {
  return triangle("triu", x, diagonal);
}

/**
 * The lower triangle of the last two dimensions (`j - i <= diagonal`), like
 * `torch.tril`. `diagonal` must be a whole number.
 *
 * @example
 * ```ts
 * import { ones, tril } from "@tessera/core";
 * console.log(await tril(ones([2, 2])).toArray()); // [[1, 0], [1, 1]]
 * ```
 */
export function tril(x: Tensor, diagonal = 0): Tensor {
  return triangle("tril", x, diagonal);
}
