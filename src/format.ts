/**
 * Printing tensors the way PyTorch does.
 *
 * @module
 */

import { type FormatOptions, formatTensorValues } from "./format_values.ts";
import { checkOptions, checkTensor } from "./ops/checks.ts";
import type { Tensor } from "./tensor.ts";

/**
 * Formats a tensor exactly like PyTorch's `print(tensor)` (4 decimals by
 * default), with a `device='webgpu:0'` suffix for GPU tensors, as PyTorch
 * prints `device='cuda:0'`, and `dtype=torch.int32` (`dtype=torch.float16`)
 * after it for int32 (float16) tensors. Async because GPU values must be read back.
 *
 * @example
 * ```ts
 * import { format, tensor } from "@tessera/core";
 * console.log(await format(tensor([[0.4519, -0.2216]])));
 * // tensor([[ 0.4519, -0.2216]])
 * console.log(await format(tensor([1, 2, 3], undefined, { dtype: "int32" })));
 * // tensor([1, 2, 3], dtype=torch.int32)
 * ```
 */
export async function format(t: Tensor, options: FormatOptions = {}): Promise<string> {
  checkTensor("format", "tensor", t);
  checkOptions("format", options);
  const suffixes = t.device.kind === "cpu" ? [] : [`device='${t.device.name}'`];
  // torch appends device, then size (added by formatTensorValues), then dtype.
  // float16 values print widened to float32, as torch's _tensor_str does.
  if (t.dtype !== "float32") suffixes.push(`dtype=torch.${t.dtype}`);
  return formatTensorValues(await t.data(), t.shape, suffixes, options);
}
