/**
 * Registers the `cpu` device's WebAssembly kernels as the `"wasm"` entries of
 * the ops' kernel tables (src/ops/kernel_table.ts). Ops without an entry here
 * run their `"reference"` TypeScript loops under the wasm backend too.
 *
 * Each entry stages its operands as the reference does, runs the kernel,
 * and, where the kernel declines (kernels unavailable, a problem over wasm32
 * memory), runs the op's reference entry instead. The package entry points
 * (mod.ts, src/nn/mod.ts) import this module once for its effect; op files
 * never import it, so there is no import cycle.
 *
 * @module
 */

import { cpuFloatTensor, widened } from "../ops/float_dtype.ts";
import { cpuData, cpuHalf, cpuTensor } from "../tensor.ts";
import { layerNormKernels } from "../ops/layer_norm.ts";
import { maskedSoftmaxKernels } from "../ops/masked_softmax.ts";
import { matmulKernels } from "../ops/matmul.ts";
import { wasmMaskedSoftmax } from "./attention.ts";
import { wasmGemvF16, widenF16 } from "./f16.ts";
import { wasmLayerNorm } from "./layer_norm.ts";
import { wasmMatmul } from "./matmul.ts";
// Softmax, GELU (tanh) and their gradients: src/cpu/rows.ts.
import "./register_rows.ts";

matmulKernels.register("wasm", "float32", (a, b, s, dtype) => {
  const out = new Float32Array(s.batch * s.M * s.N);
  if (wasmMatmul(cpuData(a, "matmul", "a"), cpuData(b, "matmul", "b"), out, s)) {
    return cpuTensor(out, s.outShape);
  }
  return matmulKernels.lookup("reference", a.dtype)!(a, b, s, dtype);
});

// float16: a decode step's products read the float16 weight itself (half the
// bytes); larger ones widen both operands in SIMD lanes and run the float32
// kernels. Either way: exact widening, float32 math, one rounding per output.
matmulKernels.register("wasm", "float16", (a, b, s, dtype) => {
  const x = widenF16(cpuHalf(a, "matmul", "a"));
  const out = new Float32Array(s.batch * s.M * s.N);
  const w = cpuHalf(b, "matmul", "b");
  if (wasmGemvF16(x, w, out, s) || wasmMatmul(x, widenF16(w), out, s)) {
    return cpuFloatTensor(out, s.outShape, dtype);
  }
  return matmulKernels.lookup("reference", a.dtype)!(a, b, s, dtype);
});

layerNormKernels.register("wasm", "any", (x, scale, shift, eps, dtype) => {
  const src = widened(x, "layerNorm", "x");
  const w = widened(scale, "layerNorm", "scale");
  const b = widened(shift, "layerNorm", "shift");
  const out = new Float32Array(src.length);
  if (wasmLayerNorm(src, w, b, out, w.length, eps)) return cpuFloatTensor(out, x.shape, dtype);
  return layerNormKernels.lookup("reference", x.dtype)!(x, scale, shift, eps, dtype);
});

// The attention weights in one pass: masked fill and softmax.
maskedSoftmaxKernels.register(
  "wasm",
  "any",
  (op, scores, mask, scale) =>
    wasmMaskedSoftmax(scores, mask, scale) ??
      maskedSoftmaxKernels.lookup("reference", scores.dtype)!(op, scores, mask, scale),
);
