/**
 * Safetensors reading and writing, published as the `@tessera/core/safetensors`
 * subpath: byte-level parsing and serialization that run anywhere, file helpers
 * that use Deno's file system (Node's outside Deno) unless given another one,
 * checkpoints as state dicts, and the errors they throw. The root module
 * exports the same names except the file helpers, which import Node's
 * file-system modules and so would break a browser bundle of the root.
 *
 * @example
 * ```ts
 * import { parseSafetensors, serializeSafetensors } from "@tessera/core/safetensors";
 * const bytes = serializeSafetensors([["w", { shape: [2], data: new Float32Array([1, 2]) }]]);
 * console.log(parseSafetensors(bytes).tensors.get("w")?.shape); // [2]
 * ```
 *
 * @module
 */

export { safetensorsToStateDict, stateDictToSafetensors } from "./checkpoint.ts";
export * from "./checkpoint_file.ts";
export * from "./checkpoint_errors.ts";
export * from "./safetensors_format.ts";
export * from "./safetensors_file.ts";
export * from "./gpt2_weights.ts";
export * from "./gpt2_files.ts";
