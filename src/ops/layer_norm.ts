/**
 * Layer normalisation over the last dimension (the book's `LayerNorm`:
 * biased variance, `eps` inside the square root), one fused kernel pass per
 * call on webgpu, with its backward rule beside it.
 *
 * @module
 */

import type { Saved } from "../autograd/recording.ts";
import { record } from "../autograd/recording.ts";
import { ShapeError } from "../errors.ts";
import { launch, words } from "../gpu/launch.ts";
import { launchMany } from "../gpu/launch_many.ts";
import { cpuData, cpuTensor, type Tensor } from "../tensor.ts";
import {
  cpuFloatTensor,
  type FloatDType,
  floatDType,
  storageSnippet,
  widened,
} from "./float_dtype.ts";
import { assertSameDevice, checkFiniteNumber, checkTensor, showShape } from "./checks.ts";
import { sumTo } from "./reduce.ts";
import { gpuOf, type KernelTable, kernelTable } from "./kernel_table.ts";

/** Threads per row; each strides through the row, so a row of D takes ceil(D / WG) steps. */
function rowThreads(cols: number): number {
  return cols > 2048 ? 256 : 64;
}

/** Longest row the kernels take: ceil(D / 256) loop steps stays within llvmpipe's budget. */
const MAX_COLS = 256 * 4096;

/**
 * `scale * (x - mean) / sqrt(var + eps) + shift` over the last dimension of
 * `x`, with the biased variance, like the book's `LayerNorm` (and
 * `torch.nn.functional.layer_norm` with weight `scale` and bias `shift`).
 * `scale` and `shift` have shape `[D]`, D the last dimension of `x`.
 *
 * @example
 * ```ts
 * import { layerNorm, ones, tensor, zeros } from "@tessera/core";
 * const y = layerNorm(tensor([[1, 2, 3]]), ones([3]), zeros([3]));
 * console.log(await y.toArray()); // [[-1.2247..., 0, 1.2247...]]
 * ```
 */
export function layerNorm(x: Tensor, scale: Tensor, shift: Tensor, eps = 1e-5): Tensor {
  const op = "layerNorm";
  checkTensor(op, "x", x);
  checkTensor(op, "scale", scale);
  checkTensor(op, "shift", shift);
  checkFiniteNumber(op, "eps", eps);
  assertSameDevice(op, ["x", x], ["scale", scale], ["shift", shift]);
  // float16 (all three): f32 math, one rounding per output; forward only.
  const dtype = floatDType(op, ["x", x], ["scale", scale], ["shift", shift]);
  const cols = x.shape.at(-1);
  if (cols === undefined || cols === 0) {
    throw new ShapeError(
      `${op}: x has shape ${showShape(x.shape)}, but layer norm needs a last dimension >= 1`,
    );
  }
  for (const [name, t] of [["scale", scale], ["shift", shift]] as const) {
    if (t.shape.length !== 1 || t.shape[0] !== cols) {
      throw new ShapeError(
        `${op}: x has shape ${showShape(x.shape)}, so ${name} must have shape [${cols}], ` +
          `but got ${showShape(t.shape)}`,
      );
    }
  }
  if (cols > MAX_COLS) {
    throw new ShapeError(
      `${op}: rows of ${cols} features are longer than the ${MAX_COLS} supported`,
    );
  }
  const epsF = Math.fround(eps);
  const out = layerNormKernels.for(x)(x, scale, shift, epsF, dtype);
  return record(op, [x, scale, shift], out, (g, s) => layerNormBackward(g, s, epsF));
}

/** Row statistics in float64, rounded once per output like a fused kernel. */
function rowStats(src: Float32Array, base: number, cols: number, eps: number): [number, number] {
  let sum = 0;
  for (let j = 0; j < cols; j++) sum += src[base + j];
  const mean = sum / cols;
  let sq = 0;
  for (let j = 0; j < cols; j++) {
    const c = src[base + j] - mean;
    sq += c * c;
  }
  return [mean, 1 / Math.sqrt(sq / cols + eps)];
}

function referenceLayerNorm(
  x: Tensor,
  scale: Tensor,
  shift: Tensor,
  eps: number,
  dtype: FloatDType,
): Tensor {
  const src = widened(x, "layerNorm", "x");
  const w = widened(scale, "layerNorm", "scale");
  const b = widened(shift, "layerNorm", "shift");
  const cols = w.length;
  const out = new Float32Array(src.length);
  for (let base = 0; base < src.length; base += cols) {
    const [mean, rstd] = rowStats(src, base, cols, eps);
    for (let j = 0; j < cols; j++) out[base + j] = w[j] * ((src[base + j] - mean) * rstd) + b[j];
  }
  return cpuFloatTensor(out, x.shape, dtype);
}

