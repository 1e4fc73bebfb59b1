// Reductions along dimensions, softmax / logSoftmax along any dimension,
// variance, losses and broadcasting matmul on webgpu: against PyTorch
// (tests/fixtures/reduce.json) and against the cpu reference on awkward
// shapes, including NaN / infinity semantics. Every GPU tensor is disposed
// before its test ends.

import assert from "node:assert/strict";
import {
  crossEntropy,
  dispose,
  grad,
  logSoftmax,
  matmul,
  mean,
  mse,
  mul,
  softmax,
  sum,
  type Tensor,
  tensor,
  toDevice,
  variance,
} from "../../mod.ts";
import { gpu, randomTensor } from "../helpers.ts";
import { assertSpecialClose, CASES, checkCase, closeAndFree, take } from "../reduce_cases.ts";

const TOL = { rtol: 1e-5, atol: 1e-6 };

for (const c of CASES) {
  Deno.test(`webgpu matches PyTorch: ${c.name}`, async () => {
    await checkCase(c, await gpu());
  });
}

Deno.test("softmax, logSoftmax, variance, sum and mean along any dim match the cpu", async () => {
  const device = await gpu();
  let seed = 40;
  for (
    const [shape, dim] of [
      [[1], 0],
      [[7], -1],
      [[3, 17], 0],
      [[65, 3], 1],
      [[2, 257, 3], 1],
      [[7, 1, 5], 1],
      [[3, 4, 65], -1],
      [[129, 33], 0],
    ] as const
  ) {
    const x = randomTensor([...shape], seed++);
    const g = await toDevice(x, device);
    const what = `${shape} dim ${dim}`;
    const tol = { rtol: 1e-5, atol: 1e-5 };
    try {
      await closeAndFree(softmax(g, { dim, scale: 0.8 }), softmax(x, { dim, scale: 0.8 }), TOL);
      await closeAndFree(logSoftmax(g, { dim }), logSoftmax(x, { dim }), tol);
      for (const correction of [0, 1]) {
        const expected = variance(x, dim, { correction, keepDim: true });
        const actual = variance(g, dim, { correction, keepDim: true });
        assertSpecialClose(await actual.data(), await expected.data(), `variance ${what}`, tol);
        actual.dispose();
      }
      await closeAndFree(mean(g, [dim]), mean(x, [dim]), tol);
      await closeAndFree(sum(g, dim, { keepDim: true }), sum(x, dim, { keepDim: true }), tol);
    } catch (e) {
      throw new Error(`${what}: ${(e as Error).message}`);
    } finally {
      g.dispose();
    }
  }
});

Deno.test("softmax and logSoftmax gradients along any dim match the cpu", async () => {
  const device = await gpu();
  for (const [shape, dim] of [[[3, 17], 0], [[2, 65, 3], 1], [[4, 257], -1]] as const) {
    const x = randomTensor([...shape], 5);
    const w = randomTensor([...shape], 6);
    const [gx, gw] = await Promise.all([toDevice(x, device), toDevice(w, device)]);
    for (const op of [softmax, logSoftmax]) {
      const f = (p: Tensor, weights: Tensor) => sum(mul(op(p, { dim, scale: 1.1 }), weights));
      await closeAndFree(grad(f)(gx, gw), grad(f)(x, w), { rtol: 1e-4, atol: 1e-5 });
    }
    dispose([gx, gw]);
  }
});

