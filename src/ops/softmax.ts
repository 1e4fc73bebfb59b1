/**
 * Softmax and logSoftmax along any dimension, safe for masked scores, with
 * their backward rules beside them.
 *
 * @module
 */

import { type Backward, record, type Saved } from "../autograd/recording.ts";
import type { WebGpuDevice } from "../device.ts";
import { ELEMENTWISE_WG, launch, words } from "../gpu/launch.ts";
import { itemsPerInvocation } from "../gpu/loop_bound.ts";
import { fromHost, hostArray, type Tensor, viewOf } from "../tensor.ts";
import { castKernel } from "./cast.ts";
import {
  cpuFloatTensor,
  type FloatDType,
  floatDType,
  storageSnippet,
  widened,
} from "./float_dtype.ts";
import { gpuOf, type KernelTable, kernelTable } from "./kernel_table.ts";
import {
  checkFiniteNumber,
  checkInteger,
  checkOptions,
  checkTensor,
  normalizeDim,
} from "./checks.ts";
import { mul, scale, sub } from "./elementwise.ts";
import { reduceOver } from "./reduce.ts";

/**
 * Options for {@linkcode softmax} and {@linkcode logSoftmax}.
 *
 * @example
 * ```ts
 * import type { SoftmaxOptions } from "@tessera/core";
 * const o: SoftmaxOptions = { scale: 1 / Math.sqrt(64), dim: -1 };
 * ```
 */
export interface SoftmaxOptions {
  /** Multiply the input by this factor first (attention's 1/sqrt(d)); default 1. */
  scale?: number;
  /** The dimension to normalise over (negative counts from the end); default -1. */
  dim?: number;
}

/** Threads per (row, chunk) in the stats kernel (its `WG`; a power of two). */
const STATS_WG = 64;
/** Threads per row in the single-pass kernel. */
const ROW_WG = 64;
const NAN_BITS = 0x7fc00000;
const NEG_INF_BITS = 0xff800000;

/**
 * Softmax of `scale * x` along `dim` (default: the last), like
 * `torch.softmax(scale * x, dim)`. Entries equal to `-Infinity` (masked
 * scores) get weight exactly 0, as in PyTorch; a NaN or `+Infinity` anywhere
 * in a row makes the whole row NaN, as in PyTorch. One deliberate difference: a row whose
 * entries are all `-Infinity` gives all zeros (PyTorch gives NaN there;
 * zeros match its `scaled_dot_product_attention` and keep later ops finite).
 *
 * @example
 * ```ts
 * import { softmax, tensor } from "@tessera/core";
 * console.log(await softmax(tensor([[0, 0], [1, -Infinity]])).toArray()); // [[0.5, 0.5], [1, 0]]
 * console.log(await softmax(tensor([[0, 0], [0, 0]]), { dim: 0 }).toArray()); // [[0.5, 0.5], [0.5, 0.5]]
 * ```
 */
export function softmax(x: Tensor, options: SoftmaxOptions = {}): Tensor {
  const { alpha, dim } = checkArgs("softmax", x, options);
  const out = normalise("softmax", x, dim, alpha, false);
  return record("softmax", [x], out, softmaxBackward(dim, alpha));
}

/**
 * Log of the softmax of `scale * x` along `dim` (default: the last), like
 * `torch.log_softmax(scale * x, dim)`, computed stably as
 * `scale * x - max - log(sum(exp(scale * x - max)))`. Special values as in
 * PyTorch: `-Infinity` entries give `-Infinity`, a NaN or `+Infinity` makes
 * the row NaN, and a row of all `-Infinity` gives NaN.
 *
 * @example
 * ```ts
 * import { logSoftmax, tensor } from "@tessera/core";
 * console.log(await logSoftmax(tensor([0, 0])).toArray()); // [-0.6931472, -0.6931472]
 * ```
 */
export function logSoftmax(x: Tensor, options: SoftmaxOptions = {}): Tensor {
  const { alpha, dim } = checkArgs("logSoftmax", x, options);
  const out = normalise("logSoftmax", x, dim, alpha, true);
  return record("logSoftmax", [x], out, logSoftmaxBackward(dim, alpha));
}

function checkArgs(op: string, x: Tensor, options: SoftmaxOptions): { alpha: number; dim: number } {
  checkTensor(op, "input", x);
  checkOptions(op, options);
  const alpha = Math.fround(checkFiniteNumber(op, "scale", options.scale ?? 1));
  const dim = normalizeDim(
    op,
    checkInteger(op, "dim", options.dim ?? -1),
    Math.max(1, x.shape.length),
  );
  return { alpha, dim };
}

/** x viewed as [outer, cols, inner] around `dim`. */
function around(x: Tensor, dim: number): { outer: number; cols: number; inner: number } {
  const shape = x.shape.length === 0 ? [1] : x.shape;
  const cols = shape[dim];
  let outer = 1;
  let inner = 1;
  for (let d = 0; d < dim; d++) outer *= shape[d];
  for (let d = dim + 1; d < shape.length; d++) inner *= shape[d];
  return { outer, cols, inner };
}

