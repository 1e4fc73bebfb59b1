/**
 * Safetensors bytes as state dicts of tensors (pure: no file system). The
 * file helpers are in `checkpoint_file.ts`.
 *
 * @module
 */

import { cpu, type Device } from "../device.ts";
import type { StateDict } from "../state_dict.ts";
import { fromHost, type Tensor } from "../tensor.ts";
import { type HostTensor, parseSafetensors, serializeSafetensors } from "./safetensors_format.ts";

/** Host tensors to a state dict on `device`; atomic on failure. */
export function toStateDict(tensors: Map<string, HostTensor>, device: Device): StateDict {
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

/** Reads every tensor of a state dict back to the host. */
export async function toHost(
  dict: StateDict | Record<string, Tensor>,
): Promise<Map<string, HostTensor>> {
  const entries = dict instanceof Map ? [...dict] : Object.entries(dict);
  const host = new Map<string, HostTensor>();
  for (const [name, t] of entries) host.set(name, { shape: [...t.shape], data: await t.data() });
  return host;
}

/**
 * Serializes a state dict to safetensors bytes (F32 for float32 tensors, I32
 * for int32 ones), readable by
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
