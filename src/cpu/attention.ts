/**
 * The attention weights, `softmax(scale * scores)` with masked positions at
 * `-Infinity`, in one pass on the `cpu` device's WebAssembly kernels: the
 * masked positions are filled in a copy of the scores (native fills for a
 * causal mask), then every row's softmax runs in SIMD. The reference's two
 * ops (masked fill, softmax) compute the same quantities; the policy of
 * src/cpu/backend.ts applies.
 *
 * @module
 */

import { cpuData, cpuRaw, cpuTensor, type Tensor } from "../tensor.ts";
import { chosenCpuBackend } from "./backend.ts";
import { wasmSoftmaxRows } from "./rows.ts";

/**
 * Masks found causal over a `[rows, cols]` corner (tensors never change
 * their values, so one check per mask and size serves every later call).
 */
const causalCorners = new WeakMap<Tensor, { rows: number; cols: number }>();

/**
 * `softmax(scale * maskedFillCorner(scores, mask, -Infinity))` for float32
 * scores `[..., R, T]` on the cpu device, `mask` `null` meaning causal; or
 * null when the reference must run (backend "reference", another dtype, a
 * mask that is not 2-D float32 or int32, kernels unavailable).
 *
 * @example
 * ```ts
 * import { tensor } from "../creation.ts";
 * import { wasmMaskedSoftmax } from "./attention.ts";
 * const w = wasmMaskedSoftmax(tensor([[1, 5], [2, 2]]), null, 1);
 * console.log(await w?.toArray()); // [[1, 0], [0.5, 0.5]]
 * ```
 */
export function wasmMaskedSoftmax(
  scores: Tensor,
  mask: Tensor | null,
  scale: number,
): Tensor | null {
  if (chosenCpuBackend() !== "wasm" || scores.dtype !== "float32" || scores.shape.length < 2) {
    return null;
  }
  const R = scores.shape.at(-2)!;
  const T = scores.shape.at(-1)!;
  // Anything but a 2-D float32/int32 mask covering [R, T] goes to the reference (and its errors).
  if (
    mask !== null &&
    (mask.shape.length !== 2 || mask.dtype === "float16" || mask.shape[0] < R ||
      mask.shape[1] < T || mask.device !== scores.device)
  ) {
    return null;
  }
  const rows = scores.size / Math.max(T, 1);
  const work = cpuData(scores, "maskedSoftmax", "scores").slice();
  if (mask === null || isCausal(mask, R, T)) {
    // Row i of each matrix attends to columns 0..i: the rest weigh exactly 0.
    for (let r = 0; r < rows; r++) work.fill(-Infinity, r * T + (r % R) + 1, (r + 1) * T);
  } else {
    const m = cpuRaw(mask, "maskedSoftmax", "mask");
    const stride = mask.shape[1];
    for (let r = 0; r < rows; r++) {
      const row = (r % R) * stride;
      for (let j = 0; j < T; j++) {
        // `!== 0`: NaN masks, -0 does not, as the reference's masked fill reads it.
        if (m[row + j] !== 0) work[r * T + j] = -Infinity;
      }
    }
  }
  const out = new Float32Array(work.length);
  if (!wasmSoftmaxRows(work, out, rows, T, scale, false)) return null;
  return cpuTensor(out, scores.shape);
}

/** Whether `mask`'s `[R, T]` corner is the causal pattern (nonzero exactly where j > i). */
function isCausal(mask: Tensor, R: number, T: number): boolean {
  const known = causalCorners.get(mask);
  if (known !== undefined && known.rows >= R && known.cols >= T) return true;
  const m = cpuRaw(mask, "maskedSoftmax", "mask");
  const stride = mask.shape[1];
  for (let i = 0; i < R; i++) {
    for (let j = 0; j < T; j++) {
      if ((m[i * stride + j] !== 0) !== (j > i)) return false;
    }
  }
  if (known === undefined || (R >= known.rows && T >= known.cols)) {
    causalCorners.set(mask, { rows: R, cols: T });
  }
  return true;
}
