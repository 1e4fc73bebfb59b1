/**
 * Per-adapter kernel tuning: the matmul register tile and workgroup shape,
 * and how many query rows each invocation of the fused attention kernel
 * owns. Defaults come from a small table keyed by the adapter's description
 * (re-measure with `deno run -A scripts/tune_matmul.ts`); a per-device
 * override lets the tuning script try other configurations through the
 * public ops.
 *
 * @module
 */

import type { WebGpuDevice } from "../device.ts";

/**
 * A matmul configuration: each invocation computes a `tm x tn` block of the
 * output; a workgroup is `wx x wy` invocations.
 *
 * @example
 * ```ts
 * import type { MatmulTiles } from "./tuning.ts";
 * const tiles: MatmulTiles = { tm: 8, tn: 8, wx: 8, wy: 8 };
 * ```
 */
export interface MatmulTiles {
  /** Output rows per invocation: 1, 2, 4 or 8. */
  readonly tm: 1 | 2 | 4 | 8;
  /** Output columns per invocation: 4 or 8. */
  readonly tn: 4 | 8;
  /** Invocations along N per workgroup. */
  readonly wx: number;
  /** Invocations along M per workgroup. */
  readonly wy: number;
}

/**
 * A fused-attention configuration: a workgroup of `wg` invocations owns
 * `wg * rows` consecutive query rows (`rows` per invocation, interleaved),
 * and each key/value row it loads serves all of them.
 *
 * @example
 * ```ts
 * import type { AttentionTiles } from "./tuning.ts";
 * const tiles: AttentionTiles = { wg: 8, rows: 8 };
 * ```
 */
export interface AttentionTiles {
  /** Invocations per workgroup. */
  readonly wg: number;
  /** Query rows per invocation (1 to 8). */
  readonly rows: number;
}

/**
 * One row of the tuning table: adapters whose description matches `match`
 * use these tiles.
 *
 * @example
 * ```ts
 * import { TUNING_TABLE } from "./tuning.ts";
 * console.log(TUNING_TABLE.map((row) => row.name));
 * ```
 */
export interface TuningEntry {
  /** Shown by the tuning script and the benchmark. */
  readonly name: string;
  /** Tested against `adapterInfo.description`. */
  readonly match: RegExp;
  /** Matmul tiles. */
  readonly matmul: MatmulTiles;
  /** Fused attention tiles. */
  readonly attention: AttentionTiles;
}

/**
 * Measured defaults, first match wins; the last row is the fallback.
 *
 * - llvmpipe (Mesa's CPU rasteriser, 256-bit lanes): storage loads are
 *   per-lane gathers that cost tens of cycles, so the largest register tile
 *   wins (8 x 8 matmul blocks, 8 query rows per invocation), and an
 *   attention workgroup is one 8-lane SIMD group. Measured with
 *   scripts/tune_matmul.ts on a 2-core AMD EPYC: 8x8 blocks ran 512^3 at
 *   ~15 GFLOP/s against ~6 for 4x4 blocks; 8 attention rows per invocation
 *   beat 4 by ~25% at T = 256.
 * - Anything else: a 4 x 4 block per invocation and 64-invocation
 *   workgroups, the usual starting point on discrete and integrated GPUs
 *   (not measured here: re-tune on the target adapter).
 */
export const TUNING_TABLE: readonly TuningEntry[] = [
  {
    name: "llvmpipe",
    match: /llvmpipe/i,
    matmul: { tm: 8, tn: 8, wx: 8, wy: 8 },
    attention: { wg: 8, rows: 8 },
  },
  {
    name: "default",
    match: /(?:)/,
    matmul: { tm: 4, tn: 4, wx: 8, wy: 8 },
    attention: { wg: 64, rows: 2 },
  },
];

const overrides = new WeakMap<WebGpuDevice, Partial<Pick<TuningEntry, "matmul" | "attention">>>();

/**
 * The table row for an adapter description.
 *
 * @example
 * ```ts
 * import { tuningEntry } from "./tuning.ts";
 * console.log(tuningEntry("llvmpipe (LLVM 15.0.6, 256 bits)").name); // "llvmpipe"
 * ```
 */
