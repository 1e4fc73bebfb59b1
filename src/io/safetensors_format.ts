/**
 * Reads and writes the safetensors format at the byte level, without any
 * Deno API, so that it runs wherever the bytes come from.
 *
 * The layout is: an unsigned 64-bit little-endian header length N, N bytes of
 * UTF-8 JSON mapping tensor names to `{dtype, shape, data_offsets}` (plus an
 * optional `__metadata__` string map), then the tensor data, little-endian and
 * row-major, with offsets relative to the end of the header.
 *
 * The parser is strict: a file is either loaded exactly or refused with an
 * error naming the rule it broke, because a lenient loader of untrusted
 * weights is an attack surface.
 *
 * @module
 */

import { ArgumentError } from "../errors.ts";
import { toF16Bits } from "../f16.ts";
import {
  type SafetensorsErrorCode,
  SafetensorsFormatError,
  UnsupportedDtypeError,
  UnsupportedFormatError,
} from "./checkpoint_errors.ts";

/**
 * Every dtype name the safetensors format defines.
 *
 * @example
 * ```ts
 * import type { SafetensorsDtype } from "@tessera/core";
 * const dtype: SafetensorsDtype = "BF16";
 * ```
 */
export type SafetensorsDtype =
  | "BOOL"
  | "F4"
  | "F6_E2M3"
  | "F6_E3M2"
  | "U8"
  | "I8"
  | "F8_E5M2"
  | "F8_E4M3"
  | "F8_E8M0"
  | "F8_E4M3FNUZ"
  | "F8_E5M2FNUZ"
  | "I16"
  | "U16"
  | "F16"
  | "BF16"
  | "I32"
  | "U32"
  | "F32"
  | "C64"
  | "F64"
  | "I64"
  | "U64";

/**
 * A tensor on the host: a row-major shape and its values, float32 (written as
 * `F32`), int32 (written as `I32`) or float16 as binary16 bits in a
 * `Uint16Array` (written as `F16`).
 *
 * @example
 * ```ts
 * import type { HostTensor } from "@tessera/core";
 * const t: HostTensor = { shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) };
 * const ids: HostTensor = { shape: [3], data: new Int32Array([50256, 0, -1]) };
 * ```
 */
export interface HostTensor {
  /** Dimensions, outermost first; `[]` is a scalar holding one value. */
  shape: number[];
  /**
   * The values in row-major order; its length is the product of `shape`. A
   * `Uint16Array` holds float16 bits (see `fromF16Bits`).
   */
  data: Float32Array | Int32Array | Uint16Array;
}

/**
 * The content of a safetensors file. Float tensors are widened to float32
 * (or, with `{ dtype: "float16" }`, held as float16 bits in a `Uint16Array`),
 * `I32` tensors stay int32 (an `Int32Array`); each keeps the dtype it was
 * stored with.
 *
 * @example
 * ```ts
 * import { parseSafetensors, serializeSafetensors } from "@tessera/core";
 * const bytes = serializeSafetensors([["w", { shape: [1], data: new Float32Array([2]) }]]);
 * const parsed = parseSafetensors(bytes);
 * console.log(parsed.tensors.get("w")?.dtype); // "F32"
 * ```
 */
export interface ParsedSafetensors {
  /** Tensors by name, in the order their data appears in the file. */
  tensors: Map<string, HostTensor & { dtype: "F32" | "F16" | "BF16" | "I32" }>;
  /** The `__metadata__` string map; empty when the file has none. */
  metadata: Map<string, string>;
}

/**
 * Options of {@link parseSafetensors}.
 *
 * @example
 * ```ts
 * import { parseSafetensors, type ParseSafetensorsOptions } from "@tessera/core";
 * const options: ParseSafetensorsOptions = { source: "model.safetensors" };
 * try {
 *   parseSafetensors(new Uint8Array(0), options);
 * } catch (e) {
 *   console.log((e as Error).message); // names "model.safetensors"
 * }
 * ```
 */
