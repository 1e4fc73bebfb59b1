/**
 * Which implementation the `cpu` device runs: the WebAssembly SIMD kernels
 * (default) or the plain TypeScript reference loops.
 *
 * Numerics policy: the reference is exact to its definition (matmul sums in
 * float64 and rounds once); the WebAssembly kernels compute in float32 SIMD
 * lanes, as PyTorch's CPU kernels and every GPU do, and agree with the
 * reference within float32 error bounds (matmul: |fast - reference| <=
 * (K + 2) 2^-24 |alpha| (|a| @ |b|) per output), which the tests check on
 * random awkward shapes. Their order of operations is fixed by the shapes
 * alone, so a run repeats its bits exactly with any thread count; matmul
 * fuses its multiply-adds where the runtime has relaxed SIMD, so its last
 * bits can differ between runtimes and CPUs, never between runs. Layer norm
 * keeps the reference's bits. Random numbers, initialisation and dropout
 * never depend on the backend. Choose `"reference"` for results that do not
 * depend on SIMD at all, for measuring, and where the kernels cannot be
 * compiled synchronously (then `"wasm"` falls back to it by itself).
 *
 * @module
 */

import { ArgumentError } from "../errors.ts";
import { wasmKernels } from "./wasm_runtime.ts";

/** The `cpu` device's implementations. */
export type CpuBackend = "wasm" | "reference";

let current: CpuBackend = "wasm";

/**
 * Chooses the implementation the `cpu` device runs from now on: `"wasm"`
 * (the default: SIMD kernels, float32 arithmetic, agreeing with the
 * reference within float32 error) or `"reference"` (the TypeScript loops).
 * `"wasm"` falls back to `"reference"` where the runtime cannot compile
 * WebAssembly SIMD.
 *
 * @example
 * ```ts
 * import { matmul, setCpuBackend, tensor } from "@tessera/core";
 * setCpuBackend("reference"); // the TypeScript loops
 * const a = tensor([[1, 2], [3, 4]]);
 * console.log(await matmul(a, a).toArray()); // [[7, 10], [15, 22]]
 * setCpuBackend("wasm");
 * ```
 */
export function setCpuBackend(backend: CpuBackend): void {
  if (backend !== "wasm" && backend !== "reference") {
    throw new ArgumentError(
      `setCpuBackend: backend must be "wasm" or "reference", but got ${String(backend)}`,
    );
  }
  current = backend;
}

/**
 * The implementation the `cpu` device runs now (see {@linkcode setCpuBackend}):
 * `"reference"` when chosen, or when this runtime cannot compile the
 * WebAssembly kernels (no SIMD, or synchronous compilation refused).
 *
 * @example
 * ```ts
 * import { cpuBackend } from "@tessera/core";
 * console.log(cpuBackend()); // "wasm"
 * ```
 */
export function cpuBackend(): CpuBackend {
  return current === "wasm" && wasmKernels() !== null ? "wasm" : "reference";
}

/** The chosen implementation, before checking that the kernels compile. */
export function chosenCpuBackend(): CpuBackend {
  return current;
}