function normalise(op: string, x: Tensor, dim: number, alpha: number, log: boolean): Tensor {
  // float16: f32 math, one rounding per output.
  const dtype = floatDType(op, ["input", x]);
  return softmaxKernels.for(x)(op, x, around(x, dim), alpha, log, dtype);
}

/** Where a softmax's rows lie: x viewed as [outer, cols, inner], rows along cols. */
export interface RowGeometry {
  outer: number;
  cols: number;
  inner: number;
}

/**
 * A softmax (or, with `log`, logSoftmax) implementation: `op` names the
 * public op in errors, `x` is normalised along the middle of its
 * [outer, cols, inner] view, the output has x's shape and `dtype`.
 */
export type SoftmaxImpl = (
  op: string,
  x: Tensor,
  rows: RowGeometry,
  alpha: number,
  log: boolean,
  dtype: FloatDType,
) => Tensor;

function referenceSoftmax(
  op: string,
  x: Tensor,
  { outer, cols, inner }: RowGeometry,
  alpha: number,
  log: boolean,
  dtype: FloatDType,
): Tensor {
  const rows = outer * inner;
  const src = widened(x, op, "input");
  const out = new Float32Array(src.length);
  for (let r = 0; r < rows; r++) {
    const base = Math.floor(r / inner) * cols * inner + (r % inner);
    normaliseRow(src, out, base, cols, inner, alpha, log);
  }
  return cpuFloatTensor(out, x.shape, dtype);
}

function webgpuSoftmax(
  op: string,
  x: Tensor,
  geometry: RowGeometry,
  alpha: number,
  log: boolean,
  dtype: FloatDType,
): Tensor {
  const { outer, cols, inner } = geometry;
  const rows = outer * inner;
  const device = gpuOf(x);
  if (x.size === 0) return fromHost(hostArray(dtype, 0), x.shape, device, op, `${op} output`);
  const uniforms = words(rows, cols, inner, { f32: alpha }, NAN_BITS, NEG_INF_BITS, 0, 0);
  // Three strided loops over the row per invocation, plus the tree reductions.
  if (cols <= ROW_WG * itemsPerInvocation(3, 48)) {
    return launch(device, {
      op,
      shader: "softmax",
      includes: [storageSnippet(dtype), "workgroup_reduce", "softmax_rules", "workgroup_job"],
      constants: { WG: ROW_WG, LOG: log ? 1 : 0 },
      uniforms,
      inputs: [["input", x]],
      dtypes: [dtype],
      outShape: x.shape,
      workgroups: rows,
    });
  }
  if (dtype === "float16") {
    // Long float16 rows take the float32 multi-pass path and round at the end.
    const wide = castKernel(op, x, "float32");
    const out32 = webgpuSoftmax(op, wide, geometry, alpha, log, "float32");
    wide.dispose();
    const out = castKernel(op, out32, "float16");
    out32.dispose();
    return out;
  }
  // Long rows: bounded per-chunk stats, combined pass after pass, then an
  // elementwise normalisation.
  const stats = rowStats(op, device, x, rows, cols, inner, alpha);
  const out = launch(device, {
    op,
    shader: "softmax_apply",
    includes: ["softmax_rules"],
    constants: { WG: ELEMENTWISE_WG, LOG: log ? 1 : 0 },
    uniforms: words(x.size, cols, inner, { f32: alpha }, NAN_BITS, NEG_INF_BITS, 0, 0),
    inputs: [["input", x], ["row stats", stats]],
    outShape: x.shape,
    workgroups: Math.ceil(x.size / ELEMENTWISE_WG),
  });
  stats.dispose();
  return out;
}

/** Softmax and logSoftmax forward, per backend (see src/ops/kernel_table.ts). */
export const softmaxKernels: KernelTable<SoftmaxImpl> = kernelTable<SoftmaxImpl>("softmax", {
  reference: referenceSoftmax,
  webgpu: webgpuSoftmax,
});

/**
 * Per-row stats `[rows, 1, 4]` (max, sum of exp(alpha x - max), has NaN, has
 * +inf) of x viewed as [outer, cols, inner], in as many bounded passes as
 * the loop budget needs. Cross-entropy reads them too.
 */
export function rowStats(
  op: string,
  device: WebGpuDevice,
  x: Tensor,
  rows: number,
  cols: number,
  inner: number,
  alpha: number,
): Tensor {
  let input = x;
  let count = cols;
  let pairs = false;
  for (;;) {
    // Two loops over the chunk per invocation, plus three tree reductions.
    const chunk = STATS_WG * itemsPerInvocation(2, 32);
    const chunks = Math.ceil(count / chunk);
    const out = launch(device, {
      op,
      shader: "softmax_stats",
      includes: ["workgroup_reduce", "softmax_rules", "workgroup_job"],
      constants: { WG: STATS_WG, PAIRS: pairs ? 1 : 0 },
      uniforms: words(rows, count, pairs ? 1 : inner, { f32: pairs ? 1 : alpha }, chunk, chunks),
      inputs: [["input", input]],
      outShape: [rows, chunks, 4],
      workgroups: rows * chunks,
    });
    if (input !== x) input.dispose();
    if (chunks === 1) return out;
    input = out;
    count = chunks;
    pairs = true;
  }
}

