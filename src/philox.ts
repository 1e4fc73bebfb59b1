/**
 * Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2,
 * 3", SC'11) and the dropout mask built on it. The same functions exist in
 * `shaders/philox.wgsl`; both produce identical bits, so a dropout mask drawn
 * on the GPU can be recomputed on the CPU (and vice versa).
 *
 * Dropout scheme, for element `index` of a tensor, with a 64-bit `seed` and a
 * 32-bit `offset` (a per-call counter, so successive dropout calls with one
 * seed get independent masks):
 *
 * - block  = floor(index / 4)
 * - counter = (block mod 2^32, floor(block / 2^32), offset, 0)
 * - key     = (seed mod 2^32, floor(seed / 2^32))
 * - word    = philox4x32_10(counter, key)[index mod 4]
 * - bits    = word >>> 8           (24 bits, so bits * 2^-24 is exact in f32)
 * - u       = bits * 2^-24         (uniform in [0, 1))
 * - keep    = u >= p, i.e. bits >= ceil(p * 2^24)
 *
 * The shader gets the integer threshold from {@linkcode dropoutThreshold}
 * rather than `p` as an f32, because `f32(p)` can differ from `p` enough to
 * flip an element sitting between the two.
 *
 * @module
 */

import { TesseraError } from "./errors.ts";

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;
const ROUNDS = 10;
const TWO_POW_32 = 2 ** 32;

// High 32 bits of a 32x32-bit product. JS numbers cannot hold the 64-bit
// product exactly, so it is assembled from 16-bit halves; the WGSL port uses
// the very same decomposition because WGSL has no 64-bit integers.
function mulhi(a: number, b: number): number {
  const al = a & 0xffff;
  const ah = a >>> 16;
  const bl = b & 0xffff;
  const bh = b >>> 16;
  const lolo = al * bl;
  const hilo = ah * bl;
  const lohi = al * bh;
  const mid = (lolo >>> 16) + (hilo & 0xffff) + (lohi & 0xffff);
  return (ah * bh + (hilo >>> 16) + (lohi >>> 16) + (mid >>> 16)) >>> 0;
}

/**
 * Philox4x32 with 10 rounds: maps a 128-bit counter and a 64-bit key to 128
 * random bits. Verified against the Random123 known-answer vectors.
 *
 * @param counter four u32 words
 * @param key two u32 words
 * @param out optional destination, to avoid an allocation per call
 *
 * @example
 * ```ts
 * import { philox4x32 } from "./philox.ts";
 * const r = philox4x32([0, 0, 0, 0], [0, 0]);
 * console.log(r[0].toString(16)); // "6627e8d5"
 * ```
 */
