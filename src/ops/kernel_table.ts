/**
 * One kernel table per op: the op's implementations keyed by backend and
 * dtype, resolved per call from the tensor it runs on. Ops keep their
 * argument checks and autograd `record(...)`; only the computation moves
 * into the table, so every backend shares one front end.
 *
 * Backends: `"reference"` (the TypeScript loops of the `cpu` device),
 * `"wasm"` (the `cpu` device's WebAssembly kernels, see src/cpu/) and
 * `"webgpu"`. Resolution for a tensor on the `cpu` device asks
 * {@linkcode cpuBackend} (`"wasm"` or `"reference"`); on a `webgpu` device
 * it is `"webgpu"`. Then, in order:
 *
 * 1. the backend's entry for the tensor's dtype;
 * 2. the backend's `"any"` entry (an op whose kernels take every dtype it
 *    accepts, checking dtypes themselves, registers only this);
 * 3. for `"wasm"` only: the same two lookups in `"reference"`, so the
 *    WebAssembly backend registers just what it accelerates;
 * 4. otherwise a {@linkcode DTypeError} (the backend has kernels for other
 *    dtypes) or a {@linkcode DeviceLimitError} (it has none for this op),
 *    naming the op, the backend and the dtype.
 *
 * A new device or dtype plugs in by registering entries, without editing
 * the op's file: a module of the new backend imports the op's table and
 * calls `register`. The `cpu` device's WebAssembly kernels do this in
 * src/cpu/register.ts, which the package entry points import once.
 *
 * ```ts ignore
 * import { softmaxKernels } from "../ops/softmax.ts";
 * // Same signature as the reference entry; type checked against the table.
 * softmaxKernels.register("wasm", "float32", (op, x, rows, alpha, log, dtype) => {
 *   // ... WebAssembly softmax, or the reference entry when it cannot run:
 *   return softmaxKernels.lookup("reference", x.dtype)!(op, x, rows, alpha, log, dtype);
 * });
 * ```
 *
 * Lookups are per op call: one device check, at most four property reads,
 * no strings built unless an error is thrown.
 *
 * @module
 */

import { cpuBackend } from "../cpu/backend.ts";
import type { WebGpuDevice } from "../device.ts";
import { ArgumentError, DeviceLimitError, DTypeError } from "../errors.ts";
import type { DType, Tensor } from "../tensor.ts";

/** The implementations a kernel table holds. */
export type KernelBackend = "reference" | "wasm" | "webgpu";

/** A dtype key: a tensor dtype, or `"any"` for an entry taking every dtype. */
export type KernelDType = DType | "any";

/** Every implementation is a function; each table fixes one signature. */
// deno-lint-ignore no-explicit-any
export type KernelImpl = (...args: any[]) => unknown;

/**
 * A table's initial entries: per backend, one implementation (registered
 * for `"any"` dtype) or implementations per dtype key.
 *
 * @example
 * ```ts ignore
 * const entries: KernelEntries<(x: Tensor) => Tensor> = {
 *   reference: { float32: referenceF32, any: referenceAny },
 *   webgpu: launchIt,
 * };
 * ```
 */
export type KernelEntries<Impl extends KernelImpl> = {
  [B in KernelBackend]?: Impl | { [D in KernelDType]?: Impl };
};

const BACKENDS: readonly KernelBackend[] = ["reference", "wasm", "webgpu"];
const DTYPES: readonly KernelDType[] = ["float32", "float16", "int32", "any"];

type Slot<Impl> = { [D in KernelDType]?: Impl };

/**
 * The implementations of one op (or one kernel of an op family), keyed by
 * backend and dtype. Create listed tables with {@linkcode kernelTable}.
 *
 * @example
 * ```ts ignore
 * type ScaleImpl = (x: Tensor, k: number) => Tensor;
 * const scaleKernels = new KernelTable<ScaleImpl>("scale", { reference: cpuScale, webgpu: gpuScale });
 * const y = scaleKernels.for(x)(x, 2);
 * ```
 */
