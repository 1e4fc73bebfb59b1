/**
 * Error classes thrown by Tessera. Every message names the op, the tensor and
 * the offending shape or device, so that a failure can be located without a
 * debugger.
 *
 * @module
 */

/**
 * Base class of every error Tessera throws on purpose.
 *
 * @example
 * ```ts
 * import { TesseraError } from "@tessera/core";
 * try {
 *   throw new TesseraError("Something failed");
 * } catch (e) {
 *   console.log(e instanceof TesseraError); // true
 * }
 * ```
 */
export class TesseraError extends Error {
  /** Creates an error with a message and an optional cause. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * Thrown when WebGPU is requested but this runtime has no usable adapter.
 *
 * @example
 * ```ts ignore
 * import { webgpu, WebGpuUnavailableError } from "@tessera/core";
 * try {
 *   await webgpu();
 * } catch (e) {
 *   if (e instanceof WebGpuUnavailableError) console.log("falling back to cpu");
 * }
 * ```
 */
export class WebGpuUnavailableError extends TesseraError {}

/**
 * Thrown when an op receives tensors that live on different devices. The
 * message follows PyTorch's wording, e.g. `expected scores and mask to be on
 * the same device, but got mask on cpu and scores on webgpu:0`.
 *
 * @example
 * ```ts
 * import { DeviceMismatchError } from "@tessera/core";
 * const e = new DeviceMismatchError("add", ["a", "cpu"], ["b", "webgpu:0"]);
 * console.log(e.message);
 * ```
 */
export class DeviceMismatchError extends TesseraError {
  /** The op that refused the tensors. */
  readonly op: string;
  /**
   * Creates the error from the op name and two `[tensorName, deviceName]`
   * pairs: `first` is the op's own tensor, `other` the one on the wrong device.
   */
  constructor(op: string, first: [string, string], other: [string, string]) {
    super(
      `${op}: expected ${first[0]} and ${other[0]} to be on the same device, ` +
        `but got ${other[0]} on ${other[1]} and ${first[0]} on ${first[1]}`,
    );
    this.op = op;
  }
}

/**
 * Thrown when tensor shapes do not fit an op; the message names the op and
 * every shape involved.
 *
 * @example
 * ```ts
 * import { ShapeError } from "@tessera/core";
 * console.log(new ShapeError("matmul: a [2, 3] and b [4, 5] do not fit").message);
 * ```
 */
export class ShapeError extends TesseraError {}

/**
 * Thrown when an op receives a tensor whose dtype it does not take (an int32
 * tensor where float32 values are needed, or float ids for an embedding).
 *
 * @example
 * ```ts
 * import { DTypeError, matmul, tensor } from "@tessera/core";
 * const ids = tensor([1, 2], undefined, { dtype: "int32" });
 * try {
 *   matmul(ids, ids);
 * } catch (e) {
 *   console.log(e instanceof DTypeError); // true
 * }
 * ```
 */
export class DTypeError extends TesseraError {}

/**
 * Thrown when a public function receives an argument of the wrong kind: not
 * a tensor, a fractional or negative size, NaN where a number is needed. The
 * message names the function, the argument and what was expected.
 *
 * @example
 * ```ts
 * import { ArgumentError, TesseraError } from "@tessera/core";
 * const e = new ArgumentError("zeros: shape must be an array of whole numbers, but got 3");
 * console.log(e instanceof TesseraError); // true
 * ```
 */
export class ArgumentError extends TesseraError {}

/**
 * Thrown when a disposed tensor is used. Raised synchronously, before any GPU
 * work is recorded, because WebGPU would otherwise drop the whole submission
 * silently.
 *
 * @example
 * ```ts
 * import { tensor, UseAfterDisposeError } from "@tessera/core";
 * const t = tensor([1, 2]);
 * t.dispose();
 * try {
 *   await t.data();
 * } catch (e) {
 *   console.log(e instanceof UseAfterDisposeError); // true
 * }
 * ```
 */
export class UseAfterDisposeError extends TesseraError {}

/**
 * Thrown by every GPU call after the device was lost (destroyed, reset, or
 * out of memory); pending readbacks reject with it instead of hanging.
 *
 * @example
 * ```ts
 * import { DeviceLostError } from "@tessera/core";
 * const e = new DeviceLostError("matmul", "destroyed", "device destroyed");
 * console.log(e.reason); // "destroyed"
 * ```
 */
export class DeviceLostError extends TesseraError {
  /** `GPUDeviceLostInfo.reason`: `"destroyed"` or `"unknown"`. */
  readonly reason: string;
  /** Creates the error for the op that found the device lost. */
  constructor(op: string, reason: string, detail: string, options?: ErrorOptions) {
    super(
      `${op}: the WebGPU device was lost (reason: ${reason}${
        detail ? `, ${detail}` : ""
      }); move the tensors to a new device from webgpu()`,
      options,
    );
    this.reason = reason;
  }
}

/**
 * Thrown before allocation or dispatch when a tensor exceeds a device limit;
 * the message names the tensor, the limit and both values.
 *
 * @example
 * ```ts
 * import { DeviceLimitError } from "@tessera/core";
 * console.log(new DeviceLimitError("upload of x needs 300 bytes, over maxBufferSize 256").message);
 * ```
 */
export class DeviceLimitError extends TesseraError {}

/**
 * Thrown when WebGPU reports a validation or out-of-memory error for recorded
 * work, or a WGSL shader fails to compile (the message then names the shader
 * file and `line:column`).
 *
 * @example
 * ```ts
 * import { GpuError } from "@tessera/core";
 * console.log(new GpuError("my_kernel.wgsl:3:5: error: unresolved identifier").message);
 * ```
 */
export class GpuError extends TesseraError {}
