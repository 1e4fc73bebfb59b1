/**
 * The CPU path of next-token selection. It repeats the WGSL kernels
 * (shaders/select_*.wgsl) step for step in float32: the same chunks, the
 * same per-invocation sums, the same tree reduction and the same sequential
 * walks, so a seeded draw lands on the same token on cpu and webgpu (only
 * `exp` may differ in its last bit between the two).
 *
 * @module
 */

/**
 * Invocations per workgroup of the selection kernels (their `WG`).
 *
 * @example
 * ```ts
 * import { CHUNK, PER, SELECT_WG } from "./select_token_cpu.ts";
 * console.log(SELECT_WG * PER === CHUNK); // true
 * ```
 */
export const SELECT_WG = 256;
/** Elements each invocation owns within a chunk (the kernels' `PER`). */
export const PER = 16;
/** Elements per chunk: one workgroup's share of a row. */
export const CHUNK: number = SELECT_WG * PER;
/** Most chunks per row, so every per-invocation loop stays within 4096 steps. */
export const MAX_CHUNKS = 2048;

/**
 * Where each row's logits start in a `[rows, tokens, n]` array.
 *
 * @example
 * ```ts
 * import type { RowLayout } from "./select_token_cpu.ts";
 * // The last position of logits [2, 3, 50]:
 * const l: RowLayout = { rows: 2, n: 50, rowStride: 150, rowOffset: 100 };
 * ```
 */
export interface RowLayout {
  /** Number of rows (sequences). */
  rows: number;
  /** Entries per row (the vocabulary). */
  n: number;
  /** Distance between consecutive rows' starts. */
  rowStride: number;
  /** Offset of a row's last position within its sequence. */
  rowOffset: number;
}

const f = Math.fround;
const NAN_KEY = 0xffffffff;
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function bitsOf(x: number): number {
  f32[0] = x;
  return u32[0];
}

function floatOf(bits: number): number {
  u32[0] = bits;
  return f32[0];
}

/**
 * The order-preserving u32 key of a float32 (select_keys.wgsl's `key_of`):
 * -0 and +0 share a key, every NaN gets the largest.
 *
 * @example
 * ```ts
 * import { keyOf } from "./select_token_cpu.ts";
 * console.log(keyOf(-1) < keyOf(-0), keyOf(-0) === keyOf(0), keyOf(Infinity) < keyOf(NaN));
 * // true true true
 * ```
 */
export function keyOf(x: number): number {
  let bits = bitsOf(x);
  if (bits === 0x80000000) bits = 0;
  if ((bits & 0x7fffffff) > 0x7f800000) return NAN_KEY;
  return (bits & 0x80000000) !== 0 ? ~bits >>> 0 : (bits | 0x80000000) >>> 0;
}

function valueOfKey(key: number): number {
  return floatOf((key & 0x80000000) !== 0 ? key & 0x7fffffff : ~key >>> 0);
}

/**
 * Greedy choice per row: the first index of the largest key (a NaN wins).
 *
 * @example
 * ```ts
 * import { selectGreedyCpu } from "./select_token_cpu.ts";
 * const logits = new Float32Array([1, 3, 3, 0]);
 * console.log(selectGreedyCpu(logits, { rows: 1, n: 4, rowStride: 4, rowOffset: 0 })); // [1]
 * ```
 */
export function selectGreedyCpu(data: Float32Array, l: RowLayout): Int32Array {
  const ids = new Int32Array(l.rows);
  for (let r = 0; r < l.rows; r++) ids[r] = rowArgmax(data, r * l.rowStride + l.rowOffset, l.n);
  return ids;
}

function rowArgmax(data: Float32Array, base: number, n: number): number {
  let bestKey = -1;
  let best = 0;
  for (let i = 0; i < n; i++) {
    const k = keyOf(data[base + i]);
    if (k > bestKey) {
      bestKey = k;
      best = i;
    }
  }
  return best;
}

/**
 * Temperature / top-k sampling per row by inverse CDF with the given uniform
 * draws; -1 for a row whose maximum is NaN or infinite (or becomes infinite
 * once divided by the temperature).
 *
 * @example
 * ```ts
 * import { selectSampleCpu } from "./select_token_cpu.ts";
 * const logits = new Float32Array([0, 0, 0, 0]); // uniform: u = 0.6 lands on index 2
 * const layout = { rows: 1, n: 4, rowStride: 4, rowOffset: 0 };
 * console.log(selectSampleCpu(logits, layout, 1, undefined, new Float32Array([0.6]))); // [2]
 * ```
 */
