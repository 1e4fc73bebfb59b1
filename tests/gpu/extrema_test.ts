// max / argmax / topk on webgpu against the cpu reference: random rows of
// awkward lengths (one chunk, several chunks, a GPT-2 logits row), every
// dimension, NaN and ties, and the gradient scatter.

import assert from "node:assert/strict";
import {
  argmax,
  ArgumentError,
  gpuStats,
  grad,
  max,
  mul,
  sum,
  type Tensor,
  tensor,
  toDevice,
  topk,
} from "../../mod.ts";
import { bits, gpu, randomTensor } from "../helpers.ts";

async function onGpu(t: Tensor): Promise<Tensor> {
  return await toDevice(t, await gpu());
}

/** Rounds values to a few levels so that rows hold many ties. */
function coarse(t: Tensor, levels: number): Promise<Tensor> {
  return t.data().then((d) =>
    tensor((d as Float32Array).map((v) => Math.round(v * levels) / levels), t.shape)
  );
}

async function assertSame(actual: Tensor, expected: Tensor, what: string): Promise<void> {
  assert.equal(actual.dtype, expected.dtype, what);
  assert.deepEqual(actual.shape, expected.shape, what);
  const a = await actual.data();
  const e = await expected.data();
  assert.deepEqual(bits(a as Float32Array), bits(e as Float32Array), what);
}

Deno.test("argmax and max on webgpu equal the cpu's on every dim and awkward sizes", async () => {
  let seed = 1;
  const shapes = [[1], [3], [7, 17], [17, 7], [2, 65, 3], [257, 5], [3, 4099], [5000], [2, 9000]];
  for (const shape of shapes) {
    // Coarse values give rows full of ties (the first index must win).
    for (const levels of [0, 2]) {
      const raw = randomTensor(shape, seed++);
      const x = levels ? await coarse(raw, levels) : raw;
      const gx = await onGpu(x);
      for (let d = 0; d < shape.length; d++) {
        const keepDim = (d + levels) % 2 === 0;
        const dim = d % 2 ? d - shape.length : d; // negative dims too
        const what = `${shape} dim ${dim} keepDim ${keepDim} levels ${levels}`;
        await assertSame(argmax(gx, dim, { keepDim }), argmax(x, dim, { keepDim }), what);
        const c = max(x, dim, { keepDim: !keepDim });
        const g = max(gx, dim, { keepDim: !keepDim });
        await assertSame(g.values, c.values, `max values ${what}`);
        await assertSame(g.indices, c.indices, `max indices ${what}`);
      }
      const keepDim = levels > 0;
      await assertSame(
        argmax(gx, undefined, { keepDim }),
        argmax(x, undefined, { keepDim }),
        `flat ${shape}`,
      );
    }
  }
});

Deno.test("argmax over a GPT-2 logits row: NaN wins, first tie wins, -inf rows give 0", async () => {
  const n = 50257;
  const data = (await randomTensor([3, n], 7).data()) as Float32Array;
  data[2 * n + 40000] = 5; // row 2: max far in, past several chunks
  data[2 * n + 45000] = 5; // a later tie loses
  data[n + 123] = NaN; // row 1: NaN beats everything
  data[n + 50000] = NaN;
  data[n + 9] = Infinity;
  const x = tensor(data, [3, n]);
  const gx = await onGpu(x);
  const expected = argmax(x, 1);
  assert.deepEqual(await argmax(gx, 1).toArray(), await expected.toArray());
  assert.deepEqual((await expected.toArray() as number[]).slice(1), [123, 40000]);
  const inf = await onGpu(tensor(new Float32Array(9).fill(-Infinity)));
  assert.equal(await argmax(inf).toArray(), 0);
  const nan = await onGpu(tensor([1, NaN, 3]));
  assert.equal(await argmax(nan).toArray(), 1);
  const m = max(nan, 0);
  assert.ok(Number.isNaN(await m.values.toArray() as number));
});

