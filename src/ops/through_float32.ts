/**
 * Float16 support for ops whose kernels are float32 only: widen the float16
 * inputs, run the float32 op, round the result once. The math is float32 and
 * the result differs from a native float16 kernel with float32 math by at
 * most that one rounding. Gradients flow through the recorded casts.
 *
 * @module
 */

import type { DType, Tensor } from "../tensor.ts";
import { cast } from "./cast.ts";

/**
 * Runs `run` on `inputs` with every float16 one cast to float32 (others as
 * given), then casts the result to `outDType` (default float16; "float32"
 * keeps it). Frees its intermediates; backward handles stay valid for the tape.
 *
 * @example
 * ```ts
 * import { throughFloat32 } from "./through_float32.ts";
 * import { cast, exp, tensor } from "../../mod.ts";
 * const x = cast(tensor([0.5, 1]), "float16");
 * const y = throughFloat32([x], ([w]) => exp(w));
 * console.log(y.dtype); // "float16"
 * ```
 */
export function throughFloat32(
  inputs: readonly Tensor[],
  run: (wide: Tensor[]) => Tensor,
  outDType: DType = "float16",
): Tensor {
  const wide = inputs.map((t) => t.dtype === "float16" ? cast(t, "float32") : t);
  try {
    const out = run(wide);
    if (out.dtype === outDType) return out;
    const narrow = cast(out, outDType);
    out.dispose();
    return narrow;
  } finally {
    wide.forEach((w, i) => {
      if (w !== inputs[i]) w.dispose();
    });
  }
}
