/**
 * Printing tensors the way PyTorch does.
 *
 * @module
 */

import { type FormatOptions, formatTensorValues } from "./format_values.ts";
import type { Tensor } from "./tensor.ts";

/**
 * Formats a tensor exactly like PyTorch's `print(tensor)` (4 decimals by
 * default), with a `device='webgpu:0'` suffix for GPU tensors, as PyTorch
 * prints `device='cuda:0'`. Async because GPU values must be read back.
 *
 * @example
 * ```ts
 * import { format, tensor } from "@tessera/core";
 * console.log(await format(tensor([[0.4519, -0.2216]])));
 * // tensor([[ 0.4519, -0.2216]])
 * ```
 */
export async function format(t: Tensor, options: FormatOptions = {}): Promise<string> {
  const suffixes = t.device.kind === "cpu" ? [] : [`device='${t.device.name}'`];
  const values = await t.data();
  if (values instanceof Int32Array) {
    return formatTensorValues(Float32Array.from(values), t.shape, [
      ...suffixes,
      "dtype=torch.int32",
    ], options);
  }
  return formatTensorValues(values, t.shape, suffixes, options);
}
