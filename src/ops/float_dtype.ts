/**
 * Helpers for ops that take float32 or float16: one dtype for all inputs,
 * float32 math on the host (inputs widened, the result rounded once to
 * float16), and the storage snippet GPU kernels compile with.
 *
 * @module
 */

import { DTypeError } from "../errors.ts";
import { fromF16Bits, toF16Bits } from "../f16.ts";
import type { ShaderName } from "../gpu/shaders.generated.ts";
import { checkDType, cpuData, cpuHalf, cpuTensor, type DType, type Tensor } from "../tensor.ts";

/** The floating dtypes. */
export type FloatDType = "float32" | "float16";

const FLOATS: readonly DType[] = ["float32", "float16"];

/**
 * The common floating dtype of an op's inputs. Throws `DTypeError` for an
 * int32 input, or for float32 mixed with float16 (no implicit promotion:
 * the caller casts one side explicitly).
 */
export function floatDType(op: string, ...inputs: readonly [string, Tensor][]): FloatDType {
  for (const [name, t] of inputs) checkDType(op, name, t, FLOATS);
  const [firstName, first] = inputs[0];
  for (const [name, t] of inputs.slice(1)) {
    if (t.dtype !== first.dtype) {
      throw new DTypeError(
        `${op}: ${firstName} has dtype ${first.dtype} but ${name} has dtype ${t.dtype}; ` +
          `${op} takes one floating dtype: convert one with cast(${name}, "${first.dtype}")`,
      );
    }
  }
  return first.dtype as FloatDType;
}

/** A CPU tensor's values as float32 (float16 widened exactly; float32 not copied). */
export function widened(t: Tensor, op: string, name: string): Float32Array {
  return t.dtype === "float16" ? fromF16Bits(cpuHalf(t, op, name)) : cpuData(t, op, name);
}

/** Wraps float32 results as a CPU tensor of `dtype` (float16 rounds each value once). */
export function cpuFloatTensor(
  values: Float32Array,
  shape: readonly number[],
  dtype: DType,
): Tensor {
  return cpuTensor(dtype === "float16" ? toF16Bits(values) : values, shape);
}

/** The storage snippet a dtype-generic kernel compiles first (its `Store` alias). */
export function storageSnippet(dtype: DType): ShaderName {
  return dtype === "float16" ? "storage_f16" : "storage_f32";
}
