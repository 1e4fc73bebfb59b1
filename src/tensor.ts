/**
 * The `Tensor` value: an immutable, row-major float32 array with a shape and
 * a device. Reading its values is asynchronous because WebGPU readback is.
 *
 * @module
 */

import { cpu, type Device, runtimeOf, type WebGpuDevice } from "./device.ts";
import { DTypeError, ShapeError, UseAfterDisposeError } from "./errors.ts";
import { fromF16Bits } from "./f16.ts";
import type { GpuBufferHandle, GpuRuntime } from "./gpu/runtime.ts";
import { trackTensor } from "./scope.ts";

/**
 * Element types: `float32` (the default) for values, `float16` (IEEE half:
 * 2 bytes per element, values rounded to nearest even, math done in float32
 * and rounded back per op) for weights and activations, and `int32` for token
 * ids, targets and indices (exact, never rounded). Ops state which dtypes
 * they take and reject others with a `DTypeError`.
 *
 * @example
 * ```ts
 * import { type DType, tensor } from "@tessera/core";
 * const d: DType = tensor([1]).dtype; // "float32"
 * const ids = tensor([[6109, 3626]], undefined, { dtype: "int32" });
 * console.log(ids.dtype); // "int32"
 * ```
 */
export type DType = "float32" | "float16" | "int32";

/**
 * The host array type of each dtype: what `Tensor.data()` returns. A float16
 * tensor reads as a `Float32Array` of its exact (widened) values.
 *
 * @example
 * ```ts
 * import type { HostArray } from "@tessera/core";
 * const ids: HostArray<"int32"> = new Int32Array([1, 2]);
 * ```
 */
export type HostArray<D extends DType = DType> = D extends "int32" ? Int32Array
  : Float32Array;

/**
 * Nested arrays of numbers, as accepted by {@linkcode tensor} and returned by
 * `Tensor.toArray()`.
 *
 * @example
 * ```ts
 * import type { NestedArray } from "@tessera/core";
 * const rows: NestedArray = [[1, 2], [3, 4]];
 * ```
 */
export type NestedArray = number | NestedArray[];

/**
 * A CPU tensor's storage array: `Float32Array` (float32), `Int32Array`
 * (int32) or `Uint16Array` of binary16 bits (float16).
 */
export type HostData = Float32Array | Int32Array | Uint16Array;

/**
 * Storage shared by a tensor and its reshaped views. It is reference counted
 * so that disposing one view never frees memory another still uses.
 */
export type Storage =
  | { kind: "cpu"; data: HostData; refs: number }
  | { kind: "webgpu"; runtime: GpuRuntime; handle: GpuBufferHandle | null; refs: number };

interface TensorState {
  storage: Storage;
  disposed: boolean;
  dtype: DType;
}

// Storage lives outside the class so the public type exposes no internals;
// the library's own ops reach it through `storageOf`.
const states = new WeakMap<Tensor, TensorState>();
let constructing: TensorState | undefined;

/**
 * An immutable n-dimensional array (float32, float16 or int32) on a device. Create tensors with
 * {@linkcode tensor}, {@linkcode zeros} and friends; move them with `toDevice`.
 *
 * @example
 * ```ts
 * import { tensor } from "@tessera/core";
 * const t = tensor([[1, 2, 3], [4, 5, 6]]);
 * console.log(t.shape, t.device.name); // [2, 3] "cpu"
 * console.log(await t.toArray()); // [[1, 2, 3], [4, 5, 6]]
 * ```
 */
export class Tensor {
  /** Size of each dimension, outermost first. */
  readonly shape: readonly number[];
  /** Element type. */
  readonly dtype: DType;
  /** Where the values live. */
  readonly device: Device;

  /** Not public: use `tensor()`, `zeros()`, an op, or `toDevice`. */
  constructor(shape: readonly number[], device: Device) {
    if (!constructing) {
      throw new TypeError("Cannot construct a Tensor directly: use tensor(), zeros() or an op");
    }
    this.shape = Object.freeze([...shape]);
    this.device = device;
    this.dtype = constructing.dtype;
    states.set(this, constructing);
    constructing = undefined;
  }

  /** Number of elements (the product of the shape; 1 for a scalar). */
  get size(): number {
    return numel(this.shape);
  }

