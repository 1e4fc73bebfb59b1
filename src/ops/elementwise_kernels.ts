/**
 * The kernels behind the broadcasting elementwise ops, with no autograd:
 * both the ops (src/ops/elementwise.ts) and their backward rules
 * (src/autograd/backward/elementwise.ts) call these, so neither file imports
 * the other.
 *
 * @module
 */

import { dims8, ELEMENTWISE_WG, words } from "../gpu/launch.ts";
import { launchMany } from "../gpu/launch_many.ts";
import { numel, type Tensor } from "../tensor.ts";
import { assertSameDevice, broadcastShapes, broadcastStrides } from "./checks.ts";
import {
  cpuFloatTensor,
  type FloatDType,
  floatDType,
  storageSnippet,
  widened,
} from "./float_dtype.ts";
import { gpuOf, type KernelTable, kernelTable } from "./kernel_table.ts";
import { UNARY_OPS } from "./unary_kernels.ts";

const BINARY_OPS = {
  add: { code: 0, fn: (x: number, y: number) => x + y },
  sub: { code: 1, fn: (x: number, y: number) => x - y },
  mul: { code: 2, fn: (x: number, y: number) => x * y },
  div: { code: 3, fn: (x: number, y: number) => x / y },
} as const;

/** The broadcasting binary ops. */
export type BinaryOp = keyof typeof BINARY_OPS;

/**
 * `a op b` with NumPy broadcasting, on a's device: float32, or float16
 * (computed in float32, rounded once); a and b share one dtype.
 */
export function binaryKernel(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  assertSameDevice(op, ["a", a], ["b", b]);
  const outShape = broadcastShapes(op, ["a", a], ["b", b]);
  const dtype = floatDType(op, ["a", a], ["b", b]);
  const aStrides = broadcastStrides(a.shape, outShape);
  const bStrides = broadcastStrides(b.shape, outShape);
  const n = numel(outShape);
  const same = a.shape.length === b.shape.length && a.size === n && b.size === n;
  const plan = { outShape, aStrides, bStrides, n, same };
  return binaryKernels.for(a)(op, a, b, plan, dtype);
}

/** How a binary op's operands map onto its output. */
export interface BroadcastPlan {
  outShape: number[];
  /** Strides of a and b over the output's dimensions (0 where broadcast). */
  aStrides: number[];
  bStrides: number[];
  /** Output elements. */
  n: number;
  /** No broadcasting: a, b and the output have one shape. */
  same: boolean;
}

/** A broadcasting binary op implementation (see {@linkcode binaryKernel}). */
export type BinaryImpl = (
  op: BinaryOp,
  a: Tensor,
  b: Tensor,
  plan: BroadcastPlan,
  dtype: FloatDType,
) => Tensor;

function referenceBinary(
  op: BinaryOp,
  a: Tensor,
  b: Tensor,
  { outShape, aStrides, bStrides, n, same }: BroadcastPlan,
  dtype: FloatDType,
): Tensor {
  const x = widened(a, op, "a");
  const y = widened(b, op, "b");
  const out = new Float32Array(n);
  const fn = BINARY_OPS[op].fn;
  if (same) {
    for (let i = 0; i < n; i++) out[i] = fn(x[i], y[i]);
  } else {
    const rank = outShape.length;
    for (let i = 0; i < n; i++) {
      let rest = i, ia = 0, ib = 0;
      for (let d = rank - 1; d >= 0; d--) {
        const index = rest % outShape[d];
        rest = Math.floor(rest / outShape[d]);
        ia += index * aStrides[d];
        ib += index * bStrides[d];
      }
      out[i] = fn(x[ia], y[ib]);
    }
  }
  return cpuFloatTensor(out, outShape, dtype);
}

function webgpuBinary(
  op: BinaryOp,
  a: Tensor,
  b: Tensor,
  { outShape, aStrides, bStrides, n, same }: BroadcastPlan,
  dtype: FloatDType,
): Tensor {
  return launchMany(gpuOf(a), {
    op,
    shader: "binary",
    includes: [storageSnippet(dtype), "elementwise_header", "broadcast_index", "elementwise_main"],
    constants: { OP: BINARY_OPS[op].code, BROADCAST: same ? 0 : 1 },
    uniforms: words(
      n,
      outShape.length,
      0,
      0,
      ...dims8(outShape),
      ...dims8(aStrides),
      ...dims8(bStrides),
    ),
    inputs: [["a", a], ["b", b]],
    dtypes: [dtype],
    outShape,
    workgroups: Math.ceil(n / ELEMENTWISE_WG),
    outputs: 1,
    // Without broadcasting (or with a scalar operand: clipGradNorm's scaling),
    // tensors over one binding go in blocks.
    elementwise: same || (a.size === n && b.size === 1) || (a.size === 1 && b.size === n)
      ? (count) => Math.ceil(count / ELEMENTWISE_WG)
      : undefined,
  })[0];
}

/** add, sub, mul and div with broadcasting, per backend (src/ops/kernel_table.ts). */
export const binaryKernels: KernelTable<BinaryImpl> = kernelTable<BinaryImpl>("binary", {
  reference: referenceBinary,
  webgpu: webgpuBinary,
});

/**
 * `alpha * x + beta` in float32 on x's device (`op` names it in errors); a
 * float16 x gives float16, rounded once.
 */
export function affineKernel(op: string, x: Tensor, alpha: number, beta = 0): Tensor {
  const a = Math.fround(alpha);
  const b = Math.fround(beta);
  const dtype = floatDType(op, ["input", x]);
  return affineKernels.for(x)(op, x, a, b, dtype);
}

/** `a * x + b` with float32 `a` and `b` (see {@linkcode affineKernel}). */
export type AffineImpl = (op: string, x: Tensor, a: number, b: number, dtype: FloatDType) => Tensor;

function referenceAffine(op: string, x: Tensor, a: number, b: number, dtype: FloatDType): Tensor {
  const src = widened(x, op, "input");
  const out = new Float32Array(src.length);
  if (b === 0) { for (let i = 0; i < src.length; i++) out[i] = a * src[i]; }
  else for (let i = 0; i < src.length; i++) out[i] = Math.fround(a * src[i]) + b;
  return cpuFloatTensor(out, x.shape, dtype);
}

function webgpuAffine(op: string, x: Tensor, a: number, b: number, dtype: FloatDType): Tensor {
  return launchMany(gpuOf(x), {
    op,
    shader: "unary",
    includes: [storageSnippet(dtype), "elementwise_header", "unary_math", "elementwise_main"],
    constants: { OP: UNARY_OPS.affine },
    uniforms: words(x.size, { f32: a }, { f32: b }, 0),
    inputs: [["input", x]],
    dtypes: [dtype],
    outShape: x.shape,
    workgroups: Math.ceil(x.size / ELEMENTWISE_WG),
    outputs: 1,
    elementwise: (count) => Math.ceil(count / ELEMENTWISE_WG),
  })[0];
}

/** `alpha * x + beta`, per backend (src/ops/kernel_table.ts). */
export const affineKernels: KernelTable<AffineImpl> = kernelTable<AffineImpl>("affine", {
  reference: referenceAffine,
  webgpu: webgpuAffine,
});
