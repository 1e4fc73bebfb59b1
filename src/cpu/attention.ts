/**
 * The causal attention core, `softmax(scale Q K^T, causal) V`, on the `cpu`
 * device's WebAssembly kernels: the scaled scores in one batched matmul,
 * the future positions of each row set to `-Infinity` with native fills,
 * every row's softmax in one SIMD pass, then the weighted values in a
 * second matmul. The staged reference (matmul, masked fill, softmax,
 * matmul) computes the same quantities; the policy of src/cpu/backend.ts
 * applies.
 *
 * @module
 */

import { cpuData, cpuTensor, type Tensor } from "../tensor.ts";
import { chosenCpuBackend } from "./backend.ts";
import { wasmMatmul } from "./matmul.ts";
import { wasmSoftmaxRows } from "./rows.ts";

/**
 * `softmax(scale * q @ k^T, causal) @ v` for float32 `[B, T, d]` queries,
 * keys and values on the cpu device, or null when the staged reference
 * must run (backend "reference", another dtype, kernels unavailable).
 *
 * @example
 * ```ts
 * import { tensor } from "../creation.ts";
 * import { wasmCausalAttention } from "./attention.ts";
 * const q = tensor([[[1, 0], [0, 1]]]);
 * const out = wasmCausalAttention(q, q, q, 1);
 * console.log(out?.shape); // [1, 2, 2]
 * ```
 */
export function wasmCausalAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  scale: number,
): Tensor | null {
  if (chosenCpuBackend() !== "wasm") return null;
  if (q.dtype !== "float32" || k.dtype !== "float32" || v.dtype !== "float32") return null;
  const op = "causalAttention.core";
  const [B, T, d] = q.shape;
  const shape = { M: T, N: T, K: d, batch: B, aStride: T * d, bStride: T * d };
  const scores = new Float32Array(B * T * T); // [B, T, T]
  const scored = wasmMatmul(cpuData(q, op, "queries"), cpuData(k, op, "keys"), scores, {
    ...shape,
    transposeA: false,
    transposeB: true,
    alpha: scale,
  });
  if (!scored) return null;
  // Row i of each batch attends to positions 0..i: the rest weigh exactly 0.
  for (let row = 0; row < B * T; row++) {
    scores.fill(-Infinity, row * T + (row % T) + 1, (row + 1) * T);
  }
  const weights = new Float32Array(B * T * T);
  if (!wasmSoftmaxRows(scores, weights, B * T, T, 1, false)) return null;
  const context = new Float32Array(B * T * d); // [B, T, d]
  const mixed = wasmMatmul(weights, cpuData(v, op, "values"), context, {
    M: T,
    N: d,
    K: T,
    batch: B,
    aStride: T * T,
    bStride: T * d,
    transposeA: false,
    transposeB: false,
    alpha: 1,
  });
  return mixed ? cpuTensor(context, [B, T, d]) : null;
}
