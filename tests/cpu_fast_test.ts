// The cpu device's WebAssembly kernels (src/cpu/) against the TypeScript
// reference (the policy in src/cpu/backend.ts): matmul within float32's
// summation error bound, layer norm bit for bit, on awkward shapes,
// transposes, broadcast batches and non-finite values; any thread count
// gives the same bits.

import assert from "node:assert/strict";
import {
  ArgumentError,
  cast,
  cpuBackend,
  cpuThreads,
  layerNorm,
  linear,
  manualSeed,
  matmul,
  type MatmulOptions,
  nn,
  setCpuBackend,
  setCpuThreads,
  ShapeError,
  type Tensor,
  tensor,
} from "../mod.ts";
import { CPU_MATMUL_BLOCKS } from "../src/cpu/matmul.ts";
import { DEFAULT_MAX_THREADS, workersReady } from "../src/cpu/threads.ts";
import { wasmMaskedSoftmax } from "../src/cpu/attention.ts";
import { WASM_SOURCE_SHA256 } from "../src/cpu/wasm_kernels.generated.ts";
import {
  allowFusedMultiplyAdd,
  fmaModule,
  reserveWasmBytes,
  trimWasmMemory,
  WASM_KEEP_BYTES,
  wasmKernels,
} from "../src/cpu/wasm_runtime.ts";
import { renderAllWat } from "../scripts/wasm_wat.ts";
import { bits, randomData, randomTensor } from "./helpers.ts";

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Runs `f` on the reference path and on the wasm path; returns both results' values. */
async function bothPaths(f: () => Tensor): Promise<[Float32Array, Float32Array]> {
  const before = cpuBackend();
  try {
    setCpuBackend("reference");
    const ref = f();
    setCpuBackend("wasm");
    const fast = f();
    const out: [Float32Array, Float32Array] = [
      new Float32Array(await ref.data()),
      new Float32Array(await fast.data()),
    ];
    ref.dispose();
    fast.dispose();
    return out;
  } finally {
    setCpuBackend(before);
  }
}

/** Equal bits, except that any NaN equals any NaN (payloads are not specified). */
function assertSameBits(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  const a = bits(actual), e = bits(expected);
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(actual[i]) && Number.isNaN(expected[i])) continue;
    if (a[i] !== e[i]) {
      assert.fail(`${what}: element ${i} is ${actual[i]} (wasm), reference ${expected[i]}`);
    }
  }
}

/**
 * Runs `matmul(a, b, opts)` on both paths and checks every output against
 * the bound of float32 summation over K terms (Higham's gamma_K) on top of
 * the reference's own rounding: |fast - ref| <= (K + 2) u |alpha| (|a| @ |b|),
 * u = 2^-24. Non-finite outputs must match exactly (NaN for NaN).
 */
async function assertMatmulClose(
  a: Tensor,
  b: Tensor,
  opts: MatmulOptions,
  what: string,
): Promise<void> {
  const [ref, fast] = await bothPaths(() => matmul(a, b, opts));
  const absOf = async (t: Tensor) =>
    tensor(new Float32Array(await t.data()).map(Math.abs), [...t.shape]);
  const [ra, rb] = [await absOf(a), await absOf(b)];
  const [bound] = await bothPaths(() => matmul(ra, rb, { ...opts, alpha: 1 }));
  ra.dispose();
  rb.dispose();
  const K = a.shape.length === 1 ? a.shape[0] : a.shape[a.shape.length - (opts.transposeA ? 2 : 1)];
  const factor = (K + 2) * 2 ** -24 * Math.abs(opts.alpha ?? 1) * 1.001;
  assert.equal(fast.length, ref.length, `${what}: length`);
  for (let i = 0; i < ref.length; i++) {
    if (!Number.isFinite(ref[i]) || !Number.isFinite(fast[i])) {
      if (Object.is(ref[i], fast[i]) || (Number.isNaN(ref[i]) && Number.isNaN(fast[i]))) continue;
      assert.fail(`${what}: element ${i} is ${fast[i]} (wasm), reference ${ref[i]}`);
    }
    const tol = factor * bound[i] + 1e-38;
    if (!(Math.abs(fast[i] - ref[i]) <= tol)) {
      assert.fail(
        `${what}: element ${i} is ${fast[i]} (wasm), reference ${ref[i]}, beyond the bound ${tol}`,
      );
    }
  }
}

