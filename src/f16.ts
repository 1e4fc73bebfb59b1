/**
 * Half precision on the host: IEEE 754 binary16 bits to and from float32
 * values, rounding to nearest even like PyTorch's `.half()` (subnormals,
 * infinities and NaN included), so CPU float16 tensors hold exactly the
 * values a GPU f16 buffer holds.
 *
 * @module
 */

import { ArgumentError } from "./errors.ts";

const f32 = new Float32Array(1);

function checkNumber(op: string, x: unknown): void {
  if (typeof x !== "number") {
    throw new ArgumentError(`${op}: x must be a number, but got ${show(x)}`);
  }
}

function show(x: unknown): string {
  if (x === null) return "null";
  if (Array.isArray(x)) return "an array";
  if (typeof x === "object") return x.constructor?.name ?? "an object";
  return typeof x === "string" ? `the string ${JSON.stringify(x)}` : String(x);
}
const u32 = new Uint32Array(f32.buffer);

/**
 * The binary16 bits nearest to `x` (ties to even). Values past the largest
 * half (65504) round to infinity as IEEE requires; NaN stays NaN, keeping
 * its sign and the top payload bits.
 *
 * @example
 * ```ts
 * import { f16Bits } from "@tessera/core";
 * console.log(f16Bits(1).toString(16)); // "3c00"
 * console.log(f16Bits(65520).toString(16)); // "7c00" (rounds to infinity)
 * ```
 */
export function f16Bits(x: number): number {
  checkNumber("f16Bits", x);
  f32[0] = x;
  return halfOfFloatBits(u32[0]);
}

/** Binary16 bits nearest to the float32 with bits `bits` (the GPU cast kernel's rule). */
function halfOfFloatBits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) {
    // Infinity, or NaN kept quiet (a payload whose top bits are all zero would read as inf).
    return mant === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mant >>> 13);
  }
  // Unbiased exponent; halves have exponents -14..15 (normal), below that subnormal.
  const e = exp - 127;
  if (e > 15) return sign | 0x7c00;
  if (e >= -14) {
    // Normal: keep 10 mantissa bits, round the 13 dropped ones to nearest even.
    let h = ((e + 15) << 10) | (mant >>> 13);
    const rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h++;
    // A carry out of the mantissa bumps the exponent, possibly to infinity: both correct.
    return sign | h;
  }
  if (e < -25) return sign; // Below half the smallest subnormal: rounds to zero.
  // Subnormal: the value is m * 2^-24 with m = full mantissa >> (-e - 1).
  const full = mant | 0x800000;
  const shift = -e - 1; // 14..24 bits dropped from the 24-bit significand.
  let h = full >>> shift;
  const rest = full & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rest > half || (rest === half && (h & 1) === 1)) h++;
  return sign | h;
}

/**
 * The value of binary16 bits `h` (exact: every half is a float32).
 *
 * @example
 * ```ts
 * import { f16Value } from "@tessera/core";
 * console.log(f16Value(0x3c00)); // 1
 * console.log(f16Value(0x0001)); // 5.960464477539063e-8 (smallest subnormal)
 * ```
 */
export function f16Value(h: number): number {
  if (!Number.isInteger(h) || h < 0 || h > 0xffff) {
    throw new ArgumentError(
      `f16Value: h must be a whole number from 0 to 65535 (16 bits), but got ${show(h)}`,
    );
  }
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) {
    if (mant === 0) return sign * Infinity;
    // Keep the payload like a float32 widening does.
    u32[0] = ((h & 0x8000) << 16) | 0x7f800000 | (mant << 13);
    return f32[0];
  }
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

/**
 * Rounds every value to binary16 bits (the host storage of a float16 tensor).
 *
 * @example
 * ```ts
 * import { toF16Bits } from "@tessera/core";
 * console.log(toF16Bits([1, 0.1])); // Uint16Array [15360, 11878]
 * ```
 */
export function toF16Bits(values: ArrayLike<number>): Uint16Array {
  if (!Array.isArray(values) && !ArrayBuffer.isView(values)) {
    throw new ArgumentError(
      `toF16Bits: values must be an array or typed array of numbers, but got ${show(values)}`,
    );
  }
  const out = new Uint16Array(values.length);
  if (values instanceof Float32Array) {
    // Through the bits: reading a signalling NaN as a number would quieten it.
    const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
    for (let i = 0; i < bits.length; i++) out[i] = halfOfFloatBits(bits[i]);
    return out;
  }
  for (let i = 0; i < values.length; i++) {
    if (typeof values[i] !== "number") {
      throw new ArgumentError(
        `toF16Bits: values[${i}] must be a number, but got ${show(values[i])}`,
      );
    }
    f32[0] = values[i];
    out[i] = halfOfFloatBits(u32[0]);
  }
  return out;
}

/**
 * Widens binary16 bits to float32 values (exact).
 *
 * @example
 * ```ts
 * import { fromF16Bits } from "@tessera/core";
 * console.log(fromF16Bits(new Uint16Array([0x3c00, 0xc000]))); // Float32Array [1, -2]
 * ```
 */
export function fromF16Bits(bits: Uint16Array): Float32Array {
  if (!(bits instanceof Uint16Array)) {
    throw new ArgumentError(
      `fromF16Bits: bits must be a Uint16Array of binary16 bits, but got ${show(bits)}`,
    );
  }
  const out = new Float32Array(bits.length);
  // Written as bits, so NaN payloads (signalling ones too) survive exactly.
  const words = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) words[i] = floatBitsOfHalf(bits[i]);
  return out;
}

/** Float32 bits of the binary16 bits `h` (exact). */
function floatBitsOfHalf(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0;
  // Subnormal half: normalise (mant * 2^-24 is a normal float32).
  const lead = 31 - Math.clz32(mant);
  return (sign | ((lead + 103) << 23) | ((mant << (23 - lead)) & 0x7fffff)) >>> 0;
}

/**
 * Rounds `x` to the nearest float16 value (ties to even), returned as a
 * number: what `torch.tensor(x).half().item()` gives.
 *
 * @example
 * ```ts
 * import { roundF16 } from "@tessera/core";
 * console.log(roundF16(0.1)); // 0.0999755859375
 * ```
 */
export function roundF16(x: number): number {
  checkNumber("roundF16", x);
  return f16Value(f16Bits(x));
}
