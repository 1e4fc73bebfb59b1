/**
 * `nn.gelu`: the book's `GELU` module (the tanh approximation) as an
 * `init`/`apply` pair; it has no parameters.
 *
 * @module
 */

import { ArgumentError } from "../errors.ts";
import { checkModule, type Module } from "../module.ts";
import { checkOptions, checkTensor, describe } from "../ops/checks.ts";
import { gelu as geluOp } from "../ops/unary.ts";
import type { Tensor } from "../tensor.ts";

/**
 * Which GELU formula: `"tanh"` (the book's and GPT-2's,
 * `0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))`) or `"none"` (the exact
 * erf form, PyTorch's default).
 *
 * @example
 * ```ts
 * import type { nn } from "@tessera/core";
 * const c: nn.GeluConfig = { approximate: "tanh" };
 * ```
 */
export interface GeluConfig {
  /** Default `"tanh"`, as in the book. */
  approximate?: "tanh" | "none";
}

/**
 * A GELU module record (no parameters or buffers).
 *
 * @example
 * ```ts
 * import { nn } from "@tessera/core";
 * const g: nn.Gelu = nn.gelu.init();
 * ```
 */
export type Gelu = Module<Record<string, never>, Record<string, never>, Required<GeluConfig>>;

/**
 * The book's `GELU()`: `init()` makes the (empty) module, `apply(m, x)`
 * applies the activation elementwise.
 *
 * @example
 * ```ts
 * import { nn, tensor } from "@tessera/core";
 * const y = nn.gelu.apply(nn.gelu.init(), tensor([-1, 0, 1]));
 * console.log(await y.toArray()); // [-0.1588..., 0, 0.8411...]
 * ```
 */
export const gelu: {
  init(config?: GeluConfig): Gelu;
  apply(module: Gelu, x: Tensor): Tensor;
} = {
  init(config: GeluConfig = {}): Gelu {
    checkOptions("gelu.init", config, "config");
    return { params: {}, buffers: {}, config: { approximate: approximation("gelu.init", config) } };
  },
  apply(module: Gelu, x: Tensor): Tensor {
    const op = "gelu.apply";
    checkTensor(op, "x", x);
    checkModule(op, module, x.device);
    checkOptions(op, module.config, "module.config");
    return geluOp(x, { approximate: approximation(op, module.config ?? {}) });
  },
};

function approximation(op: string, config: GeluConfig): "tanh" | "none" {
  const approximate = config.approximate ?? "tanh";
  if (approximate !== "tanh" && approximate !== "none") {
    throw new ArgumentError(
      `${op}: config.approximate must be "tanh" or "none", but got ${describe(approximate)}`,
    );
  }
  return approximate;
}