Deno.test("the embedded wasm module was assembled from scripts/wasm_wat.ts", async () => {
  assert.equal(
    await sha256Hex(renderAllWat()),
    WASM_SOURCE_SHA256,
    "src/cpu/wasm_kernels.generated.ts is stale: run `deno task gen:wasm`",
  );
});

Deno.test("the wasm kernels compile in Deno and the cpu backend defaults to them", () => {
  assert.notEqual(wasmKernels(), null);
  assert.equal(cpuBackend(), "wasm");
});

Deno.test("setCpuBackend rejects an unknown backend", () => {
  assert.throws(() => setCpuBackend("fast" as "wasm"), ArgumentError);
  assert.equal(cpuBackend(), "wasm");
});

/** matmul on awkward sizes and all four transposes, within the float32 bound. */
async function checkAwkwardSizes(what: string): Promise<void> {
  const sizes = [1, 3, 7, 17, 65, 129, 257];
  let seed = 1;
  for (
    const [M, N, K] of [
      [1, 1, 1],
      [3, 7, 17],
      [7, 17, 3],
      [17, 65, 7],
      [65, 3, 129],
      [1, 257, 65],
      [129, 1, 17],
      [257, 17, 1],
      [5, 9, 0],
      [sizes[6], sizes[5], sizes[4]],
    ]
  ) {
    for (const transposeA of [false, true]) {
      for (const transposeB of [false, true]) {
        const a = randomTensor(transposeA ? [K, M] : [M, K], seed++);
        const b = randomTensor(transposeB ? [N, K] : [K, N], seed++);
        const opts: MatmulOptions = { transposeA, transposeB };
        await assertMatmulClose(
          a,
          b,
          opts,
          `${what} matmul ${M}x${K}x${N} ${JSON.stringify(opts)}`,
        );
      }
    }
  }
}

Deno.test("wasm matmul is within float32 error of the reference on awkward sizes and transposes", async () => {
  // Deno has relaxed SIMD: the fused multiply-add micro-kernels are the ones tested here.
  assert.notEqual(fmaModule(false), null);
  assert.notEqual(fmaModule(true), null);
  await checkAwkwardSizes("fused");
});

Deno.test("wasm matmul is within float32 error with broadcast batches, alpha and vectors", async () => {
  const cases: [number[], number[], MatmulOptions][] = [
    [[2, 1, 7, 17], [3, 17, 5], {}],
    [[3, 17, 7], [17, 5], { transposeA: true, alpha: 0.125 }],
    [[4, 7, 65], [4, 9, 65], { transposeB: true, alpha: -3 }],
    [[7, 17], [2, 3, 17, 65], {}],
    [[2, 3, 5, 7], [1, 3, 5, 9], { transposeA: true }],
    [[17], [17, 65], {}],
    [[3, 17, 65], [65], {}],
    [[257], [257], {}],
  ];
  let seed = 100;
  for (const [sa, sb, opts] of cases) {
    const a = randomTensor(sa, seed++);
    const b = randomTensor(sb, seed++);
    await assertMatmulClose(a, b, opts, `matmul [${sa}] @ [${sb}] ${JSON.stringify(opts)}`);
  }
});

Deno.test("wasm matmul spans several cache blocks of B and long K", async () => {
  // K = 1000 puts 8 panels (32 columns) in one 256 KiB block: 300 columns take 10 blocks.
  const a = randomTensor([9, 1000], 7);
  const b = randomTensor([1000, 300], 8);
  await assertMatmulClose(a, b, {}, "matmul 9x1000x300");
  const bt = randomTensor([2, 300, 1000], 9);
  await assertMatmulClose(a, bt, { transposeB: true }, "matmul [9, 1000] @ [2, 300, 1000]^T");
});