  /** Number of dimensions. */
  get ndim(): number {
    return this.shape.length;
  }

  /** Whether {@linkcode Tensor.dispose} has been called. */
  get isDisposed(): boolean {
    return states.get(this)!.disposed;
  }

  /**
   * Copies the values to a new `Float32Array` (`Int32Array` for int32; a
   * float16 tensor gives its exact values widened to float32). The copy is
   * the caller's: it stays valid after the tensor or any GPU staging buffer
   * is gone.
   */
  async data(): Promise<HostArray> {
    const storage = storageOf(this, "data", "tensor");
    if (storage.kind === "cpu") {
      return storage.data instanceof Uint16Array ? fromF16Bits(storage.data) : storage.data.slice();
    }
    if (storage.handle === null) {
      return this.dtype === "int32" ? new Int32Array(0) : new Float32Array(0);
    }
    if (this.dtype === "float16") {
      // Mapped ranges are whole 4-byte words: an odd count reads one half more.
      const bytes = await storage.runtime.read(
        "data",
        storage.handle,
        Math.ceil(this.size / 2) * 4,
      );
      return fromF16Bits(new Uint16Array(bytes, 0, this.size));
    }
    const Host = this.dtype === "int32" ? Int32Array : Float32Array;
    const bytes = await storage.runtime.read("data", storage.handle, this.size * 4);
    return new Host(bytes);
  }

  /** Reads the values as nested arrays (a number for a scalar). */
  async toArray(): Promise<NestedArray> {
    return nest(await this.data(), this.shape);
  }

  /**
   * Frees the tensor when a `using` declaration goes out of scope, so a loop
   * body needs no manual `dispose()`:
   *
   * @example
   * ```ts
   * import { add, tensor } from "@tessera/core";
   * const x = tensor([1, 2]);
   * for (let step = 0; step < 3; step++) {
   *   using y = add(x, x); // freed at the end of each iteration
   *   console.log(await y.toArray()); // [2, 4]
   * }
   * ```
   */
  [Symbol.dispose](): void {
    this.dispose();
  }

  /**
   * Releases the tensor's memory (GPU memory returns to the device's pool).
   * Later use throws `UseAfterDisposeError`; disposing twice is harmless.
   */
  dispose(): void {
    const state = states.get(this)!;
    if (state.disposed) return;
    if (state.storage.kind === "webgpu") finalizer.unregister(state);
    releaseState(state);
  }

  /** A short description such as `Tensor(shape=[2, 3], dtype=float32, device=cpu)`. */
  toString(): string {
    return `Tensor(shape=[${
      this.shape.join(", ")
    }], dtype=${this.dtype}, device=${this.device.name}${this.isDisposed ? ", disposed" : ""})`;
  }
}

function make(
  shape: readonly number[],
  device: Device,
  storage: Storage,
  dtype: DType = "float32",
): Tensor {
  const state: TensorState = { storage, disposed: false, dtype };
  constructing = state;
  const t = new Tensor(shape, device);
  trackTensor(t);
  // The backstop for GPU memory the caller never disposed; CPU memory is the
  // garbage collector's already. The state (not the tensor) is the token, so
  // the registry keeps nothing alive.
  if (storage.kind === "webgpu") finalizer.register(t, state, state);
  return t;
}

/** Drops one tensor's reference to its storage; the last reference frees GPU memory. */
function releaseState(state: TensorState, reclaimed = false): void {
  state.disposed = true;
  const storage = state.storage;
  if (--storage.refs > 0) return;
  if (storage.kind !== "webgpu" || !storage.handle) return;
  if (reclaimed) storage.runtime.reclaim(storage.handle);
  else storage.runtime.release(storage.handle);
}

// Runs some time after an undisposed GPU tensor became unreachable: between
// event-loop turns, after a garbage collection, never inside synchronous code.
const finalizer = new FinalizationRegistry<TensorState>((state) => {
  if (state.disposed || state.storage.kind !== "webgpu") return;
  if (state.storage.runtime.reclaimUnreachable) releaseState(state, true);
});

/** The storage behind a tensor; throws `UseAfterDisposeError` naming the op and tensor. */
export function storageOf(t: Tensor, op: string, name: string): Storage {
  const state = states.get(t);
  if (!state) throw new TypeError(`${op}: ${name} is not a Tensor`);
  if (state.disposed) {
    throw new UseAfterDisposeError(
      `${op}: ${name} was disposed; it had shape [${t.shape.join(", ")}] on ${t.device.name}`,
    );
  }
  return state.storage;
}

