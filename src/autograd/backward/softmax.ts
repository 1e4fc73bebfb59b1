/**
 * Backward rule of softmax: dx = alpha * y * (g - sum(g * y)) per row, from
 * the saved output y. Masked entries have y = 0, so they get exactly 0.
 *
 * @module
 */

import { launch, words } from "../../gpu/launch.ts";
import type { Backward, Saved } from "../recording.ts";
import { cpuData, cpuTensor, type Tensor } from "../../tensor.ts";

/** Threads per row in the GPU kernel (its `WG`; a power of two). */
const SOFTMAX_WG = 64;

/** The backward rule of `softmax(x, { scale: alpha })`. */
export function softmaxBackward(alpha: number): Backward {
  return (g: Tensor, s: Saved) => {
    const y = s.output;
    const cols = y.shape.at(-1) ?? 1;
    const rows = cols === 0 ? 0 : y.size / cols;
    if (y.device.kind !== "cpu") {
      return [launch(y.device, {
        op: "softmax backward",
        shader: "softmax_backward",
        includes: ["workgroup_reduce"],
        constants: { WG: SOFTMAX_WG },
        uniforms: words(rows, cols, { f32: alpha }, 0),
        inputs: [["output", y], ["gradient", g]],
        outShape: y.shape,
        workgroups: rows,
      })];
    }
    const yv = cpuData(y, "softmax backward", "output");
    const gv = cpuData(g, "softmax backward", "gradient");
    const out = new Float32Array(yv.length);
    for (let r = 0; r < rows; r++) {
      const base = r * cols;
      let dot = 0;
      for (let j = 0; j < cols; j++) dot += gv[base + j] * yv[base + j];
      const d = Math.fround(dot);
      for (let j = 0; j < cols; j++) {
        out[base + j] = Math.fround(alpha * yv[base + j]) * Math.fround(gv[base + j] - d);
      }
    }
    return [cpuTensor(out, y.shape)];
  };
}
