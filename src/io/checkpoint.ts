/**
 * Safetensors checkpoints as state dicts of tensors: load a file written by
 * PyTorch's `safetensors.torch.save_file`, save one it can read.
 *
 * @module
 */

import { cpu, type Device } from "../device.ts";
import type { StateDict } from "../state_dict.ts";
import { fromHost, type Tensor } from "../tensor.ts";
import {
  readSafetensorsFile,
  type SafetensorsFileOptions,
  writeSafetensorsFile,
} from "./safetensors_file.ts";
import { type HostTensor, parseSafetensors, serializeSafetensors } from "./safetensors_format.ts";

/**
 * Options for {@linkcode loadSafetensors}.
 *
 * @example
 * ```ts
 * import { cpu, type LoadSafetensorsOptions } from "@tessera/core";
 * const o: LoadSafetensorsOptions = { device: cpu };
 * ```
 */
export interface LoadSafetensorsOptions extends SafetensorsFileOptions {
  /** Where to put the tensors; default `cpu`. */
  device?: Device;
}

function toStateDict(tensors: Map<string, HostTensor>, device: Device): StateDict {
  const dict: StateDict = new Map();
  try {
    for (const [name, t] of tensors) {
      dict.set(name, fromHost(t.data, t.shape, device, "loadSafetensors", name));
    }
  } catch (error) {
    for (const t of dict.values()) t.dispose();
    throw error;
  }
  return dict;
}

/**
 * Reads a safetensors file into a state dict (F32, F16 and BF16 are widened
 * to float32 exactly). Needs `--allow-read` for the file; pickle checkpoints
 * (`.pt`, `.pth`, `.bin`, `.ckpt`) are refused with an explanation.
 *
 * @example
 * ```ts ignore
 * import { loadSafetensors, loadStateDict, nn } from "@tessera/core";
 * // deno run --allow-read=attention.safetensors main.ts
 * const dict = await loadSafetensors("attention.safetensors");
 * const m = nn.causalAttention.init({ dIn: 3, dOut: 2, contextLength: 6, dropout: 0 });
 * const { module } = await loadStateDict(m, dict);
 * ```
 */
export async function loadSafetensors(
  path: string | URL,
  options: LoadSafetensorsOptions = {},
): Promise<StateDict> {
  const parsed = await readSafetensorsFile(path, options);
  return toStateDict(parsed.tensors, options.device ?? cpu);
}

/**
 * Parses safetensors bytes already in memory (a fetched file, an import with
 * `{ type: "bytes" }`) into a state dict.
 *
 * @example
 * ```ts
 * import { safetensorsToStateDict, stateDictToSafetensors, tensor } from "@tessera/core";
 * const bytes = await stateDictToSafetensors(new Map([["w", tensor([1, 2])]]));
 * console.log(await safetensorsToStateDict(bytes).get("w")!.toArray()); // [1, 2]
 * ```
 */
export function safetensorsToStateDict(bytes: Uint8Array, device: Device = cpu): StateDict {
  return toStateDict(parseSafetensors(bytes).tensors, device);
}

async function toHost(dict: StateDict | Record<string, Tensor>): Promise<Map<string, HostTensor>> {
  const entries = dict instanceof Map ? [...dict] : Object.entries(dict);
  const host = new Map<string, HostTensor>();
  for (const [name, t] of entries) host.set(name, { shape: [...t.shape], data: await t.data() });
  return host;
}

/**
 * Serializes a state dict to safetensors bytes (F32), readable by
 * `safetensors.torch.load_file`.
 *
 * @example
 * ```ts
 * import { nn, stateDict, stateDictToSafetensors } from "@tessera/core";
 * const m = nn.linear.init({ inFeatures: 3, outFeatures: 2 });
 * const bytes = await stateDictToSafetensors(stateDict(m));
 * console.log(bytes.length > 0); // true
 * ```
 */
export async function stateDictToSafetensors(
  dict: StateDict | Record<string, Tensor>,
  metadata?: Record<string, string>,
): Promise<Uint8Array> {
  return serializeSafetensors(await toHost(dict), metadata);
}

/**
 * Writes a state dict to a safetensors file through a temporary file and a
 * rename, so a crash never leaves a half-written checkpoint. Needs
 * `--allow-write` and `--allow-read` for the file's directory.
 *
 * @example
 * ```ts ignore
 * import { nn, saveSafetensors, stateDict } from "@tessera/core";
 * // deno run --allow-read=. --allow-write=. main.ts
 * const m = nn.causalAttention.init({ dIn: 3, dOut: 2, contextLength: 6, dropout: 0 });
 * await saveSafetensors("attention.safetensors", stateDict(m), { format: "pt" });
 * ```
 */
export async function saveSafetensors(
  path: string | URL,
  dict: StateDict | Record<string, Tensor>,
  metadata?: Record<string, string>,
  options: SafetensorsFileOptions = {},
): Promise<void> {
  await writeSafetensorsFile(path, await toHost(dict), metadata, options);
}
