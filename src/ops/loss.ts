/**
 * Loss functions: `mse` (PyTorch's mean reduction) and `crossEntropy`
 * (PyTorch's ignore_index, reduction and label_smoothing).
 * Each reduces to one number on the device in bounded parallel passes (over
 * chunks of elements, rows and classes), and its gradient reads the loss
 * gradient from device memory (no readback).
 *
 * @module
 */

import { ArgumentError, ShapeError } from "../errors.ts";
import { ELEMENTWISE_WG, launch, words } from "../gpu/launch.ts";
import { launchMany } from "../gpu/launch_many.ts";
import { runtimeOf, type WebGpuDevice } from "../device.ts";
import { overBinding, rowChunks, unboundBuffer } from "../gpu/big_buffer.ts";
import { itemsPerInvocation } from "../gpu/loop_bound.ts";
import { pauseRecording, record, type Saved } from "../autograd/recording.ts";
import {
  borrowedGpuTensor,
  checkDType,
  cpuData,
  cpuRaw,
  cpuTensor,
  gpuBuffer,
  gpuTensor,
  type Tensor,
} from "../tensor.ts";
import { cat, slice } from "./layout.ts";
import { assertSameDevice, checkTensor, describe, showShape } from "./checks.ts";
import { throughFloat32 } from "./through_float32.ts";
import { div, scale } from "./elementwise.ts";
import { reduceOver } from "./reduce.ts";
import { rowStats } from "./softmax.ts";
import { gpuOf, type KernelTable, kernelTable } from "./kernel_table.ts";

/** Threads per chunk of the mse partial-sum kernel. */
const LOSS_WG = 256;
const NAN_BITS = 0x7fc00000;
const INF_BITS = 0x7f800000;

/**
 * Mean squared error `mean((pred - target)^2)` over every element, like
 * `torch.nn.functional.mse_loss` (reduction "mean"). Returns a scalar of
 * shape `[]`. `pred` and `target` must have the same shape.
 *
 * @example
 * ```ts
 * import { mse, tensor } from "@tessera/core";
 * console.log(await mse(tensor([1, 2, 3]), tensor([1, 2, 5])).toArray()); // 1.3333333
 * ```
 */
export function mse(pred: Tensor, target: Tensor): Tensor {
  checkTensor("mse", "pred", pred);
  checkTensor("mse", "target", target);
  assertSameDevice("mse", ["pred", pred], ["target", target]);
  if (showShape(pred.shape) !== showShape(target.shape)) {
    throw new ShapeError(
      `mse: pred ${showShape(pred.shape)} and target ${showShape(target.shape)} must have ` +
        `the same shape`,
    );
  }
  if (pred.size === 0) throw new ShapeError("mse: pred and target are empty");
  const invN = Math.fround(1 / pred.size);
  const out = mseKernels.for(pred)(pred, target, invN);
  return record("mse", [pred, target], out, mseBackward);
}

function mseBackward(g: Tensor, s: Saved): (Tensor | null)[] {
  const [pred, target] = s.inputs;
  const factor = Math.fround(2 / pred.size);
  const dPred = mseBackwardKernels.for(pred)(pred, target, g, factor);
  const dTarget = s.needs[1] ? scale(dPred, -1) : null;
  if (s.needs[0]) return [dPred, dTarget];
  dPred.dispose();
  return [null, dTarget];
}

/** A mean squared error implementation: the scalar `invN * sum((pred - target)^2)`. */
export type MseImpl = (pred: Tensor, target: Tensor, invN: number) => Tensor;

function referenceMse(pred: Tensor, target: Tensor, invN: number): Tensor {
  const a = cpuData(pred, "mse", "pred");
  const b = cpuData(target, "mse", "target");
  let acc = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.fround(a[i] - b[i]);
    acc += d * d;
  }
  return cpuTensor(new Float32Array([Math.fround(acc) * invN]), []);
}