/** One row of softmax (or logSoftmax), in float32 steps like the kernels. */
function normaliseRow(
  src: Float32Array,
  out: Float32Array,
  base: number,
  cols: number,
  stride: number,
  alpha: number,
  log: boolean,
): void {
  let max = -3.4028234663852886e38;
  let nan = false;
  let posInf = false;
  for (let j = 0; j < cols; j++) {
    const v = src[base + j * stride];
    if (Number.isNaN(v)) nan = true;
    else if (v === Infinity) posInf = true;
    else if (v !== -Infinity) max = Math.max(max, Math.fround(alpha * v));
  }
  let sum = 0;
  for (let j = 0; j < cols; j++) {
    const v = src[base + j * stride];
    if (Number.isFinite(v)) sum += Math.fround(Math.exp(Math.fround(Math.fround(alpha * v) - max)));
  }
  const total = Math.fround(sum);
  const logTotal = Math.fround(Math.log(total));
  for (let j = 0; j < cols; j++) {
    const v = src[base + j * stride];
    let r: number;
    if (nan || posInf) r = NaN;
    else if (v === -Infinity) r = log ? (total > 0 ? -Infinity : NaN) : 0;
    else if (log) r = Math.fround(Math.fround(alpha * v) - max) - logTotal;
    else r = Math.fround(Math.exp(Math.fround(Math.fround(alpha * v) - max))) / total;
    out[base + j * stride] = r;
  }
}

/**
 * dx = alpha * y * (g - sum(g * y)) along `dim`, from the saved output y.
 * Masked entries have y = 0, so they get exactly 0. Built from elementwise
 * kernels and the bounded reduction, so any row length works; and on
 * [outer, cols, inner] views, so any rank works, as the forward pass does.
 */
function softmaxBackward(dim: number, alpha: number): Backward {
  return (g: Tensor, s: Saved) => {
    if (s.output.shape.length === 0) return [scale(g, 0)];
    return [softmaxBackwardKernels.for(g)(s.output, g, dim, alpha)];
  };
}

/**
 * A softmax backward implementation: the gradient for `g` given the saved
 * output `y` (both of one shape, rows along `dim`).
 */
export type SoftmaxBackwardImpl = (y: Tensor, g: Tensor, dim: number, alpha: number) => Tensor;

function composedSoftmaxBackward(output: Tensor, g: Tensor, dim: number, alpha: number): Tensor {
  const y = around3d(output, dim);
  const g3 = around3d(g, dim);
  const gy = mul(g3, y);
  const dot = reduceOver("softmax backward", gy, [1], 1, true);
  gy.dispose();
  const centred = sub(g3, dot);
  dot.dispose();
  g3.dispose();
  const prod = mul(y, centred);
  centred.dispose();
  y.dispose();
  const dx = scale(prod, alpha);
  prod.dispose();
  return reshapedBack(dx, g.shape);
}

/** The softmax rule per backend (src/ops/kernel_table.ts); the ops it composes on both. */
export const softmaxBackwardKernels: KernelTable<SoftmaxBackwardImpl> = kernelTable<
  SoftmaxBackwardImpl
>("softmax backward", { reference: composedSoftmaxBackward, webgpu: composedSoftmaxBackward });

/** t viewed as [outer, cols, inner] around `dim` (shares t's storage). */
function around3d(t: Tensor, dim: number): Tensor {
  const { outer, cols, inner } = around(t, dim);
  return viewOf(t, [outer, cols, inner], "softmax backward");
}

/** A view of `t` under `shape`, with `t` itself released. */
function reshapedBack(t: Tensor, shape: readonly number[]): Tensor {
  const out = viewOf(t, shape, "softmax backward");
  t.dispose();
  return out;
}

/** dx = alpha * (g - softmax(alpha x) * sum(g)) along `dim`. */
function logSoftmaxBackward(dim: number, alpha: number): Backward {
  return (g: Tensor, s: Saved) => {
    if (s.inputs[0].shape.length === 0) return [scale(g, 0)];
    const x = around3d(s.inputs[0], dim);
    const g3 = around3d(g, dim);
    const p = normalise("logSoftmax backward", x, 1, alpha, false);
    x.dispose();
    const total = reduceOver("logSoftmax backward", g3, [1], 1, true);
    const share = mul(p, total);
    p.dispose();
    total.dispose();
    const diff = sub(g3, share);
    share.dispose();
    g3.dispose();
    const dx = scale(diff, alpha);
    diff.dispose();
    return [reshapedBack(dx, g.shape)];
  };
}
