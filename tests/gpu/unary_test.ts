// The elementwise math kernels (unary, unary_backward, bias_gelu, where) on
// webgpu: against the cpu reference on random awkward sizes, against PyTorch
// on special values (NaN, infinities, signed zeros, overflow), a launch big
// enough to fold the grid into 2-D, and errors raised before any GPU work.

import assert from "node:assert/strict";
import {
  DeviceMismatchError,
  DTypeError,
  gpuStats,
  mul,
  relu,
  sum,
  type Tensor,
  tensor,
  toDevice,
  valueAndGrad,
  where,
} from "../../mod.ts";
import { biasGelu } from "../../src/ops/unary.ts";
import { gpu, randomData } from "../helpers.ts";
import { applyOp, assertSameFloats, OPS, UNARY_CASES, WHERE_CASE } from "../unary_cases.ts";

/**
 * GPU vs cpu reference, relative (plus a tiny absolute floor for values
 * near 0 and flushed subnormals), per op; measured maxima on llvmpipe are in
 * the comments. Ops built from IEEE-exact arithmetic agree exactly.
 */
function tolerance(op: string, options: Record<string, unknown>): { rtol: number; atol: number } {
  if (["relu", "neg", "abs", "clamp"].includes(op)) return { rtol: 0, atol: 0 };
  if (op === "pow" && [0, 1, 2, 3].includes(options.exponent as number)) {
    return { rtol: 0, atol: 0 };
  }
  // gelu: within 1 ulp of max(|x|, 1) (data in [-6, 6]): absolute where 1 + erf cancels.
  if (op === "gelu") return { rtol: 3e-7, atol: 6e-7 };
  // Measured: exp, log, tanh 1 ulp; sigmoid 2; pow 4 (6e-7 is 5 ulp).
  return { rtol: 6e-7, atol: 1e-30 };
}

/**
 * Gradients double the forward tolerance; tanh, sigmoid and gelu get an
 * absolute floor too, because PyTorch's formulas cancel (1 - y^2 with y near
 * 1 turns one ulp of y into 1e-7 absolute).
 */
function gradTolerance(op: string, tol: { rtol: number; atol: number }) {
  const cancels = ["tanh", "sigmoid", "gelu"].includes(op);
  return { rtol: tol.rtol * 2, atol: cancels ? 1e-6 : tol.atol * 2 };
}

async function onGpu(t: Tensor): Promise<Tensor> {
  return await toDevice(t, await gpu());
}

/** op(x) and d sum(op(x) * g) / dx. */
async function forwardAndGrad(
  op: string,
  options: Record<string, unknown>,
  x: Tensor,
  g: Tensor,
): Promise<[ArrayLike<number>, ArrayLike<number>]> {
  const y = applyOp(op, options, x);
  const run = valueAndGrad((p: { x: Tensor }) => sum(mul(applyOp(op, options, p.x), g)));
  const { value, grads } = run({ x });
  const out: [ArrayLike<number>, ArrayLike<number>] = [await y.data(), await grads.x.data()];
  y.dispose();
  value.dispose();
  grads.x.dispose();
  return out;
}

Deno.test("unary kernels match the cpu reference on random awkward sizes, values and gradients", async () => {
  let seed = 500;
  for (const [op, options] of OPS) {
    for (const n of [1, 3, 7, 17, 65, 257, 1000]) {
      const positive = ["log", "sqrt", "rsqrt"].includes(op);
      const data = randomData(n, seed++).map((v) => positive ? Math.abs(v) * 2 : v * 3);
      const g = randomData(n, seed++);
      const label = `${op} ${JSON.stringify(options)} n=${n}`;
      const [y, dx] = await forwardAndGrad(op, options, tensor(data), tensor(g));
      const x = await onGpu(tensor(data));
      const gg = await onGpu(tensor(g));
      const [gy, gdx] = await forwardAndGrad(op, options, x, gg);
      x.dispose();
      gg.dispose();
      const tol = tolerance(op, options);
      assertSameFloats(gy, y, tol, `${label} forward`, data);
      assertSameFloats(gdx, dx, gradTolerance(op, tol), `${label} gradient`, data);
    }
  }
});

Deno.test("unary kernels give PyTorch's values and gradients on webgpu, special values included", async () => {
  const device = await gpu();
  const before = gpuStats(device).buffersInUse;
  for (const c of UNARY_CASES) {
    const x = await onGpu(tensor(c.x));
    const g = await onGpu(tensor(c.g));
    const [y, dx] = await forwardAndGrad(c.op, c.options, x, g);
    x.dispose();
    g.dispose();
    // Subnormal results (exp(-100), sigmoid(-88)) may flush to 0 on a GPU.
    const tol = { rtol: 2e-6, atol: 5e-7 };
    assertSameFloats(y, c.y, tol, `${c.label} forward on webgpu`, c.x);
    assertSameFloats(dx, c.dx, tol, `${c.label} gradient on webgpu`, c.x);
  }
  // Forward, backward and the tape freed everything they made.
  assert.equal(gpuStats(device).buffersInUse, before);
});

