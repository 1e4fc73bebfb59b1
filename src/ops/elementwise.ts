/**
 * Elementwise ops with NumPy broadcasting: add, sub, mul, div, scale. The
 * kernels live in elementwise_kernels.ts, which the backward rules use too,
 * so this file and its rules do not import each other.
 *
 * @module
 */

import { binaryBackward, scaleBackward } from "../autograd/backward/elementwise.ts";
import { record } from "../autograd/recording.ts";
import type { Tensor } from "../tensor.ts";
import { checkNumber, checkTensor } from "./checks.ts";
import { affineKernel, binaryKernel } from "./elementwise_kernels.ts";

/**
 * `a + b` with broadcasting (a bias `[N]` adds to every row of `[..., N]`).
 *
 * @example
 * ```ts
 * import { add, tensor } from "@tessera/core";
 * console.log(await add(tensor([[1, 2], [3, 4]]), tensor([10, 20])).toArray());
 * // [[11, 22], [13, 24]]
 * ```
 */
export function add(a: Tensor, b: Tensor): Tensor {
  return record("add", [a, b], binaryKernel("add", a, b), binaryBackward("add"));
}

/**
 * `a - b` with broadcasting.
 *
 * @example
 * ```ts
 * import { sub, tensor } from "@tessera/core";
 * console.log(await sub(tensor([3, 4]), tensor([1, 1])).toArray()); // [2, 3]
 * ```
 */
export function sub(a: Tensor, b: Tensor): Tensor {
  return record("sub", [a, b], binaryKernel("sub", a, b), binaryBackward("sub"));
}

/**
 * `a * b` elementwise with broadcasting.
 *
 * @example
 * ```ts
 * import { mul, tensor } from "@tessera/core";
 * console.log(await mul(tensor([1, 2, 3]), tensor([2])).toArray()); // [2, 4, 6]
 * ```
 */
export function mul(a: Tensor, b: Tensor): Tensor {
  return record("mul", [a, b], binaryKernel("mul", a, b), binaryBackward("mul"));
}

/**
 * `a / b` elementwise with broadcasting.
 *
 * @example
 * ```ts
 * import { div, tensor } from "@tessera/core";
 * console.log(await div(tensor([1, 2]), tensor([4])).toArray()); // [0.25, 0.5]
 * ```
 */
export function div(a: Tensor, b: Tensor): Tensor {
  return record("div", [a, b], binaryKernel("div", a, b), binaryBackward("div"));
}

/**
 * `x * factor`, computed in float32 on both devices.
 *
 * @example
 * ```ts
 * import { scale, tensor } from "@tessera/core";
 * console.log(await scale(tensor([1, 2]), 0.5).toArray()); // [0.5, 1]
 * ```
 */
export function scale(x: Tensor, factor: number): Tensor {
  checkTensor("scale", "x", x);
  checkNumber("scale", "factor", factor);
  return record("scale", [x], affineKernel("scale", x, factor), scaleBackward(factor));
}
