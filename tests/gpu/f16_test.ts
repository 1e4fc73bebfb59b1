// float16 on webgpu: bit-exact moves and casts against the CPU path (NaN
// payloads, subnormals, odd sizes), layout copies, printing, memory, the
// error on a device without shader-f16, and the f16 kernels (elementwise,
// matmul) against their float32 counterparts and the CPU float16 path.

import assert from "node:assert/strict";
import {
  add,
  assertClose,
  cast,
  cat,
  cpu,
  dispose,
  div,
  DTypeError,
  embedding,
  exp,
  format,
  gelu,
  gpuStats,
  layerNorm,
  linear,
  logSoftmax,
  manualSeed,
  maskedFill,
  matmul,
  mul,
  nn,
  parseSafetensors,
  relu,
  reshape,
  safetensorsToStateDict,
  scale,
  slice,
  softmax,
  stateDict,
  stateDictToSafetensors,
  sub,
  tanh,
  type Tensor,
  tensor,
  toDevice,
  toF16Bits,
  transpose,
} from "../../mod.ts";
import { runtimeOf } from "../../src/device.ts";
import { biasGelu } from "../../src/ops/unary.ts";
import { loopBound } from "../../src/gpu/loop_bound.ts";
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

Deno.test("f16 webgpu: slicing rows of a tensor larger than one binding binds just them", async () => {
  const device = await gpu();
  const runtime = runtimeOf(device);
  const x = half([300, 7], 4242); // 4200 bytes
  const xg = await toDevice(x, device);
  const saved = runtime.maxBindingBytes;
  runtime.maxBindingBytes = 1024;
  try {
    for (const [r0, r1] of [[0, 1], [150, 153], [299, 300], [37, 101]]) {
      const got = slice(xg, [r0, r1]);
      assert.equal(got.dtype, "float16");
      assert.deepEqual(await bitsOf(got), await bitsOf(slice(x, [r0, r1])), `rows ${r0}..${r1}`);
      got.dispose();
    }
  } finally {
    runtime.maxBindingBytes = saved;
  }
  xg.dispose();
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

// Documented tolerance of the f16 kernels: each output is the f32 result
// rounded once to f16, so it is within one f16 ulp (2^-10 relative) of the
// f32 kernel's result on the same (f16) inputs rounded to f16 (overflow past
// 65504 gives inf on both sides); against the CPU f16 path within two ulps,
// as a different f32 summation order can land on the other side of a rounding.
const F16_VS_F32 = { rtol: 2 ** -10, atol: 1e-6 };

/** The f32 kernel's result rounded to f16 (what an f16 kernel should give). */
async function rounded(t: Tensor): Promise<Tensor> {
  const h = cast(t, "float16");
  const out = await toDevice(h, cpu);
  h.dispose();
  t.dispose();
  return out;
}
const F16_VS_CPU = { rtol: 2 ** -9, atol: 1e-5 };

/** A float16 tensor of random values in [-2, 2) on `device`. */
function half(shape: number[], seed: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tensor(randomData(n, seed), shape, { dtype: "float16" });
}

Deno.test("f16 webgpu: add, sub, mul, div equal the f32 kernels and the CPU f16 path", async () => {
  const device = await gpu();
  const before = gpuStats(device).buffersInUse;
  const cases: [number[], number[]][] = [
    [[1], [1]],
    [[3], [3]],
    [[7, 17], [7, 17]],
    [[65, 257], [257]],
    [[17, 3, 7], [3, 1]],
    [[70_000], [70_000]],
  ];
  for (const [sa, sb] of cases) {
    const a = half(sa, sa.length * 31 + sa[0]);
    const b = half(sb, sb.length * 17 + sb[0] + 1);
    const ag = await toDevice(a, device);
    const bg = await toDevice(b, device);
    const a32 = cast(ag, "float32");
    const b32 = cast(bg, "float32");
    for (const [name, fn] of [["add", add], ["sub", sub], ["mul", mul], ["div", div]] as const) {
      const got = fn(ag, bg);
      assert.equal(got.dtype, "float16", name);
      const want32 = fn(a32, b32);
      const cpuHalf = fn(a, b);
      assert.equal(cpuHalf.dtype, "float16");
      const values = await got.data();
      assert.ok(values.some((v) => v !== 0), `${name}: not all zeros (deno#23125)`);
      await assertClose(got, await rounded(want32), F16_VS_F32);
      await assertClose(got, cpuHalf, F16_VS_CPU);
      got.dispose();
    }
    for (const t of [ag, bg, a32, b32]) t.dispose();
  }
  assert.equal(gpuStats(device).buffersInUse, before);
});

Deno.test("f16 webgpu: NaN and infinities propagate; overflow rounds to inf", async () => {
  const device = await gpu();
  const a = await toDevice(
    tensor([NaN, Infinity, 60000, 1, -Infinity, 2], undefined, { dtype: "float16" }),
    device,
  );
  const b = await toDevice(
    tensor([1, 1, 60000, NaN, Infinity, 0], undefined, { dtype: "float16" }),
    device,
  );
  const sum = add(a, b);
  const values = [...await sum.data()];
  assert.ok(Number.isNaN(values[0]) && Number.isNaN(values[3]) && Number.isNaN(values[4]));
  assert.deepEqual([values[1], values[2], values[5]], [Infinity, Infinity, 2]);
  const q = div(a, b);
  assert.equal((await q.data())[5], Infinity);
  const e = exp(a);
  const ev = [...await e.data()];
  assert.ok(Number.isNaN(ev[0]));
  assert.deepEqual([ev[1], ev[2], ev[4]], [Infinity, Infinity, 0]);
  for (const t of [a, b, sum, q, e]) t.dispose();
});

Deno.test("f16 webgpu: unary ops and scale equal the f32 kernels and the CPU f16 path", async () => {
  const device = await gpu();
  for (const n of [1, 7, 257, 70_000]) {
    const x = half([n], 500 + n);
    const xg = await toDevice(x, device);
    const x32 = cast(xg, "float32");
    const ops: [string, (t: Tensor) => Tensor][] = [
      ["exp", exp],
      ["tanh", tanh],
      ["gelu", (t) => gelu(t)],
      ["relu", relu],
      ["scale", (t) => scale(t, 0.37)],
    ];
    for (const [name, fn] of ops) {
      const got = fn(xg);
      assert.equal(got.dtype, "float16", name);
      const want32 = fn(x32);
      await assertClose(got, await rounded(want32), F16_VS_F32);
      await assertClose(got, fn(x), F16_VS_CPU);
      got.dispose();
    }
    xg.dispose();
    x32.dispose();
  }
});

Deno.test("f16 webgpu: matmul equals f32 matmul and the CPU f16 path at every tile edge", async () => {
  const device = await gpu();
  const before = gpuStats(device).buffersInUse;
  const sizes = [1, 3, 7, 17, 65, 129, 257];
  const shapes: [number, number, number][] = [];
  for (const m of sizes) shapes.push([m, sizes[(m * 7) % sizes.length], sizes[(m * 3 + 1) % 7]]);
  shapes.push([4, 8, 16], [64, 64, 64], [129, 17, 257]);
  let seed = 900;
  for (const [M, K, N] of shapes) {
    for (const transposeB of [false, true]) {
      const a = half([M, K], seed++);
      const b = half(transposeB ? [N, K] : [K, N], seed++);
      const ag = await toDevice(a, device);
      const bg = await toDevice(b, device);
      const got = matmul(ag, bg, { transposeB });
      assert.equal(got.dtype, "float16");
      const a32 = cast(ag, "float32");
      const b32 = cast(bg, "float32");
      const want32 = matmul(a32, b32, { transposeB });
      const label = `[${M}, ${K}] @ [${K}, ${N}]${transposeB ? " (b^T)" : ""}`;
      const values = await got.data();
      assert.ok(values.some((v) => v !== 0), `${label}: not all zeros`);
      await assertClose(got, await rounded(want32), { ...F16_VS_F32, atol: 1e-4 }).catch((e) => {
        throw new Error(`${label}: ${e.message}`);
      });
      const cpuHalf = matmul(a, b, { transposeB });
      assert.equal(cpuHalf.dtype, "float16");
      await assertClose(got, cpuHalf, { ...F16_VS_CPU, atol: 1e-3 }).catch((e) => {
        throw new Error(`${label} vs cpu: ${e.message}`);
      });
      for (const t of [ag, bg, got, a32, b32]) t.dispose();
    }
  }
  // op(A) transposed in memory (the aligned a_rows_t loads when M % 4 == 0), and batched.
  for (const [M, K, N] of [[4, 8, 16], [64, 64, 64], [17, 65, 129], [3, 7, 5]]) {
    const a = await toDevice(half([2, K, M], seed++), device);
    const b = await toDevice(half([2, K, N], seed++), device);
    const got = matmul(a, b, { transposeA: true });
    assert.equal(got.dtype, "float16");
    const [a32, b32] = [cast(a, "float32"), cast(b, "float32")];
    const want = await rounded(matmul(a32, b32, { transposeA: true }));
    await assertClose(got, want, { ...F16_VS_F32, atol: 1e-4 }).catch((e) => {
      throw new Error(`a^T [2, ${K}, ${M}] @ [2, ${K}, ${N}]: ${e.message}`);
    });
    for (const t of [a, b, got, a32, b32]) t.dispose();
  }
  // Batched, with a broadcast weight, and a linear layer.
  const x = await toDevice(half([3, 17, 65], 1), device);
  const w = await toDevice(half([33, 65], 2), device);
  const bias = await toDevice(half([33], 3), device);
  const y = linear(x, w, bias);
  assert.equal(y.dtype, "float16");
  const [x32, w32, b32] = [x, w, bias].map((t) => cast(t, "float32"));
  const y32 = linear(x32, w32, b32);
  await assertClose(y, y32, { rtol: 2 ** -9, atol: 1e-3 });
  for (const t of [x, w, bias, y, x32, w32, b32, y32]) t.dispose();
  assert.equal(gpuStats(device).buffersInUse, before);
});

Deno.test("f16 webgpu: mixed float32 and float16 inputs are a DTypeError naming both", async () => {
  const device = await gpu();
  const before = gpuStats(device).buffersInUse;
  const a = await toDevice(tensor([1, 2], undefined, { dtype: "float16" }), device);
  const b = await toDevice(tensor([1, 2]), device);
  assert.throws(
    () => add(a, b),
    (e) =>
      e instanceof DTypeError &&
      e.message === "add: a has dtype float16 but b has dtype float32; add takes one " +
          'floating dtype: convert one with cast(b, "float16")',
  );
  const [a2, b2] = [reshape(a, [1, 2]), reshape(b, [2, 1])];
  assert.throws(() => matmul(a2, b2), DTypeError);
  for (const t of [a, b, a2, b2]) t.dispose();
  assert.equal(gpuStats(device).buffersInUse, before);
});

Deno.test("f16 webgpu: split-K matmul (a lowered loop bound) accumulates in f32", async () => {
  const device = await gpu();
  const saved = loopBound.max;
  loopBound.max = 40; // K chunks of 32: K = 257 takes 9 splits.
  try {
    const a = half([7, 257], 11);
    const b = half([257, 17], 12);
    const [ag, bg] = [await toDevice(a, device), await toDevice(b, device)];
    const got = matmul(ag, bg);
    assert.equal(got.dtype, "float16");
    const [a32, b32] = [cast(ag, "float32"), cast(bg, "float32")];
    await assertClose(got, await rounded(matmul(a32, b32)), { ...F16_VS_F32, atol: 1e-4 });
    await assertClose(got, matmul(a, b), { ...F16_VS_CPU, atol: 1e-3 });
    for (const t of [ag, bg, got, a32, b32]) t.dispose();
  } finally {
    loopBound.max = saved;
  }
});

Deno.test("f16 webgpu: an nn.linear moved with { dtype: float16 } halves its bytes and runs", async () => {
  const device = await gpu();
  const before = gpuStats(device).bytesInUse;
  const m = nn.linear.init({ inFeatures: 256, outFeatures: 64 });
  const m32 = await toDevice(m, device);
  const bytes32 = gpuStats(device).bytesInUse - before;
  const m16 = await toDevice(m, device, { dtype: "float16" });
  const bytes16 = gpuStats(device).bytesInUse - before - bytes32;
  assert.equal(m16.params.weight.dtype, "float16");
  assert.equal(bytes16 * 2, bytes32);
  const x = tensor(randomData(3 * 256, 77), [3, 256]);
  const x16 = await toDevice(x, device, { dtype: "float16" });
  const y16 = nn.linear.apply(m16, x16);
  assert.equal(y16.dtype, "float16");
  const x32 = await toDevice(x, device);
  const y32 = nn.linear.apply(m32, x32);
  // Inputs and weights rounded to f16 (2^-11 each) over 256 terms: relative error ~1e-3.
  await assertClose(y16, y32, { rtol: 1e-2, atol: 1e-2 });
  // The state dict saves as F16 and loads back onto the device bit for bit.
  const bytes = await stateDictToSafetensors(stateDict(m16));
  const parsed = parseSafetensors(bytes);
  assert.equal(parsed.tensors.get("weight")!.dtype, "F16");
  const loaded = safetensorsToStateDict(bytes, device, { dtype: "float16" });
  assert.equal(loaded.get("weight")!.dtype, "float16");
  assert.deepEqual(await bitsOf(loaded.get("weight")!), await bitsOf(m16.params.weight));
  for (const t of [x16, y16, x32, y32, ...loaded.values()]) t.dispose();
  dispose(m16);
  dispose(m32);
  assert.equal(gpuStats(device).bytesInUse, before);
});

Deno.test("f16 webgpu: embedding gathers float16 rows bit for bit, in row blocks too", async () => {
  const device = await gpu();
  const runtime = runtimeOf(device);
  const before = gpuStats(device).buffersInUse;
  // [vocab, dim, binding limit for the row-block pass (0: none fits the alignment)].
  const cases = [[1, 1, 0], [7, 3, 0], [65, 17, 0], [40, 65, 0], [64, 8, 512], [257, 6, 1024]];
  for (const [vocab, dim, limit] of cases) {
    const weight = half([vocab, dim], vocab * 100 + dim);
    const idList = Array.from({ length: 13 }, (_, i) => (i * 7 + 3) % vocab);
    const ids = tensor(idList, [13], { dtype: "int32" });
    const want = embedding(weight, ids);
    assert.equal(want.dtype, "float16");
    const wg = await toDevice(weight, device);
    const got = embedding(wg, ids);
    assert.equal(got.dtype, "float16");
    assert.deepEqual(await bitsOf(got), await bitsOf(want), `[${vocab}, ${dim}]`);
    // Bound as blocks of a few rows, as a table over one binding would be.
    const saved = runtime.maxBindingBytes;
    runtime.maxBindingBytes = limit || saved;
    try {
      const chunked = embedding(wg, ids);
      assert.deepEqual(await bitsOf(chunked), await bitsOf(want), `[${vocab}, ${dim}] in blocks`);
      chunked.dispose();
    } finally {
      runtime.maxBindingBytes = saved;
    }
    // Ids already on the GPU are not checked: out-of-range rows are NaN.
    const bad = await toDevice(tensor([0, vocab, -1], [3], { dtype: "int32" }), device);
    const nanRows = embedding(wg, bad);
    const rows = await nanRows.data();
    assert.deepEqual([...rows.slice(0, dim)], [...(await weight.data()).slice(0, dim)]);
    assert.ok(rows.slice(dim).every(Number.isNaN));
    for (const t of [wg, got, bad, nanRows]) t.dispose();
  }
  assert.equal(gpuStats(device).buffersInUse, before);
});

Deno.test("f16 webgpu: softmax and logSoftmax equal the f32 kernels, short and long rows", async () => {
  const device = await gpu();
  const before = gpuStats(device).buffersInUse;
  const saved = loopBound.max;
  for (
    const [shape, dim, bound] of [
      [[1], -1, 0],
      [[3, 7], -1, 0],
      [[17, 65], -1, 0],
      [[5, 257], 0, 0],
      [[4, 257], -1, 100], // long rows: the multi-pass path
    ] as [number[], number, number][]
  ) {
    const x = half(shape, shape[0] * 10 + dim);
    const xg = await toDevice(x, device);
    const x32 = cast(xg, "float32");
    loopBound.max = bound || saved;
    try {
      for (const [name, fn] of [["softmax", softmax], ["logSoftmax", logSoftmax]] as const) {
        const got = fn(xg, { dim, scale: 1.5 });
        assert.equal(got.dtype, "float16", name);
        const label = `${name} [${shape}] dim ${dim}`;
        await assertClose(got, await rounded(fn(x32, { dim, scale: 1.5 })), F16_VS_F32).catch(
          (e) => {
            throw new Error(`${label}: ${e.message}`);
          },
        );
        await assertClose(got, fn(x, { dim, scale: 1.5 }), F16_VS_CPU);
        got.dispose();
      }
    } finally {
      loopBound.max = saved;
    }
    xg.dispose();
    x32.dispose();
  }
  // Special values follow the f32 rules: -inf weighs 0, NaN spoils its row.
  const special = await toDevice(
    tensor([[0, -Infinity, 1], [NaN, 0, 0]], undefined, { dtype: "float16" }),
    device,
  );
  const s = softmax(special);
  const values = await s.data();
  assert.equal(values[1], 0);
  assert.ok(values.slice(3).every(Number.isNaN));
  special.dispose();
  s.dispose();
  assert.equal(gpuStats(device).buffersInUse, before);
});

Deno.test("f16 webgpu: layerNorm and biasGelu equal the f32 kernels and the CPU f16 path", async () => {
  const device = await gpu();
  const before = gpuStats(device).buffersInUse;
  for (const [rows, cols] of [[1, 1], [3, 7], [17, 65], [5, 257], [2, 768]]) {
    const x = half([rows, cols], rows * 1000 + cols);
    const w = half([cols], cols + 1);
    const b = half([cols], cols + 2);
    const onGpu = await Promise.all([x, w, b].map((t) => toDevice(t, device)));
    const wide = onGpu.map((t) => cast(t, "float32"));
    const cases: [string, (p: Tensor[]) => Tensor][] = [
      ["layerNorm", ([p, q, r]) => layerNorm(p, q, r)],
      ["biasGelu", ([p, , r]) => biasGelu(p, r, "tanh")],
      ["biasGelu erf", ([p, , r]) => biasGelu(p, r)],
    ];
    for (const [name, fn] of cases) {
      const got = fn(onGpu);
      assert.equal(got.dtype, "float16", name);
      const label = `${name} [${rows}, ${cols}]`;
      await assertClose(got, await rounded(fn(wide)), { ...F16_VS_F32, atol: 1e-5 }).catch((e) => {
        throw new Error(`${label}: ${e.message}`);
      });
      await assertClose(got, fn([x, w, b]), F16_VS_CPU);
      got.dispose();
    }
    for (const t of [...onGpu, ...wide]) t.dispose();
  }
  assert.equal(gpuStats(device).buffersInUse, before);
});

Deno.test("f16 webgpu: maskedFill keeps float16 and fills like float32", async () => {
  const device = await gpu();
  const before = gpuStats(device).buffersInUse;
  const x = half([3, 7, 17], 5);
  const mask = tensor(
    Array.from({ length: 7 * 17 }, (_, i) => (i % 3 === 0 ? 1 : i % 5 === 0 ? -0 : 0)),
    [7, 17],
  );
  const xg = await toDevice(x, device);
  for (const m of [mask, cast(mask, "float16"), cast(mask, "int32")]) {
    const mg = await toDevice(m, device);
    const got = maskedFill(xg, mg, -Infinity);
    assert.equal(got.dtype, "float16");
    const want = maskedFill(x, m, -Infinity);
    assert.equal(want.dtype, "float16");
    assert.deepEqual(await bitsOf(got), await bitsOf(want), `mask ${m.dtype}`);
    const x32 = cast(xg, "float32");
    const f32 = maskedFill(x32, mg, -Infinity);
    assert.deepEqual(await got.data(), await f32.data(), `mask ${m.dtype} vs float32`);
    for (const t of [mg, got, x32, f32]) t.dispose();
  }
  xg.dispose();
  assert.equal(gpuStats(device).buffersInUse, before);
});

Deno.test("f16 webgpu: a GPT moved with { dtype: float16 } halves its bytes; logits stay close", async () => {
  const device = await gpu();
  const before = gpuStats(device).bytesInUse;
  manualSeed(7);
  const config = {
    vocabSize: 97,
    contextLength: 16,
    embDim: 64,
    nHeads: 4,
    nLayers: 2,
    dropRate: 0,
    qkvBias: true,
  };
  const model = nn.gptModel.init(config);
  const ids = tensor([[1, 5, 9, 33, 2, 7, 96, 0], [3, 3, 3, 3, 4, 4, 4, 4]], undefined, {
    dtype: "int32",
  });
  const m32 = await toDevice(model, device);
  const bytes32 = gpuStats(device).bytesInUse - before;
  const m16 = await toDevice(model, device, { dtype: "float16" });
  const bytes16 = gpuStats(device).bytesInUse - before - bytes32;
  assert.equal(bytes16 * 2, bytes32);
  const idsGpu = await toDevice(ids, device);
  const y32 = nn.gptModel.apply(m32, idsGpu); // [2, 8, 97]
  const y16 = nn.gptModel.apply(m16, idsGpu);
  assert.equal(y16.dtype, "float16");
  // The bar: logits within 2e-2 relative of float32 (here ~1e-3 of the largest).
  const [a, b] = [await y16.data(), await y32.data()];
  const scale = Math.max(...b.map(Math.abs));
  const worst = Math.max(...a.map((v, i) => Math.abs(v - b[i])));
  assert.ok(worst <= 2e-2 * scale, `max |f16 - f32| = ${worst}, max |logit| = ${scale}`);
  // And the CPU float16 path (same per-op roundings, other summation orders).
  const cpuHalf = nn.gptModel.apply(await toDevice(model, cpu, { dtype: "float16" }), ids);
  assert.equal(cpuHalf.dtype, "float16");
  await assertClose(y16, cpuHalf, { rtol: 1e-2, atol: 1e-2 * scale });
  for (const t of [idsGpu, y32, y16]) t.dispose();
  dispose(m16);
  dispose(m32);
  assert.equal(gpuStats(device).bytesInUse, before);
});