function webgpuMse(pred: Tensor, target: Tensor, invN: number): Tensor {
  // Bounded partial sums, then the bounded reduction over the partials.
  const chunk = LOSS_WG * itemsPerInvocation(1, 16);
  const chunks = Math.ceil(pred.size / chunk);
  const partials = launch(gpuOf(pred), {
    op: "mse",
    shader: "mse",
    includes: ["workgroup_reduce"],
    constants: { WG: LOSS_WG },
    uniforms: words(pred.size, { f32: chunks === 1 ? invN : 1 }, chunk, chunks),
    inputs: [["pred", pred], ["target", target]],
    outShape: chunks === 1 ? [] : [chunks],
    workgroups: chunks,
  });
  const out = chunks === 1 ? partials : reduceOver("mse", partials, [0], invN, false);
  if (out !== partials) partials.dispose();
  return out;
}

/** mse's forward, per backend (src/ops/kernel_table.ts). */
export const mseKernels: KernelTable<MseImpl> = kernelTable<MseImpl>("mse", {
  reference: referenceMse,
  webgpu: webgpuMse,
});

/** mse's gradient for pred: `factor * g * (pred - target)` with `factor = 2 / n`. */
export type MseBackwardImpl = (pred: Tensor, target: Tensor, g: Tensor, factor: number) => Tensor;

function referenceMseBackward(pred: Tensor, target: Tensor, g: Tensor, factor: number): Tensor {
  const a = cpuData(pred, "mse backward", "pred");
  const b = cpuData(target, "mse backward", "target");
  const k = Math.fround(factor * cpuData(g, "mse backward", "gradient")[0]);
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = k * Math.fround(a[i] - b[i]);
  return cpuTensor(out, pred.shape);
}

function webgpuMseBackward(pred: Tensor, target: Tensor, g: Tensor, factor: number): Tensor {
  return launch(gpuOf(pred), {
    op: "mse backward",
    shader: "mse_backward",
    uniforms: words(pred.size, { f32: factor }, 0, 0),
    inputs: [["pred", pred], ["target", target], ["gradient", g]],
    outShape: pred.shape,
    workgroups: Math.ceil(pred.size / ELEMENTWISE_WG),
  });
}

/** mse's backward, per backend (src/ops/kernel_table.ts). */
export const mseBackwardKernels: KernelTable<MseBackwardImpl> = kernelTable<MseBackwardImpl>(
  "mse backward",
  { reference: referenceMseBackward, webgpu: webgpuMseBackward },
);

/**
 * Options of {@linkcode crossEntropy}, named as in PyTorch's
 * `torch.nn.functional.cross_entropy`.
 *
 * @example
 * ```ts
 * import type { CrossEntropyOptions } from "@tessera/core";
 * const o: CrossEntropyOptions = { ignoreIndex: -100, reduction: "sum", labelSmoothing: 0.1 };
 * ```
 */
export interface CrossEntropyOptions {
  /**
   * Rows whose target is this value add nothing to the loss or the gradient,
   * and "mean" averages over the other rows (all rows ignored: NaN, as in
   * PyTorch). An int32 integer; default -100.
   */
  ignoreIndex?: number;
  /** "mean" (default): a scalar; "sum": a scalar; "none": the loss of each row, `[N]` (0 where ignored). */
  reduction?: "mean" | "sum" | "none";
  /** PyTorch's `label_smoothing`, in `[0, 1]`; default 0. */
  labelSmoothing?: number;
}

/** crossEntropy's options, checked and resolved. */
export interface CeOptions {
  ignoreIndex: number;
  reduction: "mean" | "sum" | "none";
  smoothing: number;
}