export interface ParseSafetensorsOptions {
  /** Where the bytes came from, such as a file path; error messages name it. */
  source?: string;
  /**
   * The dtype floating tensors (F32, F16, BF16) load as. `"float32"` (the
   * default) widens F16 and BF16 exactly; `"float16"` keeps F16 bits as they
   * are (no widening, half the memory) and rounds F32 and BF16 to nearest
   * even, into `Uint16Array`s. I32 tensors always stay int32.
   */
  dtype?: "float32" | "float16";
}

/** The reference implementation's limit; a larger header is a sign of a hostile file. */
const MAX_HEADER_SIZE = 100_000_000;
const METADATA_KEY = "__metadata__";
const LOADABLE_DTYPES = ["F32", "F16", "BF16", "I32"] as const;
type LoadableDtype = typeof LOADABLE_DTYPES[number];

// A Map rather than an object literal, so that names such as "constructor"
// cannot be found on Object.prototype.
const DTYPE_BITS: ReadonlyMap<string, number> = new Map<SafetensorsDtype, number>([
  ["BOOL", 8],
  ["F4", 4],
  ["F6_E2M3", 6],
  ["F6_E3M2", 6],
  ["U8", 8],
  ["I8", 8],
  ["F8_E5M2", 8],
  ["F8_E4M3", 8],
  ["F8_E8M0", 8],
  ["F8_E4M3FNUZ", 8],
  ["F8_E5M2FNUZ", 8],
  ["I16", 16],
  ["U16", 16],
  ["F16", 16],
  ["BF16", 16],
  ["I32", 32],
  ["U32", 32],
  ["F32", 32],
  ["C64", 64],
  ["F64", 64],
  ["I64", 64],
  ["U64", 64],
]);

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

