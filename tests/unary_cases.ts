// Shared by tests/unary_test.ts (cpu) and tests/gpu/unary_test.ts: the
// PyTorch fixtures decoded, each op called by its fixture name, and a
// comparison in which NaN must meet NaN and an infinity the same infinity.

import { AssertCloseError } from "../mod.ts";
import {
  abs,
  clamp,
  exp,
  gelu,
  log,
  neg,
  pow,
  relu,
  rsqrt,
  sigmoid,
  sqrt,
  tanh,
  type Tensor,
} from "../mod.ts";
import fixtures from "./fixtures/unary.json" with { type: "json" };

type Encoded = (number | string)[];

/** Decodes a fixture array ("nan", "inf", "-inf" as strings) to float32. */
export function decode(values: Encoded): Float32Array {
  return Float32Array.from(
    values,
    (v) => typeof v === "number" ? v : v === "nan" ? NaN : v === "inf" ? Infinity : -Infinity,
  );
}

/** One PyTorch case: op name and options, x, y = op(x), upstream g, dx. */
export interface UnaryCase {
  op: string;
  options: Record<string, unknown>;
  label: string;
  x: Float32Array;
  y: Float32Array;
  g: Float32Array;
  dx: Float32Array;
}

/** Every unary fixture case. */
export const UNARY_CASES: UnaryCase[] = fixtures.cases.map((c) => ({
  op: c.op,
  options: c.options as Record<string, unknown>,
  label: `${c.op}(${JSON.stringify(c.options)})`,
  x: decode(c.x),
  y: decode(c.y),
  g: decode(c.g),
  dx: decode(c.dx),
}));

/** The where fixture: condition, a, b with their shapes, out, g, da, db. */
export const WHERE_CASE = {
  condition: decode(fixtures.where.condition),
  conditionShape: fixtures.where.conditionShape,
  a: decode(fixtures.where.a),
  aShape: fixtures.where.aShape,
  b: decode(fixtures.where.b),
  bShape: fixtures.where.bShape,
  out: decode(fixtures.where.out),
  outShape: fixtures.where.outShape,
  g: decode(fixtures.where.g),
  da: decode(fixtures.where.da),
  db: decode(fixtures.where.db),
};

/** Calls the Tessera op named by a fixture case. */
export function applyOp(op: string, options: Record<string, unknown>, x: Tensor): Tensor {
  switch (op) {
    case "exp":
      return exp(x);
    case "log":
      return log(x);
    case "sqrt":
      return sqrt(x);
    case "rsqrt":
      return rsqrt(x);
    case "tanh":
      return tanh(x);
    case "sigmoid":
      return sigmoid(x);
    case "relu":
      return relu(x);
    case "gelu":
      return gelu(x, options as { approximate?: "none" | "tanh" });
    case "neg":
      return neg(x);
    case "abs":
      return abs(x);
    case "pow":
      return pow(x, options.exponent as number);
    case "clamp":
      return clamp(x, options as { min?: number; max?: number });
  }
  throw new Error(`unknown op ${op}`);
}

/** Every op with the options the random-data tests run it with. */
export const OPS: [string, Record<string, unknown>][] = [
  ["exp", {}],
  ["log", {}],
  ["sqrt", {}],
  ["rsqrt", {}],
  ["tanh", {}],
  ["sigmoid", {}],
  ["relu", {}],
  ["gelu", {}],
  ["gelu", { approximate: "tanh" }],
  ["neg", {}],
  ["abs", {}],
  ["pow", { exponent: 2 }],
  ["pow", { exponent: 3 }],
  ["pow", { exponent: 0.5 }],
  ["pow", { exponent: -1 }],
  ["pow", { exponent: 2.5 }],
  ["pow", { exponent: -1.5 }],
  ["pow", { exponent: 0 }],
  ["clamp", { min: -0.5, max: 0.7 }],
  ["clamp", { min: 0.25 }],
];

/**
 * Asserts `|actual - expected| <= atol + rtol |expected|` elementwise, where
 * a NaN must meet a NaN and an infinity the same infinity (signed zeros are
 * equal). The message lists the first mismatches with their inputs.
 */
export function assertSameFloats(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tolerance: { rtol: number; atol: number },
  label: string,
  inputs?: ArrayLike<number>,
): void {
  if (actual.length !== expected.length) {
    throw new AssertCloseError(`${label}: ${actual.length} values, expected ${expected.length}`);
  }
  const bad: string[] = [];
  let count = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], e = expected[i];
    const ok = Number.isNaN(e)
      ? Number.isNaN(a)
      : !Number.isFinite(e)
      ? a === e
      : Number.isFinite(a) && Math.abs(a - e) <= tolerance.atol + tolerance.rtol * Math.abs(e);
    if (!ok) {
      count++;
      if (bad.length < 5) {
        bad.push(`[${i}]${inputs ? ` x=${inputs[i]}` : ""}: got ${a}, expected ${e}`);
      }
    }
  }
  if (count > 0) {
    throw new AssertCloseError(
      `${label}: ${count} of ${expected.length} values differ beyond rtol=${tolerance.rtol}, ` +
        `atol=${tolerance.atol}: ${bad.join("; ")}`,
    );
  }
}
