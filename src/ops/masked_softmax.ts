/**
 * The attention layers' weights step, `softmax(scale * scores)` with the
 * masked positions at `-Infinity`, as one kernel-table op: on a tape it is
 * the two recorded ops (masked fill, softmax); without one, a backend may
 * do it in one pass (the `cpu` device's WebAssembly entry does,
 * src/cpu/register.ts).
 *
 * @module
 */

import { isRecording } from "../autograd/recording.ts";
import { fromHost, type Tensor } from "../tensor.ts";
import { type KernelTable, kernelTable } from "./kernel_table.ts";
import { maskedFillCorner } from "./mask.ts";
import { softmax } from "./softmax.ts";

/**
 * A masked softmax implementation: `scores` `[..., R, T]`, the top-left
 * `[R, T]` corner of `mask` (nonzero or NaN: masked) or, for `null`, the
 * causal mask (column j masked in row i when j > i).
 */
export type MaskedSoftmaxImpl = (
  op: string,
  scores: Tensor,
  mask: Tensor | null,
  scale: number,
) => Tensor;

/**
 * `softmax(scale * maskedFillCorner(scores, mask, -Infinity))` over the last
 * dimension, with `mask` `null` for the causal mask: the attention weights.
 * `op` names the calling layer in errors. Masked positions weigh exactly 0,
 * as in PyTorch.
 *
 * @example
 * ```ts
 * import { tensor } from "../creation.ts";
 * import { maskedSoftmax } from "./masked_softmax.ts";
 * const w = maskedSoftmax("example", tensor([[1, 5], [2, 2]]), null, 1);
 * console.log(await w.toArray()); // [[1, 0], [0.5, 0.5]]
 * ```
 */
export function maskedSoftmax(
  op: string,
  scores: Tensor,
  mask: Tensor | null,
  scale: number,
): Tensor {
  // A tape needs both steps as recorded ops.
  if (isRecording()) return stagedMaskedSoftmax(op, scores, mask, scale);
  return maskedSoftmaxKernels.for(scores)(op, scores, mask, scale);
}

/** The two ops, masked fill then softmax: the reference and the recorded path. */
function stagedMaskedSoftmax(
  op: string,
  scores: Tensor,
  mask: Tensor | null,
  scale: number,
): Tensor {
  const rows = scores.shape.at(-2) ?? 1;
  const cols = scores.shape.at(-1) ?? 1;
  const causal = mask ?? fromHost(causalMaskValues(rows, cols), [rows, cols], scores.device);
  const masked = maskedFillCorner(op, scores, causal, -Infinity, ["scores", "mask"]);
  if (causal !== mask) causal.dispose();
  const weights = softmax(masked, { scale });
  masked.dispose();
  return weights;
}

/**
 * `triu(ones([rows, cols]), 1)` as values: 1 above the diagonal, the causal
 * mask.
 *
 * @example
 * ```ts
 * import { causalMaskValues } from "./masked_softmax.ts";
 * console.log(causalMaskValues(2, 2)); // Float32Array(4) [ 0, 1, 0, 0 ]
 * ```
 */
export function causalMaskValues(rows: number, cols: number): Float32Array {
  const mask = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) mask.fill(1, i * cols + i + 1, (i + 1) * cols);
  return mask;
}

/** The masked softmax per backend (src/ops/kernel_table.ts). */
export const maskedSoftmaxKernels: KernelTable<MaskedSoftmaxImpl> = kernelTable<
  MaskedSoftmaxImpl
>("maskedSoftmax", { reference: stagedMaskedSoftmax, webgpu: stagedMaskedSoftmax });
