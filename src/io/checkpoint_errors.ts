/**
 * Errors thrown while reading or writing checkpoint files. Each one carries
 * enough structured data (a code, a tensor name, a permission flag) for a
 * caller to react without parsing the message.
 *
 * @module
 */

import { TesseraError } from "../errors.ts";

/**
 * Which safetensors rule a file broke. The names follow the variants of
 * `SafeTensorError` in the reference Rust implementation where one exists, so
 * that a failure can be compared with what `safetensors` in Python reports.
 */
export type SafetensorsErrorCode =
  | "HeaderTooSmall"
  | "HeaderTooLarge"
  | "InvalidHeaderLength"
  | "InvalidHeader"
  | "InvalidHeaderDeserialization"
  | "InvalidMetadata"
  | "InvalidTensorInfo"
  | "DuplicateKey"
  | "ValidationOverflow"
  | "TensorInvalidInfo"
  | "InvalidOffset"
  | "MetadataIncompleteBuffer";

/**
 * A safetensors file (or a value being serialized to one) breaks the format.
 * `code` names the rule that failed.
 *
 * @example
 * ```ts
 * import { parseSafetensors, SafetensorsFormatError } from "@tessera/core";
 * try {
 *   parseSafetensors(new Uint8Array(3));
 * } catch (e) {
 *   if (e instanceof SafetensorsFormatError) console.log(e.code); // "HeaderTooSmall"
 * }
 * ```
 */
export class SafetensorsFormatError extends TesseraError {
  /** The rule that the bytes broke. */
  readonly code: SafetensorsErrorCode;

  /** Creates an error for the rule `code`, with a message that states the offending values. */
  constructor(code: SafetensorsErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/**
 * A tensor in a checkpoint uses a dtype that is valid in the format but that
 * Tessera cannot load.
 *
 * @example
 * ```ts
 * import { UnsupportedDtypeError } from "@tessera/core";
 * const e = new UnsupportedDtypeError("ids", "I64", ["F32", "F16", "BF16"]);
 * console.log(e.message);
 * // Cannot load tensor "ids": dtype I64 is not supported; supported dtypes are F32, F16, BF16
 * ```
 */
export class UnsupportedDtypeError extends TesseraError {
  /** The name of the first tensor found with an unsupported dtype. */
  readonly tensorName: string;
  /** The dtype as written in the file. */
  readonly dtype: string;
  /** The dtypes that would have loaded. */
  readonly supported: readonly string[];

  /** Creates an error naming the tensor, its dtype and the dtypes that are supported. */
  constructor(
    tensorName: string,
    dtype: string,
    supported: readonly string[],
    options?: ErrorOptions,
  ) {
    super(
      `Cannot load tensor ${JSON.stringify(tensorName)}: dtype ${dtype} is not supported; ` +
        `supported dtypes are ${supported.join(", ")}`,
      options,
    );
    this.tensorName = tensorName;
    this.dtype = dtype;
    this.supported = supported;
  }
}

/**
 * A checkpoint is in a format that Tessera refuses to read, such as a pickle
 * or a `torch.save` zip archive, which can execute arbitrary code when loaded.
 *
 * @example
 * ```ts
 * import { assertNotPickle, UnsupportedFormatError } from "@tessera/core";
 * try {
 *   assertNotPickle(new Uint8Array([0x80, 0x02, 0x8a, 0x0a]), "model.pt");
 * } catch (e) {
 *   console.log(e instanceof UnsupportedFormatError); // true
 * }
 * ```
 */
export class UnsupportedFormatError extends TesseraError {}

/**
 * Deno refused a file operation. When the refusal comes from a missing
 * permission flag, `flag` holds the flag that grants it, such as
 * `--allow-read=/models/model.safetensors`; when the operating system refused
 * (`Deno.errors.PermissionDenied`), `flag` is `undefined` because no flag helps.
 * `cause` is the original Deno error.
 *
 * @example
 * ```ts
 * import { PermissionError } from "@tessera/core";
 * const e = new PermissionError("Cannot read x: missing permission", {
 *   path: "x",
 *   flag: "--allow-read=x",
 * });
 * console.log(e.flag); // "--allow-read=x"
 * ```
 */
export class PermissionError extends TesseraError {
  /** The path that could not be accessed. */
  readonly path: string;
  /** The Deno flag that grants the missing permission, if a flag can grant it. */
  readonly flag: string | undefined;

  /** Creates an error for `path`; pass the Deno error as `cause`. */
  constructor(
    message: string,
    options: { path: string; flag?: string; cause?: unknown },
  ) {
    super(message, { cause: options.cause });
    this.path = options.path;
    this.flag = options.flag;
  }
}
