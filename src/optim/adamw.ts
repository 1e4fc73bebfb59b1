/**
 * AdamW with PyTorch's exact update rule (`torch.optim.AdamW` in torch 1.13,
 * without amsgrad): decoupled weight decay, bias-corrected moments.
 *
 * @module
 */

import { ELEMENTWISE_WG, words } from "../gpu/launch.ts";
import { launchMany } from "../gpu/launch_many.ts";
import { cpuData, cpuTensor, fromHost, type Tensor } from "../tensor.ts";
import { ArgumentError } from "../errors.ts";
import { describe } from "../ops/checks.ts";
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
 * Options of {@linkcode adamw}, named and defaulted as in `torch.optim.AdamW`.
 *
 * @example
 * ```ts
 * import type { AdamWOptions } from "@tessera/core";
 * const o: AdamWOptions = { lr: 1e-3, betas: [0.9, 0.95], weightDecay: 0.1 };
 * ```
 */
export interface AdamWOptions {
  /** Learning rate, or a schedule called with `state.step` (see `warmupCosine`). */
  lr: number | LrSchedule;
  /** Decay rates of the first and second moments; default [0.9, 0.999]. */
  betas?: readonly [number, number];
  /** Added to the denominator for stability; default 1e-8. */
  eps?: number;
  /** Decoupled weight decay (`p *= 1 - lr * weightDecay`); default 0.01. */
  weightDecay?: number;
}

/**
 * The state of {@linkcode adamw}: the step count and both moment estimates,
 * as trees shaped like the params (PyTorch's `exp_avg` and `exp_avg_sq`).
 *
 * @example
 * ```ts
 * import { adamw, type AdamWState, tensor } from "@tessera/core";
 * const s: AdamWState = adamw({ lr: 1e-3 }).init({ w: tensor([1, 2]) });
 * console.log(s.step); // 0
 * ```
 */
export interface AdamWState {
  /** Steps taken so far (PyTorch's `state["step"]`). */
  readonly step: number;
  /** First moment estimates, shaped like the params. */
  readonly expAvg: unknown;
  /** Second moment estimates, shaped like the params. */
  readonly expAvgSq: unknown;
}

/**
 * AdamW as an {@linkcode Optimizer}, following torch 1.13's
 * `_single_tensor_adamw` step for step (t is the new step count):
 *
 * ```text
 * p = p * (1 - lr * weightDecay)
 * m = beta1 * m + (1 - beta1) * g
 * v = beta2 * v + (1 - beta2) * g * g
 * p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 * ```
 *
 * On webgpu each parameter is one fused kernel writing the parameter and
 * both moments; nothing is read back. `update` never disposes its arguments
 * (see {@linkcode Optimizer}).
 *
 * @example
 * ```ts
 * import { adamw, tensor } from "@tessera/core";
 * const opt = adamw({ lr: 0.1, weightDecay: 0 });
 * const params = { w: tensor([1, -1]) };
 * const next = opt.update({ w: tensor([0.5, -2]) }, opt.init(params), params);
 * console.log(await next.params.w.toArray()); // ≈ [0.9, -0.9]: the first step moves by lr
 * ```
 */
export function adamw(options: AdamWOptions): Optimizer<AdamWState> {
  checkOptimizerOptions("adamw", options);
  const { lr, betas = [0.9, 0.999], eps = 1e-8, weightDecay = 0.01 } = options;
  checkLr("adamw", lr);
  for (const [name, v] of Object.entries({ eps, weightDecay })) {
    checkHyper("adamw", name, v, (x) => x >= 0, ">= 0");
  }
  if (!Array.isArray(betas) || betas.length !== 2) {
    throw new ArgumentError(`adamw: betas must be [beta1, beta2], but got ${describe(betas)}`);
  }
  betas.forEach((b, i) => {
    checkHyper("adamw", `betas[${i}]`, b, (x) => x >= 0 && x < 1, "in [0, 1)");
  });
  return {
    init<P>(params: P): AdamWState {
      const zeros = () =>
        mapDistinct(
          params,
          (p) => fromHost(new Float32Array(p.size), p.shape, p.device, "adamw.init", "moment"),
        );
      return { step: 0, expAvg: zeros(), expAvgSq: zeros() };
    },
    update<P>(grads: P, state: AdamWState, params: P): { params: P; state: AdamWState } {
      const t = state.step + 1;
      const lr = lrAt("adamw.update", options.lr, state.step);
      const [beta1, beta2] = betas;
      // Host-side scalars in float64, exactly as torch computes them in Python.
      const factors: Factors = {
        decay: 1 - lr * weightDecay,
        beta1,
        oneMinusBeta1: 1 - beta1,
        beta2,
        oneMinusBeta2: 1 - beta2,
        stepSize: lr / (1 - beta1 ** t),
        biasCorrection2Sqrt: Math.sqrt(1 - beta2 ** t),
        eps,
      };
      const results = new Map<string, Tensor[]>();
      const all = slots("adamw.update", params, grads, {
        expAvg: state.expAvg,
        expAvgSq: state.expAvgSq,
      });
      for (const slot of all.values()) results.set(slot.path, step(slot, factors));
      const pick = (k: number) => rebuild(params, (path) => results.get(all.owner(path))![k]);
      return { params: pick(0), state: { step: t, expAvg: pick(1), expAvgSq: pick(2) } };
    },
  };
}