export function philox4x32(
  counter: ArrayLike<number>,
  key: ArrayLike<number>,
  out: Uint32Array = new Uint32Array(4),
): Uint32Array {
  let c0 = counter[0] >>> 0;
  let c1 = counter[1] >>> 0;
  let c2 = counter[2] >>> 0;
  let c3 = counter[3] >>> 0;
  let k0 = key[0] >>> 0;
  let k1 = key[1] >>> 0;
  for (let round = 0; round < ROUNDS; round++) {
    if (round > 0) {
      k0 = (k0 + W0) >>> 0;
      k1 = (k1 + W1) >>> 0;
    }
    const hi0 = mulhi(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
  return out;
}

/**
 * Splits a non-negative 64-bit seed into the `(low, high)` u32 words used as
 * the Philox key; pass them to the shader's `seed: vec2<u32>`.
 *
 * @example
 * ```ts
 * import { dropoutSeedWords } from "./philox.ts";
 * console.log(dropoutSeedWords(2 ** 32 + 7)); // Uint32Array [7, 1]
 * ```
 */
export function dropoutSeedWords(seed: number | bigint): Uint32Array {
  const s = BigInt(seed);
  if ((typeof seed === "number" && !Number.isSafeInteger(seed)) || s < 0n || s >= 2n ** 64n) {
    throw new TesseraError(`dropout: seed must be an integer in [0, 2^64), got ${seed}`);
  }
  return new Uint32Array([Number(s & 0xffffffffn), Number(s >> 32n)]);
}

/**
 * The integer form of the keep test: an element is kept iff its 24 random
 * bits are `>=` this value (`ceil(p * 2^24)`, exact because scaling by a
 * power of two is exact). Pass it to the shader's `dropout_keep`.
 *
 * @example
 * ```ts
 * import { dropoutThreshold } from "./philox.ts";
 * console.log(dropoutThreshold(0.5)); // 8388608
 * ```
 */
export function dropoutThreshold(p: number): number {
  if (!(p >= 0 && p <= 1)) {
    throw new TesseraError(`dropout: probability must be in [0, 1], got ${p}`);
  }
  return Math.ceil(p * 2 ** 24);
}

function checkU32(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v >= TWO_POW_32) {
    throw new TesseraError(`dropout: ${name} must be a u32, got ${v}`);
  }
}

function checkIndex(index: number): void {
  if (!Number.isSafeInteger(index) || index < 0) {
    throw new TesseraError(`dropout: index must be a non-negative safe integer, got ${index}`);
  }
}

/**
 * The 24 random bits element `index` compares against the threshold; the
 * uniform variate is this times 2^-24.
 *
 * @example
 * ```ts
 * import { dropoutBits } from "./philox.ts";
 * console.log(dropoutBits(0, 0, 0) < 2 ** 24); // true
 * ```
 */
export function dropoutBits(seed: number | bigint, offset: number, index: number): number {
  checkU32("offset", offset);
  checkIndex(index);
  const key = dropoutSeedWords(seed);
  const block = Math.floor(index / 4);
  const counter = [block % TWO_POW_32, Math.floor(block / TWO_POW_32), offset, 0];
  return philox4x32(counter, key)[index % 4] >>> 8;
}

/**
 * Whether dropout keeps element `index` (probability `1 - p`), per the scheme
 * in this module's documentation. Matches the shader's `dropout_keep`.
 *
 * @example
 * ```ts
 * import { dropoutKeep } from "./philox.ts";
 * console.log(dropoutKeep(42, 0, 7, 0)); // true: p = 0 keeps everything
 * console.log(dropoutKeep(42, 0, 7, 1)); // false: p = 1 drops everything
 * ```
 */
export function dropoutKeep(
  seed: number | bigint,
  offset: number,
  index: number,
  p: number,
): boolean {
  return dropoutBits(seed, offset, index) >= dropoutThreshold(p);
}

/**
 * The keep mask (1 = keep, 0 = drop) of elements `0..n-1`, the CPU
 * counterpart of the dropout kernel; one Philox call serves four elements.
 *
 * @example
 * ```ts
 * import { dropoutMask } from "./philox.ts";
 * const mask = dropoutMask(10, 0.5, 1234, 0);
 * console.log(mask.length); // 10
 * ```
 */
export function dropoutMask(
  n: number,
  p: number,
  seed: number | bigint,
  offset: number,
): Uint8Array {
  checkIndex(n);
  checkU32("offset", offset);
  const threshold = dropoutThreshold(p);
  const key = dropoutSeedWords(seed);
  const mask = new Uint8Array(n);
  const counter = new Uint32Array([0, 0, offset, 0]);
  const words = new Uint32Array(4);
  for (let base = 0; base < n; base += 4) {
    const block = base / 4;
    counter[0] = block % TWO_POW_32;
    counter[1] = Math.floor(block / TWO_POW_32);
    philox4x32(counter, key, words);
    const end = Math.min(4, n - base);
    for (let j = 0; j < end; j++) mask[base + j] = words[j] >>> 8 >= threshold ? 1 : 0;
  }
  return mask;
}
