/**
 * Softmax over the last dimension, safe for masked scores.
 *
 * @module
 */

import { softmaxBackward } from "../autograd/backward/softmax.ts";
import { record } from "../autograd/recording.ts";
import { launch, words } from "../gpu/launch.ts";
import { cpuData, cpuTensor, type Tensor } from "../tensor.ts";

/**
 * Options for {@linkcode softmax}.
 *
 * @example
 * ```ts
 * import type { SoftmaxOptions } from "@tessera/core";
 * const o: SoftmaxOptions = { scale: 1 / Math.sqrt(64) };
 * ```
 */
export interface SoftmaxOptions {
  /** Multiply the input by this factor first (attention's 1/sqrt(d)); default 1. */
  scale?: number;
}

/** Threads per row in the GPU kernel (its `WG`; a power of two). */
const SOFTMAX_WG = 64;

/**
 * Softmax over the last dimension of `scale * x`. Entries equal to `-Infinity`
 * (masked scores) get weight exactly 0, as in PyTorch. A row whose entries
 * are all `-Infinity` gives all zeros (PyTorch gives NaN there; zeros match
 * its `scaled_dot_product_attention` and keep later ops finite).
 *
 * @example
 * ```ts
 * import { softmax, tensor } from "@tessera/core";
 * console.log(await softmax(tensor([[0, 0], [1, -Infinity]])).toArray()); // [[0.5, 0.5], [1, 0]]
 * ```
 */
export function softmax(x: Tensor, options: SoftmaxOptions = {}): Tensor {
  const alpha = Math.fround(options.scale ?? 1);
  return record("softmax", [x], rowSoftmax(x, alpha), softmaxBackward(alpha));
}

function rowSoftmax(x: Tensor, alpha: number): Tensor {
  const cols = x.shape.at(-1) ?? 1;
  const rows = cols === 0 ? 0 : x.size / cols;
  if (x.device.kind === "cpu") {
    const src = cpuData(x, "softmax", "input");
    const out = new Float32Array(src.length);
    for (let r = 0; r < rows; r++) softmaxRow(src, out, r * cols, cols, alpha);
    return cpuTensor(out, x.shape);
  }
  return launch(x.device, {
    op: "softmax",
    shader: "softmax",
    includes: ["workgroup_reduce"],
    constants: { WG: SOFTMAX_WG },
    uniforms: words(rows, cols, { f32: alpha }, 0),
    inputs: [["input", x]],
    outShape: x.shape,
    workgroups: rows,
  });
}

/** One row of softmax, in float32 steps like the kernel. */
export function softmaxRow(
  src: Float32Array,
  out: Float32Array,
  base: number,
  cols: number,
  alpha: number,
): void {
  let max = -3.4028234663852886e38;
  for (let j = 0; j < cols; j++) {
    const v = src[base + j];
    if (v !== -Infinity) max = Math.max(max, Math.fround(alpha * v));
  }
  let sum = 0;
  for (let j = 0; j < cols; j++) {
    const v = src[base + j];
    if (v !== -Infinity) sum += Math.fround(Math.exp(Math.fround(Math.fround(alpha * v) - max)));
  }
  const total = Math.fround(sum);
  const inv = total > 0 ? Math.fround(1 / total) : 0;
  for (let j = 0; j < cols; j++) {
    const v = src[base + j];
    out[base + j] = v === -Infinity
      ? 0
      : Math.fround(Math.exp(Math.fround(Math.fround(alpha * v) - max))) * inv;
  }
}
