/**
 * Instantiates the embedded WebAssembly kernels (src/cpu/wasm_kernels.generated.ts)
 * once, on first use, and hands out their linear memory. Compilation is
 * synchronous so that CPU ops stay synchronous; where a runtime refuses that
 * (a browser's main thread caps synchronous compiles) or lacks WebAssembly
 * SIMD, the kernels are unavailable and ops keep the TypeScript reference.
 *
 * @module
 */

import {
  WASM_BYTES_BASE64,
  WASM_FMA_BYTES_BASE64,
  WASM_FMA_SHARED_BYTES_BASE64,
} from "./wasm_kernels.generated.ts";

/** A matmul micro-kernel: see scripts/wasm_wat.ts. */
export type MicroKernel = (
  pa: number,
  pb: number,
  k: number,
  c: number,
  ldc: number,
  alpha: number,
  nvalid: number,
) => void;

/** The instantiated module. */
export interface WasmKernels {
  /** The module's linear memory (grown on demand by {@linkcode reserveWasmBytes}). */
  readonly memory: WebAssembly.Memory;
  /** Micro-kernels by tile height: `mk[r]` computes r rows (1 <= r <= MR). */
  readonly mk: readonly MicroKernel[];
  /** One row times B `[K, N]`, unpacked: `(x, b, K, N, ldb, c, alpha)`. */
  readonly gemvN: GemvKernel;
  /** One row times W^T for W `[N, K]`, unpacked: `(x, w, K, N, ldw, c, alpha)`. */
  readonly gemvT: GemvKernel;
  /** `gemvT` over a float16 weight: `(x, w, K, N, ldw, c, alpha)`, ldw in bytes. */
  readonly gemvTF16: GemvKernel;
  /** Widens `n - n % 8` binary16 values to float32: `(src, dst, n)`. */
  readonly f16ToF32: (src: number, dst: number, n: number) => void;
  /** Layer norm of `rows` rows: `(x, w, b, out, rows, cols, eps)`. */
  readonly layerNorm: (
    x: number,
    w: number,
    b: number,
    out: number,
    rows: number,
    cols: number,
    eps: number,
  ) => void;
  /** Row kernels (softmax, GELU, cross-entropy): see scripts/wasm_wat_rows.ts and src/cpu/rows.ts. */
  readonly rows: {
    readonly softmax: (...args: [number, number, number, number, number, number]) => void;
    readonly softmaxBackward: (
      ...args: [number, number, number, number, number, number, number]
    ) => void;
    readonly geluTanh: (src: number, out: number, n: number) => void;
    readonly geluTanhBackward: (x: number, g: number, out: number, n: number) => void;
    readonly ceStats: (src: number, stats: number, rows: number, cols: number) => void;
    readonly ceBackward: (
      ...args: [number, number, number, number, number, number, number, number]
    ) => void;
    readonly exp: (src: number, out: number, n: number) => void;
    readonly tanh: (src: number, out: number, n: number) => void;
    readonly layerNormBackward: (
      ...args: [number, number, number, number, number, number, number, number]
    ) => void;
  };
}

/** A row-times-matrix kernel: see scripts/wasm_wat.ts. */
export type GemvKernel = (
  x: number,
  b: number,
  k: number,
  n: number,
  ldb: number,
  c: number,
  alpha: number,
) => void;

/**
 * `n` rounded up to a multiple of 64 bytes: where the kernels' arrays start
 * in memory.
 *
 * @example
 * ```ts
 * import { align64 } from "./wasm_runtime.ts";
 * console.log(align64(1025)); // 1088
 * ```
 */
export function align64(n: number): number {
  return Math.ceil(n / 64) * 64;
}

/** Memory the kernels may use at most; larger problems keep the reference path. */
export const WASM_MAX_BYTES = 2 ** 31;

/** Memory kept between calls; a call that grew past it gets a fresh instance next time. */
export const WASM_KEEP_BYTES = 256 * 2 ** 20;

const PAGE = 65536;
let module: WebAssembly.Module | null | undefined;
let instance: WasmKernels | null | undefined;

