/**
 * The `cpu` device's float16 kernels (scripts/wasm_wat_f16.ts): widening
 * binary16 storage to float32 in SIMD lanes, and a decode step's
 * matrix-vector products that read a float16 weight directly (half the
 * bytes of a float32 weight: decoding is bound by reading the weights).
 * Both are exact widenings followed by the float32 kernels' arithmetic.
 *
 * @module
 */

import { fromF16Bits } from "../f16.ts";
import { chosenCpuBackend } from "./backend.ts";
import { CPU_MATMUL_BLOCKS, type CpuMatmulShape, rowProducts } from "./matmul.ts";
import { WASM_SCRATCH_BYTES } from "./wasm_kernels.generated.ts";
import { align64, reserveWasmBytes, wasmKernels } from "./wasm_runtime.ts";

/** Halves widened per call of the kernel (bounds the wasm memory it needs). */
const WIDEN_BLOCK = 1 << 20;

/**
 * binary16 bits as float32 values, widened in SIMD lanes (the bits of
 * `fromF16Bits`, NaN payloads included); the TypeScript loop where the
 * kernels are unavailable or the backend is "reference".
 *
 * @example
 * ```ts
 * import { widenF16 } from "./f16.ts";
 * console.log(widenF16(new Uint16Array([0x3c00, 0xc000, 0x0001]))); // Float32Array [1, -2, 5.960464477539063e-8]
 * ```
 */
export function widenF16(bits: Uint16Array): Float32Array {
  const kernels = chosenCpuBackend() === "wasm" ? wasmKernels() : null;
  const n = bits.length;
  if (kernels === null || n < 64) return fromF16Bits(bits);
  const block = Math.min(n, WIDEN_BLOCK);
  const srcOff = WASM_SCRATCH_BYTES;
  const dstOff = align64(srcOff + block * 2);
  const buffer = reserveWasmBytes(kernels, dstOff + block * 4);
  if (buffer === null) return fromF16Bits(bits);
  const src = new Uint16Array(buffer, srcOff, block);
  const dst = new Float32Array(buffer, dstOff, block);
  const out = new Float32Array(n);
  for (let start = 0; start < n; start += block) {
    const count = Math.min(block, n - start);
    const whole = count - (count % 8);
    src.set(bits.subarray(start, start + whole));
    kernels.f16ToF32(srcOff, dstOff, whole);
    out.set(dst.subarray(0, whole), start);
    if (whole < count) {
      out.set(fromF16Bits(bits.slice(start + whole, start + count)), start + whole);
    }
  }
  return out;
}

/**
 * `alpha * x @ W^T` for a few rows `x` (float32, already widened) and a
 * float16 weight W `[N, K]` (its bits), batch by batch as the shape says,
 * into `out`; false (nothing written) when the caller must widen W and run
 * the float32 path: backend "reference", kernels unavailable, not a
 * transposed-B product of fewer than 4 rows, or too large for wasm32.
 *
 * @example
 * ```ts
 * import { toF16Bits } from "../f16.ts";
 * import { wasmGemvF16 } from "./f16.ts";
 * const out = new Float32Array(2);
 * const w = toF16Bits([1, 2, 3, 4]); // [[1, 2], [3, 4]]
 * const shape = { M: 1, N: 2, K: 2, batch: 1, aStride: 0, bStride: 0, transposeA: false, transposeB: true, alpha: 1 };
 * wasmGemvF16(new Float32Array([1, 1]), w, out, shape);
 * console.log(out); // Float32Array [3, 7]
 * ```
 */
export function wasmGemvF16(
  x: Float32Array,
  w: Uint16Array,
  out: Float32Array,
  s: CpuMatmulShape,
): boolean {
  const { M, N, batch, transposeB } = s;
  if (!transposeB || M >= 4 || chosenCpuBackend() !== "wasm") return false;
  const kernels = wasmKernels();
  if (kernels === null) return false;
  if (batch === 0 || M === 0 || N === 0) return true;
  // Widening bounds this kernel, not memory: an L2-sized block (bBytes)
  // measured ~5% faster than gemvBytes' 2 MiB.
  const blockBytes = CPU_MATMUL_BLOCKS.bBytes;
  return rowProducts(
    kernels,
    x,
    { data: w, gemvT: kernels.gemvTF16, strip: 4, blockBytes },
    out,
    s,
  );
}
