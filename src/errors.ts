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