/**
 * Cross-entropy of `logits` `[N, C]` against class indices, like
 * `torch.nn.functional.cross_entropy(logits, targets, ignore_index=-100,
 * reduction="mean", label_smoothing=0)` of PyTorch 1.13. Returns a scalar of
 * shape `[]` ("mean", "sum") or the loss of each row `[N]` ("none").
 *
 * Float16 logits (mixed-precision training) are widened: the math and the
 * loss are float32, and their gradient is float16. On webgpu the work is
 * parallel over rows and classes in bounded passes, and logits larger than
 * one storage binding (GPT-2's 50257 classes over more than 667 rows) are
 * processed in blocks of rows, their gradient joined by buffer copies.
 *
 * `targets` is an int32 tensor `[N]` of class indices in `[0, C)` (or a
 * float32 one of whole numbers) on the logits' device, so that it moves with
 * `toDevice` like any other input; a target equal to `ignoreIndex` skips its
 * row. NaN and infinite logits give PyTorch's results (a NaN in a counted row
 * makes the loss NaN).
 * On cpu, other target values throw an `ArgumentError`; on webgpu they cannot
 * be checked without a readback, so a target outside `[0, C)` (or a
 * fractional, NaN or infinite float target) makes the loss NaN, and its row's
 * gradient NaN: loud, never a plausible finite number.
 *
 * @example
 * ```ts
 * import { crossEntropy, tensor } from "@tessera/core";
 * const logits = tensor([[2, 0, 0], [0, 0, 0]]);
 * console.log(await crossEntropy(logits, tensor([0, 2])).toArray()); // ≈ 0.6691
 * const ids = tensor([0, -100], undefined, { dtype: "int32" });
 * console.log(await crossEntropy(logits, ids, { reduction: "none" }).toArray()); // ≈ [0.2395, 0]
 * ```
 */
export function crossEntropy(
  logits: Tensor,
  targets: Tensor,
  options: CrossEntropyOptions = {},
): Tensor {
  const op = "crossEntropy";
  checkTensor(op, "logits", logits);
  checkTensor(op, "targets", targets);
  assertSameDevice(op, ["logits", logits], ["targets", targets]);
  checkDType(op, "logits", logits, ["float32", "float16"]);
  checkDType(op, "targets", targets, ["float32", "int32"]);
  const opts = ceOptions(options);
  const [rows, cols] = logits.shape;
  if (logits.shape.length !== 2 || targets.shape.length !== 1 || targets.shape[0] !== rows) {
    throw new ShapeError(
      `crossEntropy: expected logits [N, C] and targets [N], but got logits ` +
        `${showShape(logits.shape)} and targets ${showShape(targets.shape)}`,
    );
  }
  if (rows === 0 || cols === 0) {
    throw new ShapeError(`crossEntropy: logits ${showShape(logits.shape)} are empty`);
  }
  if (logits.dtype === "float16") {
    // Mixed precision: float32 math and a float32 loss (as torch.autocast does); the
    // logits' gradient comes back float16 through the cast.
    return throughFloat32([logits], ([w]) => crossEntropy(w, targets, options), "float32");
  }
  const out = crossEntropyKernels.for(logits)(op, logits, targets, opts);
  return record(op, [logits, targets], out, (g, s) => crossEntropyBackward(g, s, opts));
}

/**
 * A cross-entropy forward implementation (float32 logits `[N, C]`, targets
 * `[N]`, options checked): the loss reduced as `opts.reduction` says.
 */
export type CrossEntropyImpl = (
  op: string,
  logits: Tensor,
  targets: Tensor,
  opts: CeOptions,
) => Tensor;

function referenceCrossEntropy(
  op: string,
  logits: Tensor,
  targets: Tensor,
  opts: CeOptions,
): Tensor {
  const [rows, cols] = logits.shape;
  const x = cpuData(logits, op, "logits");
  const raw = cpuRaw(targets, op, "targets");
  const losses = new Float32Array(rows);
  let acc = 0;
  let count = 0;
  for (let r = 0; r < rows; r++) {
    if (raw[r] === opts.ignoreIndex) continue;
    losses[r] = rowLoss(x, r * cols, cols, classIndex(raw[r], r, cols), opts.smoothing);
    acc += losses[r];
    count++;
  }
  const total = Math.fround(acc);
  return opts.reduction === "none"
    ? cpuTensor(losses, [rows])
    : cpuTensor(new Float32Array([opts.reduction === "sum" ? total : total / count]), []);
}

function webgpuCrossEntropy(op: string, logits: Tensor, targets: Tensor, opts: CeOptions): Tensor {
  let out: Tensor;
  const [losses, valid] = pauseRecording(() => blockedRowLosses(op, logits, targets, opts));
  if (opts.reduction === "none") {
    valid.dispose();
    out = losses;
  } else {
    const total = reduceOver(op, losses, [0], 1, false);
    losses.dispose();
    if (opts.reduction === "sum") {
      valid.dispose();
      out = total;
    } else {
      const count = reduceOver(op, valid, [0], 1, false);
      valid.dispose();
      // Part of this op, not a node of its own on the tape.
      out = pauseRecording(() => div(total, count));
      total.dispose();
      count.dispose();
    }
  }
  return out;
}