interface TensorInfo {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

type Fail = (code: SafetensorsErrorCode, detail: string, cause?: unknown) => never;

function failer(action: string): Fail {
  return (code, detail, cause) => {
    throw new SafetensorsFormatError(
      code,
      `${action}: ${detail}`,
      cause === undefined ? undefined : { cause },
    );
  };
}

/**
 * Throws {@link UnsupportedFormatError} when `bytes` is a Python pickle
 * (first byte 0x80, the opcode that opens protocol 2 and later) or a zip archive (`PK\x03\x04`, what
 * `torch.save` writes), since unpickling can execute arbitrary code. `name`
 * appears in the message.
 *
 * A real safetensors file whose header length happens to start with these
 * bytes (a 640-byte header begins `80 02`) is let through: it is recognised by
 * a sane header length followed by `{`.
 *
 * @example
 * ```ts
 * import { assertNotPickle } from "@tessera/core";
 * assertNotPickle(new Uint8Array([8, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d, 32, 32, 32, 32, 32, 32]));
 * // no error: these bytes are an empty safetensors file
 * ```
 */
export function assertNotPickle(bytes: Uint8Array, name?: string): void {
  // Anything but bytes would slip through the checks below as "not a pickle".
  if (!(bytes instanceof Uint8Array)) {
    throw new ArgumentError(
      `assertNotPickle: bytes must be a Uint8Array, but got ${describe(bytes)}`,
    );
  }
  if (name !== undefined && typeof name !== "string") {
    throw new ArgumentError(
      `assertNotPickle: name must be a string, but got ${describe(name)}`,
    );
  }
  let kind: string;
  if (bytes.length >= 1 && bytes[0] === 0x80) {
    kind = bytes.length >= 2
      ? `a Python pickle (starts with 0x80, protocol ${bytes[1]})`
      : "a Python pickle (starts with 0x80)";
  } else if (
    bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 &&
    bytes[3] === 0x04
  ) {
    kind = "a zip archive (starts with PK\\x03\\x04), the torch.save format that wraps a pickle";
  } else {
    return;
  }
  if (looksLikeSafetensors(bytes)) return;
  const what = name === undefined ? "checkpoint" : JSON.stringify(name);
  throw new UnsupportedFormatError(
    `Cannot load ${what}: it is ${kind}, and loading a pickle can execute arbitrary code, ` +
      `so Tessera refuses it. Convert it to safetensors in Python with ` +
      `\`safetensors.torch.save_file(model.state_dict(), "model.safetensors")\` ` +
      `and load that file instead`,
  );
}

function looksLikeSafetensors(bytes: Uint8Array): boolean {
  if (bytes.length < 9) return false;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  if (n < 1n || n > BigInt(MAX_HEADER_SIZE) || 8 + Number(n) > bytes.length) return false;
  const first = bytes[8];
  return first === 0x7b || first === 0x20 || first === 0x09 || first === 0x0a || first === 0x0d;
}

/**
 * Parses the bytes of a safetensors file. F32, F16 and BF16 tensors are
 * widened to float32 exactly, I32 tensors come back as `Int32Array`s; the
 * data is copied, so `bytes` may be reused.
 *
 * Throws {@link UnsupportedFormatError} for pickle and zip checkpoints,
 * {@link SafetensorsFormatError} (with the broken rule as `code`) for a
 * malformed file, and {@link UnsupportedDtypeError} for a well-formed file
 * holding another dtype.
 *
 * @example
 * ```ts
 * import { parseSafetensors, serializeSafetensors } from "@tessera/core";
 * const bytes = serializeSafetensors(
 *   new Map([["bias", { shape: [3], data: new Float32Array([1, 2, 3]) }]]),
 *   { format: "pt" },
 * );
 * const { tensors, metadata } = parseSafetensors(bytes);
 * console.log(tensors.get("bias")?.data); // Float32Array(3) [ 1, 2, 3 ]
 * console.log(metadata.get("format")); // "pt"
 * ```
 */
export function parseSafetensors(
  bytes: Uint8Array,
  options: ParseSafetensorsOptions = {},
): ParsedSafetensors {
  if (!(bytes instanceof Uint8Array)) {
    throw new ArgumentError(
      `parseSafetensors: bytes must be a Uint8Array, but got ${describe(bytes)}`,
    );
  }
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new ArgumentError(
      `parseSafetensors: options must be an object like { source }, but got ${describe(options)}`,
    );
  }
  const source = options.source;
  const floatDType = options.dtype ?? "float32";
  if (floatDType !== "float32" && floatDType !== "float16") {
    throw new ArgumentError(
      `parseSafetensors: options.dtype must be "float32" or "float16", but got ` +
        `${describe(options.dtype)}`,
    );
  }
  const fail = failer(
    source === undefined
      ? "Cannot parse safetensors"
      : `Cannot parse safetensors file ${JSON.stringify(source)}`,
  );
  assertNotPickle(bytes, source);

