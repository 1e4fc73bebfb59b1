/**
 * Backward rules of the broadcasting elementwise ops and `scale`. A
 * broadcast operand's gradient is summed back to its own shape. The rules
 * call kernels only (never the ops in src/ops/elementwise.ts, which import
 * these rules): backward passes run with recording paused anyway.
 *
 * @module
 */

import type { Backward, Saved } from "../recording.ts";
import { affineKernel, binaryKernel } from "../../ops/elementwise_kernels.ts";
import { sumTo } from "../../ops/reduce.ts";
import { type Tensor, viewOf } from "../../tensor.ts";

/** The backward rule of `add`, `sub`, `mul` or `div`. */
export function binaryBackward(op: "add" | "sub" | "mul" | "div"): Backward {
  return (g: Tensor, s: Saved) => {
    const [a, b] = s.inputs;
    const da = s.needs[0] ? gradA(op, g, s) : null;
    const db = s.needs[1] ? gradB(op, g, s) : null;
    return [da && reduceTo(da, a.shape), db && reduceTo(db, b.shape)];
  };
}

function gradA(op: string, g: Tensor, s: Saved): Tensor {
  const [, b] = s.inputs;
  if (op === "mul") return binaryKernel("mul", g, b);
  if (op === "div") return binaryKernel("div", g, b);
  // A second handle to g: add and sub pass the gradient through unchanged.
  return viewOf(g, g.shape, op);
}

function gradB(op: string, g: Tensor, s: Saved): Tensor {
  const [a, b] = s.inputs;
  if (op === "add") return viewOf(g, g.shape, op);
  if (op === "sub") return affineKernel("sub", g, -1);
  if (op === "mul") return binaryKernel("mul", g, a);
  // d(a / b) / db = -(a / b) * g / b = -(out * g) / b.
  const product = binaryKernel("mul", g, s.output);
  const quotient = binaryKernel("div", product, b);
  product.dispose();
  const out = affineKernel("div", quotient, -1);
  quotient.dispose();
  return out;
}

/** The backward rule of `scale(x, factor)`. */
export function scaleBackward(factor: number): Backward {
  return (g: Tensor) => [affineKernel("scale", g, factor)];
}

/** Sums a gradient over the dimensions its operand was broadcast along. */
function reduceTo(t: Tensor, shape: readonly number[]): Tensor {
  if (t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i])) return t;
  const out = sumTo(t, shape);
  t.dispose();
  return out;
}
