/**
 * `nn.feedForward`: the book's `FeedForward` (Linear, GELU, Linear with a
 * 4x wider hidden layer) as an `init`/`apply` pair.
 *
 * @module
 */

import { isRecording } from "../autograd/recording.ts";
import { ArgumentError, ShapeError } from "../errors.ts";
import { checkModule, type Module } from "../module.ts";
import { checkInteger, checkOptions, checkTensor, describe, showShape } from "../ops/checks.ts";
import { linear } from "../ops/matmul.ts";
import { biasGelu } from "../ops/unary.ts";
import { globalGenerator } from "../random.ts";
import type { Tensor } from "../tensor.ts";
import { gelu } from "./gelu.ts";
import { initLinearParams, type InitOptions, type LinearParams } from "./linear.ts";

/**
 * Size of a feed-forward block: `embDim -> 4 embDim -> embDim`.
 *
 * @example
 * ```ts
 * import type { nn } from "@tessera/core";
 * const c: nn.FeedForwardConfig = { embDim: 768 };
 * ```
 */
export interface FeedForwardConfig {
  /** Input and output features (`emb_dim`); the hidden layer has 4x as many. */
  embDim: number;
}

/**
 * Parameters, keyed like the book's `nn.Sequential`: `layers.0` (Linear
 * `embDim -> 4 embDim`) and `layers.2` (Linear `4 embDim -> embDim`);
 * `layers.1` is the GELU, which has none.
 *
 * @example
 * ```ts
 * import { nn } from "@tessera/core";
 * const p: nn.FeedForwardParams = nn.feedForward.init({ embDim: 4 }).params;
 * console.log(p.layers[0].weight.shape, p.layers[2].weight.shape); // [16, 4] [4, 16]
 * ```
 */
export interface FeedForwardParams {
  /** The two linear layers, at their `nn.Sequential` indices. */
  layers: { 0: LinearParams; 2: LinearParams };
}

/**
 * A feed-forward module record.
 *
 * @example
 * ```ts
 * import { nn } from "@tessera/core";
 * const m: nn.FeedForward = nn.feedForward.init({ embDim: 4 });
 * ```
 */
export type FeedForward = Module<FeedForwardParams, Record<string, never>, FeedForwardConfig>;

/**
 * The book's `FeedForward(cfg)`: `init` draws `layers.0` then `layers.2`
 * (weight then bias each) like PyTorch; `apply(m, x)` computes
 * `linear2(gelu(linear1(x)))` over `[..., embDim]` inputs with the tanh GELU,
 * freeing the hidden activations. Without a recording tape the first bias is
 * added inside the GELU pass.
 *
 * @example
 * ```ts
 * import { manualSeed, nn, ones } from "@tessera/core";
 * manualSeed(123);
 * const ff = nn.feedForward.init({ embDim: 4 });
 * console.log(nn.feedForward.apply(ff, ones([2, 3, 4])).shape); // [2, 3, 4]
 * ```
 */
export const feedForward: {
  init(config: FeedForwardConfig, options?: InitOptions): FeedForward;
  apply(module: FeedForward, x: Tensor): Tensor;
} = {
  init(config: FeedForwardConfig, options: InitOptions = {}): FeedForward {
    const op = "feedForward.init";
    checkOptions(op, options);
    if (config === null || typeof config !== "object") {
      throw new ArgumentError(
        `${op}: config must be an object like { embDim }, but got ${describe(config)}`,
      );
    }
    const embDim = checkInteger(op, "config.embDim", config.embDim, { min: 1 });
    const generator = options.generator ?? globalGenerator();
    const first = initLinearParams(embDim, 4 * embDim, true, generator);
    const second = initLinearParams(4 * embDim, embDim, true, generator);
    return { params: { layers: { 0: first, 2: second } }, buffers: {}, config: { embDim } };
  },
  apply(module: FeedForward, x: Tensor): Tensor {
    const op = "feedForward.apply";
    checkTensor(op, "x", x);
    checkModule(op, module, x.device);
    const { 0: first, 2: second } = module.params.layers;
    const embDim = first.weight.shape[1];
    if (x.shape.length < 1 || x.shape.at(-1) !== embDim) {
      throw new ShapeError(
        `${op}: x has shape ${showShape(x.shape)}, but the layer takes ${embDim} features`,
      );
    }
    let activated: Tensor;
    if (isRecording() || !first.bias) {
      const hidden = linear(x, first.weight, first.bias); // [..., 4 embDim]
      activated = gelu.apply(GELU, hidden); // [..., 4 embDim]
      hidden.dispose();
    } else {
      // Inference: the bias add rides in the GELU pass, saving one pass over the hidden layer.
      const hidden = linear(x, first.weight); // [..., 4 embDim]
      activated = biasGelu(hidden, first.bias, "tanh"); // [..., 4 embDim]
      hidden.dispose();
    }
    const out = linear(activated, second.weight, second.bias); // [..., embDim]
    activated.dispose();
    return out;
  },
};

const GELU = gelu.init({ approximate: "tanh" });