  if (bytes.length < 8) {
    fail(
      "HeaderTooSmall",
      `the input is ${bytes.length} bytes long, but the header length alone takes 8 bytes`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // BigInt, because a u64 above 2^53 would be rounded by a Number comparison.
  const declared = view.getBigUint64(0, true);
  if (declared > BigInt(MAX_HEADER_SIZE)) {
    fail(
      "HeaderTooLarge",
      `header length ${declared} exceeds the limit of ${MAX_HEADER_SIZE} bytes`,
    );
  }
  const n = Number(declared);
  if (8 + n > bytes.length) {
    fail(
      "InvalidHeaderLength",
      `header length ${n} needs ${8 + n} bytes, but the input is ${bytes.length} bytes long`,
    );
  }

  const root = decodeHeader(bytes.subarray(8, 8 + n), fail);
  const { infos, metadata } = readHeaderEntries(root, fail);

  // The reference implementation validates in offset order; doing the same
  // makes both report the same tensor when several are wrong.
  const order = infos.slice().sort((a, b) =>
    a.begin - b.begin || a.end - b.end || compareCodePoints(a.name, b.name)
  );
  const elements = new Map<string, number>();
  let cursor = 0;
  for (const info of order) {
    checkOffsets(info, cursor, fail);
    const { count, nbytes } = sizeOf(info, fail);
    if (info.end - info.begin !== nbytes) {
      fail(
        "TensorInvalidInfo",
        `tensor ${JSON.stringify(info.name)} (dtype ${info.dtype}, shape ` +
          `[${info.shape.join(", ")}]) needs ${nbytes} bytes, but its data_offsets ` +
          `[${info.begin}, ${info.end}] span ${info.end - info.begin}`,
      );
    }
    elements.set(info.name, count);
    cursor = info.end;
  }
  const dataLength = bytes.length - 8 - n;
  if (cursor !== dataLength) {
    fail(
      "MetadataIncompleteBuffer",
      `the tensors cover ${cursor} bytes of data, but ${dataLength} bytes follow the header`,
    );
  }

  // Only now: a dtype refusal on a corrupt file would hide the real problem.
  for (const info of order) {
    if (!isLoadable(info.dtype)) {
      throw new UnsupportedDtypeError(info.name, info.dtype, LOADABLE_DTYPES);
    }
  }

  const tensors: ParsedSafetensors["tensors"] = new Map();
  for (const info of order) {
    const dtype = info.dtype as LoadableDtype;
    const start = 8 + n + info.begin;
    const raw = bytes.subarray(start, 8 + n + info.end);
    const count = elements.get(info.name)!;
    const data = floatDType === "float16" && dtype !== "I32"
      ? toHalf(dtype, raw, count)
      : widen(dtype, raw, count);
    tensors.set(info.name, { dtype, shape: info.shape, data });
  }
  return { tensors, metadata };
}

function isLoadable(dtype: string): dtype is LoadableDtype {
  return (LOADABLE_DTYPES as readonly string[]).includes(dtype);
}

function decodeHeader(header: Uint8Array, fail: Fail): Record<string, unknown> {
  let text: string;
  try {
    // ignoreBOM keeps a byte-order mark in the text, where JSON.parse rejects
    // it, as the reference implementation does.
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(header);
  } catch (e) {
    return fail("InvalidHeader", "the header is not valid UTF-8", e);
  }
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (e) {
    return fail(
      "InvalidHeaderDeserialization",
      `the header is not valid JSON (${(e as Error).message})`,
      e,
    );
  }
  if (!isPlainObject(root)) {
    fail(
      "InvalidHeaderDeserialization",
      `the header must be a JSON object, but it is ${describe(root)}`,
    );
  }
  const duplicate = findDuplicateKey(text);
  if (duplicate !== undefined) {
    const where = duplicate.parent === undefined
      ? "at the top level of the header"
      : `inside ${JSON.stringify(duplicate.parent)}`;
    fail(
      "DuplicateKey",
      `key ${JSON.stringify(duplicate.key)} appears more than once ${where}; ` +
        `a JSON parser would silently keep only the last one`,
    );
  }
  return root as Record<string, unknown>;
}

function readHeaderEntries(
  root: Record<string, unknown>,
  fail: Fail,
): { infos: TensorInfo[]; metadata: Map<string, string> } {
  const metadata = new Map<string, string>();
  const infos: TensorInfo[] = [];
  // Object.entries yields own keys only, so a tensor named "__proto__" is an
  // ordinary entry here (JSON.parse defines it as an own property).
  for (const [name, value] of Object.entries(root)) {
    if (name !== METADATA_KEY) {
      infos.push(readTensorInfo(name, value, fail));
      continue;
    }
    if (!isPlainObject(value)) {
      fail(
        "InvalidMetadata",
        `${METADATA_KEY} must be an object of strings, but it is ${describe(value)}`,
      );
    }
    for (const [key, text] of Object.entries(value)) {
      if (typeof text !== "string") {
        fail(
          "InvalidMetadata",
          `${METADATA_KEY} value ${JSON.stringify(key)} must be a string, ` +
            `but it is ${describe(text)}`,
        );
      }
      metadata.set(key, text);
    }
  }
  return { infos, metadata };
}

const INFO_FIELDS = ["dtype", "shape", "data_offsets"];

function readTensorInfo(name: string, value: unknown, fail: Fail): TensorInfo {
  const tensor = `tensor ${JSON.stringify(name)}`;
  if (!isPlainObject(value)) {
    fail(
      "InvalidTensorInfo",
      `${tensor} must be an object with dtype, shape and data_offsets, ` +
        `but it is ${describe(value)}`,
    );
  }
  const keys = Object.keys(value);
  const extra = keys.filter((k) => !INFO_FIELDS.includes(k));
  const missing = INFO_FIELDS.filter((k) => !keys.includes(k));
  if (extra.length > 0 || missing.length > 0) {
    const problems = [
      ...(missing.length > 0 ? [`misses ${missing.join(", ")}`] : []),
      ...(extra.length > 0 ? [`has unknown fields ${extra.map((k) => JSON.stringify(k))}`] : []),
    ];
    fail(
      "InvalidTensorInfo",
      `${tensor} must have exactly dtype, shape and data_offsets, but it ${problems.join(" and ")}`,
    );
  }
  const { dtype, shape, data_offsets: offsets } = value;
  if (typeof dtype !== "string" || !DTYPE_BITS.has(dtype)) {
    fail(
      "InvalidTensorInfo",
      `${tensor} has dtype ${JSON.stringify(dtype)}, which is not a safetensors dtype; ` +
        `known dtypes are ${[...DTYPE_BITS.keys()].join(", ")}`,
    );
  }
  if (!Array.isArray(shape) || !shape.every(isIndex)) {
    fail(
      "InvalidTensorInfo",
      `${tensor} has shape ${JSON.stringify(shape)}, ` +
        `but a shape must be an array of non-negative safe integers`,
    );
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex)) {
    fail(
      "InvalidTensorInfo",
      `${tensor} has data_offsets ${JSON.stringify(offsets)}, ` +
        `but data_offsets must be exactly two non-negative safe integers`,
    );
  }
  return {
    name,
    dtype: dtype as SafetensorsDtype,
    // `+ 0` turns a -0 from the JSON into 0.
    shape: shape.map((d: number) => d + 0),
    begin: offsets[0] + 0,
    end: offsets[1] + 0,
  };
}

function checkOffsets(info: TensorInfo, cursor: number, fail: Fail): void {
  const { begin, end } = info;
  let problem: string | undefined;
  if (end < begin) problem = "it ends before it starts";
  else if (begin > cursor) problem = `it leaves a gap of ${begin - cursor} bytes`;
  else if (begin < cursor) problem = `it overlaps the previous tensor by ${cursor - begin} bytes`;
  if (problem === undefined) return;
  const expected = cursor === 0
    ? "the first tensor must start at 0"
    : `the next tensor must start at ${cursor}, where the previous one ends`;
  fail(
    "InvalidOffset",
    `tensor ${JSON.stringify(info.name)} has data_offsets [${begin}, ${end}], ` +
      `but ${expected}: ${problem}`,
  );
}

function sizeOf(info: TensorInfo, fail: Fail): { count: number; nbytes: number } {
  const bits = BigInt(DTYPE_BITS.get(info.dtype)!);
  const maxBits = BigInt(Number.MAX_SAFE_INTEGER) * 8n;
  let count = info.shape.includes(0) ? 0n : 1n;
  // Stops as soon as the size is too large, so that a long shape of huge
  // dimensions cannot make the BigInt grow without bound.
  for (const d of info.shape) {
    if (count === 0n) break;
    count *= BigInt(d);
    if (count * bits > maxBits) {
      fail(
        "ValidationOverflow",
        `tensor ${JSON.stringify(info.name)} has shape [${info.shape.join(", ")}], ` +
          `whose size in bytes exceeds ${Number.MAX_SAFE_INTEGER}`,
      );
    }
  }
  if ((count * bits) % 8n !== 0n) {
    fail(
      "TensorInvalidInfo",
      `tensor ${JSON.stringify(info.name)} has ${count} elements of ${bits} bits, ` +
        `which do not fill a whole number of bytes`,
    );
  }
  return { count: Number(count), nbytes: Number((count * bits) / 8n) };
}

// The lookup table turns every half into float32 bits; 256 KiB, built on first use.
let halfTable: Uint32Array | undefined;

function halfToFloatBits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exponent = (h >> 10) & 0x1f;
  let mantissa = h & 0x3ff;
  if (exponent === 0x1f) return (sign | 0x7f800000 | (mantissa << 13)) >>> 0;
  if (exponent !== 0) return (sign | ((exponent + 112) << 23) | (mantissa << 13)) >>> 0;
  if (mantissa === 0) return sign >>> 0;
  // A subnormal half is a normal float32: shift its leading one into the
  // implicit bit and lower the exponent once per shift.
  let shifts = 0;
  while ((mantissa & 0x400) === 0) {
    mantissa <<= 1;
    shifts++;
  }
  return (sign | ((113 - shifts) << 23) | ((mantissa & 0x3ff) << 13)) >>> 0;
}

