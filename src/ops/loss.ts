/**
 * Loss functions with PyTorch's mean reduction: `mse` and `crossEntropy`.
 * Each reduces to one number on the device in bounded parallel passes (over
 * chunks of elements, rows and classes), and its gradient reads the loss
 * gradient from device memory (no readback).
 *
 * @module
 */

import { ArgumentError, ShapeError } from "../errors.ts";
import { ELEMENTWISE_WG, launch, words } from "../gpu/launch.ts";
import { itemsPerInvocation } from "../gpu/loop_bound.ts";
import { record, type Saved } from "../autograd/recording.ts";
import { checkDType, cpuData, cpuRaw, cpuTensor, type HostData, type Tensor } from "../tensor.ts";
import { assertSameDevice, checkTensor, showShape } from "./checks.ts";
import { throughFloat32 } from "./through_float32.ts";
import { scale } from "./elementwise.ts";
import { reduceOver } from "./reduce.ts";
import { rowStats } from "./softmax.ts";

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
  let out: Tensor;
  if (pred.device.kind === "cpu") {
    const a = cpuData(pred, "mse", "pred");
    const b = cpuData(target, "mse", "target");
    let acc = 0;
    for (let i = 0; i < a.length; i++) {
      const d = Math.fround(a[i] - b[i]);
      acc += d * d;
    }
    out = cpuTensor(new Float32Array([Math.fround(acc) * invN]), []);
  } else {
    // Bounded partial sums, then the bounded reduction over the partials.
    const chunk = LOSS_WG * itemsPerInvocation(1, 16);
    const chunks = Math.ceil(pred.size / chunk);
    const partials = launch(pred.device, {
      op: "mse",
      shader: "mse",
      includes: ["workgroup_reduce"],
      constants: { WG: LOSS_WG },
      uniforms: words(pred.size, { f32: chunks === 1 ? invN : 1 }, chunk, chunks),
      inputs: [["pred", pred], ["target", target]],
      outShape: chunks === 1 ? [] : [chunks],
      workgroups: chunks,
    });
    out = chunks === 1 ? partials : reduceOver("mse", partials, [0], invN, false);
    if (out !== partials) partials.dispose();
  }
  return record("mse", [pred, target], out, mseBackward);
}

function mseBackward(g: Tensor, s: Saved): (Tensor | null)[] {
  const [pred, target] = s.inputs;
  const factor = Math.fround(2 / pred.size);
  let dPred: Tensor;
  if (pred.device.kind === "cpu") {
    const a = cpuData(pred, "mse backward", "pred");
    const b = cpuData(target, "mse backward", "target");
    const k = Math.fround(factor * cpuData(g, "mse backward", "gradient")[0]);
    const out = new Float32Array(a.length);
    for (let i = 0; i < a.length; i++) out[i] = k * Math.fround(a[i] - b[i]);
    dPred = cpuTensor(out, pred.shape);
  } else {
    dPred = launch(pred.device, {
      op: "mse backward",
      shader: "mse_backward",
      uniforms: words(pred.size, { f32: factor }, 0, 0),
      inputs: [["pred", pred], ["target", target], ["gradient", g]],
      outShape: pred.shape,
      workgroups: Math.ceil(pred.size / ELEMENTWISE_WG),
    });
  }
  const dTarget = s.needs[1] ? scale(dPred, -1) : null;
  if (s.needs[0]) return [dPred, dTarget];
  dPred.dispose();
  return [null, dTarget];
}

/**
 * Mean cross-entropy of `logits` `[N, C]` against class indices, like
 * `torch.nn.functional.cross_entropy(logits, targets)` (reduction "mean").
 * Returns a scalar of shape `[]`.
 *
 * Float16 logits (mixed-precision training) are widened: the math and the
 * loss are float32, and their gradient is float16.
 *
 * `targets` is an int32 tensor `[N]` of class indices in `[0, C)` (or a
 * float32 one of whole numbers) on the logits' device, so that it moves with
 * `toDevice` like any other input. NaN and infinite logits give PyTorch's
 * results (a NaN in a row makes the loss NaN).
 * On cpu, other values throw an `ArgumentError`; on webgpu they cannot be
 * checked without a readback, so a target outside `[0, C)` (or a fractional,
 * NaN or infinite float target) makes the loss NaN, and its row's gradient
 * NaN: loud, never a plausible finite number.
 *
 * @example
 * ```ts
 * import { crossEntropy, tensor } from "@tessera/core";
 * const logits = tensor([[2, 0, 0], [0, 0, 0]]);
 * console.log(await crossEntropy(logits, tensor([0, 2])).toArray()); // ≈ 0.6691
 * ```
 */
