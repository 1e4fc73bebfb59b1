// Tensors larger than one storage binding (issue 11). With an injected small
// binding limit, embedding and linear/matmul split the weight into bindable
// row blocks and match the CPU, forward and backward; every other op refuses
// such a tensor with DeviceLimitError before any GPU work. Then one real
// weight over llvmpipe's 128 MiB binding: upload, readback, embedding, linear.

import assert from "node:assert/strict";
import {
  add,
  assertClose,
  DeviceLimitError,
  embedding,
  gpuStats,
  linear,
  matmul,
  mul,
  releaseCachedMemory,
  slice,
  sum,
  type Tensor,
  tensor,
  toDevice,
  transpose,
  valueAndGrad,
} from "../../mod.ts";
import { bits, gpu, randomTensor, withBindingLimit } from "../helpers.ts";

Deno.test("large tensors: the device asks for the adapter's buffer and binding limits", async () => {
  const device = await gpu();
  const adapter = await navigator.gpu.requestAdapter();
  assert.ok(adapter);
  assert.equal(
    device.gpu.limits.maxStorageBufferBindingSize,
    adapter.limits.maxStorageBufferBindingSize,
  );
  assert.equal(device.gpu.limits.maxBufferSize, adapter.limits.maxBufferSize);
});

Deno.test("large tensors: embedding over an injected binding limit matches cpu", async () => {
  const device = await gpu();
  // [257, 16] floats = 16448 bytes: three blocks of at most 128 rows under 8192.
  await withBindingLimit(device, 8192, async () => {
    const weight = randomTensor([257, 16], 1);
    const idsData = new Int32Array([0, 127, 128, 255, 256, 3, 128, 256, 0, 200, 127, 64, 130, 5]);
    const ids = tensor(idsData, [2, 7]);
    const cot = randomTensor([2, 7, 16], 2);
    const [w, i, c] = await toDevice([weight, ids, cot], device);
    const before = gpuStats(device).buffersInUse;
    const out = embedding(w, i);
    assert.deepEqual(bits(await out.data()), bits(await embedding(weight, ids).data()));
    const grad = (x: Tensor, j: Tensor, k: Tensor) => {
      const { value, grads } = valueAndGrad((p: { w: Tensor }) => sum(mul(embedding(p.w, j), k)))(
        { w: x },
      );
      value.dispose();
      return grads.w;
    };
    const g = grad(w, i, c);
    assert.deepEqual(bits(await g.data()), bits(await grad(weight, ids, cot).data()));
    out.dispose();
    g.dispose();
    assert.equal(gpuStats(device).buffersInUse, before);
    for (const t of [w, i, c]) t.dispose();
  });
});

Deno.test("large tensors: linear and matmul(transposeB) over an injected limit match cpu", async () => {
  const device = await gpu();
  await withBindingLimit(device, 8192, async () => {
    const weight = randomTensor([257, 16], 3);
    const bias = randomTensor([257], 4);
    const x = randomTensor([5, 16], 5);
    const x3 = randomTensor([2, 3, 16], 6);
    const [w, b, xg, x3g] = await toDevice([weight, bias, x, x3], device);
    await assertClose(linear(xg, w, b), linear(x, weight, bias), { rtol: 1e-5, atol: 1e-5 });
    await assertClose(linear(x3g, w), linear(x3, weight), { rtol: 1e-5, atol: 1e-5 });
    await assertClose(
      matmul(xg, w, { transposeB: true, alpha: 0.5 }),
      matmul(x, weight, { transposeB: true, alpha: 0.5 }),
      { rtol: 1e-5, atol: 1e-5 },
    );
    const row = randomTensor([16], 7);
    await assertClose(
      matmul(await toDevice(row, device), w, { transposeB: true }),
      matmul(row, weight, { transposeB: true }),
      { rtol: 1e-5, atol: 1e-5 },
    );
    // Backward: gradients for both the input and the big weight.
    const cot = randomTensor([5, 257], 8);
    const cotG = await toDevice(cot, device);
    const loss = (p: { x: Tensor; w: Tensor }, c: Tensor) => sum(mul(linear(p.x, p.w), c));
    const onGpu = valueAndGrad(loss)({ x: xg, w }, cotG);
    const onCpu = valueAndGrad(loss)({ x, w: weight }, cot);
    await assertClose(onGpu.value, onCpu.value, { rtol: 1e-4, atol: 1e-4 });
    await assertClose(onGpu.grads.x, onCpu.grads.x, { rtol: 1e-5, atol: 1e-5 });
    await assertClose(onGpu.grads.w, onCpu.grads.w, { rtol: 1e-5, atol: 1e-5 });
    for (const t of [w, b, xg, x3g, cotG, onGpu.value, onGpu.grads.x, onGpu.grads.w]) t.dispose();
  });
});

Deno.test("large tensors: a linear output over the binding limit is joined by copies", async () => {
  const device = await gpu();
  await withBindingLimit(device, 8192, async () => {
    // Output [40, 257] = 41120 bytes: blocks of at most 48 weight rows keep each [40, rows] part bindable.
    const weight = randomTensor([257, 16], 11);
    const x = randomTensor([2, 20, 16], 12);
    const [w, xg] = await toDevice([weight, x], device);
    const before = gpuStats(device).buffersInUse;
    const y = linear(xg, w);
    assert.deepEqual(y.shape, [2, 20, 257]);
    await assertClose(y, linear(x, weight), { rtol: 1e-5, atol: 1e-5 });
    y.dispose();
    assert.equal(gpuStats(device).buffersInUse, before);
    for (const t of [w, xg]) t.dispose();
  });
});

