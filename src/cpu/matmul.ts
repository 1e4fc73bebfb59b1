/**
 * The `cpu` device's fast matmul: operands packed into f32 panels in
 * WebAssembly memory, then f32x4 SIMD micro-kernels (scripts/wasm_wat.ts)
 * over cache-sized blocks of B. Each output is summed over k in ascending
 * order in one f32 lane, whatever the thread count (policy in
 * src/cpu/backend.ts).
 *
 * @module
 */

import { chosenCpuBackend } from "./backend.ts";
import { readyThreads, runPanels, threadedKernels, trimPoolMemory } from "./threads.ts";
import {
  WASM_MATMUL_MR as MR,
  WASM_MATMUL_NR as NR,
  WASM_SCRATCH_BYTES,
} from "./wasm_kernels.generated.ts";
import {
  align64,
  type GemvKernel,
  reserveWasmBytes,
  trimWasmMemory,
  WASM_MAX_BYTES,
  type WasmKernels,
  wasmKernels,
} from "./wasm_runtime.ts";

/** The sizes of a batched product, as the op computes them. */
export interface CpuMatmulShape {
  M: number;
  N: number;
  K: number;
  batch: number;
  /** Elements between consecutive batch matrices of a (0: one matrix for all). */
  aStride: number;
  /** Elements between consecutive batch matrices of b (0: one matrix for all). */
  bStride: number;
  transposeA: boolean;
  transposeB: boolean;
  /** A float32 factor applied to each rounded sum. */
  alpha: number;
}

/**
 * Block sizes of the products, in bytes: packed B (`bBytes` per
 * thread, kept in each core's L2 cache while every A panel passes it), packed A (`aBytes`)
 * and staged C (`cBytes`) per block of rows. Tests shrink them to cross
 * block edges on small inputs.
 */
export const CPU_MATMUL_BLOCKS: {
  aBytes: number;
  bBytes: number;
  cBytes: number;
  gemvBytes: number;
} = {
  aBytes: 32 * 2 ** 20,
  bBytes: 256 * 1024,
  cBytes: 32 * 2 ** 20,
  // Weight bytes a few-row product copies per block: streamed once from memory, then read from
  // cache. Measured on GPT-2 decode: 256 KiB 39 ms, 2 MiB 31 ms, 16 MiB 35 ms per step.
  gemvBytes: 2 * 2 ** 20,
};

/** Multiply-adds below which a block runs on the calling thread alone. */
const THREADED_MIN_MACS = 1 << 20;

/**
 * Writes `alpha * op(a) @ op(b)` for every batch into `out` (batch * M * N
 * floats) with the WebAssembly kernels and returns true, or returns false
 * (nothing written) when the reference path must run: backend "reference",
 * kernels unavailable, or a problem too large for wasm32 memory.
 */
