/**
 * `nn.linear`: PyTorch's `nn.Linear` as an `init`/`apply` pair over a plain
 * record.
 *
 * @module
 */

import { ArgumentError } from "../errors.ts";
import { checkModule, type Module } from "../module.ts";
import { checkInteger, checkOptions, checkTensor, describe } from "../ops/checks.ts";
import { linear as linearOp } from "../ops/matmul.ts";
import { type Generator, globalGenerator, linearInitValues } from "../random.ts";
import { tidy } from "../scope.ts";
import { cpuTensor, type Tensor } from "../tensor.ts";

/**
 * Sizes of a linear layer.
 *
 * @example
 * ```ts
 * import type { nn } from "@tessera/core";
 * const c: nn.LinearConfig = { inFeatures: 3, outFeatures: 2, bias: false };
 * ```
 */
export interface LinearConfig {
  /** Input features (`in_features`). */
  inFeatures: number;
  /** Output features (`out_features`). */
  outFeatures: number;
  /** Whether the layer has a bias; default true, as in PyTorch. */
  bias?: boolean;
}

/**
 * Parameters of a linear layer: `weight` `[out, in]` and an optional `bias` `[out]`.
 *
 * @example
 * ```ts
 * import { nn } from "@tessera/core";
 * const p: nn.LinearParams = nn.linear.init({ inFeatures: 3, outFeatures: 2 }).params;
 * console.log(p.weight.shape); // [2, 3]
 * ```
 */
export interface LinearParams {
  /** `[outFeatures, inFeatures]`. */
  weight: Tensor;
  /** `[outFeatures]`, when the layer has a bias. */
  bias?: Tensor;
}

/**
 * A linear layer module.
 *
 * @example
 * ```ts
 * import { nn } from "@tessera/core";
 * const layer: nn.Linear = nn.linear.init({ inFeatures: 4, outFeatures: 4 });
 * ```
 */
export type Linear = Module<LinearParams, Record<string, never>, Required<LinearConfig>>;

/**
 * Options for `init` functions.
 *
 * @example
 * ```ts
 * import { Generator, nn } from "@tessera/core";
 * const opts: nn.InitOptions = { generator: new Generator(123) };
 * ```
 */
export interface InitOptions {
  /** Random generator; defaults to the global one seeded by `manualSeed`. */
  generator?: Generator;
}

/** Draws one linear layer's parameters in PyTorch's order (weight, then bias). */
export function initLinearParams(
  inFeatures: number,
  outFeatures: number,
  bias: boolean,
  generator: Generator,
): LinearParams {
  const values = linearInitValues(inFeatures, outFeatures, bias, generator);
  const weight = cpuTensor(values.weight, [outFeatures, inFeatures]);
  return values.bias ? { weight, bias: cpuTensor(values.bias, [outFeatures]) } : { weight };
}

/**
 * PyTorch's `nn.Linear`: `init` draws weight then bias exactly as PyTorch does
 * (after `manualSeed(s)` the values equal `torch.manual_seed(s)`'s bit for
 * bit); `apply` computes `x @ weight^T + bias`.
 *
 * @example
 * ```ts
 * import { manualSeed, nn, tensor } from "@tessera/core";
 * manualSeed(123);
 * const layer = nn.linear.init({ inFeatures: 3, outFeatures: 2 });
 * const y = nn.linear.apply(layer, tensor([[0.43, 0.15, 0.89]]));
 * console.log(y.shape); // [1, 2]
 * ```
 */
export const linear: {
  init(config: LinearConfig, options?: InitOptions): Linear;
  apply(module: Linear, x: Tensor): Tensor;
} = {
  init(config: LinearConfig, options: InitOptions = {}): Linear {
    const op = "linear.init";
    if (config === null || typeof config !== "object" || Array.isArray(config)) {
      throw new ArgumentError(
        `${op}: config must be an object like { inFeatures, outFeatures }, but got ` +
          describe(config),
      );
    }
    const inFeatures = checkInteger(op, "config.inFeatures", config.inFeatures, { min: 0 });
    const outFeatures = checkInteger(op, "config.outFeatures", config.outFeatures, { min: 0 });
    if (config.bias !== undefined && typeof config.bias !== "boolean") {
      throw new ArgumentError(
        `${op}: config.bias must be a boolean, but got ${describe(config.bias)}`,
      );
    }
    checkOptions(op, options);
    const bias = config.bias ?? true;
    const generator = options.generator ?? globalGenerator();
    return {
      params: initLinearParams(inFeatures, outFeatures, bias, generator),
      buffers: {},
      config: { inFeatures, outFeatures, bias },
    };
  },
  apply(module: Linear, x: Tensor): Tensor {
    const op = "linear.apply";
    // Every tensor is checked before the matmul is recorded: a disposed bias
    // found after it would leave the product allocated.
    checkModule(op, module);
    checkTensor(op, "input", x);
    const { weight, bias } = module.params;
    checkTensor(op, "params.weight", weight);
    if (bias !== undefined) checkTensor(op, "params.bias", bias);
    return tidy(() => linearOp(x, weight, bias));
  },
};
