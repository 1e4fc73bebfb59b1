/**
 * Registers the row kernels of src/cpu/rows.ts as `"wasm"` kernel-table
 * entries: softmax and logSoftmax forward (rows along the last dimension;
 * other dimensions keep the reference) and its gradient, exp, tanh, GELU
 * with the tanh approximation (forward, gradient, and the fused bias +
 * GELU), cross-entropy forward and backward, layer norm backward. Each entry runs the reference entry where
 * its kernel declines (or, for cross-entropy, where a target is not a class
 * index, so the reference throws its error). Imported once by
 * src/cpu/register.ts.
 *
 * @module
 */

import { cpuData, cpuRaw, cpuTensor } from "../tensor.ts";
import { cpuFloatTensor, widened } from "../ops/float_dtype.ts";
import { layerNormBackwardKernels } from "../ops/layer_norm.ts";
import { crossEntropyBackwardKernels, crossEntropyKernels } from "../ops/loss.ts";
import { softmaxBackwardKernels, softmaxKernels } from "../ops/softmax.ts";
import { biasGeluKernels, unaryGradKernels, unaryKernels } from "../ops/unary_kernels.ts";
import {
  wasmCrossEntropyGrad,
  wasmCrossEntropyLosses,
  wasmExp,
  wasmGeluTanh,
  wasmGeluTanhBackward,
  wasmLayerNormBackward,
  wasmSoftmaxBackwardRows,
  wasmSoftmaxRows,
  wasmTanh,
} from "./rows.ts";

softmaxKernels.register("wasm", "any", (op, x, rows, alpha, log, dtype) => {
  if (rows.inner === 1 && x.size > 0) {
    const src = widened(x, op, "input");
    const out = new Float32Array(src.length);
    if (wasmSoftmaxRows(src, out, rows.outer, rows.cols, alpha, log)) {
      return cpuFloatTensor(out, x.shape, dtype);
    }
  }
  return softmaxKernels.lookup("reference", x.dtype)!(op, x, rows, alpha, log, dtype);
});

// The softmax rule alpha * y * (g - sum(g * y)) for rows along the last dimension.
softmaxBackwardKernels.register("wasm", "float32", (y, g, dim, alpha) => {
  const cols = y.shape[dim];
  if (dim === y.shape.length - 1 && y.dtype === "float32" && y.size > 0) {
    const op = "softmax backward";
    const out = new Float32Array(y.size);
    const [ys, gs] = [cpuData(y, op, "output"), cpuData(g, op, "gradient")];
    if (wasmSoftmaxBackwardRows(ys, gs, out, y.size / cols, cols, alpha, false)) {
      return cpuTensor(out, g.shape);
    }
  }
  return softmaxBackwardKernels.lookup("reference", g.dtype)!(y, g, dim, alpha);
});

// The SIMD exp and tanh are within 1 ulp of Math.exp / Math.tanh (tests/cpu_rows_test.ts).
const UNARY_ROWS: Partial<Record<string, (src: Float32Array, out: Float32Array) => boolean>> = {
  geluTanh: wasmGeluTanh,
  exp: wasmExp,
  tanh: wasmTanh,
};

unaryKernels.register("wasm", "any", (name, op, x, p, dtype) => {
  const kernel = UNARY_ROWS[op];
  if (kernel !== undefined) {
    const src = widened(x, name, "x");
    const out = new Float32Array(src.length);
    if (kernel(src, out)) return cpuFloatTensor(out, x.shape, dtype);
  }
  return unaryKernels.lookup("reference", x.dtype)!(name, op, x, p, dtype);
});

unaryGradKernels.register("wasm", "any", (name, op, v, g, p) => {
  if (op === "geluTanh" && v.dtype === "float32" && g.dtype === "float32") {
    const x = cpuData(v, name, "saved value");
    const out = new Float32Array(x.length);
    if (wasmGeluTanhBackward(x, cpuData(g, name, "gradient"), out)) {
      return cpuTensor(out, v.shape);
    }
  }
  return unaryGradKernels.lookup("reference", v.dtype)!(name, op, v, g, p);
});