/** crossEntropy's forward, per backend (src/ops/kernel_table.ts). */
export const crossEntropyKernels: KernelTable<CrossEntropyImpl> = kernelTable<CrossEntropyImpl>(
  "crossEntropy",
  { reference: referenceCrossEntropy, webgpu: webgpuCrossEntropy },
);

function ceOptions(options: CrossEntropyOptions): CeOptions {
  const op = "crossEntropy";
  if (options === null || typeof options !== "object") {
    throw new ArgumentError(
      `${op}: options must be an object like { ignoreIndex, reduction, labelSmoothing }, ` +
        `but got ${describe(options)}`,
    );
  }
  const { ignoreIndex = -100, reduction = "mean", labelSmoothing = 0 } = options;
  if (!Number.isInteger(ignoreIndex) || ignoreIndex < -(2 ** 31) || ignoreIndex >= 2 ** 31) {
    throw new ArgumentError(
      `${op}: ignoreIndex must be an int32 integer, but got ${describe(ignoreIndex)}`,
    );
  }
  if (reduction !== "mean" && reduction !== "sum" && reduction !== "none") {
    throw new ArgumentError(
      `${op}: reduction must be "mean", "sum" or "none", but got ${describe(reduction)}`,
    );
  }
  if (typeof labelSmoothing !== "number" || !(labelSmoothing >= 0 && labelSmoothing <= 1)) {
    throw new ArgumentError(
      `${op}: labelSmoothing must be a number in [0, 1], but got ${describe(labelSmoothing)}`,
    );
  }
  return { ignoreIndex, reduction, smoothing: Math.fround(labelSmoothing) };
}

/** The targets' word that marks an ignored row (raw int32, or float32 bits). */
function ignoreWord(targets: Tensor, ignoreIndex: number): number {
  if (targets.dtype === "int32") return ignoreIndex >>> 0;
  return new Uint32Array(new Float32Array([ignoreIndex === 0 ? 0 : ignoreIndex]).buffer)[0];
}

/** Per-row losses (0 where ignored) and 1/0 counted flags, `[rows]` each, on webgpu. */
function rowLosses(
  op: string,
  logits: Tensor,
  targets: Tensor,
  stats: Tensor,
  opts: CeOptions,
): Tensor[] {
  const [rows, cols] = logits.shape;
  const device = logits.device as WebGpuDevice;
  const smooth = opts.smoothing > 0;
  const rowsum = smooth ? reduceOver(op, logits, [1], 1, false) : stats;
  try {
    return launchMany(device, {
      op,
      shader: "cross_entropy",
      includes: ["class_index"],
      constants: {
        WG: ELEMENTWISE_WG,
        INT_TARGETS: targets.dtype === "int32" ? 1 : 0,
        SMOOTH: smooth ? 1 : 0,
      },
      uniforms: words(
        rows,
        cols,
        NAN_BITS,
        INF_BITS,
        ignoreWord(targets, opts.ignoreIndex),
        { f32: opts.smoothing },
      ),
      inputs: [["logits", logits], ["targets", targets], ["row stats", stats], [
        "row sums",
        rowsum,
      ]],
      dtypes: ["float32", "int32"],
      outputs: 2,
      outShape: [rows],
      workgroups: Math.ceil(rows / ELEMENTWISE_WG),
    });
  } finally {
    if (rowsum !== stats) rowsum.dispose();
  }
}

/**
 * Row blocks of `logits` that each fit one storage binding, as views of its
 * buffer (GPT-2's logits over 667 positions do not fit one): one block with
 * `logits` itself when it fits.
 */
function logitBlocks(op: string, logits: Tensor): { start: number; rows: number; x: Tensor }[] {
  const [rows, cols] = logits.shape;
  const device = logits.device as WebGpuDevice;
  const runtime = runtimeOf(device);
  if (!overBinding(runtime, logits.size * 4)) return [{ start: 0, rows, x: logits }];
  const handle = unboundBuffer(logits, op, `logits ${showShape(logits.shape)}`)!;
  return rowChunks(runtime, op, `logits ${showShape(logits.shape)}`, handle, rows, cols * 4).map(
    (c) => ({
      start: c.start,
      rows: c.rows,
      x: borrowedGpuTensor(device, c.range, [c.rows, cols]),
    }),
  );
}

