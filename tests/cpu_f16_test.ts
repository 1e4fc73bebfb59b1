// The cpu device's float16 kernels (src/cpu/f16.ts): SIMD widening of every
// binary16 pattern, and float16 matmul on the wasm backend, against the
// float32 path on exactly widened operands.

import assert from "node:assert/strict";
import {
  cast,
  linear,
  matmul,
  type MatmulOptions,
  setCpuBackend,
  type Tensor,
  tensor,
} from "../mod.ts";
import { fromF16Bits } from "../src/f16.ts";
import { wasmGemvF16, widenF16 } from "../src/cpu/f16.ts";
import { CPU_MATMUL_BLOCKS } from "../src/cpu/matmul.ts";
import { matmulKernels } from "../src/ops/matmul.ts";
import { bits, randomTensor } from "./helpers.ts";

Deno.test("widenF16 gives fromF16Bits' bits for all 65,536 patterns, NaN payloads included", () => {
  const every = Uint16Array.from({ length: 65536 }, (_, i) => i);
  // Shuffled, and at odd offsets and lengths: the SIMD body and the scalar tail both.
  const shuffled = every.map((_, i) => (i * 40503) & 0xffff);
  for (const input of [every, shuffled, every.subarray(3, 3 + 1001), shuffled.subarray(5)]) {
    assert.deepEqual(bits(widenF16(input)), bits(fromF16Bits(input)));
  }
});

/** float16 `f` on the wasm backend, and `f` on float32 copies rounded to float16 after. */
async function viaFloat32(
  f: (a: Tensor, b: Tensor) => Tensor,
  a16: Tensor,
  b16: Tensor,
): Promise<[Uint16Array, Uint16Array]> {
  const [a32, b32] = [cast(a16, "float32"), cast(b16, "float32")];
  const expected = cast(f(a32, b32), "float16");
  const actual = f(a16, b16);
  assert.equal(actual.dtype, "float16");
  return [
    new Uint16Array((await actual.data()).buffer.slice(0)),
    new Uint16Array((await expected.data()).buffer.slice(0)),
  ];
}

Deno.test("float16 matmul on the wasm backend gives the float32 kernels' bits on widened operands", async () => {
  assert.ok(matmulKernels.lookup("wasm", "float16") !== undefined, "a float16 wasm entry");
  let seed = 7000;
  for (const M of [1, 2, 3, 5, 17]) {
    for (const [N, K] of [[1, 1], [3, 7], [5, 8], [9, 12], [17, 65], [33, 257], [4, 4096]]) {
      for (const transposeB of [true, false]) {
        const a = cast(randomTensor([M, K], seed++), "float16");
        const b = cast(randomTensor(transposeB ? [N, K] : [K, N], seed++), "float16");
        const opts: MatmulOptions = { transposeB, alpha: 0.75 };
        const [actual, expected] = await viaFloat32((x, y) => matmul(x, y, opts), a, b);
        assert.deepEqual(actual, expected, `matmul ${M}x${K}x${N} ${JSON.stringify(opts)}`);
      }
    }
  }
  // Weight blocks of 8 rows: 30 rows cross four blocks (the last one partial).
  const saved = CPU_MATMUL_BLOCKS.bBytes;
  CPU_MATMUL_BLOCKS.bBytes = 8 * 1031 * 2;
  try {
    const a = cast(randomTensor([2, 1031], seed++), "float16");
    const b = cast(randomTensor([30, 1031], seed++), "float16");
    const [actual, expected] = await viaFloat32((x, y) => matmul(x, y, { transposeB: true }), a, b);
    assert.deepEqual(actual, expected, "matmul 2x1031x30 across weight blocks");
  } finally {
    CPU_MATMUL_BLOCKS.bBytes = saved;
  }
  // A linear layer over batched rows, with infinite, NaN and subnormal weights.
  const wd = new Float32Array(await randomTensor([19, 33], seed++).data());
  wd[5] = Infinity;
  wd[40] = NaN;
  wd[70] = 1e-7; // a float16 subnormal
  const w16 = cast(tensor(wd, [19, 33]), "float16");
  const x16 = cast(randomTensor([2, 1, 33], seed++), "float16");
  const [actual, expected] = await viaFloat32((x, y) => linear(x, y), x16, w16);
  assert.ok(new Float32Array(await cast(linear(x16, w16), "float32").data()).some(Number.isNaN));
  assert.deepEqual(actual, expected, "linear [2, 1, 33] -> 19 with inf, NaN and subnormal weights");
});

Deno.test("wasmGemvF16 declines what it does not cover", () => {
  const shape = {
    M: 4,
    N: 2,
    K: 2,
    batch: 1,
    aStride: 0,
    bStride: 0,
    transposeA: false,
    transposeB: true,
    alpha: 1,
  };
  const w = new Uint16Array(4);
  assert.equal(wasmGemvF16(new Float32Array(8), w, new Float32Array(8), shape), false); // 4 rows
  const row = { ...shape, M: 1 };
  assert.equal(
    wasmGemvF16(new Float32Array(2), w, new Float32Array(2), { ...row, transposeB: false }),
    false,
  );
  setCpuBackend("reference");
  try {
    assert.equal(wasmGemvF16(new Float32Array(2), w, new Float32Array(2), row), false);
  } finally {
    setCpuBackend("wasm");
  }
  assert.equal(wasmGemvF16(new Float32Array(2), w, new Float32Array(2), row), true);
});
