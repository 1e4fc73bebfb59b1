/**
 * Launching built-in kernels on WebGPU tensors: allocate the output, bind the
 * inputs, record one dispatch.
 *
 * @module
 */

import type { WebGpuDevice } from "../device.ts";
import type { DType, Tensor } from "../tensor.ts";
import { launchMany } from "./launch_many.ts";
import type { ShaderName } from "./shaders.generated.ts";

/** Elements per workgroup of the 1-D elementwise kernels (their `WG`). */
export const ELEMENTWISE_WG = 256;

/** One kernel launch producing a new tensor. */
export interface Launch {
  /** Op name used in errors. */
  op: string;
  shader: ShaderName;
  /** Library snippets compiled in front of the shader (e.g. `philox`). */
  includes?: readonly ShaderName[];
  constants?: Record<string, number>;
  /** Uniform block as 32-bit words (see {@linkcode words}). */
  uniforms?: Uint32Array;
  /** Inputs in binding order, each with the name errors should use. */
  inputs: readonly [string, Tensor][];
  /**
   * Dtypes the inputs may have (default: float32 only); the first one is the
   * output's dtype, so a dtype-agnostic copy passes `[x.dtype]`.
   */
  dtypes?: readonly DType[];
  outShape: readonly number[];
  /** Workgroup count (folded into 2-D past the limit) or an explicit grid. */
  workgroups: number | readonly [number, number, number];
}

/** Records a kernel launch and returns its output tensor. */
export function launch(device: WebGpuDevice, spec: Launch): Tensor {
  return launchMany(device, { ...spec, outputs: 1 })[0];
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** The bits of `x` as an f32, for packing floats into a uniform block. */
export function f32Bits(x: number): number {
  f32Scratch[0] = x;
  return u32Scratch[0];
}

/**
 * Packs a uniform block: numbers are u32 words (negative ones as i32), `{ f32 }`
 * entries are float bits; the result is padded to a multiple of 4 words.
 */
export function words(...values: (number | { f32: number })[]): Uint32Array {
  const out = new Uint32Array(Math.ceil(values.length / 4) * 4);
  values.forEach((v, i) => out[i] = typeof v === "number" ? v >>> 0 : f32Bits(v.f32));
  return out;
}

/** Packs up to 8 dimensions as two vec4<u32> (the kernels' shape/stride arrays). */
export function dims8(values: readonly number[]): number[] {
  if (values.length > 8) {
    throw new RangeError(`At most 8 dimensions are supported, got ${values.length}`);
  }
  return [...values, ...new Array(8 - values.length).fill(0)];
}
