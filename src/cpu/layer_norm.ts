/**
 * The `cpu` device's fast layer norm forward: rows copied into WebAssembly
 * memory a block at a time and normalised two at a time (one per f64 lane),
 * with the reference's operations in the reference's order, so the bits are
 * the reference's (src/ops/layer_norm.ts; policy in src/cpu/backend.ts).
 *
 * @module
 */

import { chosenCpuBackend } from "./backend.ts";
import { WASM_SCRATCH_BYTES } from "./wasm_kernels.generated.ts";
import { align64, reserveWasmBytes, trimWasmMemory, wasmKernels } from "./wasm_runtime.ts";

/** Bytes of rows per block (input plus output stay in cache-friendly pieces). */
const BLOCK_BYTES = 1024 * 1024;

/**
 * Writes `w * ((x - mean) * rstd) + b` per row of `cols` into `out` and
 * returns true, or returns false (nothing written) when the reference path
 * must run.
 */
export function wasmLayerNorm(
  src: Float32Array,
  w: Float32Array,
  b: Float32Array,
  out: Float32Array,
  cols: number,
  eps: number,
): boolean {
  if (chosenCpuBackend() !== "wasm") return false;
  const kernels = wasmKernels();
  if (kernels === null) return false;
  const rows = src.length / cols;
  const block = Math.max(2, Math.min(rows, Math.floor(BLOCK_BYTES / (cols * 4) / 2) * 2));
  const wOff = WASM_SCRATCH_BYTES;
  const bOff = align64(wOff + cols * 4);
  const xOff = align64(bOff + cols * 4);
  const oOff = align64(xOff + block * cols * 4);
  const buffer = reserveWasmBytes(kernels, oOff + block * cols * 4);
  if (buffer === null) return false;
  new Float32Array(buffer, wOff, cols).set(w);
  new Float32Array(buffer, bOff, cols).set(b);
  const X = new Float32Array(buffer, xOff, block * cols);
  const O = new Float32Array(buffer, oOff, block * cols);
  for (let r0 = 0; r0 < rows; r0 += block) {
    const n = Math.min(block, rows - r0);
    X.set(src.subarray(r0 * cols, (r0 + n) * cols));
    kernels.layerNorm(xOff, wOff, bOff, oOff, n, cols, eps);
    out.set(O.subarray(0, n * cols), r0 * cols);
  }
  trimWasmMemory(kernels);
  return true;
}