function widen(dtype: LoadableDtype, raw: Uint8Array, count: number): Float32Array | Int32Array {
  if (dtype === "I32") {
    const ints = new Int32Array(count);
    const intBytes = new Uint8Array(ints.buffer);
    intBytes.set(raw);
    if (!HOST_IS_LITTLE_ENDIAN) swapBytes(intBytes, 4);
    return ints;
  }
  const out = new Float32Array(count);
  if (dtype === "F32") {
    // Copying into a fresh buffer also fixes data that is not 4-byte aligned.
    const outBytes = new Uint8Array(out.buffer);
    outBytes.set(raw);
    if (!HOST_IS_LITTLE_ENDIAN) swapBytes(outBytes, 4);
    return out;
  }
  const halves = new Uint16Array(count);
  const halfBytes = new Uint8Array(halves.buffer);
  halfBytes.set(raw);
  if (!HOST_IS_LITTLE_ENDIAN) swapBytes(halfBytes, 2);
  // Written as bits, so NaN payloads survive; a Number round trip could change them.
  const bits = new Uint32Array(out.buffer);
  if (dtype === "BF16") {
    for (let i = 0; i < count; i++) bits[i] = halves[i] << 16;
    return out;
  }
  if (halfTable === undefined) {
    halfTable = new Uint32Array(0x10000);
    for (let h = 0; h < 0x10000; h++) halfTable[h] = halfToFloatBits(h);
  }
  for (let i = 0; i < count; i++) bits[i] = halfTable[halves[i]];
  return out;
}

