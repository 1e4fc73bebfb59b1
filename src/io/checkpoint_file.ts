/**
 * Safetensors checkpoint files as state dicts: load a file written by
 * PyTorch's `safetensors.torch.save_file`, save one it can read. Published in
 * the `@tessera/core/safetensors` subpath only, because it imports Node's
 * file-system modules, which browsers lack.
 *
 * @module
 */

import { cpu, type Device } from "../device.ts";
import type { StateDict } from "../state_dict.ts";
import type { Tensor } from "../tensor.ts";
import { checkDeviceArg, toHost, toStateDict } from "./checkpoint.ts";
import {
  readSafetensorsFile,
  type SafetensorsFileOptions,
  writeSafetensorsFile,
} from "./safetensors_file.ts";

/**
 * Options for {@linkcode loadSafetensors}.
 *
 * @example
 * ```ts
 * import { cpu } from "@tessera/core";
import type { LoadSafetensorsOptions } from "@tessera/core/safetensors";
 * const o: LoadSafetensorsOptions = { device: cpu };
 * ```
 */
export interface LoadSafetensorsOptions extends SafetensorsFileOptions {
  /** Where to put the tensors; default `cpu`. */
  device?: Device;
}

/**
 * Reads a safetensors file into a state dict (F32, F16 and BF16 are widened
 * to float32 exactly, or with `{ dtype: "float16" }` load as float16 with F16
 * kept bit for bit; I32 loads as int32). Needs `--allow-read` for the
 * file; pickle checkpoints (`.pt`, `.pth`, `.bin`, `.ckpt`) are refused with
 * an explanation.
 *
 * @example
 * ```ts ignore
 * import { loadStateDict, nn } from "@tessera/core";
 * import { loadSafetensors } from "@tessera/core/safetensors";
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
  const device = options?.device ?? cpu;
  checkDeviceArg("loadSafetensors", device);
  const parsed = await readSafetensorsFile(path, options);
  return toStateDict(parsed.tensors, device);
}

/**
 * Writes a state dict to a safetensors file through a temporary file and a
 * rename, so a crash never leaves a half-written checkpoint. Needs
 * `--allow-write` and `--allow-read` for the file's directory.
 *
 * @example
 * ```ts ignore
 * import { nn, stateDict } from "@tessera/core";
import { saveSafetensors } from "@tessera/core/safetensors";
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
  await writeSafetensorsFile(path, await toHost(dict, "saveSafetensors"), metadata, options);
}