Deno.test("a unary launch over 65535 workgroups folds into a 2-D grid and covers every element", async () => {
  // 65536 workgroups of 256 plus a partial one: the grid needs a second row.
  const n = 65536 * 256 + 17;
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = (i % 7) - 3 + i / n;
  const x = await onGpu(tensor(data));
  const y = relu(x);
  const out = await y.data();
  x.dispose();
  y.dispose();
  let wrong = 0;
  for (let i = 0; i < n; i++) if (out[i] !== (data[i] < 0 ? 0 : data[i])) wrong++;
  assert.equal(wrong, 0);
});

Deno.test("biasGelu's fused kernel matches gelu(x + bias) on cpu, both forms", async () => {
  let seed = 900;
  for (const [rows, features] of [[1, 1], [3, 7], [17, 65], [5, 257]]) {
    const x = tensor(randomData(rows * features, seed++).map((v) => v * 3), [rows, features]);
    const bias = tensor(randomData(features, seed++));
    for (const approximate of ["none", "tanh"] as const) {
      const expected = await biasGelu(x, bias, approximate).data();
      const gx = await onGpu(x);
      const gb = await onGpu(bias);
      const y = biasGelu(gx, gb, approximate);
      const tol = { rtol: 3e-7, atol: 6e-7 };
      assertSameFloats(await y.data(), expected, tol, `biasGelu ${approximate}`);
      for (const t of [gx, gb, y]) t.dispose();
    }
  }
});

Deno.test("where on webgpu matches PyTorch and the cpu, int32 and float conditions", async () => {
  const w = WHERE_CASE;
  const cond = await onGpu(tensor(w.condition, w.conditionShape));
  const a = await onGpu(tensor(w.a, w.aShape));
  const b = await onGpu(tensor(w.b, w.bShape));
  const g = await onGpu(tensor(w.g, w.outShape));
  const out = where(cond, a, b);
  assertSameFloats(await out.data(), w.out, { rtol: 0, atol: 0 }, "where forward on webgpu");
  const { value, grads } = valueAndGrad((p: { a: Tensor; b: Tensor }) =>
    sum(mul(where(cond, p.a, p.b), g))
  )({ a, b });
  assertSameFloats(await grads.a.data(), w.da, { rtol: 1e-6, atol: 1e-7 }, "where da on webgpu");
  assertSameFloats(await grads.b.data(), w.db, { rtol: 1e-6, atol: 1e-7 }, "where db on webgpu");
  for (const t of [cond, a, b, g, out, value, grads.a, grads.b]) t.dispose();

  let seed = 950;
  for (
    const [cs, as, bs] of [[[1], [1], [1]], [[7], [3, 7], [1]], [[65, 1], [1, 17], [65, 17]], [
      [257],
      [257],
      [2, 1],
    ]]
  ) {
    const n = cs.reduce((p, d) => p * d, 1);
    const ints = Int32Array.from(randomData(n, seed++), (v) => v > 0 ? Math.round(v * 3) : 0);
    const floats = Float32Array.from(ints, (v, i) => i % 5 === 0 && v !== 0 ? NaN : v * 0.5);
    floats[0] = -0; // -0 is false.
    for (const c of [tensor(ints, cs), tensor(floats, cs)]) {
      const x = tensor(randomData(as.reduce((p, d) => p * d, 1), seed++), as);
      const y = tensor(randomData(bs.reduce((p, d) => p * d, 1), seed++), bs);
      const expected = await where(c, x, y).data();
      const [gc, gx, gy] = [await onGpu(c), await onGpu(x), await onGpu(y)];
      const result = where(gc, gx, gy);
      assertSameFloats(
        await result.data(),
        expected,
        { rtol: 0, atol: 0 },
        `where ${c.dtype} ${cs}`,
      );
      for (const t of [gc, gx, gy, result]) t.dispose();
    }
  }
});

Deno.test("elementwise math errors come before any GPU work and leak nothing", async () => {
  const device = await gpu();
  const before = gpuStats(device).buffersInUse;
  const ids = await toDevice(tensor([1, 2], undefined, { dtype: "int32" }), device);
  const x = await onGpu(tensor([1, 2]));
  assert.throws(
    () => applyOp("gelu", {}, ids),
    (e: unknown) =>
      e instanceof DTypeError &&
      e.message ===
        "gelu: x has dtype int32, but gelu takes float32 or float16 (shape [2] on webgpu:0)",
  );
  assert.throws(() => where(ids, x, tensor([1, 2])), DeviceMismatchError);
  assert.throws(() => biasGelu(x, tensor([1])), /biasGelu/);
  assert.throws(() => where(x, ids, x), DTypeError);
  ids.dispose();
  x.dispose();
  assert.equal(gpuStats(device).buffersInUse, before);
});