/** {@linkcode rowLosses} of every row, block by block of logits when they exceed one binding. */
function blockedRowLosses(
  op: string,
  logits: Tensor,
  targets: Tensor,
  opts: CeOptions,
): Tensor[] {
  const [, cols] = logits.shape;
  const blocks = logitBlocks(op, logits);
  const parts = blocks.map(({ start, rows, x }) => {
    const t = blocks.length === 1 ? targets : slice(targets, [start, start + rows]);
    const stats = rowStats(op, logits.device as WebGpuDevice, x, rows, cols, 1, 1);
    const out = rowLosses(op, x, t, stats, opts);
    stats.dispose();
    if (t !== targets) t.dispose();
    return out;
  });
  if (parts.length === 1) return parts[0];
  const joined = [0, 1].map((k) => cat(parts.map((p) => p[k])));
  for (const p of parts) for (const t of p) t.dispose();
  return joined;
}

/** The logits' gradient on webgpu, block by block of rows when they exceed one binding. */
function gradientOnDevice(
  op: string,
  g: Tensor,
  logits: Tensor,
  targets: Tensor,
  opts: CeOptions,
): Tensor {
  const [, cols] = logits.shape;
  const device = logits.device as WebGpuDevice;
  let count: Tensor | null = null;
  if (opts.reduction === "mean") {
    // The count of rows not ignored, recomputed on the device (rows-sized work).
    const [losses, valid] = blockedRowLosses(op, logits, targets, { ...opts, smoothing: 0 });
    losses.dispose();
    count = reduceOver(op, valid, [0], 1, false);
    valid.dispose();
  }
  const blocks = logitBlocks(op, logits);
  const runtime = runtimeOf(device);
  const joined = blocks.length === 1
    ? null
    : runtime.acquire(op, "logits gradient", logits.size * 4, false, false);
  let grad: Tensor | null = null;
  for (const { start, rows, x } of blocks) {
    const whole = blocks.length === 1;
    const t = whole ? targets : slice(targets, [start, start + rows]);
    const gb = whole || opts.reduction !== "none" ? g : slice(g, [start, start + rows]);
    const stats = rowStats(op, device, x, rows, cols, 1, 1);
    const part = launch(device, {
      op,
      shader: "cross_entropy_backward",
      includes: ["class_index"],
      constants: {
        WG: ELEMENTWISE_WG,
        INT_TARGETS: targets.dtype === "int32" ? 1 : 0,
        REDUCTION: opts.reduction === "none" ? 0 : opts.reduction === "sum" ? 1 : 2,
      },
      uniforms: words(
        rows * cols,
        cols,
        { f32: opts.smoothing },
        NAN_BITS,
        ignoreWord(targets, opts.ignoreIndex),
      ),
      inputs: [["logits", x], ["targets", t], ["row stats", stats], ["gradient", gb], [
        "count",
        count ?? gb,
      ]],
      dtypes: ["float32", "int32"],
      outShape: [rows, cols],
      workgroups: Math.ceil((rows * cols) / ELEMENTWISE_WG),
    });
    stats.dispose();
    if (t !== targets) t.dispose();
    if (gb !== g) gb.dispose();
    if (joined) {
      // Blocks of rows are contiguous: joined by buffer copies.
      runtime.copy(
        op,
        gpuBuffer(part, op, "gradient block")!,
        joined,
        rows * cols * 4,
        0,
        start * cols * 4,
      );
      part.dispose();
    } else {
      grad = part;
    }
  }
  count?.dispose();
  return grad ?? gpuTensor(device, joined!, logits.shape);
}

function crossEntropyBackward(g: Tensor, s: Saved, opts: CeOptions): (Tensor | null)[] {
  const op = "crossEntropy backward";
  const [logits, targets] = s.inputs;
  return [crossEntropyBackwardKernels.for(logits)(op, g, logits, targets, opts), null];
}

