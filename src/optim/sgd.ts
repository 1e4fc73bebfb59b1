/**
 * Stochastic gradient descent with PyTorch's exact update rule
 * (`torch.optim.SGD`: weight decay, momentum, dampening, Nesterov).
 *
 * @module
 */

import { ELEMENTWISE_WG, words } from "../gpu/launch.ts";
import { launchMany } from "../gpu/launch_many.ts";
import { cpuData, cpuTensor, fromHost, type Tensor } from "../tensor.ts";
import { ArgumentError } from "../errors.ts";
import {
  checkHyper,
  checkOptimizerOptions,
  mapDistinct,
  type Optimizer,
  rebuild,
  type Slot,
  slots,
} from "./optimizer.ts";
import { checkLr, lrAt, type LrSchedule } from "./schedule.ts";
import { gpuOf, type KernelTable, kernelTable } from "../ops/kernel_table.ts";

/**
 * Options of {@linkcode sgd}, named as in `torch.optim.SGD`.
 *
 * @example
 * ```ts
 * import type { SgdOptions } from "@tessera/core";
 * const o: SgdOptions = { lr: 0.1, momentum: 0.9, nesterov: true };
 * ```
 */
export interface SgdOptions {
  /** Learning rate, or a schedule called with `state.step` (see `warmupCosine`). */
  lr: number | LrSchedule;
  /** Momentum factor; default 0 (plain SGD, no buffer). */
  momentum?: number;
  /** Dampening of the momentum; default 0. */
  dampening?: number;
  /** L2 penalty added to the gradient (`g + weightDecay * p`); default 0. */
  weightDecay?: number;
  /** Nesterov momentum; default false. Needs momentum > 0 and dampening 0. */
  nesterov?: boolean;
}

/**
 * The state of {@linkcode sgd}: the number of steps taken and, with
 * momentum, one buffer per parameter (a tree shaped like the params; zeros
 * until the first step sets it to the first gradient, as PyTorch does).
 *
 * @example
 * ```ts
 * import { sgd, type SgdState, tensor } from "@tessera/core";
 * const s: SgdState = sgd({ lr: 0.1, momentum: 0.9 }).init({ w: tensor([1]) });
 * console.log(s.step); // 0
 * ```
 */
export interface SgdState {
  /** Steps taken so far. */
  readonly step: number;
  /** Momentum buffers shaped like the params, or null without momentum. */
  readonly momentum: unknown;
}

/**
 * SGD as an {@linkcode Optimizer}, following `torch.optim.SGD` step for step:
 *
 * ```text
 * d = g + weightDecay * p
 * buf = d on the first step, else momentum * buf + (1 - dampening) * d
 * d = nesterov ? d + momentum * buf : buf        (when momentum != 0)
 * p = p - lr * d
 * ```
 *
 * On webgpu each parameter is one fused kernel; nothing is read back.
 * `update` never disposes its arguments (see {@linkcode Optimizer}).
 *
 * @example
 * ```ts
 * import { sgd, tensor } from "@tessera/core";
 * const opt = sgd({ lr: 0.5, momentum: 0.9 });
 * let params = { w: tensor([1, -1]) };
 * let state = opt.init(params);
 * ({ params, state } = opt.update({ w: tensor([0.2, 0.4]) }, state, params));
 * console.log(await params.w.toArray()); // [0.9, -1.2]
 * ```
 */
