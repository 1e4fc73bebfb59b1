/**
 * Safetensors bytes as state dicts of tensors (pure: no file system). The
 * file helpers are in `checkpoint_file.ts`.
 *
 * @module
 */

import { cpu, type Device, runtimeOf, type WebGpuDevice } from "../device.ts";
import { ArgumentError } from "../errors.ts";
import { checkTensor, describe } from "../ops/checks.ts";
import type { StateDict } from "../state_dict.ts";
import { fromHost, hostData, type Tensor } from "../tensor.ts";
import { type HostTensor, parseSafetensors, serializeSafetensors } from "./safetensors_format.ts";

/** Throws `ArgumentError` unless `device` is `cpu` or a device from `webgpu()`. */
export function checkDeviceArg(op: string, device: unknown): asserts device is Device {
  if (device === cpu) return;
  if (typeof device === "object" && device !== null && (device as Device).kind === "webgpu") {
    try {
      runtimeOf(device as WebGpuDevice);
      return;
    } catch {
      // Not one of ours: reported below.
    }
  }
  throw new ArgumentError(
    `${op}: device must be cpu or a device from webgpu(), but got ${describe(device)}`,
  );
}

/** Throws `ArgumentError` unless `bytes` is a `Uint8Array`. */
export function checkBytesArg(op: string, bytes: unknown): asserts bytes is Uint8Array {
  if (!(bytes instanceof Uint8Array)) {
    throw new ArgumentError(`${op}: bytes must be a Uint8Array, but got ${describe(bytes)}`);
  }
}

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
 * `{ type: "bytes" }`) into a state dict. `options.dtype` is the dtype
 * floating tensors load as (`"float16"` keeps F16 bits; default float32).
 *
 * @example
 * ```ts
 * import { safetensorsToStateDict, stateDictToSafetensors, tensor } from "@tessera/core";
 * const bytes = await stateDictToSafetensors(new Map([["w", tensor([1, 2])]]));
 * console.log(await safetensorsToStateDict(bytes).get("w")!.toArray()); // [1, 2]
 * ```
 */
export function safetensorsToStateDict(
  bytes: Uint8Array,
  device: Device = cpu,
  options: { dtype?: "float32" | "float16" } = {},
): StateDict {
  checkBytesArg("safetensorsToStateDict", bytes);
  checkDeviceArg("safetensorsToStateDict", device);
  return toStateDict(parseSafetensors(bytes, { dtype: options?.dtype }).tensors, device);
}

/**
 * Reads every tensor of a state dict back to the host. Checks the whole
 * dict first: a Map or record of live tensors, not empty (an empty
 * checkpoint is almost always a module passed where `stateDict(module)`
 * belongs, or the wrong object).
 */
export async function toHost(
  dict: StateDict | Record<string, Tensor>,
  op = "stateDictToSafetensors",
): Promise<Map<string, HostTensor>> {
  if (
    !(dict instanceof Map) && (typeof dict !== "object" || dict === null || Array.isArray(dict))
  ) {
    throw new ArgumentError(
      `${op}: dict must be a Map or record of tensors (a state dict), but got ${describe(dict)}`,
    );
  }
  const entries = dict instanceof Map ? [...dict] : Object.entries(dict);
  if (entries.length === 0) {
    throw new ArgumentError(
      `${op}: dict holds no tensors; pass stateDict(module) to save a module`,
    );
  }
  for (const [name, t] of entries) checkTensor(op, `dict[${JSON.stringify(name)}]`, t);
  const host = new Map<string, HostTensor>();
  // hostData keeps float16 as its bits, so it saves as F16 (not widened).
  for (const [name, t] of entries) {
    host.set(name, { shape: [...t.shape], data: await hostData(t, op, name) });
  }
  return host;
}

/**
 * Serializes a state dict to safetensors bytes (F32 for float32 tensors, F16
 * for float16, I32 for int32 ones), readable by
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
