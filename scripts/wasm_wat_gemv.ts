/**
 * The WebAssembly text of the row-times-transposed-weight kernels (a decode
 * step's linear layers), for any weight format: `gemv_t` reads float32
 * weights (scripts/wasm_wat.ts), `gemv_t_f16` float16 ones
 * (scripts/wasm_wat_f16.ts). One generator, so both sum every output in the
 * same order and a float16 weight gives the bits of widening it first.
 *
 * @module
 */

import { add, get, i32, set } from "./wat.ts";

/** How a kernel reads its weight: the format supplies the loads, the generator the order. */
export interface WeightFormat {
  /** Bytes per weight: 4 (float32) or 2 (float16). */
  bytes: 4 | 2;
  /** Locals the loads use, and statements that set them once per call. */
  locals: string;
  setup: string;
  /**
   * Statements adding to the f32x4 local `acc` the weights at `ptr` times
   * x: weights k..k+3 times `$x0`, then (when `count` is 8) k+4..k+7 times
   * `$x1`, in that order.
   */
  accumulate(acc: string, ptr: string, count: 4 | 8): string;
  /** Statements, then an f32 expression: the one weight at `ptr`. */
  scalar(ptr: string): { stmts: string; value: string };
}

/** `acc += x * w` in f32x4 lanes (multiply, then add: one rounding each). */
export function fmadd(acc: string, x: string, w: string): string {
  return `(local.set ${acc} (f32x4.add (local.get ${acc}) (f32x4.mul ${x} ${w})))`;
}

/**
 * `name(x, w, K, N, ldw, c, alpha)`: c[n] = alpha * sum_k x[k] W[n, k] for
 * one float32 row x and W's rows `ldw` bytes apart: `rows` rows at a time,
 * each summed in four f32 lanes over k (lane l takes k = l mod 4, k
 * ascending), the lanes added as (l0 + l1) + (l2 + l3), then the k tail in
 * order; leftover rows one at a time the same way (so a row's result does
 * not depend on which strip, or which thread, computes it).
 *
 * @example
 * ```ts
 * import { F32_WEIGHTS } from "./wasm_wat.ts";
 * import { gemvTKernel } from "./wasm_wat_gemv.ts";
 * console.log(gemvTKernel("gemv_t", 8, F32_WEIGHTS).includes('(export "gemv_t")')); // true
 * ```
 */
export function gemvTKernel(name: string, rows: number, format: WeightFormat): string {
  const accs = Array.from({ length: rows }, (_, v) => `$acc${v}`);
  const rowPtr = (i: number) => (i === 0 ? get("p") : add(get("p"), get(`o${i}`)));
  const offsets = Array.from({ length: rows - 1 }, (_, i) => i + 1);
  const shift = format.bytes === 4 ? 2 : 1;
  const strip = (label: string, count: number) => {
    const used = accs.slice(0, count);
    const hsum = (a: string) =>
      `(f32.add (f32.add (f32x4.extract_lane 0 (local.get ${a})) ` +
      `(f32x4.extract_lane 1 (local.get ${a}))) (f32.add (f32x4.extract_lane 2 ` +
      `(local.get ${a})) (f32x4.extract_lane 3 (local.get ${a}))))`;
    const one = format.scalar(get("q"));
    const finish = used.map((a, v) => `
        ${set("s", hsum(a))}
        ${set("q", add(rowPtr(v), `(i32.shl (local.get $k4) (i32.const ${shift}))`))}
        ${set("xp", add(get("x"), "(i32.shl (local.get $k4) (i32.const 2))"))}
        ${set("k", get("k4"))}
        (block $${label}_t${v}_done
          (loop $${label}_t${v}
            (br_if $${label}_t${v}_done (i32.ge_s (local.get $k) (local.get $K)))
            ${one.stmts}
            ${
      set("s", `(f32.add (local.get $s) (f32.mul (f32.load (local.get $xp)) ${one.value}))`)
    }
            ${set("xp", add(get("xp"), i32(4)))}
            ${set("q", add(get("q"), i32(format.bytes)))}
            ${set("k", "(i32.add (local.get $k) (i32.const 1))")}
            (br $${label}_t${v})))
        (f32.store offset=${4 * v} (local.get $cp) (f32.mul (local.get $alpha) (local.get $s)))`);
    return `
    (block $${label}_done
      (loop $${label}
        (br_if $${label}_done (i32.gt_s (i32.add (local.get $n) (i32.const ${count})) (local.get $N)))
        ${used.map((a) => `(local.set ${a} (v128.const i32x4 0 0 0 0))`).join(" ")}
        ${set("p", add(get("w"), "(i32.mul (local.get $n) (local.get $ldw))"))}
        ${set("xp", get("x"))}
        ${set("k", i32(0))}
        (block $${label}_k_done
          (loop $${label}_k
            (br_if $${label}_k_done (i32.gt_s (i32.add (local.get $k) (i32.const 8)) (local.get $K)))
            ${set("x0", "(v128.load (local.get $xp))")}
            ${set("x1", "(v128.load offset=16 (local.get $xp))")}
            ${used.map((a, v) => format.accumulate(a, rowPtr(v), 8)).join("\n            ")}
            ${set("xp", add(get("xp"), i32(32)))}
            ${set("p", add(get("p"), i32(8 * format.bytes)))}
            ${set("k", "(i32.add (local.get $k) (i32.const 8))")}
            (br $${label}_k)))
        (if (i32.le_s (i32.add (local.get $k) (i32.const 4)) (local.get $K))
          (then
            ${set("x0", "(v128.load (local.get $xp))")}
            ${used.map((a, v) => format.accumulate(a, rowPtr(v), 4)).join("\n            ")}
            ${set("k", "(i32.add (local.get $k) (i32.const 4))")}))
        ${set("k4", get("k"))}
        ${set("p", add(get("w"), "(i32.mul (local.get $n) (local.get $ldw))"))}
        ${set("cp", add(get("c"), "(i32.shl (local.get $n) (i32.const 2))"))}
        ${finish.join("")}
        ${set("n", add(get("n"), i32(count)))}
        (br $${label})))`;
  };
  return `
  (func $${name} (export "${name}")
    (param $x i32) (param $w i32) (param $K i32) (param $N i32) (param $ldw i32) (param $c i32)
    (param $alpha f32)
    (local $n i32) (local $k i32) (local $k4 i32) (local $p i32) (local $q i32) (local $xp i32)
    (local $cp i32) (local $s f32) (local $x0 v128) (local $x1 v128)
    ${accs.map((a) => `(local ${a} v128)`).join(" ")}
    ${offsets.map((i) => `(local $o${i} i32)`).join(" ")}
    ${format.locals}
    ${format.setup}
    ${offsets.map((i) => set(`o${i}`, `(i32.mul (local.get $ldw) ${i32(i)})`)).join(" ")}
    ${strip("many", rows)}
    ${strip("one", 1)}
  )`;
}
