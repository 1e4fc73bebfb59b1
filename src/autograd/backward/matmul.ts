/**
 * Backward rule of `matmul`: out = alpha * op(a) @ op(b), with op a transpose
 * where asked. Each gradient is one more matmul reading its operands in
 * place (transposed flags, no copies); an operand shared across the batch
 * (a weight) gets the sum over the batch.
 *
 * @module
 */

import type { Backward, Saved } from "../recording.ts";
import { matmul, type MatmulOptions } from "../../ops/matmul.ts";
import { reshape } from "../../ops/layout.ts";
import { sumTo } from "../../ops/reduce.ts";
import type { Tensor } from "../../tensor.ts";

/** The backward rule for `matmul(a, b, options)`. */
export function matmulBackward(options: MatmulOptions): Backward {
  const { transposeA: tA = false, transposeB: tB = false, alpha = 1 } = options;
  return (g: Tensor, s: Saved) => {
    const [a, b] = s.inputs;
    let da: Tensor | null = null;
    let db: Tensor | null = null;
    if (s.needs[0]) {
      // d op(a) = alpha * g @ op(b)^T, and da is its transpose when a is read transposed.
      da = tA
        ? matmul(b, g, { transposeA: tB, transposeB: true, alpha })
        : matmul(g, b, { transposeB: !tB, alpha });
      da = sumBatch(da, a.shape);
    }
    if (s.needs[1]) {
      // d op(b) = alpha * op(a)^T @ g, transposed back when b is read transposed.
      db = sharedWeightGrad(a, g, tA, tB, alpha, b) ??
        sumBatch(
          tB
            ? matmul(g, a, { transposeA: true, transposeB: tA, alpha })
            : matmul(a, g, { transposeA: !tA, alpha }),
          b.shape,
        );
    }
    return [da, db];
  };
}

/**
 * When b has no batch dimensions but a does (a weight applied to a batch),
 * and a is not read transposed, the batch folds into a's rows: one
 * unbatched matmul sums over the batch for free.
 */
function sharedWeightGrad(
  a: Tensor,
  g: Tensor,
  tA: boolean,
  tB: boolean,
  alpha: number,
  b: Tensor,
): Tensor | null {
  if (tA || b.shape.length !== 2 || a.shape.length === 2) return null;
  const rows = a.size / a.shape.at(-1)!;
  const flatA = reshape(a, [rows, a.shape.at(-1)!]);
  const flatG = reshape(g, [rows, g.shape.at(-1)!]);
  const out = tB
    ? matmul(flatG, flatA, { transposeA: true, alpha })
    : matmul(flatA, flatG, { transposeA: true, alpha });
  flatA.dispose();
  flatG.dispose();
  return out;
}

/** Sums a batched gradient over the batch dimensions its operand lacks. */
function sumBatch(t: Tensor, shape: readonly number[]): Tensor {
  if (t.shape.length === shape.length) return t;
  const out = sumTo(t, shape);
  t.dispose();
  return out;
}
