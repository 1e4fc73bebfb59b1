// Every op's WebGPU kernel against its CPU reference on fresh random data of
// awkward shapes (sizes that are not multiples of the tile or workgroup).

import assert from "node:assert/strict";
import {
  add,
  assertClose,
  div,
  dropout,
  linear,
  maskedFill,
  matmul,
  mul,
  ones,
  reshape,
  scale,
  ShapeError,
  softmax,
  sub,
  type Tensor,
  tensor,
  toDevice,
  transpose,
  triu,
} from "../../mod.ts";
import { gpu, randomTensor } from "../helpers.ts";

const ELEMENTWISE = { rtol: 1.3e-6, atol: 1e-5 };
const SIZES = [1, 3, 7, 17, 65, 129, 257];

async function onGpu<T extends Tensor[]>(...ts: T): Promise<T> {
  const device = await gpu();
  return await Promise.all(ts.map((t) => toDevice(t, device))) as T;
}

Deno.test("elementwise ops with broadcasting match the cpu reference", async () => {
  let seed = 1;
  for (
    const [sa, sb] of [
      [[1], [1]],
      [[7], [7]],
      [[3, 17], [17]],
      [[2, 65, 3], [65, 1]],
      [[257, 5], [1, 5]],
      [[3, 1, 7], [1, 129, 7]],
    ]
  ) {
    const a = randomTensor(sa, seed++);
    const b = add(randomTensor(sb, seed++), tensor(3)); // keep divisors away from 0
    const [ga, gb] = await onGpu(a, b);
    for (const [name, op] of [["add", add], ["sub", sub], ["mul", mul], ["div", div]] as const) {
      const expected = op(a, b);
      const actual = op(ga, gb);
      assert.deepEqual(actual.shape, expected.shape);
      await assertClose(actual, expected, ELEMENTWISE).catch((e) => {
        throw new Error(`${name} ${sa} ${sb}: ${e.message}`);
      });
    }
    await assertClose(scale(ga, -0.37), scale(a, -0.37), ELEMENTWISE);
  }
  assert.throws(
    () => add(ones([2, 3]), ones([4])),
    /add: a \[2, 3\] and b \[4\] cannot be broadcast/,
  );
});

// |error| <= 4 sqrt(K) eps32 (|A||B|)_ij + 1e-6: the probabilistic bound for a
// float32 dot product of length K (see the reliability notes).
function absolute(t: Tensor): Promise<Tensor> {
  return t.data().then((d) => tensor(d.map(Math.abs), t.shape));
}

Deno.test("matmul matches the cpu reference within a sqrt(K)-scaled bound, all transposes", async () => {
  let seed = 100;
  for (const M of [1, 3, 17, 65]) {
    for (const K of [1, 7, 129]) {
      for (const N of [1, 5, 33, 257]) {
        for (const [ta, tb] of [[false, false], [false, true], [true, false], [true, true]]) {
          if ((M + K + N + seed) % 3 !== 0) { // a third of the grid keeps the run short
            seed++;
            continue;
          }
          const batch = 1 + (seed % 3);
          const a = randomTensor([batch, ...(ta ? [K, M] : [M, K])], seed++);
          const b = randomTensor(
            seed % 2 ? [...(tb ? [N, K] : [K, N])] : [batch, ...(tb ? [N, K] : [K, N])],
            seed++,
          );
          const opts = { transposeA: ta, transposeB: tb, alpha: 0.75 };
          const [ga, gb] = await onGpu(a, b);
          const expected = await matmul(a, b, opts).data();
          const actual = await matmul(ga, gb, opts).data();
          const bound = await matmul(await absolute(a), await absolute(b), opts).data();
          const eps = 2 ** -24;
          for (let i = 0; i < expected.length; i++) {
            const tol = 4 * Math.sqrt(K) * eps * bound[i] + 1e-6;
            assert.ok(
              Math.abs(actual[i] - expected[i]) <= tol,
              `matmul M=${M} K=${K} N=${N} ta=${ta} tb=${tb} at ${i}: ${actual[i]} vs ${
                expected[i]
              }`,
            );
          }
        }
      }
    }
  }
  assert.throws(() => matmul(ones([2, 3]), ones([4, 5])), /inner dimensions 3 and 4 differ/);
  assert.throws(() => matmul(ones([2, 2, 3]), ones([3, 3, 5])), ShapeError);
});