/** Bytes of a base64 string (atob exists in Deno, Node 16+ and browsers). */
export function decodeBase64(b64: string): Uint8Array {
  const text = atob(b64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/**
 * The kernels, instantiated on first call; null where this runtime cannot
 * compile them synchronously (the caller then uses the reference path).
 */
export function wasmKernels(): WasmKernels | null {
  if (instance !== undefined) return instance;
  try {
    module ??= new WebAssembly.Module(decodeBase64(WASM_BYTES_BASE64) as BufferSource);
    const exports = new WebAssembly.Instance(module, {}).exports as Record<string, unknown>;
    instance = kernelsOf(exports, exports.memory as WebAssembly.Memory, fmaModule(false));
  } catch {
    // No SIMD, or synchronous compilation refused: the reference path stays.
    module = null;
    instance = null;
  }
  return instance;
}

/** Whether matmul may use the fused multiply-add micro-kernels (tests turn it off). */
let fmaAllowed = true;
const fmaModules: { plain?: WebAssembly.Module | null; shared?: WebAssembly.Module | null } = {};

/**
 * The fused multiply-add micro-kernels' module (`f32x4.relaxed_madd`: one
 * rounding per step where the CPU fuses, as jax-js's and PyTorch's kernels
 * do), over a plain or a shared memory; null where the runtime lacks
 * relaxed SIMD (Node 20) or they are turned off.
 *
 * @example
 * ```ts
 * import { fmaModule } from "./wasm_runtime.ts";
 * console.log(fmaModule(false) !== null); // true in Deno 2 and Node 22+
 * ```
 */
export function fmaModule(shared: boolean): WebAssembly.Module | null {
  if (!fmaAllowed) return null;
  const key = shared ? "shared" : "plain";
  if (fmaModules[key] === undefined) {
    try {
      const bytes = decodeBase64(shared ? WASM_FMA_SHARED_BYTES_BASE64 : WASM_FMA_BYTES_BASE64);
      fmaModules[key] = WebAssembly.validate(bytes as BufferSource)
        ? new WebAssembly.Module(bytes as BufferSource)
        : null;
    } catch {
      fmaModules[key] = null;
    }
  }
  return fmaModules[key]!;
}

/**
 * Turns the fused multiply-add micro-kernels off (or back on) for kernels
 * instantiated from now on: tests cover the multiply-then-add kernels that
 * runtimes without relaxed SIMD run. Returns the previous setting.
 *
 * @example
 * ```ts
 * import { allowFusedMultiplyAdd } from "./wasm_runtime.ts";
 * const before = allowFusedMultiplyAdd(false);
 * allowFusedMultiplyAdd(before);
 * ```
 */
export function allowFusedMultiplyAdd(allowed: boolean): boolean {
  const before = fmaAllowed;
  fmaAllowed = allowed;
  instance = undefined;
  return before;
}

/**
 * The typed view of an instance's exports (the plain or the shared-memory
 * variant), with the micro-kernels of `fma` (instantiated over `memory`)
 * where given.
 */
export function kernelsOf(
  exports: Record<string, unknown>,
  memory: WebAssembly.Memory,
  fma: WebAssembly.Module | null = null,
): WasmKernels {
  const micro = fma === null
    ? exports
    : new WebAssembly.Instance(fma, { env: { memory } }).exports as Record<string, unknown>;
  const mk: MicroKernel[] = [];
  for (let r = 1; typeof micro[`mk${r}`] === "function"; r++) {
    mk[r] = micro[`mk${r}`] as MicroKernel;
  }
  return {
    memory,
    mk,
    gemvN: exports.gemv_n as GemvKernel,
    gemvT: exports.gemv_t as GemvKernel,
    gemvTF16: exports.gemv_t_f16 as GemvKernel,
    f16ToF32: exports.f16_to_f32 as WasmKernels["f16ToF32"],
    layerNorm: exports.layer_norm as WasmKernels["layerNorm"],
    rows: {
      softmax: exports.softmax_rows,
      softmaxBackward: exports.softmax_backward_rows,
      geluTanh: exports.gelu_tanh,
      geluTanhBackward: exports.gelu_tanh_backward,
      ceStats: exports.ce_stats,
      ceBackward: exports.ce_backward,
      exp: exports.map_exp,
      tanh: exports.map_tanh,
      layerNormBackward: exports.layer_norm_backward,
    } as WasmKernels["rows"],
  };
}

/**
 * Grows the kernels' memory to at least `bytes` and returns its buffer
 * (views on an older buffer are detached by growth: take new ones), or null
 * when the runtime refuses to grow it (the caller runs the reference path).
 */
export function reserveWasmBytes(kernels: WasmKernels, bytes: number): ArrayBufferLike | null {
  const have = kernels.memory.buffer.byteLength;
  if (bytes > have) {
    try {
      kernels.memory.grow(Math.ceil((bytes - have) / PAGE));
    } catch {
      return null;
    }
  }
  return kernels.memory.buffer;
}

/**
 * Drops the instance when its memory grew past {@linkcode WASM_KEEP_BYTES}
 * (wasm memory never shrinks): one large product does not pin its working
 * set for the life of the process. The compiled module is kept.
 */
export function trimWasmMemory(kernels: WasmKernels): void {
  if (kernels.memory.buffer.byteLength > WASM_KEEP_BYTES && instance === kernels) {
    instance = undefined;
  }
}
