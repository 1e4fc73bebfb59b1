/**
 * Loss functions with PyTorch's mean reduction: `mse` and `crossEntropy`.
 * Each reduces to one number on the device in a single pass, and its
 * gradient reads the loss gradient from device memory (no readback).
 *
 * @module
 */

import { ShapeError } from "../errors.ts";
import { ELEMENTWISE_WG, launch, words } from "../gpu/launch.ts";
import { record, type Saved } from "../autograd/recording.ts";
import { cpuData, cpuTensor, type Tensor } from "../tensor.ts";
import { assertSameDevice, showShape } from "./checks.ts";
import { scale } from "./elementwise.ts";

/** Threads of the single-workgroup loss kernels. */
const LOSS_WG = 256;
/** Threads per row of the cross-entropy gradient kernel. */
const ROW_WG = 64;

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
    out = launch(pred.device, {
      op: "mse",
      shader: "mse",
      includes: ["workgroup_reduce"],
      constants: { WG: LOSS_WG },
      uniforms: words(pred.size, { f32: invN }, 0, 0),
      inputs: [["pred", pred], ["target", target]],
      outShape: [],
      workgroups: 1,
    });
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
 * `targets` is a float32 tensor `[N]` of whole numbers in `[0, C)` on the
 * logits' device, so that it moves with `toDevice` like any other input.
 * On cpu, other values throw a `RangeError`; on webgpu they cannot be
 * checked without a readback, so they are clamped into range and the loss
 * is unspecified.
 *
 * @example
 * ```ts
 * import { crossEntropy, tensor } from "@tessera/core";
 * const logits = tensor([[2, 0, 0], [0, 0, 0]]);
 * console.log(await crossEntropy(logits, tensor([0, 2])).toArray()); // ≈ 0.6691
 * ```
 */
export function crossEntropy(logits: Tensor, targets: Tensor): Tensor {
  assertSameDevice("crossEntropy", ["logits", logits], ["targets", targets]);
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
  const invRows = Math.fround(1 / rows);
  let out: Tensor;
  if (logits.device.kind === "cpu") {
    const x = cpuData(logits, "crossEntropy", "logits");
    const t = classIndices(cpuData(targets, "crossEntropy", "targets"), cols);
    let acc = 0;
    for (let r = 0; r < rows; r++) {
      const { max, total } = rowStats(x, r * cols, cols);
      acc += max + Math.log(total) - x[r * cols + t[r]];
    }
    out = cpuTensor(new Float32Array([Math.fround(acc) * invRows]), []);
  } else {
    out = launch(logits.device, {
      op: "crossEntropy",
      shader: "cross_entropy",
      includes: ["workgroup_reduce"],
      constants: { WG: LOSS_WG },
      uniforms: words(rows, cols, { f32: invRows }, 0),
      inputs: [["logits", logits], ["targets", targets]],
      outShape: [],
      workgroups: 1,
    });
  }
  return record("crossEntropy", [logits, targets], out, crossEntropyBackward);
}

function crossEntropyBackward(g: Tensor, s: Saved): (Tensor | null)[] {
  const [logits, targets] = s.inputs;
  const [rows, cols] = logits.shape;
  const invRows = Math.fround(1 / rows);
  if (logits.device.kind !== "cpu") {
    const grad = launch(logits.device, {
      op: "crossEntropy backward",
      shader: "cross_entropy_backward",
      includes: ["workgroup_reduce"],
      constants: { WG: ROW_WG },
      uniforms: words(rows, cols, { f32: invRows }, 0),
      inputs: [["logits", logits], ["targets", targets], ["gradient", g]],
      outShape: logits.shape,
      workgroups: rows,
    });
    return [grad, null];
  }
  const x = cpuData(logits, "crossEntropy backward", "logits");
  const t = classIndices(cpuData(targets, "crossEntropy backward", "targets"), cols);
  const factor = Math.fround(cpuData(g, "crossEntropy backward", "gradient")[0] * invRows);
  const out = new Float32Array(x.length);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    const { max, total } = rowStats(x, base, cols);
    for (let j = 0; j < cols; j++) {
      const prob = Math.fround(Math.exp(x[base + j] - max) / total);
      out[base + j] = factor * Math.fround(prob - (j === t[r] ? 1 : 0));
    }
  }
  return [cpuTensor(out, logits.shape), null];
}

/** The row's max and `sum(exp(x - max))`, in float64. */
function rowStats(x: Float32Array, base: number, cols: number): { max: number; total: number } {
  let max = -Infinity;
  for (let j = 0; j < cols; j++) max = Math.max(max, x[base + j]);
  let total = 0;
  for (let j = 0; j < cols; j++) total += Math.exp(x[base + j] - max);
  return { max, total };
}

function classIndices(values: Float32Array, cols: number): Int32Array {
  const out = new Int32Array(values.length);
  values.forEach((v, i) => {
    if (!Number.isInteger(v) || v < 0 || v >= cols) {
      throw new RangeError(
        `crossEntropy: targets[${i}] is ${v}, which is not a class index in [0, ${cols})`,
      );
    }
    out[i] = v;
  });
  return out;
}
