/**
 * Learning-rate schedules as pure functions of the step: `constantLr`,
 * `linearWarmup`, `cosineDecay` and the book's appendix-D `warmupCosine`.
 * Pass one as the `lr` of {@linkcode sgd} or {@linkcode adamw}: the optimizer
 * calls it with `state.step` (steps already taken, 0 on the first update), so
 * a resumed run continues the schedule where it stopped.
 *
 * @module
 */

import { ArgumentError } from "../errors.ts";
import { describe } from "../ops/checks.ts";

/**
 * A learning rate as a function of the 0-based step index (the optimizer
 * state's `step` before the update: 0 for the first update).
 *
 * @example
 * ```ts
 * import type { LrSchedule } from "@tessera/core";
 * const halving: LrSchedule = (step) => 0.1 * 0.5 ** Math.floor(step / 100);
 * ```
 */
export type LrSchedule = (step: number) => number;

/**
 * The same learning rate at every step.
 *
 * @example
 * ```ts
 * import { constantLr } from "@tessera/core";
 * console.log(constantLr(3e-4)(1000)); // 0.0003
 * ```
 */
export function constantLr(lr: number): LrSchedule {
  checkRate("constantLr", "lr", lr);
  return () => lr;
}

/**
 * Options of {@linkcode linearWarmup}.
 *
 * @example
 * ```ts
 * import type { LinearWarmupOptions } from "@tessera/core";
 * const o: LinearWarmupOptions = { peakLr: 1e-3, warmupSteps: 100 };
 * ```
 */
export interface LinearWarmupOptions {
  /** The rate reached after the warmup and kept afterwards. */
  peakLr: number;
  /** Steps of the warmup (0: none). */
  warmupSteps: number;
  /** The rate of step 0; default 0. */
  initialLr?: number;
}

/**
 * Linear warmup from `initialLr` (step 0) towards `peakLr`, reached at step
 * `warmupSteps` and held afterwards: `initialLr + step * (peakLr -
 * initialLr) / warmupSteps`, as in the book's appendix D.
 *
 * @example
 * ```ts
 * import { linearWarmup } from "@tessera/core";
 * const lr = linearWarmup({ peakLr: 0.01, warmupSteps: 4 });
 * console.log([0, 1, 2, 4, 9].map(lr)); // [0, 0.0025, 0.005, 0.01, 0.01]
 * ```
 */
export function linearWarmup(options: LinearWarmupOptions): LrSchedule {
  const op = "linearWarmup";
  checkOptions(op, options);
  const { peakLr, warmupSteps, initialLr = 0 } = options;
  checkRate(op, "peakLr", peakLr);
  checkRate(op, "initialLr", initialLr);
  checkSteps(op, "warmupSteps", warmupSteps);
  const increment = warmupSteps === 0 ? 0 : (peakLr - initialLr) / warmupSteps;
  return (step) => {
    checkStep(op, step);
    return step < warmupSteps ? initialLr + step * increment : peakLr;
  };
}

/**
 * Options of {@linkcode cosineDecay}.
 *
 * @example
 * ```ts
 * import type { CosineDecayOptions } from "@tessera/core";
 * const o: CosineDecayOptions = { peakLr: 1e-3, decaySteps: 1000, minLr: 1e-5 };
 * ```
 */
export interface CosineDecayOptions {
  /** The rate at step 0. */
  peakLr: number;
  /** Steps from `peakLr` to `minLr`. */
  decaySteps: number;
  /** The rate at step `decaySteps` and after; default 0. */
  minLr?: number;
}

/**
 * Half a cosine from `peakLr` at step 0 to `minLr` at step `decaySteps`,
 * held at `minLr` afterwards: `minLr + (peakLr - minLr) * 0.5 * (1 +
 * cos(pi * step / decaySteps))`.
 *
 * @example
 * ```ts
 * import { cosineDecay } from "@tessera/core";
 * const lr = cosineDecay({ peakLr: 1, decaySteps: 4 });
 * console.log([0, 2, 4, 8].map(lr)); // [1, 0.5, 0, 0] (up to rounding)
 * ```
 */
export function cosineDecay(options: CosineDecayOptions): LrSchedule {
  const op = "cosineDecay";
  checkOptions(op, options);
  const { peakLr, decaySteps, minLr = 0 } = options;
  checkRate(op, "peakLr", peakLr);
  checkRate(op, "minLr", minLr);
  checkSteps(op, "decaySteps", decaySteps);
  if (decaySteps === 0) throw new ArgumentError(`${op}: decaySteps must be >= 1, but got 0`);
  return (step) => {
    checkStep(op, step);
    return cosine(peakLr, minLr, Math.min(step / decaySteps, 1));
  };
}

