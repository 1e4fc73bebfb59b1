// Reductions along dimensions, softmax / logSoftmax along any dimension,
// variance, losses and broadcasting matmul on webgpu: against PyTorch
// (tests/fixtures/reduce.json) and against the cpu reference on awkward
// shapes, including NaN / infinity semantics.

import assert from "node:assert/strict";
import {
  assertClose,
  crossEntropy,
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
import { assertSpecialClose, CASES, checkCase } from "../reduce_cases.ts";

const TOL = { rtol: 1e-5, atol: 1e-6 };

for (const c of CASES) {
  Deno.test(`webgpu matches PyTorch: ${c.name}`, async () => {
    await checkCase(c, await gpu());
  });
}

Deno.test("softmax, logSoftmax and variance along any dim match the cpu", async () => {
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
    ] as const
  ) {
    const x = randomTensor([...shape], seed++);
    const g = await toDevice(x, device);
    const what = `${shape} dim ${dim}`;
    await assertClose(softmax(g, { dim, scale: 0.8 }), softmax(x, { dim, scale: 0.8 }), TOL)
      .catch((e) => {
        throw new Error(`softmax ${what}: ${e.message}`);
      });
    await assertClose(logSoftmax(g, { dim }), logSoftmax(x, { dim }), { rtol: 1e-5, atol: 1e-5 })
      .catch((e) => {
        throw new Error(`logSoftmax ${what}: ${e.message}`);
      });
    for (const correction of [0, 1]) {
      const expected = variance(x, dim, { correction, keepDim: true });
      const actual = variance(g, dim, { correction, keepDim: true });
      assertSpecialClose(await actual.data(), await expected.data(), `variance ${what}`, {
        rtol: 1e-5,
        atol: 1e-5,
      });
    }
    await assertClose(mean(g, [dim]), mean(x, [dim]), { rtol: 1e-5, atol: 1e-5 });
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
      await assertClose(grad(f)(gx, gw), grad(f)(x, w), { rtol: 1e-4, atol: 1e-5 });
    }
  }
});

Deno.test("NaN and infinities follow PyTorch on webgpu", async () => {
  const device = await gpu();
  const x = await toDevice(tensor([[1, NaN, 2], [1, Infinity, 2], [1, -Infinity, 2]]), device);
  const sm = await softmax(x).toArray() as number[][];
  assert.ok(sm[0].every(Number.isNaN) && sm[1].every(Number.isNaN), `softmax ${sm}`);
  assert.equal(sm[2][1], 0);
  const ls = await logSoftmax(x).toArray() as number[][];
  assert.ok(ls[0].every(Number.isNaN) && ls[1].every(Number.isNaN), `logSoftmax ${ls}`);
  assert.equal(ls[2][1], -Infinity);
  assert.ok(Number.isNaN(await sum(x).toArray() as number));
  const means = await mean(x, 1).toArray() as number[];
  assert.ok(Number.isNaN(means[0]) && means[1] === Infinity && means[2] === -Infinity, `${means}`);
  assert.ok(Number.isNaN(await mean(await toDevice(tensor([]), device)).toArray() as number));
  const empty = await mean(await toDevice(tensor([[], []]), device), 1).toArray() as number[];
  assert.ok(empty.length === 2 && empty.every(Number.isNaN));
  assert.equal(await sum(await toDevice(tensor([]), device)).toArray(), 0);
  const targets = await toDevice(tensor([0, 2, 1], undefined, { dtype: "int32" }), device);
  const loss = crossEntropy(x, targets);
  assert.ok(Number.isNaN(await loss.toArray() as number));
  const d = grad((p: Tensor) => crossEntropy(p, targets))(x);
  const rows = await d.toArray() as number[][];
  assert.ok(rows[0].every(Number.isNaN) && rows[1].every(Number.isNaN));
  assert.ok(Number.isNaN(await mse(x, x).toArray() as number));
  // A fully masked softmax row gives zeros: the one deliberate difference.
  const masked = await toDevice(tensor([[-Infinity, -Infinity]]), device);
  assert.deepEqual(await softmax(masked).toArray(), [[0, 0]]);
});

Deno.test("crossEntropy takes int32 or float32 targets on both devices", async () => {
  const device = await gpu();
  const logits = randomTensor([17, 5], 3);
  const ids = [0, 4, 2, 1, 3, 0, 0, 4, 2, 2, 1, 3, 4, 0, 1, 2, 3];
  const intT = tensor(new Int32Array(ids), [17]);
  const floatT = tensor(ids);
  const expected = crossEntropy(logits, floatT);
  await assertClose(crossEntropy(logits, intT), expected, TOL);
  const [gl, gi, gf] = await Promise.all([logits, intT, floatT].map((t) => toDevice(t, device)));
  await assertClose(crossEntropy(gl, gi), expected, TOL);
  await assertClose(crossEntropy(gl, gf), expected, TOL);
  const dCpu = grad((p: Tensor) => crossEntropy(p, intT))(logits);
  await assertClose(grad((p: Tensor) => crossEntropy(p, gi))(gl), dCpu, TOL);
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
    const w = randomTensor(matmul(a, b).shape, seed++);
    const [ga, gb, gw] = await Promise.all([a, b, w].map((t) => toDevice(t, device)));
    const expected = matmul(a, b);
    const actual = matmul(ga, gb);
    assert.deepEqual(actual.shape, expected.shape);
    await assertClose(actual, expected, { rtol: 1e-5, atol: 1e-5 });
    const f = (p: Tensor[], weights: Tensor) => sum(mul(matmul(p[0], p[1]), weights));
    const dCpu = grad(f)([a, b], w);
    const dGpu = grad(f)([ga, gb], gw);
    await assertClose(dGpu[0], dCpu[0], { rtol: 1e-4, atol: 1e-5 });
    await assertClose(dGpu[1], dCpu[1], { rtol: 1e-4, atol: 1e-5 });
  }
});
