// The elementwise math ops on cpu: PyTorch fixtures (forward values and
// gradients, special values included), finite-difference gradients, erf, the
// fused bias + GELU, where, and the errors.

import assert from "node:assert/strict";
import {
  add,
  ArgumentError,
  clamp,
  DTypeError,
  exp,
  gelu,
  Generator,
  mul,
  pow,
  ShapeError,
  sum,
  type Tensor,
  tensor,
  uniform,
  valueAndGrad,
  where,
} from "../mod.ts";
import { biasGelu } from "../src/ops/unary.ts";
import { erf } from "../src/ops/unary_kernels.ts";
import { applyOp, assertSameFloats, OPS, UNARY_CASES, WHERE_CASE } from "./unary_cases.ts";

const TORCH = { rtol: 1e-6, atol: 1e-7 };

/** op(x) and d sum(op(x) * g) / dx through valueAndGrad. */
async function forwardAndGrad(
  op: string,
  options: Record<string, unknown>,
  x: Tensor,
  g: Tensor,
): Promise<[ArrayLike<number>, ArrayLike<number>]> {
  const y = applyOp(op, options, x);
  const run = valueAndGrad((p: { x: Tensor }) => sum(mul(applyOp(op, options, p.x), g)));
  const { grads } = run({ x });
  return [await y.data(), await grads.x.data()];
}

Deno.test("unary ops match PyTorch's values and gradients on cpu, special values included", async () => {
  for (const c of UNARY_CASES) {
    const x = tensor(c.x);
    const [y, dx] = await forwardAndGrad(c.op, c.options, x, tensor(c.g));
    assertSameFloats(y, c.y, TORCH, `${c.label} forward`, c.x);
    assertSameFloats(dx, c.dx, TORCH, `${c.label} gradient`, c.x);
  }
});

Deno.test("unary gradients match central finite differences on cpu", async () => {
  const h = 1e-2;
  let seed = 100;
  for (const [op, options] of OPS) {
    const positive = ["log", "sqrt", "rsqrt", "pow"].includes(op);
    // Kinks (relu and abs at 0, clamp's bounds) are kept clear of x +- h.
    const kinks = op === "clamp" ? [options.min, options.max] : [0];
    const raw = uniform([200], positive ? 0.3 : -1.8, 1.8, { generator: new Generator(seed++) });
    const xs = Float32Array.from(
      raw.filter((v) => kinks.every((k) => k === undefined || Math.abs(v - (k as number)) > 3 * h)),
    );
    const g = uniform([xs.length], -1, 1, { generator: new Generator(seed++) });
    const [, dx] = await forwardAndGrad(op, options, tensor(xs), tensor(g));
    const plus = xs.map((v) => v + h);
    const minus = xs.map((v) => v - h);
    const fp = await applyOp(op, options, tensor(plus)).data();
    const fm = await applyOp(op, options, tensor(minus)).data();
    const numeric = xs.map((_, i) => g[i] * (fp[i] - fm[i]) / (plus[i] - minus[i]));
    assertSameFloats(
      dx,
      numeric,
      { rtol: 3e-3, atol: 3e-4 },
      `${op} ${JSON.stringify(options)}`,
      xs,
    );
  }
});

Deno.test("erf is accurate to double precision", () => {
  // Python's math.erf.
  const expected: [number, number][] = [
    [0.5, 0.5204998778130465],
    [1, 0.8427007929497149],
    [2, 0.9953222650189527],
    [2.99, 0.9999750486655553],
    [3, 0.9999779095030014],
    [3.5, 0.9999992569016276],
    [5, 0.9999999999984626],
    [-0.1, -0.1124629160182849],
    [1e-10, 1.1283791670955126e-10],
  ];
  for (const [x, e] of expected) {
    assert.ok(Math.abs(erf(x) - e) <= 2e-16 * Math.max(1, Math.abs(e) / 1e-10), `erf(${x})`);
  }
  assert.ok(Object.is(erf(-0), -0));
  assert.ok(Number.isNaN(erf(NaN)));
  assert.equal(erf(Infinity), 1);
  assert.equal(erf(-Infinity), -1);
});