Deno.test("wasm matmul keeps NaN, infinities and signed zeros as the reference does", async () => {
  const x = randomData(7 * 9, 11);
  x[3] = NaN;
  x[10] = Infinity;
  x[20] = -Infinity;
  x[30] = -0;
  const y = randomData(9 * 5, 12);
  y[7] = Infinity;
  y[12] = 0;
  const a = tensor(x, [7, 9]);
  const b = tensor(y, [9, 5]);
  const [ref] = await bothPaths(() => matmul(a, b));
  assert.ok(ref.some(Number.isNaN) && ref.some((v) => v === Infinity || v === -Infinity));
  await assertMatmulClose(a, b, {}, "matmul with non-finite values");
  // All-negative-zero products sum to +0 in both; alpha < 0 then gives -0.
  const z = tensor(new Float32Array([-0, -0, -0, 1]), [2, 2]);
  const [r2, f2] = await bothPaths(() => matmul(z, z, { alpha: -1 }));
  assertSameBits(f2, r2, "matmul of negative zeros");
});

Deno.test("wasm linear and float16 matmul equal the reference", async () => {
  const x = randomTensor([2, 3, 65], 21);
  const w = randomTensor([17, 65], 22);
  const bias = randomTensor([17], 23);
  const [ref, fast] = await bothPaths(() => linear(x, w, bias));
  await assertMatmulClose(x, w, { transposeB: true }, "x @ w^T of linear");
  const abs = async (t: Tensor) => tensor(new Float32Array(await t.data()).map(Math.abs), t.shape);
  const [ax, aw] = [await abs(x), await abs(w)];
  const [absProduct] = await bothPaths(() => matmul(ax, aw, { transposeB: true }));
  // linear adds the bias to the product: the product's bound plus the sum's rounding.
  for (let i = 0; i < ref.length; i++) {
    const tol = 67 * 2 ** -24 * 1.001 * absProduct[i] + 2 ** -23 * Math.abs(ref[i]);
    assert.ok(Math.abs(fast[i] - ref[i]) <= tol, `linear element ${i}: ${fast[i]} vs ${ref[i]}`);
  }
  const h = cast(randomTensor([7, 33], 24), "float16");
  const g = cast(randomTensor([33, 9], 25), "float16");
  const [r16, f16] = await bothPaths(() => matmul(h, g));
  // One float16 rounding per output: at most one float16 ulp apart.
  for (let i = 0; i < r16.length; i++) {
    const ulp = 2 ** (Math.floor(Math.log2(Math.max(Math.abs(r16[i]), 2 ** -14))) - 10);
    assert.ok(
      Math.abs(f16[i] - r16[i]) <= ulp,
      `float16 matmul element ${i}: ${f16[i]} vs ${r16[i]}`,
    );
  }
});

