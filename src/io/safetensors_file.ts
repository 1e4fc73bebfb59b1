/**
 * Reads and writes safetensors files through Deno's file system API (Node's
 * `fs/promises` where there is no `Deno` global). The module needs no
 * permission to import; each call asks only for access to the path it touches,
 * and a missing permission is reported with the flag that grants it.
 *
 * @module
 */

import * as nodeFs from "node:fs/promises";
import { basename, dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { PermissionError, UnsupportedFormatError } from "./checkpoint_errors.ts";
import {
  type HostTensor,
  type ParsedSafetensors,
  parseSafetensors,
  serializeSafetensors,
} from "./safetensors_format.ts";

/**
 * The file operations the safetensors helpers use. The default is Deno's file
 * system; tests pass an in-memory one.
 *
 * @example
 * ```ts
 * import type { SafetensorsFs } from "@tessera/core/safetensors";
 * const files = new Map<string, Uint8Array>();
 * const memoryFs: SafetensorsFs = {
 *   readFile: async (path) => files.get(path) ?? new Uint8Array(),
 *   writeFile: async (path, data) => void files.set(path, data),
 *   rename: async (from, to) => {
 *     files.set(to, files.get(from)!);
 *     files.delete(from);
 *   },
 *   remove: async (path) => void files.delete(path),
 * };
 * ```
 */
export interface SafetensorsFs {
  /** Reads a whole file. */
  readFile(path: string): Promise<Uint8Array>;
  /** Writes a whole file; with `createNew`, fails if the path exists. */
  writeFile(path: string, data: Uint8Array, options: { createNew: boolean }): Promise<void>;
  /** Moves a file, replacing the destination. */
  rename(from: string, to: string): Promise<void>;
  /** Deletes a file. */
  remove(path: string): Promise<void>;
}

/**
 * Options of {@link readSafetensorsFile} and {@link writeSafetensorsFile}.
 *
 * @example
 * ```ts
 * import type { SafetensorsFileOptions } from "@tessera/core/safetensors";
 * const options: SafetensorsFileOptions = {}; // Deno's file system
 * ```
 */
export interface SafetensorsFileOptions {
  /** The file system to use; Deno's when absent (Node's `fs/promises` outside Deno). */
  fs?: SafetensorsFs;
  /**
   * The dtype floating tensors load as: `"float32"` (default, F16/BF16
   * widened) or `"float16"` (F16 kept as is, F32/BF16 rounded); see
   * `ParseSafetensorsOptions.dtype`.
   */
  dtype?: "float32" | "float16";
}

/** The `Deno` namespace, feature-detected so that the module also loads in Node. */
function denoApi(): typeof Deno | undefined {
  return (globalThis as { Deno?: typeof Deno }).Deno;
}

// Calls go through Deno only when made, so importing needs no permission.
const denoFs: SafetensorsFs = {
  readFile: (path) => denoApi()?.readFile(path) ?? nodeFs.readFile(path),
  writeFile: (path, data, options) =>
    denoApi()?.writeFile(path, data, options) ??
      nodeFs.writeFile(path, data, { flag: options.createNew ? "wx" : "w" }),
  rename: (from, to) => denoApi()?.rename(from, to) ?? nodeFs.rename(from, to),
  remove: (path) => denoApi()?.remove(path) ?? nodeFs.unlink(path),
};

const PICKLE_EXTENSIONS = [".pt", ".pth", ".bin", ".ckpt", ".pkl"];

/**
 * Reads and parses a safetensors file (see `parseSafetensors`). Needs
 * `--allow-read=<path>`.
 *
 * Refuses PyTorch pickle checkpoints (`.pt`, `.pth`, `.bin`, `.ckpt`, `.pkl`)
 * with {@link UnsupportedFormatError} before reading any byte, and whatever
 * the name, refuses content that is a pickle or a zip archive. A missing
 * permission is reported as {@link PermissionError} naming the flag.
 *
 * @example
 * ```ts ignore
 * import { readSafetensorsFile } from "@tessera/core/safetensors";
 * // deno run --allow-read=model.safetensors main.ts
 * const { tensors } = await readSafetensorsFile("model.safetensors");
 * for (const [name, t] of tensors) console.log(name, t.dtype, t.shape);
 * ```
 */
export async function readSafetensorsFile(
  path: string | URL,
  options: SafetensorsFileOptions = {},
): Promise<ParsedSafetensors> {
  const file = toPath(path);
  const extension = extname(file).toLowerCase();
  if (PICKLE_EXTENSIONS.includes(extension)) {
    throw new UnsupportedFormatError(
      `Cannot load ${JSON.stringify(file)}: the extension ${extension} marks a PyTorch ` +
        `pickle checkpoint, and loading a pickle can execute arbitrary code, so Tessera ` +
        `refuses it without reading it. Convert it to safetensors in Python with ` +
        `\`safetensors.torch.save_file(model.state_dict(), "model.safetensors")\` ` +
        `and load that file instead`,
    );
  }
  let bytes: Uint8Array;
  try {
    bytes = await (options.fs ?? denoFs).readFile(file);
  } catch (e) {
    throw toPermissionError(e, {
      action: `Cannot read safetensors file ${JSON.stringify(file)}`,
      target: `read permission for ${JSON.stringify(file)}`,
      path: file,
      flag: `--allow-read=${file}`,
    });
  }
  return parseSafetensors(bytes, { source: file, dtype: options.dtype });
}

/**
 * Serializes tensors as F32 or I32 (see `serializeSafetensors`) and writes them
 * to `path` without ever leaving a partial file there: the bytes go to a
 * temporary file in the same directory, which is then renamed over `path`,
 * and is removed if anything fails.
 *
 * Needs `--allow-write=<dir>` and, because `Deno.rename` requires it,
 * `--allow-read=<dir>`, where `<dir>` is the directory of `path`. A missing
 * permission is reported as {@link PermissionError} naming the flag.
 *
 * @example
 * ```ts ignore
 * import { writeSafetensorsFile } from "@tessera/core/safetensors";
 * // deno run --allow-read=out --allow-write=out main.ts
 * await writeSafetensorsFile(
 *   "out/model.safetensors",
 *   new Map([["bias", { shape: [2], data: new Float32Array([0.5, -1]) }]]),
 *   { format: "pt" },
 * );
 * ```
 */
export async function writeSafetensorsFile(
  path: string | URL,
  tensors: Map<string, HostTensor> | Iterable<readonly [string, HostTensor]>,
  metadata?: Record<string, string> | Map<string, string>,
  options: SafetensorsFileOptions = {},
): Promise<void> {
  const fs = options.fs ?? denoFs;
  const file = toPath(path);
  // Serialize first, so that invalid tensors never touch the disk.
  const bytes = serializeSafetensors(tensors, metadata);
  const dir = dirname(file);
  // Same directory, so that the rename stays on one file system and is atomic.
  const temp = join(dir, `.${basename(file)}.${crypto.randomUUID()}.tmp`);
  const action = `Cannot write safetensors file ${JSON.stringify(file)}`;
  let renaming = false;
  try {
    await fs.writeFile(temp, bytes, { createNew: true });
    renaming = true;
    await fs.rename(temp, file);
  } catch (e) {
    await fs.remove(temp).catch(() => {}); // it may not exist; the first error matters
    throw toPermissionError(
      e,
      renaming
        ? {
          action,
          target: `read permission for ${JSON.stringify(dir)}, which Deno.rename needs ` +
            `(with write permission) to move the temporary file ${JSON.stringify(temp)} ` +
            `into place`,
          path: dir,
          flag: `--allow-read=${dir}`,
        }
        : {
          action,
          target: `write permission for the temporary file ${JSON.stringify(temp)}, ` +
            `which is written first and then renamed into place`,
          path: dir,
          flag: `--allow-write=${dir}`,
        },
    );
  }
}

function toPath(path: string | URL): string {
  return typeof path === "string" ? path : fileURLToPath(path);
}

/** Returns a PermissionError for Deno's permission errors and `error` itself otherwise. */
function toPermissionError(
  error: unknown,
  context: { action: string; target: string; path: string; flag: string },
): unknown {
  const errors = denoApi()?.errors;
  if (errors && error instanceof errors.NotCapable) {
    return new PermissionError(
      `${context.action}: Deno has no ${context.target}; run again with ${context.flag}`,
      { path: context.path, flag: context.flag, cause: error },
    );
  }
  if (errors && error instanceof errors.PermissionDenied) {
    return new PermissionError(
      `${context.action}: the operating system denied access to ${
        JSON.stringify(context.path)
      } (${error.message}); check the file's owner and mode`,
      { path: context.path, cause: error },
    );
  }
  return error;
}