Deno.test("linear with and without bias matches the cpu reference", async () => {
  for (const [rows, inF, outF] of [[1, 1, 1], [7, 3, 5], [65, 17, 9]]) {
    const x = randomTensor([2, rows, inF], rows);
    const w = randomTensor([outF, inF], inF);
    const b = randomTensor([outF], outF);
    const [gx, gw, gb] = await onGpu(x, w, b);
    await assertClose(linear(gx, gw, gb), linear(x, w, b), { rtol: 1e-5, atol: 1e-5 });
    await assertClose(linear(gx, gw), linear(x, w), { rtol: 1e-5, atol: 1e-5 });
  }
});

Deno.test("softmax matches the cpu reference, rows sum to 1, masked entries are exact zeros", async () => {
  let seed = 500;
  for (const cols of SIZES) {
    const rows = 1 + (cols % 5);
    const x = scale(randomTensor([rows, cols], seed++), 8);
    const mask = triu(ones([rows, cols]), 1);
    const masked = maskedFill(x, mask, -Infinity);
    const [gMasked] = await onGpu(masked);
    const expected = softmax(masked, { scale: 0.3 });
    const actual = softmax(gMasked, { scale: 0.3 });
    await assertClose(actual, expected, { rtol: 2e-5, atol: 1e-6 });
    const values = await actual.data();
    const maskValues = await mask.data();
    for (let r = 0; r < rows; r++) {
      let sum = 0;
      for (let c = 0; c < cols; c++) {
        const v = values[r * cols + c];
        if (maskValues[r * cols + c]) assert.ok(Object.is(v, 0), `masked (${r}, ${c}) is ${v}`);
        sum += v;
      }
      assert.ok(Math.abs(sum - 1) <= 1e-5, `row ${r} of ${cols} sums to ${sum}`);
    }
  }
});

Deno.test("a fully masked softmax row gives zeros, not NaN, on both devices", async () => {
  const x = tensor([[-Infinity, -Infinity, -Infinity], [1, -Infinity, 2]]);
  const [gx] = await onGpu(x);
  for (const t of [x, gx]) {
    const out = await softmax(t).toArray() as number[][];
    assert.deepEqual(out[0], [0, 0, 0]);
    assert.equal(out[1][1], 0);
    assert.ok(Math.abs(out[1][0] + out[1][2] - 1) < 1e-6);
  }
});

Deno.test("maskedFill reads the mask's [:T, :T] corner and broadcasts it over batches", async () => {
  const x = randomTensor([3, 5, 5], 9);
  const mask = triu(ones([5, 5]), 1);
  const [gx, gm] = await onGpu(x, mask);
  const expected = await maskedFill(x, mask, -Infinity).data();
  assert.deepEqual(await maskedFill(gx, gm, -Infinity).data(), expected);
  assert.equal(expected[1], -Infinity);
  assert.throws(
    () => maskedFill(x, ones([4, 4]), 0),
    /maskedFill: input \[3, 5, 5\] and mask \[4, 4\] cannot be broadcast together/,
  );
});

Deno.test("dropout drops the same elements on cpu and webgpu and scales by 1/(1-p)", async () => {
  for (const n of [1, 7, 257, 4099]) {
    const x = add(randomTensor([n], n), tensor(5)); // no zeros in the input
    const [gx] = await onGpu(x);
    const expected = await dropout(x, 0.3, { seed: 1234n + BigInt(n), offset: 2 }).data();
    const actual = await dropout(gx, 0.3, { seed: 1234n + BigInt(n), offset: 2 }).data();
    assert.deepEqual(actual, expected);
    const source = await x.data();
    let dropped = 0;
    for (let i = 0; i < n; i++) {
      if (expected[i] === 0) dropped++;
      else assert.equal(expected[i], Math.fround(source[i] * Math.fround(1 / 0.7)));
    }
    if (n === 4099) assert.ok(Math.abs(dropped / n - 0.3) < 0.03, `dropped ${dropped} of ${n}`);
  }
});

Deno.test("transpose and reshape agree with matmul's in-place transposes", async () => {
  const a = randomTensor([2, 7, 3], 77);
  const b = randomTensor([2, 5, 3], 78);
  const [ga, gb] = await onGpu(a, b);
  await assertClose(
    matmul(ga, transpose(gb)),
    matmul(ga, gb, { transposeB: true }),
    { rtol: 0, atol: 0 },
  );
  assert.deepEqual(reshape(ga, [14, 3]).shape, [14, 3]);
});
