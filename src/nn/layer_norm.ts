/**
 * `nn.layerNorm`: the book's `LayerNorm(emb_dim)` (parameters `scale` and
 * `shift`, biased variance, eps 1e-5) as an `init`/`apply` pair.
 *
 * @module
 */

import { ArgumentError, ShapeError } from "../errors.ts";
import { checkModule, type Module } from "../module.ts";
import {
  checkFiniteNumber,
  checkInteger,
  checkOptions,
  checkTensor,
  describe,
  showShape,
} from "../ops/checks.ts";
import { layerNorm as layerNormOp } from "../ops/layer_norm.ts";
import { cpuTensor, type Tensor } from "../tensor.ts";
import type { InitOptions } from "./linear.ts";

/**
 * Size of a layer norm: the features normalised together (the last dimension).
 *
 * @example
 * ```ts
 * import type { nn } from "@tessera/core";
 * const c: nn.LayerNormConfig = { embDim: 768 };
 * ```
 */
export interface LayerNormConfig {
  /** Features per row (`emb_dim`). */
  embDim: number;
  /** Added to the variance inside the square root; default 1e-5. */
  eps?: number;
}

/**
 * Parameters of a layer norm: `scale` (ones) and `shift` (zeros), both `[embDim]`.
 *
 * @example
 * ```ts
 * import { nn } from "@tessera/core";
 * const p: nn.LayerNormParams = nn.layerNorm.init({ embDim: 4 }).params;
 * console.log(p.scale.shape); // [4]
 * ```
 */
export interface LayerNormParams {
  /** Multiplies the normalised values (`weight` in `torch.nn.LayerNorm`). */
  scale: Tensor;
  /** Added after scaling (`bias` in `torch.nn.LayerNorm`). */
  shift: Tensor;
}

/**
 * A layer norm module record.
 *
 * @example
 * ```ts
 * import { nn } from "@tessera/core";
 * const m: nn.LayerNorm = nn.layerNorm.init({ embDim: 4 });
 * ```
 */
export type LayerNorm = Module<LayerNormParams, Record<string, never>, Required<LayerNormConfig>>;

/**
 * The book's `LayerNorm`: `scale * (x - mean) / sqrt(var + eps) + shift` over
 * the last dimension, with the biased variance. `init` draws no random
 * numbers (so it does not shift the generator, as in PyTorch). On webgpu one
 * kernel pass normalises every row.
 *
 * @example
 * ```ts
 * import { nn, tensor } from "@tessera/core";
 * const norm = nn.layerNorm.init({ embDim: 3 });
 * console.log(await nn.layerNorm.apply(norm, tensor([[1, 2, 3]])).toArray());
 * // [[-1.2247..., 0, 1.2247...]]
 * ```
 */
export const layerNorm: {
  init(config: LayerNormConfig, options?: InitOptions): LayerNorm;
  apply(module: LayerNorm, x: Tensor): Tensor;
} = {
  init(config: LayerNormConfig, options: InitOptions = {}): LayerNorm {
    const op = "layerNorm.init";
    checkOptions(op, options);
    if (config === null || typeof config !== "object") {
      throw new ArgumentError(
        `${op}: config must be an object like { embDim }, but got ${describe(config)}`,
      );
    }
    const embDim = checkInteger(op, "config.embDim", config.embDim, { min: 1 });
    const eps = config.eps === undefined ? 1e-5 : checkFiniteNumber(op, "config.eps", config.eps);
    if (eps < 0) throw new ArgumentError(`${op}: config.eps must be >= 0, but got ${eps}`);
    return {
      params: {
        scale: cpuTensor(new Float32Array(embDim).fill(1), [embDim]),
        shift: cpuTensor(new Float32Array(embDim), [embDim]),
      },
      buffers: {},
      config: { embDim, eps },
    };
  },
  apply(module: LayerNorm, x: Tensor): Tensor {
    const op = "layerNorm.apply";
    checkTensor(op, "x", x);
    checkModule(op, module, x.device);
    const features = module.params.scale.shape[0];
    if (x.shape.at(-1) !== features) {
      throw new ShapeError(
        `${op}: x has shape ${showShape(x.shape)}, but the layer normalises ${features} features`,
      );
    }
    return layerNormOp(x, module.params.scale, module.params.shift, module.config.eps);
  },
};
