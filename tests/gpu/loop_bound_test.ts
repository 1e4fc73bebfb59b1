// Issue 10: llvmpipe silently stops a shader's loops after 65,535 iterations
// per invocation. Every reduction kernel is bounded by loopBound.max
// (src/gpu/loop_bound.ts) and splits longer work across workgroups and
// passes. These tests run the real sizes that used to come out wrong, and
// lower the bound so the multi-pass paths run at small, awkward sizes.

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
  ones,
  softmax,
  sum,
  sumTo,
  type Tensor,
  tensor,
  toDevice,
  variance,
} from "../../mod.ts";
import { loopBound } from "../../src/gpu/loop_bound.ts";
import { gpu, randomTensor } from "../helpers.ts";
import { closeAndFree, take } from "../reduce_cases.ts";

/** Runs `fn` with the loop budget lowered to `max`. */
async function withBound(max: number, fn: () => Promise<void>): Promise<void> {
  const saved = loopBound.max;
  loopBound.max = max;
  try {
    await fn();
  } finally {
    loopBound.max = saved;
  }
}

Deno.test("loop bound: sums of 2^21 ones are exact on webgpu", async () => {
  const device = await gpu();
  const flat = await toDevice(ones([2 ** 21]), device);
  assert.equal(await take(sum(flat)), 2 ** 21);
  assert.equal(await take(mean(flat)), 1);
  const tall = await toDevice(ones([2 ** 21, 2]), device);
  assert.deepEqual(await take(sum(tall, 0)), [2 ** 21, 2 ** 21]);
  assert.deepEqual(await take(sumTo(tall, [1, 2])), [[2 ** 21, 2 ** 21]]);
  flat.dispose();
  tall.dispose();
});

Deno.test("loop bound: matmul with K = 524288 (split-K) is exact", async () => {
  const device = await gpu();
  const K = 524288;
  const a = await toDevice(ones([2, K]), device);
  const b = await toDevice(ones([K, 3]), device);
  assert.deepEqual(await take(matmul(a, b)), [[K, K, K], [K, K, K]]);
  assert.deepEqual(await take(matmul(b, a, { transposeA: true, transposeB: true })), [
    [K, K],
    [K, K],
    [K, K],
  ]);
  dispose([a, b]);
});

Deno.test("loop bound: softmax of one row of 4,194,304 values matches the cpu", async () => {
  const device = await gpu();
  const x = randomTensor([1, 4194304], 11);
  const g = await toDevice(x, device);
  await closeAndFree(softmax(g), softmax(x), { rtol: 1e-4, atol: 1e-12 });
  await closeAndFree(logSoftmax(g), logSoftmax(x), { rtol: 1e-5, atol: 1e-5 });
  g.dispose();
});

Deno.test("loop bound: mse, crossEntropy and sum over [70000, 256] match the cpu", async () => {
  const device = await gpu();
  const rows = 70000;
  const cols = 256;
  const x = randomTensor([rows, cols], 12);
  const y = randomTensor([rows, cols], 13);
  const ids = new Int32Array(rows).map((_, i) => (i * 7919) % cols);
  const t = tensor(ids, [rows]);
  const [gx, gy, gt] = await Promise.all([x, y, t].map((v) => toDevice(v, device)));
  const tol = { rtol: 1e-5, atol: 1e-5 };
  await closeAndFree(mse(gx, gy), mse(x, y), tol);
  await closeAndFree(crossEntropy(gx, gt), crossEntropy(x, t), tol);
  await closeAndFree(sum(gx), sum(x), { rtol: 1e-5, atol: 1e-2 });
  await closeAndFree(mean(gx, 0), mean(x, 0), tol);
  dispose([gx, gy, gt]);
});

Deno.test("loop bound lowered: reductions take several passes and match the cpu", async () => {
  const device = await gpu();
  await withBound(3, async () => {
    let seed = 1;
    for (
      const [shape, dims] of [
        [[1], [0]],
        [[257], [0]],
        [[65, 17], [0]],
        [[7, 257], [1]],
        [[3, 65, 7], [0, 2]],
        [[17, 3, 65], [2]],
      ] as const
    ) {
      const x = randomTensor([...shape], seed++);
      const g = await toDevice(x, device);
      const tol = { rtol: 1e-5, atol: 1e-5 };
      await closeAndFree(sum(g, [...dims]), sum(x, [...dims]), tol);
      await closeAndFree(
        mean(g, [...dims], { keepDim: true }),
        mean(x, [...dims], { keepDim: true }),
        tol,
      );
      await closeAndFree(sum(g), sum(x), tol);
      const biased = { correction: 0 };
      await closeAndFree(variance(g, [...dims], biased), variance(x, [...dims], biased), tol);
      g.dispose();
    }
  });
});

Deno.test("loop bound lowered: split-K matmul matches the cpu, all transposes, batched", async () => {
  const device = await gpu();
  await withBound(9, async () => {
    let seed = 20;
    for (const [M, K, N, B] of [[1, 65, 1, 1], [7, 257, 17, 1], [3, 130, 5, 3]]) {
      for (const tA of [false, true]) {
        for (const tB of [false, true]) {
          const a = randomTensor(tA ? [B, K, M] : [B, M, K], seed++);
          const b = randomTensor(tB ? [N, K] : [K, N], seed++);
          const [ga, gb] = await Promise.all([toDevice(a, device), toDevice(b, device)]);
          const opts = { transposeA: tA, transposeB: tB, alpha: 0.5 };
          await closeAndFree(matmul(ga, gb, opts), matmul(a, b, opts), { rtol: 1e-5, atol: 1e-5 });
          dispose([ga, gb]);
        }
      }
    }
  });
});

Deno.test("loop bound lowered: softmax, logSoftmax and losses (forward and backward) match the cpu", async () => {
  const device = await gpu();
  await withBound(3, async () => {
    let seed = 50;
    for (const shape of [[1, 1], [3, 7], [17, 65], [2, 257]]) {
      const x = randomTensor(shape, seed++);
      const y = randomTensor(shape, seed++);
      const w = randomTensor(shape, seed++);
      const ids = new Int32Array(shape[0]).map((_, i) => (i * 5) % shape[1]);
      const t = tensor(ids, [shape[0]]);
      const [gx, gy, gw, gt] = await Promise.all([x, y, w, t].map((v) => toDevice(v, device)));
      const tol = { rtol: 1e-5, atol: 1e-5 };
      for (const dim of [0, 1]) {
        await closeAndFree(softmax(gx, { dim }), softmax(x, { dim }), tol);
        await closeAndFree(logSoftmax(gx, { dim }), logSoftmax(x, { dim }), tol);
        const f = (p: Tensor, v: Tensor) => sum(mul(softmax(p, { dim }), v));
        await closeAndFree(grad(f)(gx, gw), grad(f)(x, w), tol);
      }
      await closeAndFree(mse(gx, gy), mse(x, y), tol);
      await closeAndFree(crossEntropy(gx, gt), crossEntropy(x, t), tol);
      const dm = (p: Tensor, q: Tensor) => mse(p, q);
      await closeAndFree(grad(dm)(gx, gy), grad(dm)(x, y), tol);
      const dc = (p: Tensor, q: Tensor) => crossEntropy(p, q);
      await closeAndFree(grad(dc)(gx, gt), grad(dc)(x, t), tol);
      dispose([gx, gy, gw, gt]);
    }
  });
});