Deno.test("wasm matmul with 1 to 3 rows (unpacked row kernels) is within float32 error", async () => {
  let seed = 300;
  for (const M of [1, 2, 3]) {
    for (const N of [1, 3, 7, 8, 15, 16, 17, 33, 65, 257]) {
      for (const K of [0, 1, 7, 65]) {
        for (const transposeA of [false, true]) {
          for (const transposeB of [false, true]) {
            const a = randomTensor(transposeA ? [K, M] : [M, K], seed++);
            const b = randomTensor(transposeB ? [N, K] : [K, N], seed++);
            const opts: MatmulOptions = { transposeA, transposeB, alpha: 0.5 };
            await assertMatmulClose(a, b, opts, `matmul ${M}x${K}x${N} ${JSON.stringify(opts)}`);
          }
        }
      }
    }
  }
  // Batches: one shared weight, and one weight per batch entry.
  const saved = CPU_MATMUL_BLOCKS.gemvBytes;
  // 256 KiB blocks of the weight: 32 rows at K = 2048, 16 at K = 4096, so these cross blocks.
  CPU_MATMUL_BLOCKS.gemvBytes = 256 * 1024;
  try {
    for (
      const [sa, sb, opts] of [
        [[3, 1, 65], [17, 65], { transposeB: true }],
        [[2, 2, 33], [2, 33, 19], {}],
        [[4, 1, 129], [4, 17, 129], { transposeB: true }],
        [[2, 2048], [65, 2048], { transposeB: true }],
        [[3, 1, 4096], [3, 19, 4096], { transposeB: true, alpha: 3 }],
      ] as [number[], number[], MatmulOptions][]
    ) {
      const a = randomTensor(sa, seed++);
      const b = randomTensor(sb, seed++);
      await assertMatmulClose(a, b, opts, `matmul [${sa}] @ [${sb}] ${JSON.stringify(opts)}`);
    }
  } finally {
    CPU_MATMUL_BLOCKS.gemvBytes = saved;
  }
});

Deno.test("wasm memory: trimmed past the keep limit, null when it cannot grow", () => {
  const kernels = wasmKernels()!;
  reserveWasmBytes(kernels, WASM_KEEP_BYTES + 65536);
  trimWasmMemory(kernels);
  const fresh = wasmKernels()!;
  assert.notEqual(fresh, kernels);
  assert.ok(fresh.memory.buffer.byteLength <= WASM_KEEP_BYTES);
  // Past wasm32's 4 GiB the memory cannot grow: the caller gets null (reference path).
  assert.equal(reserveWasmBytes(fresh, 2 ** 33), null);
});

Deno.test("wasm matmul crossing row, column and batch blocks is within float32 error", async () => {
  const saved = { ...CPU_MATMUL_BLOCKS };
  try {
    let seed = 500;
    for (
      const blocks of [
        { aBytes: 8 * 33 * 8, bBytes: 2 * 33 * 4 * 8, cBytes: 2 ** 20 }, // 8 rows, 8 columns
        { aBytes: 2 ** 20, bBytes: 2 ** 20, cBytes: 12 * 70 * 4 }, // 12 rows by C, one B block
      ]
    ) {
      Object.assign(CPU_MATMUL_BLOCKS, blocks);
      for (
        const [sa, sb, opts] of [
          [[27, 33], [33, 70], {}],
          [[33, 27], [70, 33], { transposeA: true, transposeB: true, alpha: 2 }],
          [[3, 27, 33], [33, 70], {}],
          [[2, 27, 33], [2, 70, 33], { transposeB: true }],
        ] as [number[], number[], MatmulOptions][]
      ) {
        const a = randomTensor(sa, seed++);
        const b = randomTensor(sb, seed++);
        await assertMatmulClose(a, b, opts, `matmul [${sa}] @ [${sb}] ${JSON.stringify(opts)}`);
      }
    }
  } finally {
    Object.assign(CPU_MATMUL_BLOCKS, saved);
  }
});

Deno.test("wasm layerNorm equals the reference bit for bit", async () => {
  let seed = 700;
  for (const rows of [1, 2, 3, 7, 65]) {
    for (const cols of [1, 3, 7, 17, 65, 257, 768]) {
      const x = randomTensor([rows, cols], seed++);
      const w = randomTensor([cols], seed++);
      const b = randomTensor([cols], seed++);
      const [ref, fast] = await bothPaths(() => layerNorm(x, w, b));
      assertSameBits(fast, ref, `layerNorm [${rows}, ${cols}]`);
    }
  }
  // Several row blocks (1020 rows of 257 per block), a custom eps, a 3-D input.
  const x = randomTensor([2, 1100, 257], 801);
  const w = randomTensor([257], 802);
  const b = randomTensor([257], 803);
  const [ref, fast] = await bothPaths(() => layerNorm(x, w, b, 0.1));
  assertSameBits(fast, ref, "layerNorm [2, 1100, 257]");
  // Offsets far from zero, NaN and infinities in some rows.
  const data = randomData(5 * 33, 804).map((v, i) => (i < 33 ? 1e4 + v : v));
  data[40] = NaN;
  data[80] = Infinity;
  data[120] = -Infinity;
  const xs = tensor(data, [5, 33]);
  const ws = randomTensor([33], 805);
  const bs = randomTensor([33], 806);
  const [r2, f2] = await bothPaths(() => layerNorm(xs, ws, bs));
  assert.ok(r2.some(Number.isNaN));
  assertSameBits(f2, r2, "layerNorm with non-finite values");
  const [r16, f16] = await bothPaths(() =>
    layerNorm(cast(xs, "float16"), cast(ws, "float16"), cast(bs, "float16"))
  );
  assertSameBits(f16, r16, "float16 layerNorm");
});

