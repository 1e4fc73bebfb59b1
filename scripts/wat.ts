/**
 * Small builders of WebAssembly text shared by the kernel generators
 * (scripts/wasm_wat*.ts).
 *
 * @example
 * ```ts
 * import { add, get, i32, set } from "./wat.ts";
 * console.log(set("p", add(get("p"), i32(16)))); // (local.set $p (i32.add (local.get $p) (i32.const 16)))
 * ```
 *
 * @module
 */

/** Reads local `$name`. */
export const get = (name: string): string => `(local.get $${name})`;
/** Sets local `$name` to `value`. */
export const set = (name: string, value: string): string => `(local.set $${name} ${value})`;
/** i32 addition. */
export const add = (a: string, b: string): string => `(i32.add ${a} ${b})`;
/** An i32 constant. */
export const i32 = (n: number): string => `(i32.const ${n})`;
