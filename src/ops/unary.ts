/**
 * Elementwise math with PyTorch's numbers, NaN and infinities included:
 * `exp`, `log`, `sqrt`, `rsqrt`, `tanh`, `sigmoid`, `relu`, `gelu`, `pow`,
 * `neg`, `abs`, `clamp`, each with its backward rule (kept here, beside the
 * op; the rules call kernels only). Float32 only: int32 inputs throw
 * `DTypeError`.
 *
 * GPU results agree with the CPU reference (measured on Mesa llvmpipe, 2e5
 * random inputs per op): exact for relu, neg, abs, clamp, sqrt, rsqrt and pow
 * with exponent 0, 1, 2 or 3; within 1 ulp for exp, log, tanh; 2 ulp for
 * sigmoid; 4 ulp for pow with other exponents (computed as 2^(e log2|x|)
 * with the whole part of the exponent split off exactly). gelu agrees within
 * 1 ulp of max(|x|, 1) (absolute): PyTorch's own float32 formula
 * `x/2 * (1 + erf(x/sqrt 2))` cancels for x < -2, so its relative error is
 * large there on every device. Gradients computed from the output as
 * PyTorch does (tanh: `g (1 - y^2)`, sigmoid: `g (1 - y) y`) inherit the
 * same cancellation: about 1e-7 * |g| absolute. The GPU kernels do not use
 * WGSL's exp, log, tanh or pow builtins, whose errors grow with the argument
 * or are absolute near 1.
 *
 * @module
 */

import { isRecording, record } from "../autograd/recording.ts";
import { ArgumentError, ShapeError } from "../errors.ts";
import { fromHost, type Tensor } from "../tensor.ts";
import { add } from "./elementwise.ts";
import { checkNumber, checkOptions, checkTensor, showShape } from "./checks.ts";
import {
  biasGeluKernel,
  powFlags,
  unaryGradKernel,
  unaryKernel,
  type UnaryOp,
  type UnaryParams,
} from "./unary_kernels.ts";

/** Ops whose gradient PyTorch computes from the output rather than the input. */
const FROM_OUTPUT: ReadonlySet<UnaryOp> = new Set([
  "exp",
  "relu",
  "sqrt",
  "rsqrt",
  "tanh",
  "sigmoid",
]);

function unary(
  name: string,
  op: UnaryOp,
  x: unknown,
  forward: UnaryParams = {},
  backward = forward,
): Tensor {
  checkTensor(name, "x", x);
  const out = unaryKernel(name, op, x, forward);
  return record(name, [x], out, (g, s) => {
    const saved = FROM_OUTPUT.has(op) ? s.output : s.inputs[0];
    return [unaryGradKernel(name, op, saved, g, backward)];
  });
}

/**
 * `e^x` elementwise, like `torch.exp` (`exp(-inf) = 0`, overflow gives `inf`).
 *
 * @example
 * ```ts
 * import { exp, tensor } from "@tessera/core";
 * console.log(await exp(tensor([0, 1])).toArray()); // [1, 2.7182817459106445]
 * ```
 */
export function exp(x: Tensor): Tensor {
  return unary("exp", "exp", x);
}

/**
 * Natural logarithm elementwise, like `torch.log`: `log(0) = -inf`, and a
 * negative input gives NaN.
 *
 * @example
 * ```ts
 * import { log, tensor } from "@tessera/core";
 * console.log(await log(tensor([1, 0, -1])).toArray()); // [0, -Infinity, NaN]
 * ```
 */
export function log(x: Tensor): Tensor {
  return unary("log", "log", x);
}

/**
 * Square root elementwise, like `torch.sqrt` (`sqrt(-1)` is NaN).
 *
 * @example
 * ```ts
 * import { sqrt, tensor } from "@tessera/core";
 * console.log(await sqrt(tensor([4, 2.25])).toArray()); // [2, 1.5]
 * ```
 */
export function sqrt(x: Tensor): Tensor {
  return unary("sqrt", "sqrt", x);
}

/**
 * `1 / sqrt(x)` elementwise, like `torch.rsqrt` (`rsqrt(0) = inf`).
 *
 * @example
 * ```ts
 * import { rsqrt, tensor } from "@tessera/core";
 * console.log(await rsqrt(tensor([4, 0.25])).toArray()); // [0.5, 2]
 * ```
 */