Deno.test("cpu matmul threads: on by default in Deno, the same bits with any count", async () => {
  const cores = navigator.hardwareConcurrency;
  assert.equal(cpuThreads(), Math.min(cores, DEFAULT_MAX_THREADS));
  const a = randomTensor([129, 257], 901);
  const b = randomTensor([257, 300], 902);
  const bt = randomTensor([3, 65, 257], 903);
  const run = async () => [
    new Float32Array(await matmul(a, b).data()),
    new Float32Array(await matmul(a, bt, { transposeB: true, alpha: 0.5 }).data()),
  ];
  // The default pool starts with the first large product and joins once ready.
  const first = await run();
  for (let i = 0; i < 2000 && cores > 1 && !workersReady(); i++) {
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  assert.equal(workersReady(), cores > 1);
  const pooled = await run();
  await setCpuThreads(1);
  try {
    assert.equal(cpuThreads(), 1);
    const [one, oneT] = await run();
    for (const [name, got] of [["first", first], ["default pool", pooled]] as const) {
      assertSameBits(got[0], one, `matmul (${name})`);
      assertSameBits(got[1], oneT, `batched matmul (${name})`);
    }
    await setCpuThreads(2);
    assert.equal(cpuThreads(), 2);
    assertSameBits((await run())[0], one, "matmul on 2 threads");
    await setCpuThreads(3); // a new pool replaces the old one
    const [three, threeT] = await run();
    assertSameBits(three, one, "matmul on 3 threads");
    assertSameBits(threeT, oneT, "batched matmul on 3 threads");
  } finally {
    await setCpuThreads(1);
  }
  assert.equal(cpuThreads(), 1);
  await assert.rejects(() => setCpuThreads(0), ArgumentError);
  await assert.rejects(() => setCpuThreads(1.5), ArgumentError);
});

/** |actual - expected| <= atol + 1e-5 |expected| everywhere; NaN only where expected is NaN. */
function assertNear(
  actual: Float32Array,
  expected: Float32Array,
  atol: number,
  what: string,
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const [a, e] = [actual[i], expected[i]];
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (!(Math.abs(a - e) <= atol + 1e-5 * Math.abs(e))) {
      assert.fail(`${what}: element ${i} is ${a} (wasm), reference ${e}`);
    }
  }
}

