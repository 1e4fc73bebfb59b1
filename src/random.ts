/**
 * A random number generator whose stream is bit-identical to PyTorch's CPU
 * generator (`torch.manual_seed`, `torch.rand`, `torch.randn`, `uniform_`,
 * `nn.Linear`'s default init), so that models initialised here start from the
 * very same float32 weights as their PyTorch reference.
 *
 * Reference: PyTorch 1.13 `at::mt19937`, `CPUGeneratorImpl`,
 * `ATen/core/DistributionsHelper.h`, `ATen/core/TransformationHelper.h`,
 * `ATen/native/cpu/DistributionTemplates.h` and `avx_mathfun.h`. Verified bit
 * for bit against torch 1.13.1 running its AVX2 CPU kernels (the default on
 * x86-64); those kernels were compiled with floating-point contraction, so
 * several multiply-adds below are fused to match.
 *
 * @module
 */

import { ArgumentError, DeviceLimitError } from "./errors.ts";
import {
  checkFiniteNumber,
  checkInteger,
  checkOptions,
  checkShapeArg,
  describe,
} from "./ops/checks.ts";

/** PyTorch's default CPU seed (`torch.initial_seed()` in a fresh process). */
export const DEFAULT_SEED: bigint = 67280421310721n;

const MT_N = 624;
const MT_M = 397;
const MATRIX_A = 0x9908b0df;
const UPPER_MASK = 0x80000000;
const LOWER_MASK = 0x7fffffff;

const TWO_POW_M24 = 2 ** -24;
const TWO_POW_M53 = 2 ** -53;
const TWO_POW_32 = 2 ** 32;
const F32_MAX = 3.4028234663852886e38;

/**
 * A Mersenne Twister (mt19937) generator with the exact semantics of
 * PyTorch's `CPUGeneratorImpl`, including the cached second Box–Muller sample
 * of `at::normal_distribution<double>`.
 *
 * @example
 * ```ts
 * import { Generator } from "./random.ts";
 * const g = new Generator(123);
 * console.log(g.random()); // first u32 of torch's stream for seed 123
 * console.log(g.nextFloat()); // equals torch.rand(1) after the draw above
 * ```
 */
export class Generator {
  #state = new Uint32Array(MT_N);
  #next = 0;
  #left = 1;
  #seed = DEFAULT_SEED;
  // torch keeps the sine half of a Box–Muller pair in the generator, so the
  // cache must live here (and be reset by manualSeed) to stay in step.
  #nextDoubleNormal: number | undefined = undefined;

  /**
   * Creates a generator seeded like `torch.Generator().manual_seed(seed)`;
   * without a seed it starts from {@linkcode DEFAULT_SEED}. Throws
   * `ArgumentError` for a seed that {@linkcode Generator.manualSeed} refuses.
   *
   * @example
   * ```ts
   * import { Generator } from "./random.ts";
   * const g = new Generator(42n);
   * console.log(g.initialSeed()); // 42n
   * ```
   */
  constructor(seed: number | bigint = DEFAULT_SEED) {
    this.#reseed("Generator", seed);
  }

  /**
   * Re-seeds the generator. Like torch, any integer in [-2^63, 2^64) is
   * accepted (negatives wrap modulo 2^64), but only the low 32 bits reach
   * mt19937, so `2**32 + 5` and `5` give the same stream. A seed that is not
   * a safe integer (fractions, NaN, numbers past 2^53: pass those as a
   * bigint) or a bigint in that range throws `ArgumentError` and leaves the
   * generator untouched.
   *
   * @example
   * ```ts
   * import { Generator } from "./random.ts";
   * const g = new Generator().manualSeed(7);
   * console.log(g.initialSeed()); // 7n
   * ```
   */
  manualSeed(seed: number | bigint): this {
    return this.#reseed("Generator.manualSeed", seed);
  }

