/**
 * Backward rules of the layout ops. They use kernels only (strided gathers,
 * the slice-padding kernel, shared-storage views) and import no op file, so
 * `ops/layout.ts` can import them without a cycle.
 *
 * @module
 */

import { dims8, ELEMENTWISE_WG, launch, words } from "../../gpu/launch.ts";
import type { Backward, Saved } from "../recording.ts";
import { contiguousStrides } from "../../ops/checks.ts";
import { gather } from "../../ops/gather.ts";
import { cpuData, cpuTensor, fromHost, numel, type Tensor, viewOf } from "../../tensor.ts";
import { gpuOf, type KernelTable, kernelTable } from "../../ops/kernel_table.ts";

/**
 * The backward rule of every zero-copy reshape (`reshape`, `unsqueeze`,
 * `squeeze`): the gradient read under the input's shape, sharing storage.
 *
 * @example
 * ```ts
 * import { reshapeBackward } from "./layout.ts";
 * console.log(typeof reshapeBackward); // "function"
 * ```
 */
export const reshapeBackward: Backward = (g: Tensor, s: Saved) => [
  viewOf(g, s.inputs[0].shape, "reshape backward"),
];

/**
 * The backward rule of `permute(x, dims)`: the inverse permutation, as a
 * strided gather of the gradient.
 *
 * @example
 * ```ts
 * import { permuteBackward } from "./layout.ts";
 * const rule = permuteBackward([1, 2, 0]);
 * console.log(typeof rule); // "function"
 * ```
 */
export function permuteBackward(dims: readonly number[]): Backward {
  return (g: Tensor, s: Saved) => {
    const shape = s.inputs[0].shape;
    // Input dimension dims[k] is gradient dimension k.
    const gStrides = contiguousStrides(g.shape);
    const strides = shape.map((_, d) => gStrides[dims.indexOf(d)]);
    return [gather("permute backward", g, shape, strides, 0)];
  };
}

/**
 * The backward rule of `cat(tensors, dim)` (and of `stack`, whose parts are
 * read as having size 1 along `dim`): part i of the gradient, gathered from
 * its block along `dim`.
 *
 * @example
 * ```ts
 * import { catBackward } from "./layout.ts";
 * console.log(typeof catBackward(0, [2, 3])); // "function"
 * ```
 */
export function catBackward(dim: number, sizes: readonly number[]): Backward {
  return (g: Tensor, s: Saved) => {
    const gStrides = contiguousStrides(g.shape);
    let start = 0;
    return s.inputs.map((input, i) => {
      const offset = start * gStrides[dim];
      start += sizes[i];
      if (!s.needs[i]) return null;
      // The part read in g's rank (size sizes[i] along dim), then viewed as the input.
      const shape = [...g.shape];
      shape[dim] = sizes[i];
      const part = gather("cat backward", g, shape, gStrides, input.size === 0 ? 0 : offset);
      if (part.shape.length === input.shape.length) return part;
      const out = viewOf(part, input.shape, "cat backward");
      part.dispose();
      return out;
    });
  };
}

/**
 * The backward rule of a slice starting at `starts` (one entry per dimension).
 *
 * @example
 * ```ts
 * import { sliceBackward } from "./layout.ts";
 * console.log(typeof sliceBackward([1, 0])); // "function"
 * ```
 */
export function sliceBackward(starts: readonly number[]): Backward {
  return (g: Tensor, s: Saved) => [padSlice(g, s.inputs[0].shape, starts)];
}

/** A zero tensor of `shape` holding `g` in the window that starts at `starts`. */
function padSlice(g: Tensor, shape: readonly number[], starts: readonly number[]): Tensor {
  const n = numel(shape);
  return padSliceKernels.for(g)(g, shape, starts, n);
}

/** A slice gradient implementation: zeros of `shape` (n elements) with g at `starts`. */
export type PadSliceImpl = (
  g: Tensor,
  shape: readonly number[],
  starts: readonly number[],
  n: number,
) => Tensor;

function referencePadSlice(
  g: Tensor,
  shape: readonly number[],
  starts: readonly number[],
  n: number,
): Tensor {
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

function webgpuPadSlice(
  g: Tensor,
  shape: readonly number[],
  starts: readonly number[],
  n: number,
): Tensor {
  const device = gpuOf(g);
  if (g.size === 0) {
    return fromHost(new Float32Array(n), shape, device, "slice backward", "gradient");
  }
  return launch(device, {
    op: "slice backward",
    shader: "slice_backward",
    includes: ["elementwise_header", "broadcast_index", "elementwise_main"],
    uniforms: words(n, shape.length, 0, 0, ...dims8(shape), ...dims8(starts), ...dims8(g.shape)),
    inputs: [["gradient", g]],
    outShape: shape,
    workgroups: Math.ceil(n / ELEMENTWISE_WG),
  });
}

/** The slice gradient's padding, per backend (src/ops/kernel_table.ts). */
export const padSliceKernels: KernelTable<PadSliceImpl> = kernelTable<PadSliceImpl>(
  "slice backward",
  {
    reference: referencePadSlice,
    webgpu: webgpuPadSlice,
  },
);
