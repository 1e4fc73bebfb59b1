/**
 * Measurement helpers shared by the benchmarks (scripts/bench.ts,
 * scripts/bench_gpt.ts): a seeded generator, order shuffling, sample
 * summaries (median, min-max, IQR), result agreement and machine load.
 *
 * @module
 */

/**
 * A seeded 32-bit generator (mulberry32) returning floats in [0, 1).
 *
 * @example
 * ```ts
 * import { mulberry32 } from "./bench_stats.ts";
 * const rand = mulberry32(1);
 * console.log(rand() < 1); // true
 * ```
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A fresh array with `items` in a random order (Fisher-Yates with `rand`).
 *
 * @example
 * ```ts
 * import { mulberry32, shuffled } from "./bench_stats.ts";
 * console.log(shuffled([1, 2, 3], mulberry32(7)).length); // 3
 * ```
 */
export function shuffled<T>(items: readonly T[], rand: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/**
 * Summary of one implementation's timings in one case.
 *
 * @example
 * ```ts
 * import type { Summary } from "./bench_stats.ts";
 * const s: Summary = { n: 3, median: 2, min: 1, max: 3, q1: 1.5, q3: 2.5 };
 * ```
 */
export interface Summary {
  /** Samples. */
  n: number;
  /** Median. */
  median: number;
  /** Smallest sample. */
  min: number;
  /** Largest sample. */
  max: number;
  /** First quartile (linear interpolation, like numpy's default). */
  q1: number;
  /** Third quartile. */
  q3: number;
}

function quantile(sorted: readonly number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/**
 * Median, extremes and quartiles of `samples` (at least one).
 *
 * @example
 * ```ts
 * import { summarize } from "./bench_stats.ts";
 * console.log(summarize([3, 1, 2]).median); // 2
 * ```
 */
export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new RangeError("summarize: no samples");
  const s = [...samples].sort((a, b) => a - b);
  return {
    n: s.length,
    median: quantile(s, 0.5),
    min: s[0],
    max: s[s.length - 1],
    q1: quantile(s, 0.25),
    q3: quantile(s, 0.75),
  };
}

/**
 * Formats milliseconds with about three significant digits.
 *
 * @example
 * ```ts
 * import { fmtMs } from "./bench_stats.ts";
 * console.log(fmtMs(12.345)); // "12.3"
 * ```
 */
export function fmtMs(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return "-";
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
}

/**
 * `median (min-max)` of a summary, in milliseconds.
 *
 * @example
 * ```ts
 * import { fmtSummary, summarize } from "./bench_stats.ts";
 * console.log(fmtSummary(summarize([1, 2, 3]))); // "2.00 (1.00-3.00)"
 * ```
 */
export function fmtSummary(s: Summary | undefined): string {
  return s ? `${fmtMs(s.median)} (${fmtMs(s.min)}-${fmtMs(s.max)})` : "-";
}

/**
 * Relative tolerance for agreeing with Tessera's result: max absolute
 * difference over max magnitude of the expected values.
 *
 * @example
 * ```ts
 * import { AGREEMENT } from "./bench_stats.ts";
 * console.log(AGREEMENT); // 0.00001
 * ```
 */
export const AGREEMENT = 1e-5;

/**
 * Max absolute difference over max magnitude (floored at 1e-6); NaN or a
 * length mismatch gives Infinity.
 *
 * @example
 * ```ts
 * import { relError } from "./bench_stats.ts";
 * console.log(relError(new Float32Array([1, 2]), new Float32Array([1, 2]))); // 0
 * ```
 */
export function relError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) return Infinity;
  let err = 0;
  let scale = 1e-6;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= err)) err = Number.isNaN(d) ? Infinity : d;
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return err / scale;
}

/**
 * The 1, 5 and 15 minute load averages as text (or why they are unknown).
 *
 * @example
 * ```ts
 * import { loadavg } from "./bench_stats.ts";
 * console.log(typeof loadavg()); // "string"
 * ```
 */
export function loadavg(): string {
  try {
    return Deno.loadavg().map((v) => v.toFixed(2)).join(" / ");
  } catch (e) {
    return `unknown (${e instanceof Error ? e.message : e})`;
  }
}