export function selectSampleCpu(
  data: Float32Array,
  l: RowLayout,
  temperature: number,
  topK: number | undefined,
  draws: Float32Array,
): Int32Array {
  const ids = new Int32Array(l.rows);
  const t = f(temperature);
  const chunks = Math.ceil(l.n / CHUNK);
  for (let r = 0; r < l.rows; r++) {
    const base = r * l.rowStride + l.rowOffset;
    const row = data.subarray(base, base + l.n);
    const maxKey = keyOf(row[rowArgmax(data, base, l.n)]);
    const m = f(valueOfKey(maxKey) / t);
    if (maxKey === NAN_KEY || !Number.isFinite(valueOfKey(maxKey)) || !Number.isFinite(m)) {
      ids[r] = -1;
      continue;
    }
    const threshold = topK === undefined ? 0 : kthLargestKey(row, topK);
    const weight = (i: number): number => {
      if (i >= l.n) return 0;
      const v = row[i];
      if (keyOf(v) < threshold) return 0;
      const x = f(v / t);
      if (!Number.isFinite(x)) return 0;
      return f(Math.exp(f(x - m)));
    };
    const laneSum = (chunk: number, lane: number): number => {
      let acc = 0;
      for (let j = 0; j < PER; j++) acc = f(acc + weight(chunk * CHUNK + lane * PER + j));
      return acc;
    };
    // select_weights.wgsl: per-lane sums, then workgroup_sum's tree.
    const sums = new Float32Array(chunks);
    const partial = new Float32Array(SELECT_WG);
    for (let c = 0; c < chunks; c++) {
      for (let lane = 0; lane < SELECT_WG; lane++) partial[lane] = laneSum(c, lane);
      for (let stride = SELECT_WG >> 1; stride > 0; stride >>= 1) {
        for (let lane = 0; lane < stride; lane++) partial[lane] += partial[lane + stride];
      }
      sums[c] = partial[0];
    }
    // select_sample_chunk.wgsl
    let total = 0;
    for (let c = 0; c < chunks; c++) total = f(total + sums[c]);
    const target = f(draws[r] * total);
    let running = 0;
    let chunk = -1;
    let left = 0;
    let lastPositive = 0;
    for (let c = 0; c < chunks; c++) {
      const s = sums[c];
      if (s > 0) lastPositive = c;
      if (chunk === -1 && f(running + s) > target) {
        chunk = c;
        left = f(target - running);
      }
      running = f(running + s);
    }
    if (chunk === -1) {
      chunk = lastPositive;
      left = sums[lastPositive];
    }
    // select_sample.wgsl
    for (let lane = 0; lane < SELECT_WG; lane++) partial[lane] = laneSum(chunk, lane);
    running = 0;
    let lane = -1;
    let lastLane = 0;
    for (let i = 0; i < SELECT_WG; i++) {
      const s = partial[i];
      if (s > 0) lastLane = i;
      if (lane === -1 && f(running + s) > left) lane = i;
      if (lane === -1) running = f(running + s);
    }
    let innerTarget = f(left - running);
    if (lane === -1) {
      lane = lastLane;
      innerTarget = partial[lastLane];
    }
    let inner = 0;
    let chosen = -1;
    let lastJ = 0;
    for (let j = 0; j < PER; j++) {
      const w = weight(chunk * CHUNK + lane * PER + j);
      if (w > 0) lastJ = j;
      if (chosen === -1 && f(inner + w) > innerTarget) chosen = j;
      inner = f(inner + w);
    }
    if (chosen === -1) chosen = lastJ;
    ids[r] = chunk * CHUNK + lane * PER + chosen;
  }
  return ids;
}

/** The key of the k-th largest entry (what the kernels' radix select finds). */
function kthLargestKey(row: Float32Array, k: number): number {
  const keys = new Uint32Array(row.length);
  for (let i = 0; i < row.length; i++) keys[i] = keyOf(row[i]);
  keys.sort();
  return keys[row.length - k];
}
