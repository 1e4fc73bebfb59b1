/**
 * Dtype conversion: float32 <-> float16 (round to nearest even) and
 * int32 <-> float32, on cpu and webgpu with identical bits.
 *
 * @module
 */

import type { Backward } from "../autograd/recording.ts";
import { record } from "../autograd/recording.ts";
import { ArgumentError } from "../errors.ts";
import { fromF16Bits, toF16Bits } from "../f16.ts";
import { ELEMENTWISE_WG, words } from "../gpu/launch.ts";
import { launchMany } from "../gpu/launch_many.ts";
import {
  cpuData,
  cpuHalf,
  cpuInts,
  cpuTensor,
  type DType,
  type HostData,
  type Tensor,
  viewOf,
} from "../tensor.ts";
import { checkTensor, describe } from "./checks.ts";
import { gpuOf, type KernelTable, kernelTable } from "./kernel_table.ts";

const DTYPES: readonly DType[] = ["float32", "float16", "int32"];

/**
 * Converts `x` to `dtype`, like `x.to(dtype)` in PyTorch: float32 -> float16
 * rounds to nearest even (past 65504 to infinity; NaN stays NaN),
 * float16 -> float32 is exact, int32 -> float32 rounds to nearest even,
 * float -> int32 truncates toward zero (NaN, infinities and values out of
 * int32 range give -2147483648, as PyTorch does on x86). The same dtype
 * gives a new tensor sharing x's storage. Gradients flow between the float
 * dtypes (cast back to the input's dtype); int32 results have none.
 *
 * @example
 * ```ts
 * import { cast, tensor } from "@tessera/core";
 * const h = cast(tensor([0.1, 70000]), "float16");
 * console.log(h.dtype, await h.toArray()); // "float16" [0.0999755859375, Infinity]
 * ```
 */
export function cast(x: Tensor, dtype: DType): Tensor {
  checkTensor("cast", "x", x);
  if (!DTYPES.includes(dtype)) {
    throw new ArgumentError(
      `cast: dtype must be "float32", "float16" or "int32", but got ${describe(dtype)}`,
    );
  }
  const from = x.dtype;
  const out = castKernel("cast", x, dtype);
  if (dtype === "int32" || from === "int32") return out;
  const backward: Backward = (g) => [castKernel("cast backward", g, from)];
  return record("cast", [x], out, backward);
}

/** The kernel behind {@linkcode cast}, with no autograd (`op` names it in errors). */
export function castKernel(op: string, x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return viewOf(x, x.shape, op);
  // float16 <-> int32 goes through float32 (exact in both directions' first step).
  if (x.dtype === "float16" && dtype === "int32") {
    return through(op, x, "float32", dtype);
  }
  if (x.dtype === "int32" && dtype === "float16") {
    return through(op, x, "float32", dtype);
  }
  return castKernels.for(x)(op, x, dtype);
}

/** A dtype conversion implementation (x's dtype differs from `dtype`; no float16 <-> int32). */
export type CastImpl = (op: string, x: Tensor, dtype: DType) => Tensor;

function referenceCast(op: string, x: Tensor, dtype: DType): Tensor {
  return cpuTensor(castHost(op, x, dtype), x.shape);
}

function webgpuCast(op: string, x: Tensor, dtype: DType): Tensor {
  const mode = x.dtype === "float32"
    ? (dtype === "float16" ? 0 : 3)
    : x.dtype === "float16"
    ? 1
    : 2;
  const units = mode === 0 ? Math.ceil(x.size / 2) : x.size;
  return launchMany(gpuOf(x), {
    op,
    shader: "cast",
    includes: ["elementwise_header"],
    constants: { MODE: mode },
    uniforms: words(x.size, 0, 0, 0),
    inputs: [["x", x]],
    // Output dtype first, then the input's.
    dtypes: [dtype, x.dtype],
    outShape: x.shape,
    workgroups: Math.ceil(units / ELEMENTWISE_WG),
    outputs: 1,
    elementwise: (count) => Math.ceil((mode === 0 ? Math.ceil(count / 2) : count) / ELEMENTWISE_WG),
  })[0];
}

/** Conversions between float32, float16 and int32, per backend (src/ops/kernel_table.ts). */
export const castKernels: KernelTable<CastImpl> = kernelTable<CastImpl>("cast", {
  reference: referenceCast,
  webgpu: webgpuCast,
});

function through(op: string, x: Tensor, middle: DType, dtype: DType): Tensor {
  const mid = castKernel(op, x, middle);
  const out = castKernel(op, mid, dtype);
  mid.dispose();
  return out;
}

function castHost(op: string, x: Tensor, dtype: DType): HostData {
  if (x.dtype === "float16") return fromF16Bits(cpuHalf(x, op, "x"));
  if (x.dtype === "int32") return Float32Array.from(cpuInts(x, op, "x"));
  const src = cpuData(x, op, "x");
  if (dtype === "float16") return toF16Bits(src);
  const out = new Int32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = src[i];
    out[i] = v >= -2147483648 && v < 2147483648 ? Math.trunc(v) : -2147483648;
  }
  return out;
}
