// Layout ops on webgpu against the cpu reference on awkward shapes, int32
// bit-exactness, zero-copy views, the PyTorch fixtures (layout and extrema)
// and gradients with no leaks.

import assert from "node:assert/strict";
import {
  argmax,
  cat,
  gpuStats,
  grad,
  mul,
  permute,
  slice,
  squeeze,
  stack,
  sum,
  type Tensor,
  tensor,
  toDevice,
  topk,
  transpose,
  unsqueeze,
} from "../../mod.ts";
import { bits, gpu, randomTensor } from "../helpers.ts";
import { CASES, checkCase, decode, type Encoded, runCase } from "../layout_cases.ts";

async function onGpu<T extends Tensor[]>(...ts: T): Promise<T> {
  const device = await gpu();
  return await Promise.all(ts.map((t) => toDevice(t, device))) as T;
}

async function assertSame(actual: Tensor, expected: Tensor, what: string): Promise<void> {
  assert.equal(actual.dtype, expected.dtype, what);
  assert.deepEqual(actual.shape, expected.shape, what);
  const a = await actual.data();
  const e = await expected.data();
  assert.deepEqual(bits(a), bits(e), what);
}

/** Random int32 ids spanning the whole range (values a float copy would corrupt). */
function randomInts(shape: number[], seed: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Int32Array(n);
  let s = seed * 2654435761 >>> 0;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    out[i] = s | 0;
  }
  return tensor(out, shape);
}

Deno.test("cat on webgpu equals the cpu's on every dim, many parts and int32", async () => {
  let seed = 1;
  const cases: [number[][], number][] = [
    [[[1], [3], [7]], 0],
    [[[17, 3], [17, 5], [17, 1]], 1],
    [[[2, 65, 3], [2, 7, 3]], 1],
    [[[3, 4, 1], [3, 4, 2]], -1],
    [[[257, 5], [1, 5], [0, 5]], 0],
    [[[70, 3], [70, 0], [70, 2]], 1], // 210 blocks: the transposing path
    [[[2, 0, 4], [2, 0, 4]], 1],
  ];
  for (const [shapes, dim] of cases) {
    for (const int of [false, true]) {
      const parts = shapes.map((s) => int ? randomInts(s, seed++) : randomTensor(s, seed++));
      const expected = cat(parts, dim);
      await assertSame(cat(await onGpu(...parts), dim), expected, `cat ${shapes} ${dim} ${int}`);
    }
  }
  const many = Array.from({ length: 80 }, (_, i) => randomInts([1, 3], i));
  await assertSame(cat(await onGpu(...many), 0), cat(many, 0), "80 parts along dim 0");
  await assertSame(cat(await onGpu(...many), 1), cat(many, 1), "80 parts along dim 1");
});

Deno.test("permute, transpose, slice and stack on webgpu equal the cpu's bit for bit", async () => {
  let seed = 40;
  for (const shape of [[1, 1], [3, 7], [17, 1, 5], [2, 65, 3], [257, 3, 1, 2]]) {
    for (const int of [false, true]) {
      const x = int ? randomInts(shape, seed++) : randomTensor(shape, seed++);
      const [gx] = await onGpu(x);
      const rank = shape.length;
      const reversed = shape.map((_, i) => rank - 1 - i);
      const rotated = shape.map((_, i) => (i + 1) % rank);
      for (const dims of [reversed, rotated]) {
        await assertSame(permute(gx, dims), permute(x, dims), `permute ${shape} ${dims}`);
      }
      await assertSame(transpose(gx, 0, -1), transpose(x, 0, -1), `transpose ${shape}`);
      const ranges: [number, number][] = shape.map((d, i) => i % 2 ? [-d + 1, 99] : [0, d - 1]);
      await assertSame(slice(gx, ...ranges), slice(x, ...ranges), `slice ${shape}`);
      await assertSame(stack([gx, gx], 1), stack([x, x], 1), `stack ${shape}`);
      await assertSame(unsqueeze(gx, -1), unsqueeze(x, -1), `unsqueeze ${shape}`);
      await assertSame(squeeze(gx), squeeze(x), `squeeze ${shape}`);
    }
  }
});

