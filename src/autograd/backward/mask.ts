/**
 * Backward rules of the masking ops: a filled or zeroed entry no longer
 * depends on the input, so its gradient is 0; the mask gets none.
 *
 * @module
 */

import type { Backward, Saved } from "../recording.ts";
import { maskedFillCorner, tril, triu } from "../../ops/mask.ts";
import type { Tensor } from "../../tensor.ts";

/** The backward rule of `maskedFill` and the attention's corner variant. */
export function maskedFillBackward(op: string): Backward {
  return (g: Tensor, s: Saved) => [maskedFillCorner(`${op} backward`, g, s.inputs[1], 0), null];
}

/** The backward rule of `triu` / `tril`: the same triangle of the gradient. */
export function triangleBackward(upper: boolean, diagonal: number): Backward {
  return (g: Tensor) => [upper ? triu(g, diagonal) : tril(g, diagonal)];
}