export function wasmMatmul(
  x: Float32Array,
  y: Float32Array,
  out: Float32Array,
  s: CpuMatmulShape,
): boolean {
  if (chosenCpuBackend() !== "wasm") return false;
  const { M, N, K, batch, aStride, bStride, transposeA, transposeB, alpha } = s;
  if (batch === 0 || M === 0 || N === 0) return true;
  const threaded = threadedKernels();
  const kernels = threaded ?? wasmKernels();
  if (kernels === null) return false;
  if (M < MR) {
    const blockBytes = CPU_MATMUL_BLOCKS.gemvBytes;
    return rowProducts(kernels, x, { data: y, gemvT: kernels.gemvT, strip: 8, blockBytes }, out, s);
  }
  const panelBytes = Math.max(K, 1) * NR * 4;
  // Threads split a block of B by panels: each keeps a cache-sized share.
  const threads = threaded === null ? 1 : readyThreads();
  const panels = Math.max(
    1,
    Math.min(Math.ceil(N / NR), Math.floor((CPU_MATMUL_BLOCKS.bBytes * threads) / panelBytes)),
  );
  const nc = panels * NR;
  // Rows of A per block (a multiple of MR): bounds the packed A and the staged C.
  const fit = Math.min(
    CPU_MATMUL_BLOCKS.aBytes / Math.max(1, K * 4),
    CPU_MATMUL_BLOCKS.cBytes / (N * 4),
  );
  const mb = Math.min(M, Math.max(MR, Math.floor(fit / MR) * MR));
  const aOff = WASM_SCRATCH_BYTES;
  const bOff = align64(aOff + mb * K * 4);
  const cOff = align64(bOff + nc * K * 4);
  const end = cOff + mb * N * 4;
  if (end > WASM_MAX_BYTES) return false;
  const buffer = reserveWasmBytes(kernels, end);
  if (buffer === null) return false;
  const A = new Float32Array(buffer, aOff, mb * K);
  const B = new Float32Array(buffer, bOff, nc * K);
  const C = new Float32Array(buffer, cOff, mb * N);
  const mk = kernels.mk;
  const a32 = Math.fround(alpha);
  // B is packed once for everything when it is shared and fits one block.
  const packBOnce = bStride === 0 && nc >= N;
  for (let bi = 0; bi < batch; bi++) {
    for (let mStart = 0; mStart < M; mStart += mb) {
      const mRows = Math.min(mb, M - mStart);
      packA(A, x, bi * aStride, mStart, mRows, M, K, transposeA);
      for (let n0 = 0; n0 < N; n0 += nc) {
        const cols = Math.min(nc, N - n0);
        if (!packBOnce || (bi === 0 && mStart === 0)) {
          packB(B, y, bi * bStride, n0, cols, N, K, transposeB);
        }
        // Worker threads take column panels of blocks worth the hand-off.
        if (threads > 1 && mRows * cols * K >= THREADED_MIN_MACS) {
          runPanels({ aOff, bOff, cOff, K, N, mRows, cols, n0, MR, NR, alpha: a32 });
          continue;
        }
        for (let m0 = 0; m0 < mRows; m0 += MR) {
          const kernel = mk[Math.min(MR, mRows - m0)];
          const pa = aOff + m0 * K * 4;
          for (let j = 0; j < cols; j += NR) {
            const c = cOff + (m0 * N + n0 + j) * 4;
            kernel(pa, bOff + j * K * 4, K, c, N * 4, a32, Math.min(NR, cols - j));
          }
        }
      }
      out.set(C.subarray(0, mRows * N), (bi * M + mStart) * N);
    }
  }
  trimWasmMemory(kernels);
  trimPoolMemory(kernels);
  return true;
}

/**
 * A weight as few-row products read it: float32 values, or float16 bits
 * (transposed products only), with the kernel reading it as `[N, K]`.
 */
export interface RowWeight {
  data: Float32Array | Uint16Array;
  /** `gemv_t` for the data's format, and the rows it takes per strip. */
  gemvT: GemvKernel;
  strip: number;
  /** Weight bytes copied into wasm memory per block. */
  blockBytes: number;
}

/**
 * Few rows (a decode step's linear layers): each row against the weight as
 * it is, no packing. A transposed weight (`[N, K]`) is copied into wasm
 * memory a block of rows at a time, so the kernel reads each block from
 * cache right after the copy (one pass over the weight in memory). False
 * (nothing written) when the problem does not fit wasm32 memory.
 */