export class KernelTable<Impl extends KernelImpl> {
  /** The op's name, as errors show it. */
  readonly op: string;
  // One slot per backend, property reads only on the hot path.
  #reference: Slot<Impl> = {};
  #wasm: Slot<Impl> = {};
  #webgpu: Slot<Impl> = {};
  // A table without WebAssembly entries never needs the cpu backend's choice.
  #hasWasm = false;

  /** A table named `op` holding `entries` (not listed in {@linkcode kernelTables}). */
  constructor(op: string, entries: KernelEntries<Impl> = {}) {
    if (typeof op !== "string" || op === "") {
      throw new ArgumentError(`kernelTable: op must be a non-empty string, but got ${String(op)}`);
    }
    this.op = op;
    for (const backend of BACKENDS) {
      const entry = entries[backend];
      if (entry === undefined) continue;
      if (typeof entry === "function") {
        this.register(backend, "any", entry);
      } else {
        for (const dtype of Object.keys(entry) as KernelDType[]) {
          this.register(backend, dtype, entry[dtype] as Impl);
        }
      }
    }
  }

  /**
   * Adds (or replaces) the implementation for `backend` and `dtype`; later
   * calls resolve to it. Backends plug in this way without editing op files.
   *
   * @example
   * ```ts ignore
   * matmulKernels.register("wasm", "any", fastMatmul);
   * ```
   */
  register(backend: KernelBackend, dtype: KernelDType, impl: Impl): void {
    if (!BACKENDS.includes(backend)) {
      throw new ArgumentError(
        `${this.op} kernels: backend must be one of ${BACKENDS.join(", ")}, but got ` +
          String(backend),
      );
    }
    if (!DTYPES.includes(dtype)) {
      throw new ArgumentError(
        `${this.op} kernels: dtype must be one of ${DTYPES.join(", ")}, but got ${String(dtype)}`,
      );
    }
    if (typeof impl !== "function") {
      throw new ArgumentError(
        `${this.op} kernels: the ${backend} ${dtype} implementation must be a function, but got ` +
          typeof impl,
      );
    }
    this.#slot(backend)[dtype] = impl;
    this.#hasWasm = this.dtypes("wasm").length > 0;
  }

  /**
   * Removes the entry for `backend` and `dtype` (tests, and backends that
   * unload); returns whether there was one.
   *
   * @example
   * ```ts ignore
   * softmaxKernels.unregister("wasm", "float32");
   * ```
   */
  unregister(backend: KernelBackend, dtype: KernelDType): boolean {
    const slot = this.#slot(backend);
    const had = slot[dtype] !== undefined;
    delete slot[dtype];
    this.#hasWasm = this.dtypes("wasm").length > 0;
    return had;
  }

  /**
   * The implementation for a tensor: its device picks the backend (the cpu
   * device asks `cpuBackend()`), its dtype the entry, with the fallbacks of
   * the module doc. Throws a clear error when nothing fits.
   *
   * @example
   * ```ts ignore
   * const out = softmaxKernels.for(x)("softmax", x, rows, 1, false, "float32");
   * ```
   */
  for(t: Tensor): Impl {
    return this.on(t.device.kind, t.dtype);
  }

  /**
   * The implementation for a device kind and dtype (for ops whose deciding
   * tensor is not the first argument, or that have none).
   *
   * @example
   * ```ts ignore
   * const impl = decodeKernels.on(queries.device.kind, queries.dtype);
   * ```
   */
  on(kind: "cpu" | "webgpu", dtype: DType): Impl {
    if (kind === "webgpu") {
      const impl = this.#webgpu[dtype] ?? this.#webgpu.any;
      if (impl !== undefined) return impl;
      throw this.#missing("webgpu", dtype);
    }
    if (this.#hasWasm && cpuBackend() === "wasm") {
      const impl = this.#wasm[dtype] ?? this.#wasm.any;
      if (impl !== undefined) return impl;
    }
    const impl = this.#reference[dtype] ?? this.#reference.any;
    if (impl !== undefined) return impl;
    throw this.#missing(cpuBackend(), dtype);
  }