Deno.test("unsqueeze, squeeze and order-keeping permutes on webgpu allocate nothing", async () => {
  const device = await gpu();
  const [x] = await onGpu(randomTensor([3, 1, 4], 9));
  const before = gpuStats(device).buffersInUse;
  const views = [unsqueeze(x, 0), squeeze(x), squeeze(x, 1), permute(x, [1, 0, 2])];
  assert.equal(gpuStats(device).buffersInUse, before);
  for (const v of views) {
    await assertSame(
      v,
      await x.data().then((d) => tensor(d, v.shape)),
      "view",
    );
  }
  views.forEach((v) => v.dispose());
});

Deno.test("layout and extrema errors on webgpu allocate nothing", async () => {
  const device = await gpu();
  const [a, b, ids, wide] = await onGpu(
    randomTensor([2, 3], 1),
    randomTensor([3, 3], 2),
    tensor(new Int32Array([1, 2, 3, 4, 5, 6]), [2, 3]),
    randomTensor([200], 3),
  );
  const before = gpuStats(device).buffersInUse;
  assert.throws(() => cat([a, b], 1), /cat: tensors\[1\] has shape \[3, 3\]/);
  assert.throws(() => cat([a, ids], 0), /cat: tensors\[1\] has dtype int32/);
  assert.throws(() => slice(a, [0, 1.5]), /slice: the range for dimension 0/);
  assert.throws(() => slice(a, [0, 1], [NaN, 2]), /dimension 1/);
  assert.throws(() => permute(a, [0, 0]), /repeats a dimension/);
  assert.throws(() => topk(a, 4), /topk: k must be a whole number from 0 to 3/);
  assert.throws(() => topk(wide, 129), /exceeds 128/);
  assert.throws(() => argmax(ids), /argmax: x has dtype int32/);
  assert.equal(gpuStats(device).buffersInUse, before);
});

Deno.test("layout and extrema fixtures from PyTorch 1.13 hold on webgpu", async () => {
  for (const c of CASES) {
    const inputs = await onGpu(...c.inputs.map((e) => decode(e as Encoded, c.int32 === true)));
    await checkCase(c, inputs[0], runCase(c, inputs));
  }
});

Deno.test("layout gradients on webgpu equal the cpu's and the trace leaks nothing", async () => {
  const device = await gpu();
  let seed = 70;
  const r = (...shape: number[]) => randomTensor(shape, seed++);
  const cases: [string, Tensor[], (ps: Tensor[]) => Tensor][] = [
    ["cat", [r(2, 3, 4), r(2, 1, 4), r(2, 5, 4)], (p) => cat(p, 1)],
    ["cat, many blocks", [r(70, 2), r(70, 1)], (p) => cat(p, 1)],
    ["stack", [r(3, 5), r(3, 5)], (p) => stack(p, -1)],
    ["permute", [r(2, 3, 4)], (p) => permute(p[0], [1, 2, 0])],
    ["slice", [r(5, 7)], (p) => slice(p[0], [1, -1], [-5, 6])],
    ["unsqueeze and squeeze", [r(3, 1, 4)], (p) => unsqueeze(squeeze(p[0]), 0)],
  ];
  for (const [name, params, f] of cases) {
    const probe = f(params);
    const R = randomTensor(probe.shape, seed++);
    const loss = (p: { ps: Tensor[] }, w: Tensor) => sum(mul(f(p.ps), w));
    const expected = grad(loss)({ ps: params }, R).ps;
    const onDevice = await toDevice({ ps: params, R }, device);
    const before = gpuStats(device).buffersInUse;
    const actual = grad(loss)({ ps: onDevice.ps }, onDevice.R).ps;
    for (let k = 0; k < params.length; k++) {
      await assertSame(actual[k], expected[k], `${name} d/dparams[${k}]`);
      actual[k].dispose();
    }
    const after = gpuStats(device).buffersInUse;
    assert.ok(after <= before, `${name}: the trace leaks nothing (${before} -> ${after} buffers)`);
  }
});
