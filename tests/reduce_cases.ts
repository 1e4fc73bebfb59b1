// Shared by tests/reduce_ops_test.ts (cpu) and tests/gpu/reduce_dims_test.ts
// (webgpu): the PyTorch cases of tests/fixtures/reduce.json (written by
// scripts/gen_reduce_fixtures.py), run on either device.

import assert from "node:assert/strict";
import {
  assertClose,
  crossEntropy,
  type Device,
  dispose,
  grad,
  logSoftmax,
  matmul,
  mean,
  mul,
  softmax,
  sum,
  type Tensor,
  tensor,
  toDevice,
  variance,
} from "../mod.ts";
import fixtures from "./fixtures/reduce.json" with { type: "json" };

/** One encoded tensor: special floats are the strings "nan", "inf", "-inf". */
export interface Encoded {
  shape: number[];
  data: (number | string)[];
}

/** One PyTorch case. */
export interface ReduceCase {
  name: string;
  op: string;
  kwargs: Record<string, unknown>;
  inputs: Encoded[];
  weights: Encoded;
  output: Encoded;
  grads: Encoded[];
}

/** Every case of the fixture file. */
export const CASES: ReduceCase[] = fixtures.cases as ReduceCase[];

/** The float values of an encoded tensor. */
export function values(e: Encoded): Float32Array {
  return new Float32Array(
    e.data.map((v) => v === "nan" ? NaN : v === "inf" ? Infinity : v === "-inf" ? -Infinity : +v),
  );
}

/** A cpu tensor from an encoded one. */
export function decode(e: Encoded): Tensor {
  return tensor(values(e), e.shape);
}

/** Runs the case's op on `inputs`. */
export function runOp(c: ReduceCase, inputs: Tensor[]): Tensor {
  const k = c.kwargs as {
    dims?: number | number[];
    dim?: number;
    keepDim?: boolean;
    correction?: number;
    scale?: number;
  };
  switch (c.op) {
    case "variance":
      return variance(inputs[0], k.dims, { keepDim: k.keepDim, correction: k.correction });
    case "sum":
      return sum(inputs[0], k.dims, { keepDim: k.keepDim });
    case "mean":
      return mean(inputs[0], k.dims, { keepDim: k.keepDim });
    case "softmax":
      return softmax(inputs[0], { dim: k.dim, scale: k.scale });
    case "logSoftmax":
      return logSoftmax(inputs[0], { dim: k.dim, scale: k.scale });
    case "crossEntropy":
      return crossEntropy(inputs[0], inputs[1]);
    case "matmul":
      return matmul(inputs[0], inputs[1]);
  }
  throw new Error(`unknown op ${c.op}`);
}

/**
 * Asserts `actual` equals `expected` within tolerance, with NaN matching NaN
 * and infinities matching exactly.
 */
export function assertSpecialClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  what: string,
  tol = { rtol: 1e-5, atol: 1e-6 },
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e) || !Number.isFinite(e)) {
      assert.ok(
        Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e)),
        `${what}[${i}]: ${a} vs ${e}`,
      );
    } else {
      assert.ok(
        Math.abs(a - e) <= tol.atol + tol.rtol * Math.abs(e),
        `${what}[${i}]: ${a} vs ${e}`,
      );
    }
  }
}

/** The values of `t` as nested arrays, disposing it. */
export async function take(t: Tensor): Promise<unknown> {
  const v = await t.toArray();
  t.dispose();
  return v;
}

/**
 * `assertClose` that then disposes both sides (tensors or arrays of them), so
 * GPU tests free their buffers now rather than when the garbage collector's
 * backstop runs in the middle of another test that counts buffers.
 */
export async function closeAndFree(
  actual: Tensor | Tensor[],
  expected: Tensor | Tensor[],
  tol: { rtol?: number; atol?: number },
): Promise<void> {
  try {
    const a = Array.isArray(actual) ? actual : [actual];
    const e = Array.isArray(expected) ? expected : [expected];
    assert.equal(a.length, e.length);
    for (let i = 0; i < a.length; i++) await assertClose(a[i], e[i], tol);
  } finally {
    dispose([actual, expected]);
  }
}

/** Checks a case's output and (where PyTorch gave them) gradients on `device`. */
export async function checkCase(c: ReduceCase, device: Device): Promise<void> {
  const inputs = await Promise.all(c.inputs.map((e, i) => {
    // crossEntropy's targets are class indices.
    const t = c.op === "crossEntropy" && i === 1
      ? tensor(new Int32Array(values(e)), e.shape)
      : decode(e);
    return toDevice(t, device);
  }));
  const out = runOp(c, inputs);
  try {
    assert.deepEqual(out.shape, c.output.shape, `${c.name}: shape`);
    assertSpecialClose(await out.data(), values(c.output), `${c.name} output`);
  } finally {
    out.dispose();
  }
  if (c.grads.length === 0) {
    dispose(inputs);
    return;
  }
  const weights = await toDevice(decode(c.weights), device);
  const differentiable = c.op === "crossEntropy" ? 1 : inputs.length;
  const f = (p: Tensor[]) => {
    const y = runOp(c, [...p, ...inputs.slice(differentiable)]);
    return c.op === "crossEntropy" ? y : sum(mul(y, weights));
  };
  const grads = grad(f)(inputs.slice(0, differentiable));
  try {
    for (let i = 0; i < c.grads.length; i++) {
      assert.deepEqual(grads[i].shape, c.grads[i].shape, `${c.name} grad ${i}: shape`);
      assertSpecialClose(await grads[i].data(), values(c.grads[i]), `${c.name} grad ${i}`, {
        rtol: 1e-4,
        atol: 1e-5,
      });
    }
  } finally {
    dispose([grads, inputs, weights]);
  }
}
