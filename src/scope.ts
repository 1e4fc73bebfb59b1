/**
 * Memory scopes: `tidy(fn)` frees every tensor created while `fn` runs except
 * those it returns, like tfjs's `tf.tidy`. GPU memory is invisible to
 * JavaScript's garbage collector, so a loop that drops tensors without
 * disposing them would otherwise hold its buffers until a collection happens
 * to run (see the FinalizationRegistry backstop in `tensor.ts`).
 *
 * @module
 */

import { ArgumentError, UseAfterDisposeError } from "./errors.ts";
import type { Tensor } from "./tensor.ts";

/** What a scope needs of a tensor. Kept structural so this file imports no tensor code. */
interface Disposable {
  dispose(): void;
}

// The open scopes, innermost last. A scope only ever sees synchronous code:
// `tidy` refuses async functions, so no other task can run while one is open.
const scopes: Set<Disposable>[] = [];

/** Called for every new tensor: the innermost open scope (if any) takes note of it. */
export function trackTensor(t: Disposable): void {
  scopes[scopes.length - 1]?.add(t);
}

/**
 * Runs `fn` and disposes every tensor created while it runs (by ops, by
 * `tensor`/`zeros`/`full`, by `toDevice` on a CPU input, by layers) except
 * the tensors found in its return value, which may be a tensor or any tree of
 * arrays and plain records holding tensors. Those survive and belong to the
 * enclosing scope, if there is one. Tensors created before the call are never
 * touched, and neither are tensors passed to {@linkcode keep}.
 *
 * - Nested `tidy` calls free their own tensors when they return.
 * - If `fn` throws, everything it created is disposed and the error propagates.
 * - `fn` must be synchronous: an `async` function, or one that returns a
 *   promise, throws `ArgumentError` (its tensors are disposed first). Await
 *   outside the scope: `const y = tidy(() => f(x)); await y.data();`.
 * - Inside `valueAndGrad`, everything the traced function creates is already
 *   freed when the call returns (only `value` and `grads` survive); the tape
 *   holds its own reference-counted handles, so freeing forward tensors early
 *   is safe.
 *
 * @example
 * ```ts
 * import { add, mul, tensor, tidy } from "@tessera/core";
 * const x = tensor([1, 2, 3]);
 * const y = tidy(() => {
 *   const squared = mul(x, x); // freed when tidy returns
 *   return add(squared, x); // kept: it is the result
 * });
 * console.log(await y.toArray()); // [2, 6, 12]
 * ```
 */
export function tidy<T>(fn: () => T): T {
  if (typeof fn !== "function") {
    throw new ArgumentError(`tidy: fn must be a function, but got ${kind(fn)}`);
  }
  if (fn.constructor?.name === "AsyncFunction") {
    throw new ArgumentError(
      "tidy: fn is an async function; tidy frees tensors when fn returns, so it only takes " +
        "synchronous code: call tidy inside the async code, around each synchronous step",
    );
  }
  const scope = new Set<Disposable>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (error) {
    close(scope, new Set());
    throw error;
  }
  if (result instanceof Promise) {
    close(scope, new Set());
    // The promise may settle later with tensors that are now disposed.
    result.catch(() => {});
    throw new ArgumentError(
      "tidy: fn returned a Promise; tidy only takes synchronous code, and everything fn " +
        "created has been disposed: await outside tidy, and tidy each synchronous step",
    );
  }
  const kept = new Set<Disposable>();
  collect(result, scope, kept, new Set());
  close(scope, kept);
  return result;
}

/**
 * Exempts `t` from every open {@linkcode tidy} scope, so it survives them
 * without being returned (a cache, a running total). The caller then owns it
 * and disposes it. Returns `t`.
 *
 * @example
 * ```ts
 * import { keep, ones, type Tensor, tidy } from "@tessera/core";
 * let saved: Tensor | undefined;
 * tidy(() => {
 *   saved = keep(ones([2]));
 * });
 * console.log(await saved?.toArray()); // [1, 1]
 * ```
 */
export function keep<T extends Tensor>(t: T): T {
  const value = t as unknown as { isDisposed?: unknown; dispose?: unknown } | null;
  if (
    value === null || typeof value !== "object" || typeof value.isDisposed !== "boolean" ||
    typeof value.dispose !== "function"
  ) {
    throw new ArgumentError(`keep: tensor must be a Tensor, but got ${kind(t)}`);
  }
  if (value.isDisposed) {
    throw new UseAfterDisposeError(`keep: tensor was disposed; keep it before disposing it`);
  }
  for (const scope of scopes) scope.delete(t);
  return t;
}

/** A short description for messages (scope.ts imports no tensor code, so not `describe`). */
function kind(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (typeof value === "object") return "a plain object";
  return typeof value === "string" ? `a string ${JSON.stringify(value)}` : String(value);
}

/** Hands `kept` to the enclosing scope and disposes the rest of `scope`. */
function close(scope: Set<Disposable>, kept: Set<Disposable>): void {
  const at = scopes.lastIndexOf(scope);
  if (at >= 0) scopes.splice(at, 1);
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (kept.has(t)) parent?.add(t);
    else t.dispose();
  }
}

/** Finds the tensors of `scope` in a returned tree (arrays, plain records, Maps, Sets). */
function collect(
  value: unknown,
  scope: Set<Disposable>,
  kept: Set<Disposable>,
  seen: Set<unknown>,
): void {
  if (value === null || typeof value !== "object" || seen.has(value)) return;
  seen.add(value);
  if (scope.has(value as Disposable)) {
    kept.add(value as Disposable);
    return;
  }
  if (Array.isArray(value) || value instanceof Set) {
    for (const item of value) collect(item, scope, kept, seen);
    return;
  }
  if (value instanceof Map) {
    for (const item of value.values()) collect(item, scope, kept, seen);
    return;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return;
  for (const item of Object.values(value)) collect(item, scope, kept, seen);
}