Deno.test("NaN and infinities follow PyTorch on webgpu", async () => {
  const device = await gpu();
  const x = await toDevice(tensor([[1, NaN, 2], [1, Infinity, 2], [1, -Infinity, 2]]), device);
  const sm = await take(softmax(x)) as number[][];
  assert.ok(sm[0].every(Number.isNaN) && sm[1].every(Number.isNaN), `softmax ${sm}`);
  assert.equal(sm[2][1], 0);
  const ls = await take(logSoftmax(x)) as number[][];
  assert.ok(ls[0].every(Number.isNaN) && ls[1].every(Number.isNaN), `logSoftmax ${ls}`);
  assert.equal(ls[2][1], -Infinity);
  assert.ok(Number.isNaN(await take(sum(x)) as number));
  const means = await take(mean(x, 1)) as number[];
  assert.ok(Number.isNaN(means[0]) && means[1] === Infinity && means[2] === -Infinity, `${means}`);
  const empty = await toDevice(tensor([]), device);
  const emptyRows = await toDevice(tensor([[], []]), device);
  assert.ok(Number.isNaN(await take(mean(empty)) as number));
  const emptyMeans = await take(mean(emptyRows, 1)) as number[];
  assert.ok(emptyMeans.length === 2 && emptyMeans.every(Number.isNaN));
  assert.equal(await take(sum(empty)), 0);
  const targets = await toDevice(tensor([0, 2, 1], undefined, { dtype: "int32" }), device);
  assert.ok(Number.isNaN(await take(crossEntropy(x, targets)) as number));
  const rows = await take(grad((p: Tensor) => crossEntropy(p, targets))(x)) as number[][];
  assert.ok(rows[0].every(Number.isNaN) && rows[1].every(Number.isNaN));
  assert.ok(Number.isNaN(await take(mse(x, x)) as number));
  // A fully masked softmax row gives zeros: the one deliberate difference.
  const masked = await toDevice(tensor([[-Infinity, -Infinity]]), device);
  assert.deepEqual(await take(softmax(masked)), [[0, 0]]);
  dispose([x, empty, emptyRows, targets, masked]);
});

Deno.test("crossEntropy takes int32 or float32 targets on both devices", async () => {
  const device = await gpu();
  const logits = randomTensor([17, 5], 3);
  const ids = [0, 4, 2, 1, 3, 0, 0, 4, 2, 2, 1, 3, 4, 0, 1, 2, 3];
  const intT = tensor(new Int32Array(ids), [17]);
  const floatT = tensor(ids);
  const expected = crossEntropy(logits, floatT);
  await closeAndFree(crossEntropy(logits, intT), crossEntropy(logits, floatT), TOL);
  const [gl, gi, gf] = await Promise.all([logits, intT, floatT].map((t) => toDevice(t, device)));
  await closeAndFree(crossEntropy(gl, gi), crossEntropy(logits, floatT), TOL);
  await closeAndFree(crossEntropy(gl, gf), expected, TOL);
  const dCpu = grad((p: Tensor) => crossEntropy(p, intT))(logits);
  await closeAndFree(grad((p: Tensor) => crossEntropy(p, gi))(gl), dCpu, TOL);
  dispose([gl, gi, gf]);
});

Deno.test("matmul broadcasts batch dimensions and vectors like torch.matmul", async () => {
  const device = await gpu();
  let seed = 70;
  for (
    const [sa, sb] of [
      [[2, 1, 7, 17], [3, 17, 5]],
      [[17], [3, 17, 65]],
      [[2, 3, 65], [65]],
      [[7], [7]],
      [[3, 1, 4], [1, 4, 9]],
      [[1, 3, 4], [2, 1, 4, 3]],
    ]
  ) {
    const a = randomTensor(sa, seed++);
    const b = randomTensor(sb, seed++);
    const expected = matmul(a, b);
    const w = randomTensor(expected.shape, seed++);
    const [ga, gb, gw] = await Promise.all([a, b, w].map((t) => toDevice(t, device)));
    const actual = matmul(ga, gb);
    assert.deepEqual(actual.shape, expected.shape);
    await closeAndFree(actual, expected, { rtol: 1e-5, atol: 1e-5 });
    const f = (p: Tensor[], weights: Tensor) => sum(mul(matmul(p[0], p[1]), weights));
    await closeAndFree(grad(f)([ga, gb], gw), grad(f)([a, b], w), { rtol: 1e-4, atol: 1e-5 });
    dispose([ga, gb, gw]);
  }
});