  /**
   * The entry of exactly this backend for `dtype` (or its `"any"` entry),
   * with no fallback to another backend; undefined when there is none. A
   * WebAssembly entry that cannot run a case calls the reference this way.
   *
   * @example
   * ```ts ignore
   * const reference = matmulKernels.lookup("reference", "float32");
   * ```
   */
  lookup(backend: KernelBackend, dtype: DType): Impl | undefined {
    const slot = this.#slot(backend);
    return slot[dtype] ?? slot.any;
  }

  /**
   * The dtype keys registered for `backend` (`"any"` included).
   *
   * @example
   * ```ts ignore
   * console.log(softmaxKernels.dtypes("webgpu")); // ["any"]
   * ```
   */
  dtypes(backend: KernelBackend): KernelDType[] {
    const slot = this.#slot(backend);
    return DTYPES.filter((d) => slot[d] !== undefined);
  }

  #slot(backend: KernelBackend): Slot<Impl> {
    if (backend === "reference") return this.#reference;
    if (backend === "wasm") return this.#wasm;
    if (backend === "webgpu") return this.#webgpu;
    throw new ArgumentError(
      `${this.op} kernels: backend must be one of ${BACKENDS.join(", ")}, but got ` +
        String(backend),
    );
  }

  #missing(backend: KernelBackend, dtype: DType): Error {
    const have = backend === "wasm"
      ? [...new Set([...this.dtypes("wasm"), ...this.dtypes("reference")])]
      : this.dtypes(backend);
    if (have.length === 0) {
      return new DeviceLimitError(
        `${this.op}: no ${backend} kernel is registered (got a ${dtype} tensor)`,
      );
    }
    return new DTypeError(
      `${this.op}: the ${backend} kernels take ${have.join(", ")} tensors, but got ${dtype}`,
    );
  }
}

const tables: KernelTable<KernelImpl>[] = [];

/**
 * Creates an op's kernel table and lists it in {@linkcode kernelTables}.
 * `Impl` is the one signature every backend's entry has, so calls through
 * the table are type checked.
 *
 * @example
 * ```ts ignore
 * type SoftmaxImpl = (x: Tensor, alpha: number) => Tensor;
 * export const softmaxKernels: KernelTable<SoftmaxImpl> = kernelTable<SoftmaxImpl>("softmax", {
 *   reference: cpuSoftmax,
 *   webgpu: gpuSoftmax,
 * });
 * const y = softmaxKernels.for(x)(x, 1);
 * ```
 */
export function kernelTable<Impl extends KernelImpl>(
  op: string,
  entries: KernelEntries<Impl>,
): KernelTable<Impl> {
  if (tables.some((t) => t.op === op)) {
    throw new ArgumentError(`kernelTable: a table named ${op} already exists`);
  }
  const table = new KernelTable<Impl>(op, entries);
  tables.push(table as KernelTable<KernelImpl>);
  return table;
}

/**
 * Every table created with {@linkcode kernelTable} so far (the op modules
 * imported by then), in creation order.
 *
 * @example
 * ```ts ignore
 * for (const t of kernelTables()) console.log(t.op, t.dtypes("webgpu"));
 * ```
 */
export function kernelTables(): readonly KernelTable<KernelImpl>[] {
  return tables;
}

/**
 * The webgpu device of a tensor a `"webgpu"` entry received (resolution
 * guarantees it; the check keeps the type honest).
 *
 * @example
 * ```ts ignore
 * const out = launch(gpuOf(x), { ... });
 * ```
 */
export function gpuOf(t: Tensor): WebGpuDevice {
  const device = t.device;
  if (device.kind !== "webgpu") {
    throw new DeviceLimitError(`webgpu kernel called with a tensor on ${device.name}`);
  }
  return device;
}