export function rsqrt(x: Tensor): Tensor {
  return unary("rsqrt", "rsqrt", x);
}

/**
 * Hyperbolic tangent elementwise, like `torch.tanh`; large inputs give
 * exactly +-1 on every device (never NaN).
 *
 * @example
 * ```ts
 * import { tanh, tensor } from "@tessera/core";
 * console.log(await tanh(tensor([0, 100, -100])).toArray()); // [0, 1, -1]
 * ```
 */
export function tanh(x: Tensor): Tensor {
  return unary("tanh", "tanh", x);
}

/**
 * The logistic function `1 / (1 + e^-x)` elementwise, like `torch.sigmoid`.
 *
 * @example
 * ```ts
 * import { sigmoid, tensor } from "@tessera/core";
 * console.log(await sigmoid(tensor([0, -200])).toArray()); // [0.5, 0]
 * ```
 */
export function sigmoid(x: Tensor): Tensor {
  return unary("sigmoid", "sigmoid", x);
}

/**
 * `max(x, 0)` elementwise, like `torch.relu`: NaN stays NaN. Its gradient at
 * 0 is 0, as in PyTorch.
 *
 * @example
 * ```ts
 * import { relu, tensor } from "@tessera/core";
 * console.log(await relu(tensor([-1, 2])).toArray()); // [0, 2]
 * ```
 */
export function relu(x: Tensor): Tensor {
  return unary("relu", "relu", x);
}

/**
 * Options for {@linkcode gelu}.
 *
 * @example
 * ```ts
 * import type { GeluOptions } from "@tessera/core";
 * const gpt2: GeluOptions = { approximate: "tanh" };
 * ```
 */
export interface GeluOptions {
  /**
   * `"none"` (the default, as in PyTorch): the exact `x * Phi(x)` with erf.
   * `"tanh"`: `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`, the form
   * GPT-2 and the book's GELU module use.
   */
  approximate?: "none" | "tanh";
}

function geluOp(op: string, options: GeluOptions | undefined): UnaryOp {
  checkOptions(op, options);
  const approximate = options?.approximate ?? "none";
  if (approximate !== "none" && approximate !== "tanh") {
    throw new ArgumentError(
      `${op}: approximate must be "none" or "tanh", but got ${JSON.stringify(approximate)}`,
    );
  }
  return approximate === "tanh" ? "geluTanh" : "gelu";
}

/**
 * The Gaussian error linear unit, like `torch.nn.functional.gelu`. The
 * default is PyTorch's exact erf form; pass `{ approximate: "tanh" }` for
 * GPT-2's tanh approximation (what the book's `GELU` class computes).
 *
 * @example
 * ```ts
 * import { gelu, tensor } from "@tessera/core";
 * console.log(await gelu(tensor([0, 1])).toArray()); // [0, 0.8413447141647339]
 * console.log(await gelu(tensor([1]), { approximate: "tanh" }).toArray()); // [0.8411920070648193]
 * ```
 */
export function gelu(x: Tensor, options?: GeluOptions): Tensor {
  return unary("gelu", geluOp("gelu", options), x);
}

/**
 * `x^exponent` elementwise for a number exponent, like `torch.pow(x, e)`:
 * `pow(0, 0) = 1`, a negative base with a fractional exponent gives NaN.
 *
 * @example
 * ```ts
 * import { pow, tensor } from "@tessera/core";
 * console.log(await pow(tensor([2, 3]), 2).toArray()); // [4, 9]
 * console.log(await pow(tensor([-8, 0]), 0.5).toArray()); // [NaN, 0]
 * ```
 */
export function pow(x: Tensor, exponent: number): Tensor {
  checkTensor("pow", "x", x);
  const e = checkNumber("pow", "exponent", exponent);
  if (!Number.isFinite(e)) {
    throw new ArgumentError(`pow: exponent must be a finite number, but got ${e}`);
  }
  const out = unaryKernel("pow", "pow", x, { alpha: e, flags: powFlags(Math.fround(e)) });
  return record("pow", [x], out, (g, s) => {
    // d/dx x^e = e x^(e-1); PyTorch gives zeros for e = 0 (even at NaN).
    if (e === 0) return [fromHost(new Float32Array(g.size), g.shape, g.device, "pow", "gradient")];
    const lower = Math.fround(e - 1);
    const params = { alpha: lower, beta: e, flags: powFlags(lower) };
    return [unaryGradKernel("pow", "pow", s.inputs[0], g, params)];
  });
}

