/**
 * The WebAssembly text of the cpu device's float16 kernels, appended to the
 * module by `renderWat` (scripts/wasm_wat.ts); src/cpu/f16.ts wraps them.
 *
 * WebAssembly SIMD has no half-precision conversion, so binary16 bits widen
 * to float32 with lane operations (see {@linkcode widen}): a byte shuffle,
 * a shift, a mask, a multiply by 2^112, and a fix-up for infinities and
 * NaNs. Every widening is exact, NaN payloads included.
 *
 * `gemv_t_f16` is `gemv_t` (one generator, scripts/wasm_wat_gemv.ts)
 * reading a float16 weight: the same lanes and the same order of additions
 * on the exactly widened values, so it gives the bits of widening the
 * weight first and running the float32 kernel, with half the weight's
 * bytes read from memory.
 *
 * @module
 */

import { add, get, i32, set } from "./wat.ts";

import { fmadd, gemvTKernel, type WeightFormat } from "./wasm_wat_gemv.ts";

/** Rows of the weight `gemv_t_f16` takes per pass (one f32x4 accumulator each). */
export const GEMV_T_F16_ROWS = 4;

const splat = (n: number) => `(v128.const i32x4 ${n} ${n} ${n} ${n})`;

/** The constants' locals, set once per call (V8 rebuilds a `v128.const` at every use). */
const CONSTANT_LOCALS = "(local $cmask v128) (local $cscale v128) (local $cbig v128) " +
  "(local $cexp v128) (local $czero v128) (local $hr v128)";
const SET_CONSTANTS = [
  set("cmask", splat(0x8fffe000 | 0)), // the sign, and exponent + mantissa moved to float32's place
  set("cscale", splat(0x77800000)), // 2^112: rebiases the exponent (subnormals normalise exactly)
  set("cbig", splat(0x47800000)), // 2^16: only infinities and NaNs reach it
  set("cexp", splat(0x7f800000)),
  set("czero", splat(0)),
].join("\n    ");

/** Byte shuffles moving four halves (the low or high ones) to the top of four i32 lanes. */
const TO_HIGH_HALVES = {
  low: "16 16 0 1 16 16 2 3 16 16 4 5 16 16 6 7",
  high: "16 16 8 9 16 16 10 11 16 16 12 13 16 16 14 15",
};

/** Four binary16 values of `halves` (v128 of 8 halves) in the top 16 bits of i32 lanes. */
function highHalves(halves: string, which: "low" | "high"): string {
  return `(i8x16.shuffle ${TO_HIGH_HALVES[which]} ${halves} (local.get $czero))`;
}

/**
 * A statement leaving in `$hr` the float32 lanes of the binary16 bits held
 * in the top 16 bits of the i32 lanes of `shifted`: an arithmetic shift by 3
 * puts exponent and mantissa in float32's place (the mask keeps one sign
 * bit), times 2^112 rebiases the exponent exactly (subnormals included);
 * infinities and NaNs, the only values then at least 2^16, get their
 * exponent bits set (NaN payloads kept).
 */
function widen(shifted: string): string {
  return [
    set(
      "hr",
      `(f32x4.mul (v128.and (i32x4.shr_s ${shifted} (i32.const 3)) ${get("cmask")}) ` +
        `${get("cscale")})`,
    ),
    set(
      "hr",
      `(v128.or ${get("hr")} (v128.and (f32x4.ge (f32x4.abs ${get("hr")}) ${get("cbig")}) ` +
        `${get("cexp")}))`,
    ),
  ].join("\n    ");
}

/** `f16_to_f32(src, dst, n)`: widens the first `n - n % 8` halves at src to floats at dst. */
function f16ToF32(): string {
  return `
  (func $f16_to_f32 (export "f16_to_f32") (param $src i32) (param $dst i32) (param $n i32)
    (local $h v128) ${CONSTANT_LOCALS}
    ${SET_CONSTANTS}
    (block $done
      (loop $eight
        (br_if $done (i32.lt_s (local.get $n) (i32.const 8)))
        ${set("h", "(v128.load (local.get $src))")}
        ${widen(highHalves("(local.get $h)", "low"))}
        (v128.store (local.get $dst) (local.get $hr))
        ${widen(highHalves("(local.get $h)", "high"))}
        (v128.store offset=16 (local.get $dst) (local.get $hr))
        ${set("src", add(get("src"), i32(16)))}
        ${set("dst", add(get("dst"), i32(32)))}
        ${set("n", "(i32.sub (local.get $n) (i32.const 8))")}
        (br $eight)))
  )`;
}

/** float16 weights for {@linkcode gemvTKernel}, widened in registers as they are read. */
const F16_WEIGHTS: WeightFormat = {
  bytes: 2,
  locals: `(local $h v128) ${CONSTANT_LOCALS}`,
  setup: SET_CONSTANTS,
  accumulate: (acc, ptr, count) =>
    count === 8
      ? [
        set("h", `(v128.load ${ptr})`),
        widen(highHalves(get("h"), "low")),
        fmadd(acc, get("x0"), get("hr")),
        widen(highHalves(get("h"), "high")),
        fmadd(acc, get("x1"), get("hr")),
      ].join(" ")
      : [
        widen(highHalves(`(v128.load64_zero ${ptr})`, "low")),
        fmadd(acc, get("x0"), get("hr")),
      ].join(" "),
  scalar: (ptr) => ({
    stmts: widen(`(i32x4.splat (i32.shl (i32.load16_u ${ptr}) (i32.const 16)))`),
    value: "(f32x4.extract_lane 0 (local.get $hr))",
  }),
};

/**
 * The float16 kernels' text, for `renderWat`.
 *
 * @example
 * ```ts
 * import { f16Kernels } from "./wasm_wat_f16.ts";
 * console.log(f16Kernels().length); // 2
 * ```
 */
export function f16Kernels(): string[] {
  return [f16ToF32(), gemvTKernel("gemv_t_f16", GEMV_T_F16_ROWS, F16_WEIGHTS)];
}