export function sgd(options: SgdOptions): Optimizer<SgdState> {
  checkOptimizerOptions("sgd", options);
  const { lr, momentum = 0, dampening = 0, weightDecay = 0, nesterov = false } = options;
  checkLr("sgd", lr);
  for (const [name, v] of Object.entries({ momentum, weightDecay })) {
    checkHyper("sgd", name, v, (x) => x >= 0, ">= 0");
  }
  checkHyper("sgd", "dampening", dampening, Number.isFinite, "a finite number");
  if (nesterov && (momentum <= 0 || dampening !== 0)) {
    throw new ArgumentError("sgd: Nesterov momentum requires a momentum > 0 and zero dampening");
  }
  const hyper = { momentum, dampening, weightDecay, nesterov };
  return {
    init<P>(params: P): SgdState {
      const buffers = momentum === 0
        ? null
        : mapDistinct(params, (p) =>
          fromHost(new Float32Array(p.size), p.shape, p.device, "sgd.init", "momentum buffer"));
      return { step: 0, momentum: buffers };
    },
    update<P>(grads: P, state: SgdState, params: P): { params: P; state: SgdState } {
      const first = state.step === 0;
      const states = momentum === 0 ? {} : { momentum: state.momentum };
      const results = new Map<string, Tensor[]>();
      const h: Hyper = { ...hyper, lr: lrAt("sgd.update", lr, state.step) };
      const all = slots("sgd.update", params, grads, states);
      for (const slot of all.values()) results.set(slot.path, step(slot, h, first));
      const pick = (k: number) => rebuild(params, (path) => results.get(all.owner(path))![k]);
      return {
        params: pick(0),
        state: {
          step: state.step + 1,
          momentum: momentum === 0 ? null : pick(1),
        },
      };
    },
  };
}

/** SGD's hyperparameters for one step. */
export interface Hyper {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
}

/** One parameter's step: `[param]`, or `[param, momentumBuffer]`. */
function step(slot: Slot, h: Hyper, first: boolean): Tensor[] {
  return sgdKernels.for(slot.param)(slot, h, first);
}

/** One SGD parameter step: `[param]`, or `[param, momentumBuffer]` with momentum. */
export type SgdImpl = (slot: Slot, h: Hyper, first: boolean) => Tensor[];

function referenceSgd(slot: Slot, h: Hyper, first: boolean): Tensor[] {
  const { param, grad } = slot;
  const withMomentum = h.momentum !== 0;
  // torch passes these as Python floats; the f32 kernels see them rounded once.
  const [lr, wd, mom, keep] = [h.lr, h.weightDecay, h.momentum, 1 - h.dampening].map(Math.fround);
  const p = cpuData(param, "sgd.update", "param");
  const g = cpuData(grad, "sgd.update", "grad");
  const b = withMomentum ? cpuData(slot.state[0], "sgd.update", "momentum buffer") : undefined;
  const pOut = new Float32Array(p.length);
  const bOut = new Float32Array(withMomentum ? p.length : 0);
  const f = Math.fround;
  for (let i = 0; i < p.length; i++) {
    let d = f(g[i] + f(wd * p[i]));
    if (b) {
      const buf = first ? d : f(f(mom * b[i]) + f(keep * d));
      bOut[i] = buf;
      d = h.nesterov ? f(d + f(mom * buf)) : buf;
    }
    pOut[i] = f(p[i] - f(lr * d));
  }
  const out = [cpuTensor(pOut, param.shape)];
  if (withMomentum) out.push(cpuTensor(bOut, param.shape));
  return out;
}

function webgpuSgd(slot: Slot, h: Hyper, first: boolean): Tensor[] {
  const { param, grad } = slot;
  const withMomentum = h.momentum !== 0;
  // torch passes these as Python floats; the f32 kernels see them rounded once.
  const [lr, wd, mom, keep] = [h.lr, h.weightDecay, h.momentum, 1 - h.dampening].map(Math.fround);
  const inputs: [string, Tensor][] = [["param", param], ["grad", grad]];
  if (withMomentum) inputs.push(["momentum buffer", slot.state[0]]);
  return launchMany(gpuOf(param), {
    op: "sgd.update",
    shader: withMomentum ? "sgd_momentum" : "sgd",
    constants: withMomentum ? { NESTEROV: h.nesterov ? 1 : 0 } : undefined,
    uniforms: words(
      param.size,
      first ? 1 : 0,
      { f32: lr },
      { f32: wd },
      { f32: mom },
      { f32: keep },
    ),
    inputs,
    outShape: param.shape,
    outputs: withMomentum ? 2 : 1,
    workgroups: Math.ceil(param.size / ELEMENTWISE_WG),
    // A weight over one binding (GPT-2's tied embedding) steps in blocks.
    elementwise: (count) => Math.ceil(count / ELEMENTWISE_WG),
  });
}

/** SGD parameter steps, per backend (src/ops/kernel_table.ts). */
export const sgdKernels: KernelTable<SgdImpl> = kernelTable<SgdImpl>("sgd.update", {
  reference: referenceSgd,
  webgpu: webgpuSgd,
});