export function tuningEntry(description: string): TuningEntry {
  return TUNING_TABLE.find((row) => row.match.test(description)) ??
    TUNING_TABLE[TUNING_TABLE.length - 1];
}

/**
 * Replaces a device's tiles until called again with `undefined` (the tuning
 * script uses it to time candidates through the public ops). Pipelines are
 * cached per configuration, so switching back compiles nothing.
 *
 * @example
 * ```ts ignore
 * import { webgpu } from "@tessera/core";
 * import { setTuningOverride } from "./tuning.ts";
 * setTuningOverride(await webgpu(), { matmul: { tm: 4, tn: 8, wx: 8, wy: 8 } });
 * ```
 */
export function setTuningOverride(
  device: WebGpuDevice,
  tiles: Partial<Pick<TuningEntry, "matmul" | "attention">> | undefined,
): void {
  if (tiles) overrides.set(device, tiles);
  else overrides.delete(device);
}

/**
 * The matmul tiles a device uses.
 *
 * @example
 * ```ts ignore
 * import { webgpu } from "@tessera/core";
 * import { matmulTiles } from "./tuning.ts";
 * console.log(matmulTiles(await webgpu()));
 * ```
 */
export function matmulTiles(device: WebGpuDevice): MatmulTiles {
  return overrides.get(device)?.matmul ?? tuningEntry(device.adapterInfo.description).matmul;
}

/**
 * The fused-attention tiles a device uses.
 *
 * @example
 * ```ts ignore
 * import { webgpu } from "@tessera/core";
 * import { attentionTiles } from "./tuning.ts";
 * console.log(attentionTiles(await webgpu()).rows);
 * ```
 */
export function attentionTiles(device: WebGpuDevice): AttentionTiles {
  return overrides.get(device)?.attention ??
    tuningEntry(device.adapterInfo.description).attention;
}

/**
 * Override constants and grid of one matmul launch.
 *
 * @example
 * ```ts
 * import { type MatmulLaunchPlan, planMatmul } from "./tuning.ts";
 * const plan: MatmulLaunchPlan = planMatmul({ tm: 4, tn: 4, wx: 8, wy: 8 }, 64, 64, 64, 1, false, false);
 * console.log(plan.grid); // [2, 2, 1]
 * ```
 */
export interface MatmulLaunchPlan {
  /** Values for matmul.wgsl's override constants. */
  readonly constants: Record<string, number>;
  /** Workgroups along N, M and the batch. */
  readonly grid: readonly [number, number, number];
}

/**
 * Picks the kernel variant for one product: the device's tiles, shrunk for
 * thin matrices (a 1-row product should not compute 8 clamped copies of its
 * row), and vec4 loads wherever the rows being read are 16-byte aligned.
 *
 * @example
 * ```ts
 * import { planMatmul } from "./tuning.ts";
 * const plan = planMatmul({ tm: 8, tn: 8, wx: 8, wy: 8 }, 3, 64, 64, 1, false, true);
 * console.log(plan.constants.TM, plan.grid); // 4 [1, 1, 1]
 * ```
 */
export function planMatmul(
  tiles: MatmulTiles,
  M: number,
  N: number,
  K: number,
  batch: number,
  transposeA: boolean,
  transposeB: boolean,
): MatmulLaunchPlan {
  const tm = M <= 1
    ? 1
    : M <= 2
    ? Math.min(2, tiles.tm)
    : M <= 4
    ? Math.min(4, tiles.tm)
    : tiles.tm;
  const tn = N <= 4 ? 4 : tiles.tn;
  const vecA = transposeA ? M % 4 === 0 && tm % 4 === 0 : K % 4 === 0;
  const vecB = transposeB ? K % 4 === 0 : N % 4 === 0;
  return {
    constants: {
      TM: tm,
      TN: tn,
      WX: tiles.wx,
      WY: tiles.wy,
      TRANS_A: transposeA ? 1 : 0,
      TRANS_B: transposeB ? 1 : 0,
      VEC_A: vecA ? 1 : 0,
      VEC_B: vecB ? 1 : 0,
    },
    grid: [Math.ceil(N / (tn * tiles.wx)), Math.ceil(M / (tm * tiles.wy)), batch],
  };
}