export function rowProducts(
  kernels: WasmKernels,
  x: Float32Array,
  w: RowWeight,
  out: Float32Array,
  s: CpuMatmulShape,
): boolean {
  const { M, N, K, batch, aStride, bStride, transposeA, transposeB, alpha } = s;
  const bytes = w.data.BYTES_PER_ELEMENT;
  if (!transposeB && bytes !== 4) return false;
  // Rows of W per block (a multiple of the kernel's strip), or all of B when not transposed.
  const blockRows = transposeB
    ? Math.min(
      N,
      Math.max(w.strip, Math.floor(w.blockBytes / Math.max(1, K * bytes) / w.strip) * w.strip),
    )
    : N;
  const xOff = WASM_SCRATCH_BYTES;
  const wOff = align64(xOff + M * K * 4);
  const cOff = align64(wOff + K * blockRows * bytes);
  const end = cOff + M * N * 4;
  if (end > WASM_MAX_BYTES) return false;
  const buffer = reserveWasmBytes(kernels, end);
  if (buffer === null) return false;
  const X = new Float32Array(buffer, xOff, M * K);
  const W = bytes === 2
    ? new Uint16Array(buffer, wOff, K * blockRows)
    : new Float32Array(buffer, wOff, K * blockRows);
  const C = new Float32Array(buffer, cOff, M * N);
  const a32 = Math.fround(alpha);
  for (let bi = 0; bi < batch; bi++) {
    const ab = bi * aStride, wb = bi * bStride;
    for (let m = 0; m < M; m++) {
      if (transposeA) {
        for (let k = 0; k < K; k++) X[m * K + k] = x[ab + k * M + m];
      } else {
        X.set(x.subarray(ab + m * K, ab + m * K + K), m * K);
      }
    }
    if (!transposeB) {
      if (bi === 0 || bStride !== 0) W.set(w.data.subarray(wb, wb + K * N));
      for (let m = 0; m < M; m++) {
        kernels.gemvN(xOff + m * K * 4, wOff, K, N, N * 4, cOff + m * N * 4, a32);
      }
    } else {
      for (let n0 = 0; n0 < N; n0 += blockRows) {
        const rows = Math.min(blockRows, N - n0);
        W.set(w.data.subarray(wb + n0 * K, wb + (n0 + rows) * K));
        for (let m = 0; m < M; m++) {
          w.gemvT(xOff + m * K * 4, wOff, K, rows, K * bytes, cOff + (m * N + n0) * 4, a32);
        }
      }
    }
    out.set(C, bi * M * N);
  }
  trimWasmMemory(kernels);
  trimPoolMemory(kernels);
  return true;
}

/**
 * Rows `first .. first + count` of op(A) in panels of MR (the last one
 * shorter), k-major within a panel.
 */
function packA(
  dst: Float32Array,
  x: Float32Array,
  base: number,
  first: number,
  count: number,
  M: number,
  K: number,
  transposed: boolean,
): void {
  for (let m0 = 0; m0 < count; m0 += MR) {
    const rows = Math.min(MR, count - m0);
    const panel = m0 * K;
    for (let r = 0; r < rows; r++) {
      const m = first + m0 + r;
      let d = panel + r;
      if (transposed) {
        for (let k = 0; k < K; k++, d += rows) dst[d] = x[base + k * M + m];
      } else {
        const row = base + m * K;
        for (let k = 0; k < K; k++, d += rows) dst[d] = x[row + k];
      }
    }
  }
}

/** Columns n0 .. n0 + cols of op(B) in panels of NR (zero padded), k-major within a panel. */
function packB(
  dst: Float32Array,
  y: Float32Array,
  base: number,
  n0: number,
  cols: number,
  N: number,
  K: number,
  transposed: boolean,
): void {
  for (let j = 0; j < cols; j += NR) {
    const panel = j * K;
    const valid = Math.min(NR, cols - j);
    if (transposed) {
      for (let c = 0; c < NR; c++) {
        let d = panel + c;
        if (c >= valid) {
          for (let k = 0; k < K; k++, d += NR) dst[d] = 0;
          continue;
        }
        const row = base + (n0 + j + c) * K;
        for (let k = 0; k < K; k++, d += NR) dst[d] = y[row + k];
      }
    } else {
      for (let k = 0; k < K; k++) {
        const d = panel + k * NR;
        const src = base + k * N + n0 + j;
        for (let c = 0; c < valid; c++) dst[d + c] = y[src + c];
        for (let c = valid; c < NR; c++) dst[d + c] = 0;
      }
    }
  }
}