/** A new tensor sharing `t`'s storage under another shape (zero-copy reshape). */
export function viewOf(t: Tensor, shape: readonly number[], op: string): Tensor {
  const storage = storageOf(t, op, "tensor");
  storage.refs++;
  return make(shape, t.device, storage, t.dtype);
}

/** Throws `DTypeError` unless `t`'s dtype is one of `allowed`. */
export function checkDType(op: string, name: string, t: Tensor, allowed: readonly DType[]): void {
  if (!allowed.includes(t.dtype)) {
    throw new DTypeError(
      `${op}: ${name} has dtype ${t.dtype}, but ${op} takes ${allowed.join(" or ")} ` +
        `(shape [${t.shape.join(", ")}] on ${t.device.name})`,
    );
  }
}

/** Product of a shape's dimensions. */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Checks that every dimension is a whole number >= 0. */
export function checkShape(op: string, shape: readonly number[]): void {
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new ShapeError(
        `${op}: shape [${
          shape.join(", ")
        }] is invalid: every dimension must be a whole number >= 0`,
      );
    }
  }
}

/**
 * Wraps host data (not copied) as a CPU tensor; an `Int32Array` makes an
 * int32 tensor and a `Uint16Array` (binary16 bits) a float16 one.
 */
export function cpuTensor(data: HostData, shape: readonly number[]): Tensor {
  return make(shape, cpu, { kind: "cpu", data, refs: 1 }, dtypeOfHost(data));
}

/** The dtype a host array holds. */
export function dtypeOfHost(data: HostData): DType {
  return data instanceof Int32Array ? "int32" : data instanceof Uint16Array ? "float16" : "float32";
}

/** Bytes one element of `dtype` takes in storage (host and GPU). */
export function bytesPerElement(dtype: DType): number {
  return dtype === "float16" ? 2 : 4;
}

/** An empty host array of `n` elements for `dtype`'s storage. */
export function hostArray(dtype: DType, n: number): HostData {
  return dtype === "int32"
    ? new Int32Array(n)
    : dtype === "float16"
    ? new Uint16Array(n)
    : new Float32Array(n);
}

/**
 * Throws `DTypeError` when `device` cannot hold float16 tensors: its
 * GPUDevice lacks the `shader-f16` feature (some drivers do not offer it).
 */
export function checkF16Device(op: string, what: string, device: Device): void {
  if (device.kind !== "webgpu" || runtimeOf(device).shaderF16) return;
  throw new DTypeError(
    `${op}: ${what} has dtype float16, but ${device.name} has no shader-f16 feature ` +
      `(its adapter does not offer it, or the GPUDevice was requested without it); ` +
      `use dtype float32, or an adapter with shader-f16 (webgpu() requests it when offered)`,
  );
}

/** Wraps a GPU buffer (ownership moves to the tensor) as a WebGPU tensor. */
export function gpuTensor(
  device: WebGpuDevice,
  handle: GpuBufferHandle | null,
  shape: readonly number[],
  dtype: DType = "float32",
): Tensor {
  return make(shape, device, {
    kind: "webgpu",
    runtime: runtimeOf(device),
    handle,
    refs: 1,
  }, dtype);
}

/**
 * A WebGPU tensor over a buffer (or buffer range) it does not own, such as
 * one bindable row range of a tensor larger than a binding (`big_buffer.ts`):
 * disposing it, or the garbage collector dropping it, never releases the
 * buffer. The owner must stay alive until the work recorded with it is done.
 */
export function borrowedGpuTensor(
  device: WebGpuDevice,
  handle: GpuBufferHandle,
  shape: readonly number[],
  dtype: DType = "float32",
): Tensor {
  // Infinite references: no dispose can bring the count to zero.
  return make(shape, device, {
    kind: "webgpu",
    runtime: runtimeOf(device),
    handle,
    refs: Infinity,
  }, dtype);
}

/**
 * The float32 host array behind a CPU tensor (not a copy: callers must not
 * write to it). Throws `DTypeError` for other dtypes, so float-only ops
 * reject int32 inputs by using it.
 */
