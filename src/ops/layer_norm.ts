/**
 * Layer normalisation over the last dimension (the book's `LayerNorm`:
 * biased variance, `eps` inside the square root), one fused kernel pass per
 * call on webgpu, with its backward rule beside it.
 *
 * @module
 */

import type { Saved } from "../autograd/recording.ts";
import { record } from "../autograd/recording.ts";
import type { WebGpuDevice } from "../device.ts";
import { ShapeError } from "../errors.ts";
import { launch, words } from "../gpu/launch.ts";
import { launchMany } from "../gpu/launch_many.ts";
import { cpuData, cpuTensor, type Tensor } from "../tensor.ts";
import { cpuFloatTensor, floatDType, storageSnippet, widened } from "./float_dtype.ts";
import { assertSameDevice, checkFiniteNumber, checkTensor, showShape } from "./checks.ts";
import { sumTo } from "./reduce.ts";
import { wasmLayerNorm } from "../cpu/layer_norm.ts";

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
  const out = x.device.kind === "cpu" ? cpuForward(x, scale, shift, epsF) : launch(x.device, {
    op,
    shader: "layer_norm",
    includes: [storageSnippet(dtype), "workgroup_reduce", "layer_norm_stats", "workgroup_job"],
    constants: { WG: rowThreads(cols) },
    uniforms: words(x.size / cols, cols, { f32: epsF }, 0),
    inputs: [["x", x], ["scale", scale], ["shift", shift]],
    dtypes: [dtype],
    outShape: x.shape,
    workgroups: x.size / cols,
  });
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

function cpuForward(x: Tensor, scale: Tensor, shift: Tensor, eps: number): Tensor {
  const src = widened(x, "layerNorm", "x");
  const w = widened(scale, "layerNorm", "scale");
  const b = widened(shift, "layerNorm", "shift");
  const cols = w.length;
  const out = new Float32Array(src.length);
  // The WebAssembly kernel gives this loop's bits (src/cpu/backend.ts).
  if (wasmLayerNorm(src, w, b, out, cols, eps)) return cpuFloatTensor(out, x.shape, x.dtype);
  for (let base = 0; base < src.length; base += cols) {
    const [mean, rstd] = rowStats(src, base, cols, eps);
    for (let j = 0; j < cols; j++) out[base + j] = w[j] * ((src[base + j] - mean) * rstd) + b[j];
  }
  return cpuFloatTensor(out, x.shape, x.dtype);
}

/** Gradients of x, scale and shift: `dx` per row, `g * xhat` and `g` summed over rows. */
function layerNormBackward(g: Tensor, s: Saved, eps: number): (Tensor | null)[] {
  const [x, scale] = s.inputs;
  const cols = scale.shape[0];
  const [dx, gxhat] = x.device.kind === "cpu"
    ? cpuBackward(x, scale, g, eps)
    : launchMany(x.device as WebGpuDevice, {
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
  const dScale = s.needs[1] ? sumTo(gxhat, [cols]) : null;
  gxhat.dispose();
  const dShift = s.needs[2] ? sumTo(g, [cols]) : null;
  if (!s.needs[0]) {
    dx.dispose();
    return [null, dScale, dShift];
  }
  return [dx, dScale, dShift];
}

function cpuBackward(x: Tensor, scale: Tensor, g: Tensor, eps: number): [Tensor, Tensor] {
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