/** F16 bits as stored; F32 and BF16 rounded to F16 (nearest even). */
function toHalf(dtype: "F32" | "F16" | "BF16", raw: Uint8Array, count: number): Uint16Array {
  if (dtype === "F16") {
    const halves = new Uint16Array(count);
    const halfBytes = new Uint8Array(halves.buffer);
    halfBytes.set(raw);
    if (!HOST_IS_LITTLE_ENDIAN) swapBytes(halfBytes, 2);
    return halves;
  }
  return toF16Bits(widen(dtype, raw, count) as Float32Array);
}

function swapBytes(bytes: Uint8Array, width: number): void {
  for (let i = 0; i < bytes.length; i += width) bytes.subarray(i, i + width).reverse();
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isIndex(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  return `a ${typeof value}`;
}

/**
 * Finds a repeated key in any object of valid JSON text. JSON.parse keeps the
 * last value of a repeated key without a word; two readers that disagree on
 * which value wins is how a file shows one tensor to a reviewer and another
 * to the loader.
 */
function findDuplicateKey(text: string): { key: string; parent?: string } | undefined {
  const QUOTE = 0x22, BACKSLASH = 0x5c, COMMA = 0x2c, COLON = 0x3a;
  const OPEN_OBJECT = 0x7b, OPEN_ARRAY = 0x5b, CLOSE_OBJECT = 0x7d, CLOSE_ARRAY = 0x5d;
  // An explicit stack rather than recursion: a header of deeply nested
  // arrays must not overflow the call stack.
  const frames: { keys: Set<string> | null; parent?: string; lastKey?: string }[] = [];
  let previous = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      let j = i + 1;
      let escaped = false;
      while (text.charCodeAt(j) !== QUOTE) {
        if (text.charCodeAt(j) === BACKSLASH) {
          escaped = true;
          j++;
        }
        j++;
      }
      const top = frames[frames.length - 1];
      if (top?.keys && (previous === OPEN_OBJECT || previous === COMMA)) {
        // Escapes are decoded, since "a" and "\u0061" are the same key.
        const key = escaped ? JSON.parse(text.slice(i, j + 1)) as string : text.slice(i + 1, j);
        if (top.keys.has(key)) return { key, parent: top.parent };
        top.keys.add(key);
        top.lastKey = key;
      }
      previous = QUOTE;
      i = j;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      const top = frames[frames.length - 1];
      const parent = previous === COLON ? top?.lastKey : top?.parent;
      frames.push({ keys: c === OPEN_OBJECT ? new Set() : null, parent });
      previous = c;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      frames.pop();
      previous = c;
    } else if (c === COMMA || c === COLON) {
      previous = c;
    } else if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) {
      previous = 0; // part of a number or literal
    }
  }
  return undefined;
}