export function cpuData(t: Tensor, op: string, name: string): Float32Array {
  const data = cpuRaw(t, op, name);
  if (!(data instanceof Float32Array)) checkDType(op, name, t, ["float32"]);
  return data as Float32Array;
}

/** The int32 host array behind a CPU tensor; throws `DTypeError` for other dtypes. */
export function cpuInts(t: Tensor, op: string, name: string): Int32Array {
  const data = cpuRaw(t, op, name);
  if (!(data instanceof Int32Array)) checkDType(op, name, t, ["int32"]);
  return data as Int32Array;
}

/** The binary16 bits behind a float16 CPU tensor; throws `DTypeError` for other dtypes. */
export function cpuHalf(t: Tensor, op: string, name: string): Uint16Array {
  const data = cpuRaw(t, op, name);
  if (!(data instanceof Uint16Array)) checkDType(op, name, t, ["float16"]);
  return data as Uint16Array;
}

/** The host array behind a CPU tensor, whatever its dtype (for dtype-agnostic copies). */
export function cpuRaw(t: Tensor, op: string, name: string): HostData {
  const storage = storageOf(t, op, name);
  if (storage.kind !== "cpu") throw new TypeError(`${op}: ${name} is not on cpu`);
  return storage.data;
}

/**
 * The GPU buffer behind a WebGPU tensor, or null for an empty tensor. Only
 * `dtypes` are accepted (float32 unless said otherwise), so float kernels
 * never read int32 bits as floats, and a buffer over the device's binding
 * limit throws `DeviceLimitError` naming the op, tensor, bytes and limit.
 */
export function gpuBuffer(
  t: Tensor,
  op: string,
  name: string,
  dtypes: readonly DType[] = ["float32"],
): GpuBufferHandle | null {
  const storage = storageOf(t, op, name);
  if (storage.kind !== "webgpu") throw new TypeError(`${op}: ${name} is not on webgpu`);
  checkDType(op, name, t, dtypes);
  // Kernels bind the whole buffer: only ops written for it (embedding,
  // linear) take tensors larger than one binding, through big_buffer.ts.
  if (storage.handle) {
    storage.runtime.checkBinding(op, `${name} [${t.shape.join(", ")}]`, storage.handle.bytes);
  }
  return storage.handle;
}

/**
 * A copy of a tensor's storage on the host: like `data()`, except that a
 * float16 tensor gives its binary16 bits (for moving it without widening).
 */
export async function hostData(t: Tensor, op: string, name: string): Promise<HostData> {
  const storage = storageOf(t, op, name);
  if (storage.kind === "cpu") return storage.data.slice();
  if (t.dtype !== "float16") return await t.data();
  if (storage.handle === null) return new Uint16Array(0);
  const bytes = await storage.runtime.read(op, storage.handle, Math.ceil(t.size / 2) * 4);
  return new Uint16Array(bytes, 0, t.size);
}

/** Copies host values onto `device` synchronously (WebGPU's writeBuffer copies at call time). */
export function fromHost(
  data: HostData,
  shape: readonly number[],
  device: Device,
  op = "tensor",
  what = "tensor",
): Tensor {
  if (device.kind === "cpu") return cpuTensor(data, shape);
  const runtime = runtimeOf(device);
  runtime.ensureAlive(op);
  if (data instanceof Uint16Array) {
    checkF16Device(op, what, device);
    // writeBuffer copies whole 4-byte words: pad an odd count with one half.
    if (data.length % 2 === 1) {
      const padded = new Uint16Array(data.length + 1);
      padded.set(data);
      data = padded;
    }
  }
  const handle = data.length === 0 ? null : runtime.upload(op, what, data);
  return gpuTensor(device, handle, shape, dtypeOfHost(data));
}

/** Nests a flat array into arrays following `shape`. */
function nest(data: HostData, shape: readonly number[]): NestedArray {
  if (shape.length === 0) return data[0];
  const build = (dim: number, offset: number): NestedArray[] => {
    const out: NestedArray[] = [];
    const stride = numel(shape.slice(dim + 1));
    for (let i = 0; i < shape[dim]; i++) {
      out.push(
        dim === shape.length - 1 ? data[offset + i] : build(dim + 1, offset + i * stride),
      );
    }
    return out;
  };
  return build(0, 0);
}