export function crossEntropy(logits: Tensor, targets: Tensor): Tensor {
  checkTensor("crossEntropy", "logits", logits);
  checkTensor("crossEntropy", "targets", targets);
  assertSameDevice("crossEntropy", ["logits", logits], ["targets", targets]);
  checkDType("crossEntropy", "logits", logits, ["float32", "float16"]);
  checkDType("crossEntropy", "targets", targets, ["float32", "int32"]);
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
    return throughFloat32([logits], ([w]) => crossEntropy(w, targets), "float32");
  }
  const invRows = Math.fround(1 / rows);
  let out: Tensor;
  if (logits.device.kind === "cpu") {
    const x = cpuData(logits, "crossEntropy", "logits");
    const t = classIndices(cpuRaw(targets, "crossEntropy", "targets"), cols);
    let acc = 0;
    for (let r = 0; r < rows; r++) acc += rowLoss(x, r * cols, cols, t[r]);
    out = cpuTensor(new Float32Array([Math.fround(acc) * invRows]), []);
  } else {
    const stats = rowStats("crossEntropy", logits.device, logits, rows, cols, 1, 1);
    const losses = launch(logits.device, {
      op: "crossEntropy",
      shader: "cross_entropy",
      includes: ["class_index"],
      constants: { WG: ELEMENTWISE_WG, INT_TARGETS: targets.dtype === "int32" ? 1 : 0 },
      uniforms: words(rows, cols, NAN_BITS, INF_BITS),
      inputs: [["logits", logits], ["targets", targets], ["row stats", stats]],
      dtypes: ["float32", "int32"],
      outShape: [rows],
      workgroups: Math.ceil(rows / ELEMENTWISE_WG),
    });
    stats.dispose();
    out = reduceOver("crossEntropy", losses, [0], invRows, false);
    losses.dispose();
  }
  return record("crossEntropy", [logits, targets], out, crossEntropyBackward);
}

function crossEntropyBackward(g: Tensor, s: Saved): (Tensor | null)[] {
  const [logits, targets] = s.inputs;
  const [rows, cols] = logits.shape;
  const invRows = Math.fround(1 / rows);
  if (logits.device.kind !== "cpu") {
    const stats = rowStats("crossEntropy backward", logits.device, logits, rows, cols, 1, 1);
    const grad = launch(logits.device, {
      op: "crossEntropy backward",
      shader: "cross_entropy_backward",
      includes: ["class_index"],
      constants: { WG: ELEMENTWISE_WG, INT_TARGETS: targets.dtype === "int32" ? 1 : 0 },
      uniforms: words(logits.size, cols, { f32: invRows }, NAN_BITS),
      inputs: [["logits", logits], ["targets", targets], ["row stats", stats], ["gradient", g]],
      dtypes: ["float32", "int32"],
      outShape: logits.shape,
      workgroups: Math.ceil(logits.size / ELEMENTWISE_WG),
    });
    stats.dispose();
    return [grad, null];
  }
  const x = cpuData(logits, "crossEntropy backward", "logits");
  const t = classIndices(cpuRaw(targets, "crossEntropy backward", "targets"), cols);
  const factor = Math.fround(cpuData(g, "crossEntropy backward", "gradient")[0] * invRows);
  const out = new Float32Array(x.length);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    const { max, total, special } = rowStats64(x, base, cols);
    for (let j = 0; j < cols; j++) {
      const v = x[base + j];
      const prob = special ? NaN : v === -Infinity ? 0 : Math.fround(Math.exp(v - max) / total);
      out[base + j] = factor * Math.fround(prob - (j === t[r] ? 1 : 0));
    }
  }
  return [cpuTensor(out, logits.shape), null];
}

/** -logSoftmax(x_row)[target], with PyTorch's special values (see cross_entropy.wgsl). */
function rowLoss(x: Float32Array, base: number, cols: number, target: number): number {
  const { max, total, nan, posInf } = rowStats64(x, base, cols);
  const v = x[base + target];
  if (nan || posInf) return NaN;
  if (v === -Infinity) return Infinity;
  return max + Math.log(total) - v;
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

function classIndices(values: HostData, cols: number): Int32Array {
  const out = new Int32Array(values.length);
  values.forEach((v, i) => {
    if (!Number.isInteger(v) || v < 0 || v >= cols) {
      throw new ArgumentError(
        `crossEntropy: targets[${i}] is ${v}, which is not a class index in [0, ${cols})`,
      );
    }
    out[i] = v;
  });
  return out;
}