/**
 * Orders strings by code point, which is the UTF-8 byte order that the
 * Python library sorts tensor names by; UTF-16 order differs when a character
 * above U+FFFF meets one in U+E000..U+FFFF.
 */
function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const xSurrogate = x >= 0xd800 && x <= 0xdfff;
    const ySurrogate = y >= 0xd800 && y <= 0xdfff;
    if (xSurrogate !== ySurrogate) return xSurrogate ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

/**
 * Serializes tensors to safetensors bytes: a `Float32Array` as `F32`, an
 * `Int32Array` as `I32`, a `Uint16Array` (float16 bits) as `F16`. The output matches what the Python `safetensors`
 * library writes for the same float32 and int32 tensors: tensors sorted by name, compact JSON with `__metadata__` first,
 * and the header padded with spaces to a multiple of 8 bytes so that the data
 * is aligned. Metadata keys are sorted too, so the output is deterministic.
 *
 * Throws {@link SafetensorsFormatError} when a shape does not match its data,
 * a name repeats or is `__metadata__`, or a metadata value is not a string.
 *
 * @example
 * ```ts
 * import { serializeSafetensors } from "@tessera/core";
 * const weight = { shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) };
 * const bytes = serializeSafetensors(new Map([["weight", weight]]), { format: "pt" });
 * console.log(bytes.length % 8); // 0
 * ```
 */