Deno.test("wasm attention weights and core agree with the staged reference", async () => {
  let seed = 1000;
  for (
    const [B, T, d] of [[1, 1, 1], [2, 3, 7], [1, 17, 3], [3, 65, 17], [2, 129, 64], [1, 300, 5]]
  ) {
    const [q, k, v] = [0, 1, 2].map(() => randomTensor([B, T, d], seed++));
    const [ref, fast] = await bothPaths(() => nn.causalAttention.core(q, k, v));
    // Each output is a convex combination of value rows (|v| <= 2): float32 noise only.
    assertNear(fast, ref, 2e-6, `core [${B}, ${T}, ${d}]`);
    const scores = randomTensor([B, 2, T, T], seed++);
    const weights = wasmMaskedSoftmax(scores, null, 0.25);
    assert.ok(weights !== null, "the wasm weights ran");
    const w = new Float32Array(await weights.data());
    for (let r = 0; r < B * 2 * T; r++) {
      // Causal: row i weighs columns 0..i only, and they sum to 1.
      const row = w.subarray(r * T, (r + 1) * T);
      assert.ok(row.subarray((r % T) + 1).every((x) => x === 0), `row ${r} attends ahead`);
      assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-5, `row ${r} sums to 1`);
    }
  }
  // A custom mask (a multi-head layer's buffer with a few extra holes; int32
  // and NaN entries) through nn.multiHeadAttention on both paths.
  manualSeed(3);
  const m = nn.multiHeadAttention.init({
    dIn: 6,
    dOut: 8,
    contextLength: 9,
    dropout: 0,
    numHeads: 2,
  });
  const x = randomTensor([2, 7, 6], 1200);
  const [r1, f1] = await bothPaths(() => nn.multiHeadAttention.apply(m, x));
  assertNear(f1, r1, 1e-6, "multi-head attention, causal buffer");
  const holes = new Float32Array(await m.buffers.mask.data());
  holes[3 * 9 + 1] = NaN;
  holes[5 * 9 + 0] = 1;
  holes[6 * 9 + 2] = -0; // zero: not masked
  for (const mask of [tensor(holes, [9, 9]), cast(tensor(holes, [9, 9]), "int32")]) {
    const custom = { ...m, buffers: { mask } };
    const [r2, f2] = await bothPaths(() => nn.multiHeadAttention.apply(custom, x));
    assertNear(f2, r2, 1e-6, `multi-head attention, ${mask.dtype} mask with holes`);
  }
  // NaN in one query row makes that row NaN only; +Infinity in a key poisons the rows that see it.
  const qd = randomData(2 * 5 * 4, 1100);
  qd[1 * 4 + 2] = NaN; // batch 0, row 1
  const kd = randomData(2 * 5 * 4, 1101);
  kd[(5 + 3) * 4] = Infinity; // batch 1, key 3
  const [q, k, v] = [tensor(qd, [2, 5, 4]), tensor(kd, [2, 5, 4]), randomTensor([2, 5, 4], 1102)];
  const [ref, fast] = await bothPaths(() => nn.causalAttention.core(q, k, v));
  assert.ok(ref.some(Number.isNaN));
  assert.deepEqual(Array.from(fast, Number.isNaN), Array.from(ref, Number.isNaN));
  assertNear(fast, ref, 2e-6, "core with NaN/Inf");
});

// Last: it leaves the cpu device on one thread (the default pool is tested above).
Deno.test("the multiply-then-add micro-kernels (runtimes without relaxed SIMD) are within the bound too", async () => {
  await setCpuThreads(1);
  allowFusedMultiplyAdd(false);
  try {
    await checkAwkwardSizes("unfused");
    // The threads' pool takes the same kernels as the calling thread.
    await setCpuThreads(2);
    const a = randomTensor([65, 300], 60);
    const b = randomTensor([300, 257], 61);
    await assertMatmulClose(a, b, {}, "unfused matmul on 2 threads");
  } finally {
    await setCpuThreads(1);
    allowFusedMultiplyAdd(true);
  }
});

Deno.test("the wasm attention weights leave bad masks to the reference's errors", async () => {
  const { maskedSoftmax } = await import("../src/ops/masked_softmax.ts");
  const scores = randomTensor([2, 5, 5], 1300);
  const small = tensor(new Float32Array(16), [4, 4]); // cannot cover [5, 5]
  assert.throws(() => maskedSoftmax("test", scores, small, 1), ShapeError);
  const f16 = cast(randomTensor([5, 5], 1301), "float16");
  const [ref, fast] = await bothPaths(() => maskedSoftmax("test", scores, f16, 1));
  assertNear(fast, ref, 0, "a float16 mask (reference path on both)");
});
