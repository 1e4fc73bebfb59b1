/**
 * Strided gathers: the single mechanism behind transpose, slice and stack on
 * both devices. A gather reads `x[offset + sum(index_k * strides_k)]` for
 * every index of `outShape` into a new contiguous tensor.
 *
 * @module
 */

import { dims8, ELEMENTWISE_WG, launch, words } from "../gpu/launch.ts";
import { cpuRaw, cpuTensor, numel, type Tensor } from "../tensor.ts";

/** Gathers a strided view of `x` into a contiguous tensor on x's device. */
export function gather(
  op: string,
  x: Tensor,
  outShape: readonly number[],
  strides: readonly number[],
  offset: number,
): Tensor {
  const n = numel(outShape);
  if (x.device.kind === "cpu") {
    const src = cpuRaw(x, op, "input");
    const out = new (src instanceof Int32Array ? Int32Array : Float32Array)(n);
    const rank = outShape.length;
    const index = new Array<number>(rank).fill(0);
    let source = offset;
    for (let i = 0; i < n; i++) {
      out[i] = src[source];
      // Odometer increment, keeping `source` in step with `index`.
      for (let d = rank - 1; d >= 0; d--) {
        index[d]++;
        source += strides[d];
        if (index[d] < outShape[d]) break;
        source -= strides[d] * outShape[d];
        index[d] = 0;
      }
    }
    return cpuTensor(out, outShape);
  }
  return launch(x.device, {
    op,
    shader: "strided_copy",
    uniforms: words(n, outShape.length, offset, 0, ...dims8(outShape), ...dims8(strides)),
    inputs: [["input", x]],
    dtypes: [x.dtype],
    outShape,
    workgroups: Math.ceil(n / ELEMENTWISE_WG),
  });
}