Deno.test("argmax and topk over rows of 2^20 and 140000 entries: multi-pass merges stay exact", async () => {
  const n = 2 ** 20;
  const data = (await randomTensor([n], 21).data()) as Float32Array;
  const planted = [n - 1, 3, 524287, 777777, 4096];
  planted.forEach((at, i) => data[at] = 10 - i);
  const gx = await onGpu(tensor(data, [1, n]));
  assert.deepEqual(await argmax(gx, 1).toArray(), [n - 1]);
  const { values, indices } = topk(gx, 5);
  assert.deepEqual(await values.toArray(), [[10, 9, 8, 7, 6]]);
  assert.deepEqual(await indices.toArray(), [planted]);
  const smallest = topk(gx, 3, { largest: false });
  const expected = topk(tensor(data, [1, n]), 3, { largest: false });
  await assertSame(smallest.values, expected.values, "smallest values");
  await assertSame(smallest.indices, expected.indices, "smallest indices");
  // 35 chunks of 4096 leave 35 * 128 candidates: two merge passes.
  const x = randomTensor([140000], 22);
  const big = topk(await onGpu(x), 128);
  const want = topk(x, 128);
  await assertSame(big.values, want.values, "k = 128 values");
  await assertSame(big.indices, want.indices, "k = 128 indices");
});

Deno.test("topk on webgpu equals the cpu's: largest and smallest, every dim, long rows", async () => {
  let seed = 50;
  const cases: [number[], number, number][] = [
    [[7], 3, 0],
    [[17, 5], 5, 0],
    [[3, 65], 17, 1],
    [[2, 257, 3], 64, 1],
    [[4099], 128, 0],
    [[2, 9000], 10, -1],
    [[1, 50257], 40, -1],
    [[5, 1], 1, 1],
  ];
  for (const [shape, k, dim] of cases) {
    for (const levels of [0, 3]) {
      const raw = randomTensor(shape, seed++);
      const x = levels ? await coarse(raw, levels) : raw;
      const gx = await onGpu(x);
      for (const largest of [true, false]) {
        const what = `${shape} k ${k} dim ${dim} largest ${largest} levels ${levels}`;
        const c = topk(x, k, { dim, largest });
        const g = topk(gx, k, { dim, largest });
        await assertSame(g.values, c.values, `values ${what}`);
        await assertSame(g.indices, c.indices, `indices ${what}`);
      }
    }
  }
  const gx = await onGpu(tensor([2, NaN, 5, 1, NaN, 2]));
  const r = topk(gx, 6, { largest: false });
  assert.deepEqual(await r.indices.toArray(), [3, 0, 5, 2, 1, 4]);
  assert.throws(() => topk(gx, 7), ArgumentError);
  assert.throws(() => topk(gx, 1.5), ArgumentError);
  const wide = await onGpu(randomTensor([300], 3));
  assert.throws(() => topk(wide, 129), /exceeds 128/);
  assert.equal(topk(wide, 0).values.shape[0], 0);
});

Deno.test("max and topk gradients on webgpu scatter to the chosen entries like the cpu", async () => {
  let seed = 90;
  for (
    const [shape, dim, k] of [[[3, 65], 1, 4], [[17, 5, 3], 1, 2], [[2, 5000], -1, 7]] as const
  ) {
    const x = randomTensor([...shape], seed++);
    const weights = randomTensor(
      [...shape].map((d, i) => i === (dim + shape.length) % shape.length ? k : d),
      seed++,
    );
    const weights1 = randomTensor(
      [...shape].filter((_, i) => i !== (dim + shape.length) % shape.length),
      seed++,
    );
    const topLoss = (p: { x: Tensor }, w: Tensor) => sum(mul(topk(p.x, k, { dim }).values, w));
    const maxLoss = (p: { x: Tensor }, w: Tensor) => sum(mul(max(p.x, dim).values, w));
    const device = await gpu();
    const gx = await toDevice(x, device);
    for (const [loss, w] of [[topLoss, weights], [maxLoss, weights1]] as const) {
      const expected = grad(loss)({ x }, w).x;
      const gw = await toDevice(w, device);
      const before = gpuStats(device).buffersInUse;
      const actual = grad(loss)({ x: gx }, gw).x;
      await assertSame(actual, expected, `grad ${shape} dim ${dim}`);
      actual.dispose();
      const after = gpuStats(device).buffersInUse;
      assert.ok(after <= before, `the trace leaks nothing (${before} -> ${after} buffers)`);
    }
  }
});
