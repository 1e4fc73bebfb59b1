import assert from "node:assert/strict";
import {
  arange,
  full,
  ones,
  reshape,
  ShapeError,
  slice,
  stack,
  tensor,
  toDevice,
  transpose,
  tril,
  triu,
  UseAfterDisposeError,
  zeros,
} from "../../mod.ts";
import { gpu, randomTensor } from "../helpers.ts";

Deno.test("tensor infers shapes from nested arrays and scalars", async () => {
  const t = tensor([[1, 2, 3], [4, 5, 6]]);
  assert.deepEqual(t.shape, [2, 3]);
  assert.equal(t.dtype, "float32");
  assert.equal(t.device.name, "cpu");
  assert.deepEqual(await t.toArray(), [[1, 2, 3], [4, 5, 6]]);
  assert.deepEqual(tensor(2.5).shape, []);
  assert.equal(await tensor(2.5).toArray(), 2.5);
  assert.deepEqual(await tensor(new Float32Array([1, 2, 3, 4]), [2, 2]).toArray(), [[1, 2], [
    3,
    4,
  ]]);
});

Deno.test("tensor rejects ragged arrays and shapes that do not hold the data", () => {
  assert.throws(() => tensor([[1, 2], [3]]), ShapeError);
  assert.throws(
    () => tensor(new Float32Array(5), [2, 3]),
    /shape \[2, 3\] holds 6 elements, but 5 values were given/,
  );
  assert.throws(() => zeros([2, -1]), /zeros: shape must be an array of whole numbers >= 0/);
});

Deno.test("creation functions match torch semantics", async () => {
  assert.deepEqual(await zeros([2]).toArray(), [0, 0]);
  assert.deepEqual(await ones([1, 2]).toArray(), [[1, 1]]);
  assert.deepEqual(await full([3], -1.5).toArray(), [-1.5, -1.5, -1.5]);
  assert.deepEqual(await arange(5).toArray(), [0, 1, 2, 3, 4]);
  assert.deepEqual(await arange(2, -1, -1).toArray(), [2, 1, 0]);
  assert.deepEqual(await triu(ones([3, 3]), 1).toArray(), [[0, 1, 1], [0, 0, 1], [0, 0, 0]]);
  assert.deepEqual(await tril(ones([2, 3]), -1).toArray(), [[0, 0, 0], [1, 0, 0]]);
  assert.throws(() => arange(0, 1, 0), /step must be a finite non-zero number/);
});

Deno.test("data() returns a copy the caller owns", async () => {
  const t = tensor([1, 2, 3]);
  const d = await t.data();
  d[0] = 99;
  assert.deepEqual(await t.toArray(), [1, 2, 3]);
});

Deno.test("reshape infers -1, shares storage, and survives the source's disposal", async () => {
  const t = arange(6);
  const r = reshape(t, [3, -1]);
  assert.deepEqual(r.shape, [3, 2]);
  t.dispose();
  assert.deepEqual(await r.toArray(), [[0, 1], [2, 3], [4, 5]]);
  assert.throws(
    () => reshape(r, [4, -1]),
    /cannot reshape a tensor of shape \[3, 2\] to \[4, -1\]/,
  );
  assert.throws(() => reshape(r, [7]), ShapeError);
});

Deno.test("use after dispose throws synchronously, disposing twice is harmless", async () => {
  const t = tensor([1, 2]);
  t.dispose();
  t.dispose();
  assert.equal(t.isDisposed, true);
  await assert.rejects(() => t.data(), UseAfterDisposeError);
  assert.throws(() => transpose(t, 0, 0), UseAfterDisposeError);
  assert.throws(() => reshape(t, [2]), /reshape: x was disposed; it had shape \[2\] on cpu/);
});

Deno.test("layout ops agree on cpu and webgpu for awkward shapes", async () => {
  const device = await gpu();
  for (const shape of [[1, 1], [3, 7], [2, 17, 5], [3, 65, 3]]) {
    const x = randomTensor(shape, shape.length * 31 + shape[1]);
    const xg = await toDevice(x, device);
    const cases: [string, (t: typeof x) => typeof x][] = [
      ["transpose", (t) => transpose(t)],
      ["transpose(0, -1)", (t) => transpose(t, 0, -1)],
      ["slice", (t) => slice(t, [0, Math.max(1, shape[0] - 1)], [1, -1])],
      ["stack", (t) => stack([t, t, t], 1)],
      ["triu", (t) => triu(t, -1)],
      ["tril", (t) => tril(t, 2)],
    ];
    for (const [name, f] of cases) {
      const expected = f(x);
      const actual = f(xg);
      assert.deepEqual(actual.shape, expected.shape, name);
      assert.deepEqual(await actual.data(), await expected.data(), `${name} ${shape}`);
      actual.dispose();
    }
    xg.dispose();
  }
});

Deno.test("slice clamps like Python and handles empty results", async () => {
  const x = arange(12);
  const m = reshape(x, [3, 4]);
  assert.deepEqual(await slice(m, [1, 100]).toArray(), [[4, 5, 6, 7], [8, 9, 10, 11]]);
  assert.deepEqual(slice(m, [2, 1]).shape, [0, 4]);
  assert.deepEqual(await slice(m, [-1, 3], [0, 2]).toArray(), [[8, 9]]);
  assert.throws(
    () => slice(m, [0, 1], [0, 1], [0, 1]),
    /3 ranges given for a tensor of shape \[3, 4\]/,
  );
});