biasGeluKernels.register("wasm", "any", (x, bias, tanh, dtype) => {
  if (tanh) {
    const src = widened(x, "biasGelu", "x");
    const b = widened(bias, "biasGelu", "bias");
    const features = b.length;
    // The sum rounded to float32 first, as the reference does; gelu in place.
    const out = new Float32Array(src.length);
    for (let i = 0; i < src.length; i += features) {
      for (let j = 0; j < features; j++) out[i + j] = src[i + j] + b[j];
    }
    if (wasmGeluTanh(out, out)) return cpuFloatTensor(out, x.shape, dtype);
  }
  return biasGeluKernels.lookup("reference", x.dtype)!(x, bias, tanh, dtype);
});

layerNormBackwardKernels.register("wasm", "float32", (x, scale, g, eps) => {
  if (scale.dtype === "float32" && g.dtype === "float32") {
    const op = "layerNorm backward";
    const src = cpuData(x, op, "x");
    const dx = new Float32Array(src.length);
    const gxhat = new Float32Array(src.length);
    const w = cpuData(scale, op, "scale");
    if (wasmLayerNormBackward(src, w, cpuData(g, op, "gradient"), dx, gxhat, w.length, eps)) {
      return [cpuTensor(dx, x.shape), cpuTensor(gxhat, x.shape)];
    }
  }
  return layerNormBackwardKernels.lookup("reference", x.dtype)!(x, scale, g, eps);
});

/**
 * Each row's class (-1 where ignored), or null when a target is not a class
 * index: the reference entry then throws its error.
 */
function classIds(raw: ArrayLike<number>, cols: number, ignoreIndex: number): Int32Array | null {
  const ids = new Int32Array(raw.length);
  for (let r = 0; r < raw.length; r++) {
    const v = raw[r];
    if (v === ignoreIndex) ids[r] = -1;
    else if (Number.isInteger(v) && v >= 0 && v < cols) ids[r] = v;
    else return null;
  }
  return ids;
}

crossEntropyKernels.register("wasm", "float32", (op, logits, targets, opts) => {
  const [rows, cols] = logits.shape;
  const ids = classIds(cpuRaw(targets, op, "targets"), cols, opts.ignoreIndex);
  const losses = new Float32Array(rows);
  const x = cpuData(logits, op, "logits");
  if (ids !== null && wasmCrossEntropyLosses(x, rows, cols, ids, opts.smoothing, losses)) {
    if (opts.reduction === "none") return cpuTensor(losses, [rows]);
    let acc = 0;
    let count = 0;
    for (let r = 0; r < rows; r++) {
      if (ids[r] < 0) continue;
      acc += losses[r];
      count++;
    }
    const total = Math.fround(acc);
    return cpuTensor(new Float32Array([opts.reduction === "sum" ? total : total / count]), []);
  }
  return crossEntropyKernels.lookup("reference", logits.dtype)!(op, logits, targets, opts);
});

crossEntropyBackwardKernels.register("wasm", "float32", (op, g, logits, targets, opts) => {
  const [rows, cols] = logits.shape;
  const ids = classIds(cpuRaw(targets, op, "targets"), cols, opts.ignoreIndex);
  if (ids !== null && g.dtype === "float32") {
    const gv = cpuData(g, op, "gradient");
    let count = 0;
    for (let r = 0; r < rows; r++) if (ids[r] >= 0) count++;
    const shared = opts.reduction === "sum" ? gv[0] : Math.fround(gv[0] / count);
    const weights = new Float32Array(rows);
    for (let r = 0; r < rows; r++) {
      if (ids[r] >= 0) weights[r] = opts.reduction === "none" ? gv[r] : shared;
    }
    const out = new Float32Array(rows * cols);
    const x = cpuData(logits, op, "logits");
    if (wasmCrossEntropyGrad(x, rows, cols, ids, weights, opts.smoothing, out)) {
      return cpuTensor(out, logits.shape);
    }
  }
  return crossEntropyBackwardKernels.lookup("reference", logits.dtype)!(
    op,
    g,
    logits,
    targets,
    opts,
  );
});