/**
 * Options of {@linkcode warmupCosine}, named as in the book's appendix D.
 *
 * @example
 * ```ts
 * import type { WarmupCosineOptions } from "@tessera/core";
 * const o: WarmupCosineOptions = {
 *   peakLr: 5e-4, warmupSteps: 20, totalSteps: 200, initialLr: 1e-5, minLr: 1e-5,
 * };
 * ```
 */
export interface WarmupCosineOptions {
  /** The rate at the end of the warmup (the book's optimizer `lr`). */
  peakLr: number;
  /** Steps of linear warmup. */
  warmupSteps: number;
  /** All steps of the run (`len(train_loader) * n_epochs`); > warmupSteps. */
  totalSteps: number;
  /** The rate of step 0; default 3e-5 (the book's `initial_lr`). */
  initialLr?: number;
  /** The rate the cosine ends at; default 1e-6 (the book's `min_lr`). */
  minLr?: number;
}

/**
 * The book's appendix-D schedule: linear warmup from `initialLr` over
 * `warmupSteps`, then cosine decay from `peakLr` to `minLr` at `totalSteps`
 * (held at `minLr` after). Step for step equal to the learning rates its
 * `train_model` sets, computed in float64 as Python does.
 *
 * @example
 * ```ts
 * import { adamw, warmupCosine } from "@tessera/core";
 * const lr = warmupCosine({ peakLr: 0.01, warmupSteps: 5, totalSteps: 20 });
 * console.log(lr(0), lr(5)); // 0.00003 0.01
 * const opt = adamw({ lr, weightDecay: 0.1 }); // the optimizer calls lr(state.step)
 * ```
 */
export function warmupCosine(options: WarmupCosineOptions): LrSchedule {
  const op = "warmupCosine";
  checkOptions(op, options);
  const { peakLr, warmupSteps, totalSteps, initialLr = 3e-5, minLr = 1e-6 } = options;
  for (const [name, v] of [["peakLr", peakLr], ["initialLr", initialLr], ["minLr", minLr]]) {
    checkRate(op, name as string, v);
  }
  checkSteps(op, "warmupSteps", warmupSteps);
  checkSteps(op, "totalSteps", totalSteps);
  if (!(totalSteps > warmupSteps)) {
    throw new ArgumentError(
      `${op}: totalSteps must be greater than warmupSteps, but got totalSteps ${totalSteps} ` +
        `and warmupSteps ${warmupSteps}`,
    );
  }
  const increment = warmupSteps === 0 ? 0 : (peakLr - initialLr) / warmupSteps;
  return (step) => {
    checkStep(op, step);
    if (step < warmupSteps) return initialLr + step * increment;
    const progress = Math.min((step - warmupSteps) / (totalSteps - warmupSteps), 1);
    return cosine(peakLr, minLr, progress);
  };
}

/**
 * The learning rate an optimizer uses for the update after `step` steps:
 * `lr` itself or `lr(step)`, checked to be a number >= 0. Internal.
 */
export function lrAt(op: string, lr: number | LrSchedule, step: number): number {
  const value = typeof lr === "function" ? lr(step) : lr;
  if (typeof value !== "number" || !(value >= 0) || value === Infinity) {
    throw new ArgumentError(
      `${op}: the learning rate of step ${step} must be a finite number >= 0, but the ` +
        `schedule gave ${describe(value)}`,
    );
  }
  return value;
}

/** Throws unless `lr` is a finite number >= 0 or a function (a schedule). Internal. */
export function checkLr(op: string, lr: unknown): void {
  if (typeof lr === "function") return;
  checkRate(op, "lr", lr);
}

function cosine(peak: number, min: number, progress: number): number {
  return min + (peak - min) * 0.5 * (1 + Math.cos(Math.PI * progress));
}

function checkOptions(op: string, options: unknown): void {
  if (options === null || typeof options !== "object") {
    throw new ArgumentError(`${op}: options must be an object, but got ${describe(options)}`);
  }
}

function checkRate(op: string, name: string, v: unknown): void {
  if (typeof v !== "number" || !(v >= 0)) {
    throw new ArgumentError(`${op}: ${name} must be >= 0, but got ${describe(v)}`);
  }
  if (v === Infinity) throw new ArgumentError(`${op}: ${name} must be finite, but got Infinity`);
}

function checkSteps(op: string, name: string, v: unknown): void {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new ArgumentError(`${op}: ${name} must be a whole number >= 0, but got ${describe(v)}`);
  }
}

function checkStep(op: string, step: unknown): void {
  if (typeof step !== "number" || !Number.isSafeInteger(step) || step < 0) {
    throw new ArgumentError(`${op}: step must be a whole number >= 0, but got ${describe(step)}`);
  }
}