/**
 * `-x` elementwise, like `torch.neg`.
 *
 * @example
 * ```ts
 * import { neg, tensor } from "@tessera/core";
 * console.log(await neg(tensor([1, -2])).toArray()); // [-1, 2]
 * ```
 */
export function neg(x: Tensor): Tensor {
  return unary("neg", "neg", x);
}

/**
 * `|x|` elementwise, like `torch.abs`; its gradient at 0 is 0.
 *
 * @example
 * ```ts
 * import { abs, tensor } from "@tessera/core";
 * console.log(await abs(tensor([-1.5, 2])).toArray()); // [1.5, 2]
 * ```
 */
export function abs(x: Tensor): Tensor {
  return unary("abs", "abs", x);
}

/**
 * Bounds for {@linkcode clamp}; at least one must be given.
 *
 * @example
 * ```ts
 * import type { ClampOptions } from "@tessera/core";
 * const unit: ClampOptions = { min: 0, max: 1 };
 * ```
 */
export interface ClampOptions {
  /** Lower bound (none when omitted). */
  min?: number;
  /** Upper bound (none when omitted). */
  max?: number;
}

/**
 * `min(max(x, min), max)` elementwise, like `torch.clamp`: NaN stays NaN,
 * and `min > max` gives `max` everywhere. The gradient passes where
 * `min <= x <= max` (bounds included) and is 0 elsewhere.
 *
 * @example
 * ```ts
 * import { clamp, tensor } from "@tessera/core";
 * console.log(await clamp(tensor([-2, 0.5, 3]), { min: 0, max: 1 }).toArray()); // [0, 0.5, 1]
 * ```
 */
export function clamp(x: Tensor, options: ClampOptions): Tensor {
  checkTensor("clamp", "x", x);
  checkOptions("clamp", options);
  const { min, max } = options ?? {};
  if (min === undefined && max === undefined) {
    throw new ArgumentError("clamp: at least one of min or max must be given");
  }
  for (const [name, bound] of [["min", min], ["max", max]] as const) {
    if (bound !== undefined && Number.isNaN(checkNumber("clamp", name, bound))) {
      throw new ArgumentError(`clamp: ${name} must be a number, but got NaN`);
    }
  }
  const flags = (min !== undefined ? 1 : 0) | (max !== undefined ? 2 : 0);
  return unary("clamp", "clamp", x, { alpha: min ?? 0, beta: max ?? 0, flags });
}

/**
 * `gelu(x + bias)` with `bias` over x's last dimension. While nothing
 * records (inference), one fused kernel does both; under `valueAndGrad` it
 * is `add` then `gelu`, so gradients flow. Internal fast path of the
 * feed-forward layer, not exported from the package root.
 *
 * @example
 * ```ts
 * import { biasGelu } from "./unary.ts";
 * import { tensor } from "../creation.ts";
 * console.log(await biasGelu(tensor([[0, 1]]), tensor([1, 0]), "tanh").toArray());
 * // [[0.8411920070648193, 0.8411920070648193]]
 * ```
 */
export function biasGelu(x: Tensor, bias: Tensor, approximate: "none" | "tanh" = "none"): Tensor {
  checkTensor("biasGelu", "x", x);
  checkTensor("biasGelu", "bias", bias);
  geluOp("biasGelu", { approximate });
  const features = x.shape[x.shape.length - 1];
  if (bias.shape.length !== 1 || x.shape.length === 0 || bias.shape[0] !== features) {
    throw new ShapeError(
      `biasGelu: bias has shape ${showShape(bias.shape)}, but x ${showShape(x.shape)} ` +
        `needs a bias of shape [${x.shape.length === 0 ? "" : features}] over its last dimension`,
    );
  }
  if (isRecording()) {
    const sum = add(x, bias);
    const out = gelu(sum, { approximate });
    // The tape keeps its own handle to sum.
    sum.dispose();
    return out;
  }
  return biasGeluKernel(x, bias, approximate);
}