export function serializeSafetensors(
  tensors: Map<string, HostTensor> | Iterable<readonly [string, HostTensor]>,
  metadata?: Record<string, string> | Map<string, string>,
): Uint8Array<ArrayBuffer> {
  const fail = failer("Cannot serialize safetensors");
  const entries: [string, HostTensor][] = [];
  const names = new Set<string>();
  for (const [name, tensor] of tensors) {
    checkName(name, "tensor name", fail);
    if (name === METADATA_KEY) {
      fail("InvalidTensorInfo", `the tensor name ${METADATA_KEY} is reserved for metadata`);
    }
    if (names.has(name)) fail("DuplicateKey", `tensor name ${JSON.stringify(name)} repeats`);
    names.add(name);
    checkHostTensor(name, tensor, fail);
    entries.push([name, tensor]);
  }
  entries.sort((a, b) => compareCodePoints(a[0], b[0]));

  const fields: string[] = [];
  if (metadata !== undefined) {
    const pairs = metadata instanceof Map ? [...metadata] : Object.entries(metadata);
    for (const [key, value] of pairs) {
      checkName(key, "metadata key", fail);
      if (typeof value !== "string" || !value.isWellFormed()) {
        fail(
          "InvalidMetadata",
          `metadata value ${JSON.stringify(key)} must be a well-formed string, ` +
            `but it is ${
              typeof value === "string" ? "a string with a lone surrogate" : describe(value)
            }`,
        );
      }
    }
    pairs.sort((a, b) => compareCodePoints(a[0], b[0]));
    const body = pairs.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(",");
    fields.push(`${JSON.stringify(METADATA_KEY)}:{${body}}`);
  }
  let offset = 0;
  for (const [name, { shape, data }] of entries) {
    const end = offset + data.byteLength;
    if (!Number.isSafeInteger(end)) {
      fail("ValidationOverflow", `the data reaches past ${Number.MAX_SAFE_INTEGER} bytes`);
    }
    fields.push(
      `${JSON.stringify(name)}:{"dtype":"${
        data instanceof Int32Array ? "I32" : data instanceof Uint16Array ? "F16" : "F32"
      }","shape":[${shape.join(",")}],` +
        `"data_offsets":[${offset},${end}]}`,
    );
    offset = end;
  }

  const json = new TextEncoder().encode(`{${fields.join(",")}}`);
  const headerLength = Math.ceil(json.length / 8) * 8;
  if (headerLength > MAX_HEADER_SIZE) {
    fail(
      "HeaderTooLarge",
      `header length ${headerLength} exceeds the limit of ${MAX_HEADER_SIZE} bytes`,
    );
  }
  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  let at = 8 + headerLength;
  for (const [, { data }] of entries) {
    const chunk = out.subarray(at, at + data.byteLength);
    chunk.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    if (!HOST_IS_LITTLE_ENDIAN) swapBytes(chunk, data.BYTES_PER_ELEMENT);
    at += data.byteLength;
  }
  return out;
}

function checkName(name: unknown, what: string, fail: Fail): void {
  // A lone surrogate has no UTF-8 form; JSON.stringify would write an escape
  // that the Rust reader rejects.
  if (typeof name !== "string" || !name.isWellFormed()) {
    fail(
      "InvalidTensorInfo",
      `${what} ${
        typeof name === "string" ? JSON.stringify(name) : String(name)
      } must be a well-formed string`,
    );
  }
}

function checkHostTensor(name: string, tensor: HostTensor, fail: Fail): void {
  const label = `tensor ${JSON.stringify(name)}`;
  if (
    !(tensor?.data instanceof Float32Array) && !(tensor?.data instanceof Int32Array) &&
    !(tensor?.data instanceof Uint16Array)
  ) {
    fail(
      "InvalidTensorInfo",
      `${label} must hold its values in a Float32Array, Int32Array or Uint16Array (float16 bits)`,
    );
  }
  const { shape, data } = tensor;
  if (!Array.isArray(shape) || !shape.every(isIndex)) {
    fail(
      "InvalidTensorInfo",
      `${label} has shape ${JSON.stringify(shape)}, ` +
        `but a shape must be an array of non-negative safe integers`,
    );
  }
  // A zero first, because huge dimensions can multiply to Infinity and Infinity * 0 is NaN.
  const count = shape.includes(0) ? 0 : shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) {
    fail(
      "TensorInvalidInfo",
      `${label} has shape [${shape.join(", ")}] (${count} elements), ` +
        `but its data holds ${data.length} values`,
    );
  }
}
