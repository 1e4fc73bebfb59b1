// embedding on webgpu against the CPU reference and PyTorch: awkward shapes,
// repeated ids, NaN rows for out-of-range GPU ids, cpu ids with a GPU
// weight, and the scatter-add backward (2**20 ids, over llvmpipe's loop cap).

import assert from "node:assert/strict";
import {
  ArgumentError,
  assertClose,
  DeviceMismatchError,
  embedding,
  gpuStats,
  mul,
  sum,
  type Tensor,
  tensor,
  toDevice,
  valueAndGrad,
} from "../../mod.ts";
import fixtures from "../fixtures/embedding.json" with { type: "json" };
import { bits, gpu, randomTensor } from "../helpers.ts";

function randomIds(n: number, vocab: number, seed: number): Int32Array {
  const out = new Int32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s % vocab;
  }
  return out;
}

/** Gradient of sum(embedding(weight, ids) * cot) with respect to weight. */
function weightGrad(weight: Tensor, ids: Tensor, cot: Tensor): Tensor {
  const { value, grads } = valueAndGrad((p: { w: Tensor }) => sum(mul(embedding(p.w, ids), cot)))(
    { w: weight },
  );
  value.dispose();
  return grads.w;
}

Deno.test("embedding webgpu: forward and weight gradient equal cpu's bits on awkward shapes", async () => {
  const device = await gpu();
  const cases: [number, number, number[]][] = [
    [1, 1, [1]],
    [3, 7, [7]],
    [17, 3, [3, 5]],
    [257, 65, [2, 17]],
    [65, 4, [257]],
    [7, 17, [2, 3, 65]],
    // Over one link block (1024 positions), with ids repeating across blocks.
    [5, 3, [3, 1000]],
  ];
  let seed = 1;
  for (const [vocab, dim, idsShape] of cases) {
    const weight = randomTensor([vocab, dim], seed++);
    const n = idsShape.reduce((a, b) => a * b, 1);
    const ids = tensor(randomIds(n, vocab, seed++), idsShape);
    const cot = randomTensor([...idsShape, dim], seed++);
    const [w, i, c] = await toDevice([weight, ids, cot], device);
    const out = embedding(w, i);
    assert.deepEqual(out.shape, [...idsShape, dim]);
    assert.deepEqual(bits(await out.data()), bits(await embedding(weight, ids).data()));
    // Repeated ids sum in position order on both devices: the same bits.
    const g = weightGrad(w, i, c);
    assert.deepEqual(bits(await g.data()), bits(await weightGrad(weight, ids, cot).data()));
    for (const t of [w, i, c, out, g]) t.dispose();
  }
});

Deno.test("embedding webgpu: matches torch forward and gradient with repeated ids", async () => {
  const device = await gpu();
  for (const f of fixtures.cases) {
    const weight = tensor(Float32Array.from(f.weight), [f.vocab, f.dim], { device });
    const ids = tensor(Int32Array.from(f.ids), f.idsShape, { device });
    const cot = tensor(Float32Array.from(f.cotangent), [...f.idsShape, f.dim], { device });
    const out = embedding(weight, ids);
    await assertClose(out, tensor(Float32Array.from(f.out), out.shape), { rtol: 0, atol: 0 });
    const g = weightGrad(weight, ids, cot);
    await assertClose(g, tensor(Float32Array.from(f.grad), [f.vocab, f.dim]), {
      rtol: 1e-5,
      atol: 1e-5,
    });
    for (const t of [weight, ids, cot, out, g]) t.dispose();
  }
});

Deno.test("embedding webgpu: out-of-range GPU ids give NaN rows, cpu ids throw first", async () => {
  const device = await gpu();
  const weight = randomTensor([5, 3], 9);
  const w = await toDevice(weight, device);
  const ids = tensor([4, 5, -1, 0, 2147483647], undefined, { dtype: "int32", device });
  const rows = await embedding(w, ids).toArray() as number[][];
  const expected = await weight.toArray() as number[][];
  assert.deepEqual(rows[0], expected[4]);
  assert.deepEqual(rows[3], expected[0]);
  for (const r of [1, 2, 4]) assert.ok(rows[r].every(Number.isNaN), `row ${r}: ${rows[r]}`);
  // An empty table has no valid id at all.
  const none = tensor([], [0, 3], { device });
  const nanRows = embedding(none, ids);
  assert.ok((await nanRows.data()).every(Number.isNaN));
  none.dispose();
  nanRows.dispose();

  // Ids on cpu are checked (and uploaded) before any GPU work.
  const before = gpuStats(device).buffersInUse;
  assert.throws(
    () => embedding(w, tensor([1, 5], undefined, { dtype: "int32" })),
    (e: unknown) => e instanceof ArgumentError && /ids holds 5 at flat index 1/.test(e.message),
  );
  assert.equal(gpuStats(device).buffersInUse, before);
  const fromCpuIds = embedding(w, tensor([[1, 1]], undefined, { dtype: "int32" }));
  assert.deepEqual(await fromCpuIds.toArray(), [[expected[1], expected[1]]]);
  assert.equal(gpuStats(device).buffersInUse, before + 1);
  // The backward pass uploads cpu ids again.
  const cpuIds = tensor([[1, 4, 1], [0, 1, 3]], undefined, { dtype: "int32" });
  const cot = randomTensor([2, 3, 3], 10);
  const cotGpu = await toDevice(cot, device);
  const g = weightGrad(w, cpuIds, cotGpu);
  assert.deepEqual(bits(await g.data()), bits(await weightGrad(weight, cpuIds, cot).data()));
  g.dispose();
  cotGpu.dispose();
  // A cpu weight with GPU ids is a device mismatch, as in PyTorch.
  assert.throws(() => embedding(weight, ids), DeviceMismatchError);
  for (const t of [w, ids, fromCpuIds]) t.dispose();
});

Deno.test("embedding webgpu: backward sums 2**20 ids (loops stay bounded)", async () => {
  const device = await gpu();
  const n = 2 ** 20;
  const vocab = 3;
  const dim = 2;
  const ids = randomIds(n, vocab, 5);
  // Small whole numbers: every order of summation gives the exact same float.
  const cot = new Float32Array(n * dim);
  for (let i = 0; i < cot.length; i++) cot[i] = (i % 5) - 2;
  const expected = new Float64Array(vocab * dim);
  for (let t = 0; t < n; t++) {
    for (let c = 0; c < dim; c++) expected[ids[t] * dim + c] += cot[t * dim + c];
  }
  const w = tensor(new Float32Array(vocab * dim).fill(1), [vocab, dim], { device });
  const i = tensor(ids, [n], { device });
  const c = tensor(cot, [n, dim], { device });
  const g = weightGrad(w, i, c);
  assert.deepEqual([...await g.data()], [...Float32Array.from(expected)]);
  for (const t of [w, i, c, g]) t.dispose();
});
