/**
 * The WebAssembly text of the cpu device's float16 kernels, appended to the
 * module by `renderWat` (scripts/wasm_wat.ts); src/cpu/f16.ts wraps them.
 *
 * WebAssembly SIMD has no half-precision conversion, so binary16 bits widen
 * to float32 with lane operations (see {@linkcode widen}): a byte shuffle,
 * a shift, a mask, a multiply by 2^112, and a fix-up for infinities and
 * NaNs. Every widening is exact, NaN payloads included.
 *
 * `gemv_t_f16` is `gemv_t` (scripts/wasm_wat.ts) reading a float16 weight:
 * the same lanes and the same order of additions on the exactly widened
 * values, so it gives the bits of widening the weight first and running
 * the float32 kernel, with half the weight's bytes read from memory.
 *
 * @module
 */

/** Rows of the weight `gemv_t_f16` takes per pass (one f32x4 accumulator each). */
export const GEMV_T_F16_ROWS = 4;

const get = (name: string) => `(local.get $${name})`;
const set = (name: string, value: string) => `(local.set $${name} ${value})`;
const add = (a: string, b: string) => `(i32.add ${a} ${b})`;
const i32 = (n: number) => `(i32.const ${n})`;
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

/**
 * `gemv_t_f16(x, w, K, N, ldw, c, alpha)`: c[n] = alpha * sum_k x[k] W[n, k]
 * for one float32 row x and a float16 weight W (rows `ldw` bytes apart):
 * `rows` rows at a time, each in four f32 lanes over k (lane l takes
 * k = l mod 4) in ascending k, the lanes added as (l0 + l1) + (l2 + l3),
 * then the k tail in order; leftover rows one at a time the same way.
 */
function gemvTF16(rows: number): string {
  const accs = Array.from({ length: rows }, (_, v) => `$acc${v}`);
  const rowPtr = (i: number) => (i === 0 ? get("p") : add(get("p"), get(`o${i}`)));
  const offsets = Array.from({ length: rows - 1 }, (_, i) => i + 1);
  const fmadd = (acc: string, x: string) =>
    `(local.set ${acc} (f32x4.add (local.get ${acc}) (f32x4.mul ${x} (local.get $hr))))`;
  const strip = (name: string, count: number) => {
    const used = accs.slice(0, count);
    const hsum = (a: string) =>
      `(f32.add (f32.add (f32x4.extract_lane 0 (local.get ${a})) ` +
      `(f32x4.extract_lane 1 (local.get ${a}))) (f32.add (f32x4.extract_lane 2 ` +
      `(local.get ${a})) (f32x4.extract_lane 3 (local.get ${a}))))`;
    const eight = used.map((a, v) => `
            ${set("h", `(v128.load ${rowPtr(v)})`)}
            ${widen(highHalves("(local.get $h)", "low"))}
            ${fmadd(a, get("x0"))}
            ${widen(highHalves("(local.get $h)", "high"))}
            ${fmadd(a, get("x1"))}`);
    const four = used.map((a, v) => `
        ${widen(highHalves(`(v128.load64_zero ${rowPtr(v)})`, "low"))}
        ${fmadd(a, get("x0"))}`);
    const finish = used.map((a, v) => `
        ${set("s", hsum(a))}
        ${set("q", add(rowPtr(v), "(i32.shl (local.get $k4) (i32.const 1))"))}
        ${set("xp", add(get("x"), "(i32.shl (local.get $k4) (i32.const 2))"))}
        ${set("k", get("k4"))}
        (block $${name}_t${v}_done
          (loop $${name}_t${v}
            (br_if $${name}_t${v}_done (i32.ge_s (local.get $k) (local.get $K)))
            ${widen("(i32x4.splat (i32.shl (i32.load16_u (local.get $q)) (i32.const 16)))")}
            ${
      set(
        "s",
        "(f32.add (local.get $s) (f32.mul (f32.load (local.get $xp)) " +
          "(f32x4.extract_lane 0 (local.get $hr))))",
      )
    }
            ${set("xp", add(get("xp"), i32(4)))}
            ${set("q", add(get("q"), i32(2)))}
            ${set("k", "(i32.add (local.get $k) (i32.const 1))")}
            (br $${name}_t${v})))
        (f32.store offset=${4 * v} (local.get $cp) (f32.mul (local.get $alpha) (local.get $s)))`);
    return `
    (block $${name}_done
      (loop $${name}
        (br_if $${name}_done (i32.gt_s (i32.add (local.get $n) (i32.const ${count})) (local.get $N)))
        ${used.map((a) => `(local.set ${a} (v128.const i32x4 0 0 0 0))`).join(" ")}
        ${set("p", add(get("w"), "(i32.mul (local.get $n) (local.get $ldw))"))}
        ${set("xp", get("x"))}
        ${set("k", i32(0))}
        (block $${name}_k_done
          (loop $${name}_k
            (br_if $${name}_k_done (i32.gt_s (i32.add (local.get $k) (i32.const 8)) (local.get $K)))
            ${set("x0", "(v128.load (local.get $xp))")}
            ${set("x1", "(v128.load offset=16 (local.get $xp))")}
            ${eight.join("")}
            ${set("xp", add(get("xp"), i32(32)))}
            ${set("p", add(get("p"), i32(16)))}
            ${set("k", "(i32.add (local.get $k) (i32.const 8))")}
            (br $${name}_k)))
        (if (i32.le_s (i32.add (local.get $k) (i32.const 4)) (local.get $K))
          (then
            ${set("x0", "(v128.load (local.get $xp))")}
            ${four.join("")}
            ${set("k", "(i32.add (local.get $k) (i32.const 4))")}))
        ${set("k4", get("k"))}
        ${set("p", add(get("w"), "(i32.mul (local.get $n) (local.get $ldw))"))}
        ${set("cp", add(get("c"), "(i32.shl (local.get $n) (i32.const 2))"))}
        ${finish.join("")}
        ${set("n", add(get("n"), i32(count)))}
        (br $${name})))`;
  };
  return `
  (func $gemv_t_f16 (export "gemv_t_f16")
    (param $x i32) (param $w i32) (param $K i32) (param $N i32) (param $ldw i32) (param $c i32)
    (param $alpha f32)
    (local $n i32) (local $k i32) (local $k4 i32) (local $p i32) (local $q i32) (local $xp i32)
    (local $cp i32) (local $s f32) (local $h v128) (local $x0 v128) (local $x1 v128)
    ${accs.map((a) => `(local ${a} v128)`).join(" ")}
    ${offsets.map((i) => `(local $o${i} i32)`).join(" ")}
    ${CONSTANT_LOCALS}
    ${SET_CONSTANTS}
    ${offsets.map((i) => set(`o${i}`, `(i32.mul (local.get $ldw) ${i32(i)})`)).join(" ")}
    ${strip("many", rows)}
    ${strip("one", 1)}
  )`;
}

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
  return [f16ToF32(), gemvTF16(GEMV_T_F16_ROWS)];
}
