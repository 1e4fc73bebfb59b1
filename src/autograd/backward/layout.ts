/**
 * Backward rules of the layout ops: reshape and transpose undo themselves,
 * slice pads its gradient back with zeros, stack slices its gradient apart.
 *
 * @module
 */

import { dims8, ELEMENTWISE_WG, launch, words } from "../../gpu/launch.ts";
import type { Backward, Saved } from "../recording.ts";
import { reshape, slice, transpose } from "../../ops/layout.ts";
import { contiguousStrides } from "../../ops/checks.ts";
import { cpuData, cpuTensor, fromHost, numel, type Tensor } from "../../tensor.ts";

/** The backward rule of `reshape`: the gradient read under the input's shape (no copy). */
export const reshapeBackward: Backward = (g: Tensor, s: Saved) => [reshape(g, s.inputs[0].shape)];

/** The backward rule of `transpose(x, d0, d1)`: the same swap. */
export function transposeBackward(d0: number, d1: number): Backward {
  return (g: Tensor) => [transpose(g, d0, d1)];
}

/** The backward rule of a slice starting at `starts` (one entry per dimension). */
export function sliceBackward(starts: readonly number[]): Backward {
  return (g: Tensor, s: Saved) => [padSlice(g, s.inputs[0].shape, starts)];
}

/** The backward rule of `stack(tensors, dim)`: slice i of the gradient along `dim`. */
export function stackBackward(dim: number): Backward {
  return (g: Tensor, s: Saved) =>
    s.inputs.map((input, i) => {
      if (!s.needs[i]) return null;
      const ranges: [number, number][] = g.shape.slice(0, dim + 1).map((d, k) =>
        k === dim ? [i, i + 1] : [0, d]
      );
      const part = slice(g, ...ranges);
      const out = reshape(part, input.shape);
      part.dispose();
      return out;
    });
}

/** A zero tensor of `shape` holding `g` in the window that starts at `starts`. */
function padSlice(g: Tensor, shape: readonly number[], starts: readonly number[]): Tensor {
  const n = numel(shape);
  if (g.device.kind === "cpu") {
    const src = cpuData(g, "slice backward", "gradient");
    const out = new Float32Array(n);
    const outStrides = contiguousStrides(shape);
    const rank = shape.length;
    for (let i = 0; i < src.length; i++) {
      let rest = i, target = 0;
      for (let d = rank - 1; d >= 0; d--) {
        target += (starts[d] + (rest % g.shape[d])) * outStrides[d];
        rest = Math.floor(rest / g.shape[d]);
      }
      out[target] = src[i];
    }
    return cpuTensor(out, shape);
  }
  if (g.size === 0) {
    return fromHost(new Float32Array(n), shape, g.device, "slice backward", "gradient");
  }
  return launch(g.device, {
    op: "slice backward",
    shader: "slice_backward",
    uniforms: words(n, shape.length, 0, 0, ...dims8(shape), ...dims8(starts), ...dims8(g.shape)),
    inputs: [["gradient", g]],
    outShape: shape,
    workgroups: Math.ceil(n / ELEMENTWISE_WG),
  });
}