/** AdamW's per-step factors (float32). */
export interface Factors {
  decay: number;
  beta1: number;
  oneMinusBeta1: number;
  beta2: number;
  oneMinusBeta2: number;
  stepSize: number;
  biasCorrection2Sqrt: number;
  eps: number;
}

/** One parameter's step: `[param, expAvg, expAvgSq]`. */
function step(slot: Slot, factors: Factors): Tensor[] {
  const k = Object.fromEntries(
    Object.entries(factors).map(([name, x]) => [name, Math.fround(x)]),
  ) as unknown as Factors;
  return adamwKernels.for(slot.param)(slot, k);
}

/** One AdamW parameter step: `[param, expAvg, expAvgSq]` from the float32 factors `k`. */
export type AdamwImpl = (slot: Slot, k: Factors) => Tensor[];

function referenceAdamw(slot: Slot, k: Factors): Tensor[] {
  const { param, grad } = slot;
  const [m, v] = slot.state;
  const p = cpuData(param, "adamw.update", "param");
  const g = cpuData(grad, "adamw.update", "grad");
  const mv = cpuData(m, "adamw.update", "expAvg");
  const vv = cpuData(v, "adamw.update", "expAvgSq");
  const pOut = new Float32Array(p.length);
  const mOut = new Float32Array(p.length);
  const vOut = new Float32Array(p.length);
  const f = Math.fround;
  for (let i = 0; i < p.length; i++) {
    const w = f(p[i] * k.decay);
    const m1 = f(f(mv[i] * k.beta1) + f(k.oneMinusBeta1 * g[i]));
    const v1 = f(f(vv[i] * k.beta2) + f(f(k.oneMinusBeta2 * g[i]) * g[i]));
    const denom = f(f(f(Math.sqrt(v1)) / k.biasCorrection2Sqrt) + k.eps);
    pOut[i] = f(w - f(k.stepSize * f(m1 / denom)));
    mOut[i] = m1;
    vOut[i] = v1;
  }
  return [pOut, mOut, vOut].map((data) => cpuTensor(data, param.shape));
}

function webgpuAdamw(slot: Slot, k: Factors): Tensor[] {
  const { param, grad } = slot;
  const [m, v] = slot.state;
  return launchMany(gpuOf(param), {
    op: "adamw.update",
    shader: "adamw",
    uniforms: words(
      param.size,
      { f32: k.decay },
      { f32: k.beta1 },
      { f32: k.oneMinusBeta1 },
      { f32: k.beta2 },
      { f32: k.oneMinusBeta2 },
      { f32: k.stepSize },
      { f32: k.biasCorrection2Sqrt },
      { f32: k.eps },
    ),
    inputs: [["param", param], ["grad", grad], ["expAvg", m], ["expAvgSq", v]],
    outShape: param.shape,
    outputs: 3,
    workgroups: Math.ceil(param.size / ELEMENTWISE_WG),
    // A weight over one binding (GPT-2's tied embedding) steps in blocks.
    elementwise: (count) => Math.ceil(count / ELEMENTWISE_WG),
  });
}

/** AdamW parameter steps, per backend (src/ops/kernel_table.ts). */
export const adamwKernels: KernelTable<AdamwImpl> = kernelTable<AdamwImpl>("adamw.update", {
  reference: referenceAdamw,
  webgpu: webgpuAdamw,
});