/** A layer norm forward implementation (`eps` already float32; output dtype `dtype`). */
export type LayerNormImpl = (
  x: Tensor,
  scale: Tensor,
  shift: Tensor,
  eps: number,
  dtype: FloatDType,
) => Tensor;

function webgpuLayerNorm(
  x: Tensor,
  scale: Tensor,
  shift: Tensor,
  eps: number,
  dtype: FloatDType,
): Tensor {
  const cols = x.shape.at(-1)!;
  return launch(gpuOf(x), {
    op: "layerNorm",
    shader: "layer_norm",
    includes: [storageSnippet(dtype), "workgroup_reduce", "layer_norm_stats", "workgroup_job"],
    constants: { WG: rowThreads(cols) },
    uniforms: words(x.size / cols, cols, { f32: eps }, 0),
    inputs: [["x", x], ["scale", scale], ["shift", shift]],
    dtypes: [dtype],
    outShape: x.shape,
    workgroups: x.size / cols,
  });
}

/**
 * Layer norm forward, per backend (src/ops/kernel_table.ts); the cpu
 * device's WebAssembly entry is registered by src/cpu/register.ts.
 */
export const layerNormKernels: KernelTable<LayerNormImpl> = kernelTable<LayerNormImpl>(
  "layerNorm",
  { reference: referenceLayerNorm, webgpu: webgpuLayerNorm },
);

/** Gradients of x, scale and shift: `dx` per row, `g * xhat` and `g` summed over rows. */
function layerNormBackward(g: Tensor, s: Saved, eps: number): (Tensor | null)[] {
  const [x, scale] = s.inputs;
  const cols = scale.shape[0];
  const [dx, gxhat] = layerNormBackwardKernels.for(x)(x, scale, g, eps);
  const dScale = s.needs[1] ? sumTo(gxhat, [cols]) : null;
  gxhat.dispose();
  const dShift = s.needs[2] ? sumTo(g, [cols]) : null;
  if (!s.needs[0]) {
    dx.dispose();
    return [null, dScale, dShift];
  }
  return [dx, dScale, dShift];
}

/**
 * A layer norm backward implementation: `[dx, g * xhat]` (x's shape, float32)
 * from x, scale, the output's gradient g and the float32 eps.
 */
export type LayerNormBackwardImpl = (
  x: Tensor,
  scale: Tensor,
  g: Tensor,
  eps: number,
) => [Tensor, Tensor];

function webgpuLayerNormBackward(
  x: Tensor,
  scale: Tensor,
  g: Tensor,
  eps: number,
): [Tensor, Tensor] {
  const cols = scale.shape[0];
  const [dx, gxhat] = launchMany(gpuOf(x), {
    op: "layerNorm backward",
    shader: "layer_norm_backward",
    includes: ["workgroup_reduce", "layer_norm_stats", "workgroup_job"],
    constants: { WG: rowThreads(cols) },
    uniforms: words(x.size / cols, cols, { f32: eps }, 0),
    inputs: [["x", x], ["scale", scale], ["gradient", g]],
    outShape: x.shape,
    workgroups: x.size / cols,
    outputs: 2,
  });
  return [dx, gxhat];
}

function referenceLayerNormBackward(
  x: Tensor,
  scale: Tensor,
  g: Tensor,
  eps: number,
): [Tensor, Tensor] {
  const src = cpuData(x, "layerNorm backward", "x");
  const w = cpuData(scale, "layerNorm backward", "scale");
  const grad = cpuData(g, "layerNorm backward", "gradient");
  const cols = w.length;
  const dx = new Float32Array(src.length);
  const gxhat = new Float32Array(src.length);
  for (let base = 0; base < src.length; base += cols) {
    const [mean, rstd] = rowStats(src, base, cols, eps);
    let sumH = 0;
    let sumHx = 0;
    for (let j = 0; j < cols; j++) {
      const h = grad[base + j] * w[j];
      sumH += h;
      sumHx += h * (src[base + j] - mean) * rstd;
    }
    const meanH = sumH / cols;
    const meanHx = sumHx / cols;
    for (let j = 0; j < cols; j++) {
      const xhat = (src[base + j] - mean) * rstd;
      dx[base + j] = rstd * (grad[base + j] * w[j] - meanH - xhat * meanHx);
      gxhat[base + j] = grad[base + j] * xhat;
    }
  }
  return [cpuTensor(dx, x.shape), cpuTensor(gxhat, x.shape)];
}

/** Layer norm backward (dx and g * xhat), per backend (src/ops/kernel_table.ts). */
export const layerNormBackwardKernels: KernelTable<LayerNormBackwardImpl> = kernelTable<
  LayerNormBackwardImpl
>("layerNorm backward", { reference: referenceLayerNormBackward, webgpu: webgpuLayerNormBackward });