Deno.test("where matches PyTorch with a float condition and three-way broadcasting", async () => {
  const w = WHERE_CASE;
  const condition = tensor(w.condition, w.conditionShape);
  const b = tensor(w.b, w.bShape);
  const out = where(condition, tensor(w.a, w.aShape), b);
  assert.deepEqual(out.shape, w.outShape);
  assertSameFloats(await out.data(), w.out, TORCH, "where forward");
  const run = valueAndGrad((p: { a: Tensor; b: Tensor }) =>
    sum(mul(where(condition, p.a, p.b), tensor(w.g, w.outShape)))
  );
  const { grads } = run({ a: tensor(w.a, w.aShape), b });
  assert.deepEqual(grads.a.shape, w.aShape);
  assert.deepEqual(grads.b.shape, w.bShape);
  assertSameFloats(await grads.a.data(), w.da, TORCH, "where da");
  assertSameFloats(await grads.b.data(), w.db, TORCH, "where db");
});

Deno.test("where takes an int32 condition, broadcasts a scalar, and keeps NaN values", async () => {
  const c = tensor(new Int32Array([0, 7, -1, 0]), [2, 2]);
  const out = where(c, tensor([[NaN, 2], [3, 4]]), tensor(-1));
  assert.deepEqual(await out.toArray(), [[-1, 2], [3, -1]]);
  const kept = where(c, tensor([NaN]), tensor([0]));
  const data = await kept.data();
  assert.ok(Number.isNaN(data[1]) && Number.isNaN(data[2]) && data[0] === 0);
});

Deno.test("biasGelu equals gelu(add(x, bias)) and has gradients under valueAndGrad", async () => {
  const x = uniform([5, 7], -4, 4, { generator: new Generator(3) });
  const bias = uniform([7], -1, 1, { generator: new Generator(4) });
  for (const approximate of ["none", "tanh"] as const) {
    const fused = await biasGelu(tensor(x, [5, 7]), tensor(bias), approximate).data();
    const composed = await gelu(add(tensor(x, [5, 7]), tensor(bias)), { approximate }).data();
    assert.deepEqual(fused, composed);
    const run = valueAndGrad((p: { b: Tensor }) =>
      sum(biasGelu(tensor(x, [5, 7]), p.b, approximate))
    );
    const { grads } = run({ b: tensor(bias) });
    const ref = valueAndGrad((p: { b: Tensor }) =>
      sum(gelu(add(tensor(x, [5, 7]), p.b), { approximate }))
    )({ b: tensor(bias) });
    assert.deepEqual(await grads.b.data(), await ref.grads.b.data());
  }
  assert.throws(() => biasGelu(tensor([[1, 2]]), tensor([1, 2, 3])), ShapeError);
  assert.throws(() => biasGelu(tensor([[1, 2]]), tensor([1, 2]), "fast" as "tanh"), ArgumentError);
});

Deno.test("unary ops reject int32 inputs, non-tensors and bad options with clear errors", () => {
  const ids = tensor([1, 2], undefined, { dtype: "int32" });
  assert.throws(
    () => exp(ids),
    (e: unknown) =>
      e instanceof DTypeError &&
      e.message === "exp: x has dtype int32, but exp takes float32 or float16 " +
          "(shape [2] on cpu)",
  );
  for (const [op, options] of OPS) {
    assert.throws(() => applyOp(op, options, ids), DTypeError, op);
  }
  assert.throws(
    () => exp([1, 2] as unknown as Tensor),
    (e: unknown) => e instanceof ArgumentError && /exp: x must be a Tensor/.test(e.message),
  );
  assert.throws(
    () => clamp(tensor([1]), {}),
    (e: unknown) => e instanceof ArgumentError && /at least one of min or max/.test(e.message),
  );
  assert.throws(() => clamp(tensor([1]), { min: NaN }), ArgumentError);
  assert.throws(() => pow(tensor([1]), Infinity), /exponent must be a finite number/);
  assert.throws(() => pow(tensor([1]), "2" as unknown as number), ArgumentError);
  assert.throws(
    () => gelu(tensor([1]), { approximate: "fast" as "tanh" }),
    /gelu: approximate must be "none" or "tanh", but got "fast"/,
  );
  assert.throws(
    () => where(tensor([1, 0]), ids, tensor([1, 2])),
    (e: unknown) => e instanceof DTypeError && /where: a has dtype int32/.test(e.message),
  );
  assert.throws(
    () => where(tensor([1, 0, 1]), tensor([1, 2]), tensor([1])),
    (e: unknown) =>
      e instanceof ShapeError &&
      e.message === "where: condition [3], a [2], b [1] cannot be broadcast together (dimension 0)",
  );
});

Deno.test("clamp with min above max gives max, as torch.clamp does", async () => {
  assert.deepEqual(await clamp(tensor([-1, 0.5, 2]), { min: 1, max: 0 }).toArray(), [0, 0, 0]);
});
