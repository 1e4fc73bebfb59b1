/**
 * Backward rule of dropout: the counter-based mask is a pure function of
 * (seed, offset, index), so the backward pass redraws exactly the forward
 * mask instead of storing it, and scales kept entries by the same factor.
 *
 * @module
 */

import type { Backward } from "../recording.ts";
import { dropout } from "../../ops/dropout.ts";
import type { Tensor } from "../../tensor.ts";

/** The backward rule of `dropout(x, p, { seed, offset })` with the seed it resolved. */
export function dropoutBackward(p: number, seed: number | bigint, offset: number): Backward {
  return (g: Tensor) => [dropout(g, p, { seed, offset })];
}