Deno.test("large tensors: slices whose span fits one binding read a big tensor in place", async () => {
  const device = await gpu();
  await withBindingLimit(device, 8192, async () => {
    const host = randomTensor([257, 16], 13);
    const ids = tensor(Int32Array.from({ length: 257 * 16 }, (_, i) => i * 7919 - 2 ** 30), [
      257,
      16,
    ]);
    const [big, bigIds] = await toDevice([host, ids], device);
    // The last position, a block of rows, and a strided corner within one binding.
    const cases: [number, number][][] = [[[256, 257]], [[100, 110]], [[5, 60], [3, 9]]];
    for (const ranges of cases) {
      for (const [g, c] of [[big, host], [bigIds, ids]]) {
        const part = slice(g, ...ranges);
        assert.deepEqual(bits(await part.data()), bits(await slice(c, ...ranges).data()));
        part.dispose();
      }
    }
    // A span over one binding still refuses, naming the op.
    assert.throws(
      () => slice(big, [0, 257], [3, 5]),
      /slice: .* over the device's maxStorageBufferBindingSize/,
    );
    assert.throws(() => transpose(big), DeviceLimitError);
    big.dispose();
    bigIds.dispose();
  });
});

Deno.test("large tensors: other ops refuse a tensor over the binding limit, naming it", async () => {
  const device = await gpu();
  await withBindingLimit(device, 8192, async () => {
    const big = await toDevice(randomTensor([257, 16], 9), device);
    const small = await toDevice(randomTensor([16, 2], 1), device);
    const row = await toDevice(randomTensor([16], 2), device);
    const before = gpuStats(device);
    // Broadcasting: only same-shape elementwise ops run over the limit in blocks.
    assert.throws(() => add(big, row), (e: unknown) => {
      assert.ok(e instanceof DeviceLimitError, String(e));
      assert.equal(
        e.message,
        "add: a [257, 16] needs 16448 bytes, over the device's maxStorageBufferBindingSize " +
          "of 8192 bytes",
      );
      return true;
    });
    // Not transposed: the big-weight path does not apply.
    assert.throws(() => matmul(big, small), /matmul: a \[257, 16\] needs 16448 bytes/);
    assert.equal(gpuStats(device).buffersInUse, before.buffersInUse);
    assert.equal(gpuStats(device).dispatches, before.dispatches);
    // Readback and disposal need no binding.
    assert.equal((await big.data()).length, 257 * 16);
    big.dispose();
    small.dispose();
    row.dispose();
  });
});

Deno.test("large tensors: a real 135 MB weight (over 128 MiB) uploads, reads back, embeds, multiplies", async () => {
  const device = await gpu();
  const rows = 33000;
  const dim = 1024;
  const bytes = rows * dim * 4;
  assert.ok(bytes > device.gpu.limits.maxStorageBufferBindingSize);
  const host = new Float32Array(rows * dim);
  for (let i = 0; i < host.length; i++) host[i] = ((i * 7919) % 2003) / 1024 - 1;
  const w = tensor(host, [rows, dim], { device });
  const back = await w.data();
  assert.equal(back.length, host.length);
  const backBits = bits(back);
  const hostBits = bits(host);
  let mismatch = -1;
  for (let i = 0; i < hostBits.length && mismatch < 0; i++) {
    if (backBits[i] !== hostBits[i]) mismatch = i;
  }
  assert.equal(mismatch, -1, "readback differs from the upload");

  const idList = [0, 1, 32767, 32768, 32999, 16384, 32768];
  const ids = tensor(idList, undefined, { dtype: "int32", device });
  const out = await embedding(w, ids).data();
  idList.forEach((id, r) => {
    assert.deepEqual(
      bits(out.subarray(r * dim, (r + 1) * dim)),
      bits(host.subarray(id * dim, (id + 1) * dim)),
      `row ${id}`,
    );
  });

  const xHost = new Float32Array(2 * dim);
  for (let i = 0; i < xHost.length; i++) xHost[i] = ((i * 31) % 17) / 16 - 0.5;
  const x = tensor(xHost, [2, dim], { device });
  const y = linear(x, w);
  assert.deepEqual(y.shape, [2, rows]);
  const yHost = await y.data();
  for (const r of [0, 1]) {
    for (const col of [0, 5, 32767, 32768, 32999]) {
      let dot = 0;
      for (let k = 0; k < dim; k++) dot += xHost[r * dim + k] * host[col * dim + k];
      const got = yHost[r * rows + col];
      assert.ok(Math.abs(got - dot) <= 1e-3 * Math.max(1, Math.abs(dot)), `y[${r}, ${col}]`);
    }
  }
  for (const t of [w, ids, x, y]) t.dispose();
  // Later tests need not share the machine with a pooled 135 MB buffer.
  releaseCachedMemory(device);
});