  // `op` names the public entry point in errors: the constructor, this
  // method, or the global manualSeed.
  #reseed(op: string, seed: number | bigint): this {
    const s = toSeed(op, seed);
    this.#seed = s;
    this.#nextDoubleNormal = undefined;
    const st = this.#state;
    st[0] = Number(s & 0xffffffffn);
    for (let j = 1; j < MT_N; j++) {
      const prev = st[j - 1];
      st[j] = Math.imul(1812433253, prev ^ (prev >>> 30)) + j;
    }
    this.#left = 1;
    this.#next = 0;
    return this;
  }

  /**
   * The seed last given to {@linkcode Generator.manualSeed}, as an unsigned
   * 64-bit value (what `torch.initial_seed()` reports).
   *
   * @example
   * ```ts
   * import { Generator } from "./random.ts";
   * console.log(new Generator(-1).initialSeed()); // 18446744073709551615n
   * ```
   */
  initialSeed(): bigint {
    return this.#seed;
  }

  /**
   * An independent copy with the same state, so one can peek ahead without
   * disturbing this stream.
   *
   * @example
   * ```ts
   * import { Generator } from "./random.ts";
   * const g = new Generator(1);
   * const peek = g.clone().random();
   * console.log(peek === g.random()); // true
   * ```
   */
  clone(): Generator {
    const g = new Generator(this.#seed);
    g.#state.set(this.#state);
    g.#next = this.#next;
    g.#left = this.#left;
    g.#nextDoubleNormal = this.#nextDoubleNormal;
    return g;
  }

  /**
   * The next 32-bit output of mt19937 (`CPUGeneratorImpl::random()`).
   *
   * @example
   * ```ts
   * import { Generator } from "./random.ts";
   * console.log(new Generator(5489).random()); // 3499211612, the mt19937 reference value
   * ```
   */
  random(): number {
    if (--this.#left === 0) this.#twist();
    let y = this.#state[this.#next++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /**
   * The next 64-bit output as torch builds it: the first 32-bit draw is the
   * high word, the second the low word (`make64BitsFrom32Bits(hi, lo)`).
   *
   * @example
   * ```ts
   * import { Generator } from "./random.ts";
   * const x = new Generator(0).random64();
   * console.log(x >> 32n, x & 0xffffffffn); // the first two random() values
   * ```
   */
  random64(): bigint {
    const hi = this.random();
    const lo = this.random();
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  /**
   * A float32 in [0, 1): `uniform_real_distribution<float>(0, 1)`, i.e. the
   * low 24 bits of one 32-bit draw times 2^-24 (exact in float32).
   *
   * @example
   * ```ts
   * import { Generator } from "./random.ts";
   * const u = new Generator(0).nextFloat();
   * console.log(u === Math.fround(u)); // true
   * ```
   */
  nextFloat(): number {
    return (this.random() & 0xffffff) * TWO_POW_M24;
  }

  /**
   * A double in [0, 1): `uniform_real_distribution<double>(0, 1)`, the low 53
   * bits of {@linkcode Generator.random64} times 2^-53. Computed without
   * BigInt because this sits on the hot path of `randn` for small tensors.
   *
   * @example
   * ```ts
   * import { Generator } from "./random.ts";
   * console.log(new Generator(0).nextDouble() < 1); // true
   * ```
   */
  nextDouble(): number {
    const hi = this.random() & 0x1fffff;
    const lo = this.random();
    return (hi * TWO_POW_32 + lo) * TWO_POW_M53;
  }

  /**
   * A float32 from `uniform_real_distribution<float>(from, to)`, the value
   * `torch.empty(n).uniform_(from, to)` stores. `from` and `to` are rounded to
   * float32 first, as torch's CPU kernel does, and `x * (to - from) + from` is
   * evaluated in float32 with a fused multiply-add, matching the AVX2 build
   * of torch (its compiler contracts the expression into `vfmadd`).
   *
   * @example
   * ```ts
   * import { Generator } from "./random.ts";
   * const v = new Generator(0).uniformFloat(-1, 1);
   * console.log(v >= -1 && v < 1); // true
   * ```
   */
  uniformFloat(from: number, to: number): number {
    const f = Math.fround(from);
    const range = Math.fround(Math.fround(to) - f);
    return fmaF32(this.nextFloat(), range, f);
  }

  /**
   * A double from `at::normal_distribution<double>(mean, std)`: Box–Muller on
   * two 53-bit uniforms, returning the cosine half and caching the sine half
   * for the next call. torch's small-tensor `randn`/`normal_` path uses this.
   * `Math.log/sin/cos` (fdlibm) are not guaranteed to round like glibc, but
   * the final float32 rounding hides the rare last-bit differences.
   *
   * @example
   * ```ts
   * import { Generator } from "./random.ts";
   * const g = new Generator(0);
   * console.log(Number.isFinite(g.normalDouble())); // true
   * ```
   */
  normalDouble(mean = 0, std = 1): number {
    const cached = this.#nextDoubleNormal;
    if (cached !== undefined) {
      this.#nextDoubleNormal = undefined;
      return cached * std + mean;
    }
    const u1 = this.nextDouble();
    const u2 = this.nextDouble();
    const r = Math.sqrt(-2.0 * Math.log(1.0 - u2));
    const theta = 2.0 * Math.PI * u1;
    this.#nextDoubleNormal = r * Math.sin(theta);
    return r * Math.cos(theta) * std + mean;
  }

  #twist(): void {
    const st = this.#state;
    this.#left = MT_N;
    this.#next = 0;
    let k = 0;
    for (; k < MT_N - MT_M; k++) st[k] = st[k + MT_M] ^ twistBits(st[k], st[k + 1]);
    for (; k < MT_N - 1; k++) st[k] = st[k + MT_M - MT_N] ^ twistBits(st[k], st[k + 1]);
    st[k] = st[k + MT_M - MT_N] ^ twistBits(st[k], st[0]);
  }
}

function twistBits(u: number, v: number): number {
  const mixed = (u & UPPER_MASK) | (v & LOWER_MASK);
  return (mixed >>> 1) ^ ((v & 1) !== 0 ? MATRIX_A : 0);
}

const SEED_MIN = -(2n ** 63n);
const SEED_END = 2n ** 64n;

// torch.manual_seed takes a Python int in [-2^63, 2^64) and refuses floats
// and bools. Numbers beyond 2^53 are refused too: they may no longer be the
// integer the caller wrote, so such seeds must be given as a bigint.
function toSeed(op: string, seed: unknown): bigint {
  const ok = typeof seed === "number"
    ? Number.isSafeInteger(seed)
    : typeof seed === "bigint" && seed >= SEED_MIN && seed < SEED_END;
  if (!ok) {
    const got = typeof seed === "bigint" ? `${seed}n` : describe(seed);
    throw new ArgumentError(
      `${op}: seed must be a safe integer or a bigint in [-2^63, 2^64), as ` +
        `torch.manual_seed accepts, but got ${got}`,
    );
  }
  return BigInt.asUintN(64, BigInt(seed as number | bigint));
}

const globalGen = new Generator();

/**
 * The process-wide generator used when no `generator` option is given, the
 * counterpart of `torch.default_generator`.
 *
 * @example
 * ```ts
 * import { globalGenerator } from "./random.ts";
 * console.log(globalGenerator().initialSeed()); // 67280421310721n unless re-seeded
 * ```
 */
export function globalGenerator(): Generator {
  return globalGen;
}

/**
 * Seeds the global generator, like `torch.manual_seed(seed)`, and returns it.
 *
 * @example
 * ```ts
 * import { manualSeed, rand } from "./random.ts";
 * manualSeed(123);
 * const a = rand([2, 3]);
 * manualSeed(123);
 * console.log(rand([2, 3])[0] === a[0]); // true
 * ```
 */
export function manualSeed(seed: number | bigint): Generator {
  // Validated here so that errors name this function, not the method.
  return globalGen.manualSeed(toSeed("manualSeed", seed));
}

/** Options shared by the sampling functions. */
export interface RandomOptions {
  /** Generator to draw from; defaults to {@linkcode globalGenerator}. */
  generator?: Generator;
}

/** A tensor shape: a list of non-negative integer sizes, or one size. */
export type ShapeLike = number | readonly number[];

/**
 * Samples like `torch.rand(shape)` (float32, [0, 1)), bit for bit. A shape
 * that is not a whole number >= 0 or an array of them, a non-object
 * `options` or an `options.generator` that is not a {@linkcode Generator}
 * throws `ArgumentError` before anything is drawn (the same holds for
 * {@linkcode randn} and {@linkcode uniform}).
 *
 * @example
 * ```ts
 * import { manualSeed, rand } from "./random.ts";
 * manualSeed(0);
 * console.log(rand([2, 2]).length); // 4
 * ```
 */
export function rand(shape: ShapeLike, options?: RandomOptions): Float32Array {
  const n = numel("rand", shape);
  const g = generatorOf("rand", options);
  const out = allocate("rand", n);
  for (let i = 0; i < out.length; i++) out[i] = g.nextFloat();
  return out;
}

/**
 * Samples like `torch.empty(shape).uniform_(low, high)` for float32, bit for
 * bit (torch's CPU kernel draws one 32-bit value per element, in order).
 * `low` and `high` must be finite with `low <= high` and `high - low` within
 * float32's range, else `ArgumentError`.
 *
 * @example
 * ```ts
 * import { Generator, uniform } from "./random.ts";
 * const w = uniform([4, 3], -0.5, 0.5, { generator: new Generator(1) });
 * console.log(w.every((v) => v >= -0.5 && v < 0.5)); // true
 * ```
 */
export function uniform(
  shape: ShapeLike,
  low: number,
  high: number,
  options?: RandomOptions,
): Float32Array {
  const n = numel("uniform", shape);
  checkFiniteNumber("uniform", "low", low);
  checkFiniteNumber("uniform", "high", high);
  if (!(low <= high)) {
    throw new ArgumentError(
      `uniform: low must be <= high, but got low=${low}, high=${high}`,
    );
  }
  if (Math.fround(high) - Math.fround(low) > F32_MAX) {
    throw new ArgumentError(
      `uniform: high - low must fit in float32 (at most ${F32_MAX}), but got ` +
        `low=${low}, high=${high}`,
    );
  }
  const g = generatorOf("uniform", options);
  const out = allocate("uniform", n);
  for (let i = 0; i < out.length; i++) out[i] = g.uniformFloat(low, high);
  return out;
}

/**
 * Samples like `torch.randn(shape)` (float32, standard normal), following
 * torch 1.13's CPU kernel on an AVX2 build:
 * - fewer than 16 elements: `normal_distribution<double>` per element, which
 *   draws two 64-bit values per pair and caches the second sample in the
 *   generator (shared with {@linkcode Generator.normalDouble});
 * - 16 or more: `normal_fill_AVX2`, i.e. float32 uniforms turned into normals
 *   16 at a time by a vectorised Box–Muller using avx_mathfun's `log256_ps`
 *   and `sincos256_ps`, ported here operation by operation, including the
 *   multiply-adds GCC fused into `vfmadd` in torch's AVX2 build. A ragged
 *   tail is handled as torch does: the last 16 slots are refilled with 16
 *   fresh uniforms and transformed again.
 *
 * Builds of torch that run the non-AVX2 kernel (ATEN_CPU_CAPABILITY=default
 * or avx512) use glibc `logf/sinf/cosf` for n >= 16 and give slightly
 * different bits.
 *
 * @example
 * ```ts
 * import { manualSeed, randn } from "./random.ts";
 * manualSeed(0);
 * console.log(randn([3, 5]).length); // 15
 * ```
 */
export function randn(shape: ShapeLike, options?: RandomOptions): Float32Array {
  const n = numel("randn", shape);
  const g = generatorOf("randn", options);
  const out = allocate("randn", n);
  if (n < 16) {
    for (let i = 0; i < n; i++) out[i] = g.normalDouble();
    return out;
  }
  for (let i = 0; i < n; i++) out[i] = g.nextFloat();
  for (let i = 0; i + 16 <= n; i += 16) normalFill16(out, i);
  if (n % 16 !== 0) {
    const start = n - 16;
    for (let i = 0; i < 16; i++) out[start + i] = g.nextFloat();
    normalFill16(out, start);
  }
  return out;
}

const f = Math.fround;
const TWO_PI_F = f(2 * Math.PI);

// normal_fill_16_AVX2 with mean 0 and std 1: the trailing fmadd(n, 1, 0)
// only turns -0 into +0, which the `+ 0` reproduces.
function normalFill16(data: Float32Array, at: number): void {
  for (let j = 0; j < 8; j++) {
    const u1 = f(1 - data[at + j]);
    const u2 = data[at + j + 8];
    const radius = f(Math.sqrt(f(-2 * log256(u1))));
    const [sin, cos] = sincos256(f(TWO_PI_F * u2));
    data[at + j] = f(radius * cos) + 0;
    data[at + j + 8] = f(radius * sin) + 0;
  }
}

const SQRTHF = f(0.707106781186547524);
const LOG_P = [
  7.0376836292e-2,
  -1.1514610310e-1,
  1.1676998740e-1,
  -1.2420140846e-1,
  1.4249322787e-1,
  -1.6668057665e-1,
  2.0000714765e-1,
  -2.4999993993e-1,
  3.3333331174e-1,
].map(f);
const LOG_Q1 = f(-2.12194440e-4);
const LOG_Q2 = f(0.693359375);
const MIN_NORM_POS = 1.1754943508222875e-38;

const bitsF32 = new Float32Array(1);
const bitsU32 = new Uint32Array(bitsF32.buffer);

// One lane of avx_mathfun's log256_ps (a cephes logf), in float32 steps.
function log256(input: number): number {
  if (!(input > 0)) return NaN;
  bitsF32[0] = Math.max(input, MIN_NORM_POS);
  const exponent = (bitsU32[0] >>> 23) - 0x7f;
  bitsU32[0] = (bitsU32[0] & ~0x7f800000) | 0x3f000000;
  let x = bitsF32[0];
  let e = f(exponent + 1);
  const below = x < SQRTHF;
  const tmp = below ? x : 0;
  x = f(x - 1);
  if (below) e = f(e - 1);
  x = f(x + tmp);
  const z = f(x * x);
  let y = LOG_P[0];
  for (let k = 1; k < LOG_P.length; k++) y = fmaF32(y, x, LOG_P[k]);
  y = fmaF32(f(y * x), z, f(e * LOG_Q1));
  y = fmaF32(-z, 0.5, y);
  return fmaF32(e, LOG_Q2, f(x + y));
}

const FOPI = f(1.27323954473516);
const DP1 = f(-0.78515625);
const DP2 = f(-2.4187564849853515625e-4);
const DP3 = f(-3.77489497744594108e-8);
const SINCOF = [-1.9515295891e-4, 8.3321608736e-3, -1.6666654611e-1].map(f);
const COSCOF = [2.443315711809948e-005, -1.388731625493765e-003, 4.166664568298827e-002].map(f);

// One lane of avx_mathfun's sincos256_ps (cephes sinf/cosf), in float32 steps.
function sincos256(input: number): [number, number] {
  let x = Math.abs(input);
  let sinNegative = input < 0 || Object.is(input, -0);
  // cvttps_epi32 truncates; |x| * 4/pi stays far below 2^31 for theta < 2pi.
  let j = Math.trunc(f(x * FOPI));
  j = (j + 1) & ~1;
  const y = j;
  if ((j & 4) !== 0) sinNegative = !sinNegative;
  const cosNegative = (~(j - 2) & 4) !== 0;
  const useCosPoly = (j & 2) === 0;
  x = fmaF32(y, DP1, x);
  x = fmaF32(y, DP2, x);
  x = fmaF32(y, DP3, x);
  const z = f(x * x);
  let c = COSCOF[0];
  c = fmaF32(c, z, COSCOF[1]);
  c = fmaF32(c, z, COSCOF[2]);
  c = fmaF32(f(c * z), z, -f(z * 0.5));
  c = f(c + 1);
  let s = SINCOF[0];
  s = fmaF32(s, z, SINCOF[1]);
  s = fmaF32(s, z, SINCOF[2]);
  s = fmaF32(f(s * z), x, x);
  // The kernel blends with and/andnot masks and then adds the masked-out
  // +0, which maps a -0 lane to +0; `+ 0` keeps that quirk.
  const sinAbs = (useCosPoly ? s : c) + 0;
  const cosAbs = (useCosPoly ? c : s) + 0;
  return [sinNegative ? -sinAbs : sinAbs, cosNegative ? -cosAbs : cosAbs];
}

const bitsF64 = new Float64Array(1);
const bitsLoHi = new Uint32Array(bitsF64.buffer);

/**
 * Fused multiply-add of three float32 values, rounded once to float32.
 * `a * b` is exact in double (24 + 24 bits); the sum is rounded to odd in
 * double so that the final rounding to float32 cannot double-round.
 */
function fmaF32(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  if (!Number.isFinite(s)) return f(s);
  const bp = s - c;
  const err = (p - bp) + (c - (s - bp));
  if (err === 0) return f(s);
  bitsF64[0] = s;
  if ((bitsLoHi[0] & 1) === 1) return f(s);
  // s is even and inexact: step one ulp toward the exact value (round to odd).
  const awayFromZero = (err > 0) === (s > 0);
  if (awayFromZero) {
    bitsLoHi[0] += 1;
  } else if (bitsLoHi[0] === 0) {
    bitsLoHi[0] = 0xffffffff;
    bitsLoHi[1] -= 1;
  } else {
    bitsLoHi[0] -= 1;
  }
  return f(bitsF64[0]);
}

// The element count of a ShapeLike; throws ArgumentError naming `op`.
function numel(op: string, shape: unknown): number {
  if (typeof shape === "number") return checkInteger(op, "shape", shape, { min: 0 });
  if (!Array.isArray(shape)) {
    throw new ArgumentError(
      `${op}: shape must be a whole number >= 0 or an array of them, but got ${describe(shape)}`,
    );
  }
  let n = 1;
  for (const d of checkShapeArg(op, "shape", shape)) n *= d;
  return n;
}

// Turns the engine's bare RangeError for a huge array into an error that
// names the op and the size, as the creation functions do.
function allocate(op: string, n: number): Float32Array {
  try {
    return new Float32Array(n);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    throw new DeviceLimitError(
      `${op}: cannot allocate ${n} elements (${n * 4} bytes) in host memory`,
      { cause: error },
    );
  }
}

// The generator named by `options`, or the global one; throws ArgumentError
// naming `op` for a non-object options or a generator that is not one.
function generatorOf(op: string, options: unknown): Generator {
  checkOptions(op, options);
  const g = (options as RandomOptions | undefined)?.generator;
  if (g === undefined) return globalGen;
  if (!(g instanceof Generator)) {
    throw new ArgumentError(
      `${op}: options.generator must be a Generator, but got ${describe(g)}`,
    );
  }
  return g;
}

const LEAKY_RELU_SLOPE = Math.sqrt(5);

/**
 * The bound of `nn.init.kaiming_uniform_(w, a=math.sqrt(5))` for a given
 * fan-in, computed with the same double operations as torch's Python code:
 * `gain = sqrt(2 / (1 + a**2))`, `std = gain / sqrt(fan_in)`,
 * `bound = sqrt(3) * std`. (Math.sqrt, like Python's, is correctly rounded.)
 *
 * @example
 * ```ts
 * import { kaimingUniformBound } from "./random.ts";
 * console.log(kaimingUniformBound(3)); // 0.5773502691896257, as torch computes it
 * ```
 */
export function kaimingUniformBound(fanIn: number): number {
  checkInteger("kaimingUniformBound", "fanIn", fanIn, { min: 1 });
  const gain = Math.sqrt(2.0 / (1 + LEAKY_RELU_SLOPE * LEAKY_RELU_SLOPE));
  const std = gain / Math.sqrt(fanIn);
  return Math.sqrt(3.0) * std;
}

/** Initial parameters of a linear layer, row-major `[dOut, dIn]` weight. */
export interface LinearInit {
  /** Weight of shape `[dOut, dIn]`, row-major. */
  weight: Float32Array;
  /** Bias of shape `[dOut]`, present when requested. */
  bias?: Float32Array;
}

/**
 * The parameters `torch.nn.Linear(dIn, dOut, bias)` starts with when created
 * from `generator`'s current state: weight from
 * `kaiming_uniform_(a=sqrt(5))`, then bias from `uniform_(-1/sqrt(dIn),
 * 1/sqrt(dIn))`, drawn in that order. Successive calls continue the stream,
 * just as constructing several layers in a row does in torch.
 *
 * @example
 * ```ts
 * import { Generator, linearInitValues } from "./random.ts";
 * const g = new Generator(123);
 * const q = linearInitValues(3, 2, false, g); // W_query = nn.Linear(3, 2, bias=False)
 * const k = linearInitValues(3, 2, false, g); // W_key, drawn next
 * console.log(q.weight.length, k.bias); // 6 undefined
 * ```
 */
export function linearInitValues(
  dIn: number,
  dOut: number,
  bias: boolean,
  generator: Generator = globalGen,
): LinearInit {
  checkInteger("linearInitValues", "dIn", dIn, { min: 0 });
  checkInteger("linearInitValues", "dOut", dOut, { min: 0 });
  if (!(generator instanceof Generator)) {
    throw new ArgumentError(
      `linearInitValues: generator must be a Generator, but got ${describe(generator)}`,
    );
  }
  const options = { generator };
  // torch skips zero-element tensors in kaiming_uniform_ and uses bound 0 for
  // the bias when fan_in is 0, so neither may throw here.
  const weight = dIn === 0 || dOut === 0
    ? new Float32Array(dIn * dOut)
    : uniform([dOut, dIn], -kaimingUniformBound(dIn), kaimingUniformBound(dIn), options);
  if (!bias) return { weight };
  const bound = dIn > 0 ? 1 / Math.sqrt(dIn) : 0;
  return { weight, bias: uniform([dOut], -bound, bound, options) };
}