/** crossEntropy's gradient for the logits, `[N, C]` float32, from the loss's gradient g. */
export type CrossEntropyBackwardImpl = (
  op: string,
  g: Tensor,
  logits: Tensor,
  targets: Tensor,
  opts: CeOptions,
) => Tensor;

function webgpuCrossEntropyBackward(
  op: string,
  g: Tensor,
  logits: Tensor,
  targets: Tensor,
  opts: CeOptions,
): Tensor {
  return pauseRecording(() => gradientOnDevice(op, g, logits, targets, opts));
}

function referenceCrossEntropyBackward(
  op: string,
  g: Tensor,
  logits: Tensor,
  targets: Tensor,
  opts: CeOptions,
): Tensor {
  const [rows, cols] = logits.shape;
  const eps = opts.smoothing;
  const x = cpuData(logits, op, "logits");
  const raw = cpuRaw(targets, op, "targets");
  const gv = cpuData(g, op, "gradient");
  let count = 0;
  for (let r = 0; r < rows; r++) if (raw[r] !== opts.ignoreIndex) count++;
  const out = new Float32Array(x.length);
  const off = Math.fround(eps / cols);
  const hitValue = Math.fround(1 - eps);
  for (let r = 0; r < rows; r++) {
    const ignored = raw[r] === opts.ignoreIndex;
    const t = ignored ? -1 : classIndex(raw[r], r, cols);
    const w = ignored
      ? 0
      : opts.reduction === "none"
      ? gv[r]
      : opts.reduction === "sum"
      ? gv[0]
      : Math.fround(gv[0] / count);
    const base = r * cols;
    const { max, total, special } = rowStats64(x, base, cols);
    for (let j = 0; j < cols; j++) {
      const v = x[base + j];
      const prob = special ? NaN : v === -Infinity ? 0 : Math.fround(Math.exp(v - max) / total);
      out[base + j] = w * Math.fround(Math.fround(prob - (j === t ? hitValue : 0)) - off);
    }
  }
  return cpuTensor(out, logits.shape);
}

/** crossEntropy's backward, per backend (src/ops/kernel_table.ts). */
export const crossEntropyBackwardKernels: KernelTable<CrossEntropyBackwardImpl> = kernelTable<
  CrossEntropyBackwardImpl
>("crossEntropy backward", {
  reference: referenceCrossEntropyBackward,
  webgpu: webgpuCrossEntropyBackward,
});

/** One row's loss (see cross_entropy.wgsl), in float64, with PyTorch's special values. */
function rowLoss(
  x: Float32Array,
  base: number,
  cols: number,
  target: number,
  smoothing: number,
): number {
  const { max, total, nan, posInf } = rowStats64(x, base, cols);
  const v = x[base + target];
  if (nan || posInf) return NaN;
  const lse = max + Math.log(total);
  const nll = v === -Infinity ? Infinity : lse - v;
  if (smoothing === 0) return nll;
  let smooth = 0;
  for (let j = 0; j < cols; j++) smooth += lse - x[base + j];
  return (1 - smoothing) * nll + (smoothing / cols) * smooth;
}

/** The row's largest finite value and `sum(exp(x - max))` over finite values, in float64. */
function rowStats64(
  x: Float32Array,
  base: number,
  cols: number,
): { max: number; total: number; nan: boolean; posInf: boolean; special: boolean } {
  let max = -Infinity;
  let nan = false;
  let posInf = false;
  for (let j = 0; j < cols; j++) {
    const v = x[base + j];
    if (Number.isNaN(v)) nan = true;
    else if (v === Infinity) posInf = true;
    else if (v !== -Infinity) max = Math.max(max, v);
  }
  let total = 0;
  for (let j = 0; j < cols; j++) {
    const v = x[base + j];
    if (Number.isFinite(v)) total += Math.exp(v - max);
  }
  return { max, total, nan, posInf, special: nan || posInf };
}

/** Target `v` of row `r` as a class index in `[0, cols)`, or an `ArgumentError`. */
function classIndex(v: number, r: number, cols: number): number {
  if (!Number.isInteger(v) || v < 0 || v >= cols) {
    throw new ArgumentError(
      `crossEntropy: targets[${r}] is ${v}, which is not a class index in [0, ${cols})`,
    );
  }
  return v;
}
