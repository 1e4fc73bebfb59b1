/**
 * Which implementation the `cpu` device runs: the WebAssembly SIMD kernels
 * (default) or the plain TypeScript reference loops.
 *
 * Bit-for-bit policy: the WebAssembly kernels reproduce the reference's
 * results exactly. Matmul accumulates each output in an f64 lane with k in
 * ascending order, as the reference's JavaScript numbers do, and rounds to
 * float32 once; tests compare the two paths bit for bit. Choosing
 * `"reference"` is for measuring and for runtimes where the kernels cannot
 * be compiled synchronously (then `"wasm"` falls back to it by itself).
 *
 * @module
 */

import { ArgumentError } from "../errors.ts";
import { wasmKernels } from "./wasm_runtime.ts";

/** The `cpu` device's implementations. */
export type CpuBackend = "wasm" | "reference";

let current: CpuBackend = "wasm";

/**
 * Chooses the implementation the `cpu` device runs from now on. Both give the
 * same bits; `"wasm"` (the default) is faster and falls back to
 * `"reference"` where the runtime cannot compile WebAssembly SIMD.
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
