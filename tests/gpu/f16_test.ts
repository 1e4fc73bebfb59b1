// float16 on webgpu: bit-exact moves and casts against the CPU path (NaN
// payloads, subnormals, odd sizes), layout copies, printing, memory, the
// error on a device without shader-f16, and the f16 kernels (elementwise,
// matmul) against their float32 counterparts and the CPU float16 path.

import assert from "node:assert/strict";
import {
  cast,
  cat,
  cpu,
  DTypeError,
  format,
  gpuStats,
  slice,
  type Tensor,
  tensor,
  toDevice,
  toF16Bits,
  transpose,
} from "../../mod.ts";
import { runtimeOf } from "../../src/device.ts";
import { cpuTensor } from "../../src/tensor.ts";
import { gpu, randomData } from "../helpers.ts";

const SIZES = [1, 3, 7, 17, 65, 257, 70_000];

/** Random halves: values in [-2, 2) plus NaN payloads, infinities, subnormals and -0. */
function halfBits(n: number, seed: number): Uint16Array {
  const out = toF16Bits(randomData(n, seed));
  const specials = [0x7e01, 0xfe3f, 0x7c00, 0xfc00, 0x0001, 0x83ff, 0x8000, 0x7bff];
  for (let i = 0; i < specials.length && i * 5 < n; i++) out[i * 5] = specials[i];
  return out;
}

/** The binary16 bits a float16 tensor holds (through a cpu move, which never widens). */
async function bitsOf(t: Tensor): Promise<Uint16Array> {
  const host = t.device.kind === "cpu" ? t : await toDevice(t, cpu);
  return toF16Bits(await host.data());
}

Deno.test("f16 webgpu: the default device has shader-f16", async () => {
  const device = await gpu();
  assert.ok(device.gpu.features.has("shader-f16"));
  assert.equal(runtimeOf(device).shaderF16, true);
});

Deno.test("f16 webgpu: toDevice round trips are bitwise, with half the bytes of f32", async () => {
  const device = await gpu();
  for (const n of SIZES) {
    const bits = halfBits(n, n);
    const src = { x: cpuTensor(bits, [n]) };
    const before = gpuStats(device).bytesInUse;
    const onGpu = await toDevice(src.x, device);
    assert.equal(onGpu.dtype, "float16");
    assert.equal(gpuStats(device).bytesInUse - before, Math.max(16, Math.ceil(n * 2 / 16) * 16));
    assert.deepEqual(await bitsOf(onGpu), bits, `n = ${n}`);
    const back = await toDevice(onGpu, cpu);
    assert.equal(back.dtype, "float16");
    assert.deepEqual(await bitsOf(back), bits, `n = ${n}`);
    onGpu.dispose();
  }
});

Deno.test("f16 webgpu: cast matches the CPU bits in every direction", async () => {
  const device = await gpu();
  for (const n of SIZES) {
    const data = randomData(n, 100 + n).map((v, i) =>
      i % 11 === 0 ? v * 1e-6 : i % 13 === 0 ? v * 4e4 : v * 3
    );
    if (n > 5) data.set([NaN, Infinity, -Infinity, 65520, 2 ** -25 * 3], 0);
    const x = tensor(data);
    const xg = await toDevice(x, device);
    const hc = cast(x, "float16");
    const hg = cast(xg, "float16");
    assert.equal(hg.dtype, "float16");
    assert.deepEqual(await bitsOf(hg), await bitsOf(hc), `f32 -> f16, n = ${n}`);
    const fc = cast(hc, "float32");
    const fg = cast(hg, "float32");
    assert.deepEqual(
      new Uint32Array((await fg.data()).buffer),
      new Uint32Array((await fc.data()).buffer),
      `f16 -> f32, n = ${n}`,
    );
    const ic = cast(x, "int32");
    const ig = cast(xg, "int32");
    assert.deepEqual(await ig.data(), await ic.data(), `f32 -> i32, n = ${n}`);
    const back = cast(ig, "float32");
    assert.deepEqual(await back.data(), await cast(ic, "float32").data(), `i32 -> f32, n = ${n}`);
    const ih = cast(ig, "float16");
    assert.deepEqual(await bitsOf(ih), await bitsOf(cast(ic, "float16")), `i32 -> f16, n = ${n}`);
    for (const t of [xg, hg, fg, ig, back, ih]) t.dispose();
  }
});

Deno.test("f16 webgpu: transpose, slice and cat keep dtype and bits", async () => {
  const device = await gpu();
  for (const [r, c] of [[1, 1], [3, 7], [17, 5], [65, 3]]) {
    const x = tensor(randomData(r * c, r * c), [r, c], { dtype: "float16" });
    const xg = await toDevice(x, device);
    const outs: [string, Tensor, Tensor][] = [
      ["transpose", transpose(x), transpose(xg)],
      [
        "slice",
        slice(x, [0, r], [Math.min(1, c - 1), c]),
        slice(xg, [0, r], [Math.min(1, c - 1), c]),
      ],
      ["cat 0", cat([x, x], 0), cat([xg, xg], 0)],
      ["cat 1", cat([x, x], 1), cat([xg, xg], 1)],
    ];
    for (const [name, want, got] of outs) {
      assert.equal(got.dtype, "float16", name);
      assert.deepEqual(got.shape, want.shape, name);
      assert.deepEqual(await bitsOf(got), await bitsOf(want), `${name} [${r}, ${c}]`);
      got.dispose();
    }
    xg.dispose();
  }
});

Deno.test("f16 webgpu: format prints the device, then dtype=torch.float16", async () => {
  const device = await gpu();
  const x = await toDevice(tensor([0.1, 2], undefined, { dtype: "float16" }), device);
  assert.equal(
    await format(x),
    `tensor([0.1000, 2.0000], device='${device.name}', dtype=torch.float16)`,
  );
  x.dispose();
});

Deno.test("f16 webgpu: a device without shader-f16 refuses float16 tensors clearly", async () => {
  const device = await gpu();
  const runtime = runtimeOf(device);
  runtime.shaderF16 = false;
  try {
    const before = gpuStats(device).buffersInUse;
    const half = tensor([1, 2], undefined, { dtype: "float16" });
    assert.throws(
      () => tensor([1, 2], undefined, { dtype: "float16", device }),
      (e) =>
        e instanceof DTypeError && /no shader-f16 feature/.test(e.message) &&
        /use dtype float32/.test(e.message),
    );
    await assert.rejects(
      () => toDevice({ w: half }, device),
      (e) => e instanceof DTypeError && /toDevice: cannot move w/.test(e.message),
    );
    const x = await toDevice(tensor([1, 2]), device);
    assert.throws(() => cast(x, "float16"), DTypeError);
    x.dispose();
    assert.equal(gpuStats(device).buffersInUse, before);
  } finally {
    runtime.shaderF16 = true;
  }
});
