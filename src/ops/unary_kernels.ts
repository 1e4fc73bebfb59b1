/**
 * The kernels behind the unary math ops (no autograd): float32 CPU
 * references that round like PyTorch's CPU kernels (one `Math.fround` per
 * PyTorch operation), and launches of the `unary`, `unary_backward` and
 * `bias_gelu` WGSL kernels.
 *
 * @module
 */

import { ELEMENTWISE_WG, launch, words } from "../gpu/launch.ts";
import { cpuData, cpuTensor, type Tensor } from "../tensor.ts";
import { assertSameDevice } from "./checks.ts";
import {
  cpuFloatTensor,
  type FloatDType,
  floatDType,
  storageSnippet,
  widened,
} from "./float_dtype.ts";
import { gpuOf, type KernelTable, kernelTable } from "./kernel_table.ts";

/** Op codes of shaders/unary_math.wgsl (its `U_*` constants). */
export const UNARY_OPS = {
  affine: 0,
  exp: 1,
  relu: 2,
  log: 3,
  sqrt: 4,
  rsqrt: 5,
  tanh: 6,
  sigmoid: 7,
  gelu: 8,
  geluTanh: 9,
  pow: 10,
  neg: 11,
  abs: 12,
  clamp: 13,
} as const;

/** A unary op other than the affine map. */
export type UnaryOp = Exclude<keyof typeof UNARY_OPS, "affine">;

/**
 * The scalars of a unary op: pow's exponent in `alpha`; clamp's bounds in
 * `alpha`/`beta` with flags 1 (has min) and 2 (has max). For pow's
 * gradient, `alpha` is the exponent minus one and `beta` the exponent.
 */
export interface UnaryParams {
  alpha?: number;
  beta?: number;
  flags?: number;
}

const f = Math.fround;
const SQRT1_2 = f(Math.SQRT1_2);
const GELU_BETA = f(Math.SQRT2 * (2 / Math.sqrt(Math.PI)) * 0.5);
const GELU_KAPPA = f(0.044715);
const GELU_PDF = f((2 / Math.sqrt(Math.PI)) * Math.SQRT1_2 * 0.5);

/** erf in double precision (better than 1e-15): JavaScript has none. */
export function erf(x: number): number {
  const a = Math.abs(x);
  if (Number.isNaN(x) || a === 0) return x;
  if (a >= 6) return Math.sign(x);
  let r: number;
  if (a < 3) {
    // erf(a) = 2/sqrt(pi) e^(-a^2) sum 2^n a^(2n+1) / (2n+1)!!: positive terms, no cancellation.
    let term = a, sum = a;
    for (let n = 1; n < 200 && term > sum * 1e-17; n++) {
      term *= (2 * a * a) / (2 * n + 1);
      sum += term;
    }
    r = (2 / Math.sqrt(Math.PI)) * Math.exp(-a * a) * sum;
  } else {
    // erfc(a) = e^(-a^2)/sqrt(pi) / (a + (1/2)/(a + 1/(a + (3/2)/(a + ...)))).
    let t = a;
    for (let k = 120; k >= 1; k--) t = a + k / 2 / t;
    r = 1 - Math.exp(-a * a) / Math.sqrt(Math.PI) / t;
  }
  return x < 0 ? -r : r;
}

/** Whether `e` is a whole number, and an odd one (pow's sign rules). */
export function powFlags(e: number): number {
  if (!Number.isInteger(e)) return 0;
  return 1 | (Math.abs(e % 2) === 1 ? 2 : 0);
}

/** x^e in float32 with PyTorch's special cases (x*x for 2, sqrt for 0.5, ...). */
export function powF32(x: number, e: number): number {
  if (e === 0) return 1;
  if (e === 1) return x;
  if (e === 2) return f(x * x);
  if (e === 3) return f(f(x * x) * x);
  if (e === 0.5) return f(Math.sqrt(x));
  if (e === -0.5) return f(1 / f(Math.sqrt(x)));
  if (e === -1) return f(1 / x);
  if (e === -2) return f(1 / f(x * x));
  // Math.pow follows C's pow for every finite exponent.
  return f(Math.pow(x, e));
}

function tanhGelu(x: number): number {
  const cube = f(f(x * x) * x);
  const inner = f(GELU_BETA * f(x + f(GELU_KAPPA * cube)));
  return f(f(0.5 * x) * f(1 + f(Math.tanh(inner))));
}

function erfGelu(x: number): number {
  return f(f(x * 0.5) * f(1 + f(erf(f(x * SQRT1_2)))));
}

/** The float32 value of `op` at x (the CPU reference). */
export function unaryValue(op: UnaryOp, x: number, p: Required<UnaryParams>): number {
  switch (op) {
    case "exp":
      return f(Math.exp(x));
    case "relu":
      return x < 0 ? 0 : x;
    case "log":
      return f(Math.log(x));
    case "sqrt":
      return f(Math.sqrt(x));
    case "rsqrt":
      return f(1 / f(Math.sqrt(x)));
    case "tanh":
      return f(Math.tanh(x));
    case "sigmoid":
      return f(1 / f(1 + f(Math.exp(-x))));
    case "gelu":
      return erfGelu(x);
    case "geluTanh":
      return tanhGelu(x);
    case "pow":
      return powF32(x, p.alpha);
    case "neg":
      return -x;
    case "abs":
      return Math.abs(x);
    case "clamp": {
      if (Number.isNaN(x)) return x;
      let r = x;
      if (p.flags & 1 && r < p.alpha) r = p.alpha;
      if (p.flags & 2 && p.beta < r) r = p.beta;
      return r;
    }
  }
}

/**
 * The float32 gradient of `op` given the saved value v and the output's
 * gradient g (the CPU reference): v is the output for exp, relu, sqrt,
 * rsqrt, tanh and sigmoid (as in PyTorch), else the input.
 */
export function unaryGradValue(
  op: UnaryOp,
  v: number,
  g: number,
  p: Required<UnaryParams>,
): number {
  switch (op) {
    case "exp":
      return f(g * v);
    case "relu":
      return v <= 0 ? 0 : g;
    case "log":
      return f(g / v);
    case "sqrt":
      return f(g / f(2 * v));
    case "rsqrt":
      return f(f(-0.5 * g) * f(f(v * v) * v));
    case "tanh":
      return f(g * f(1 - f(v * v)));
    case "sigmoid":
      return f(f(g * f(1 - v)) * v);
    case "gelu": {
      const cdf = f(0.5 * f(1 + f(erf(f(v * SQRT1_2)))));
      const pdf = f(f(Math.exp(f(f(v * v) * -0.5))) * GELU_PDF);
      return f(g * f(cdf + f(v * pdf)));
    }
    case "geluTanh": {
      const sq = f(v * v);
      const cube = f(sq * v);
      const inner = f(GELU_BETA * f(v + f(GELU_KAPPA * cube)));
      const t = f(Math.tanh(inner));
      const left = f(0.5 * v);
      const right = f(1 + t);
      const leftDerivative = f(0.5 * right);
      const tanhDerivative = f(1 - f(t * t));
      const innerDerivative = f(GELU_BETA * f(1 + f(f(3 * GELU_KAPPA) * sq)));
      const rightDerivative = f(f(left * tanhDerivative) * innerDerivative);
      return f(g * f(leftDerivative + rightDerivative));
    }
    case "pow":
      return f(g * f(p.beta * powF32(v, p.alpha)));
    case "neg":
      return -g;
    case "abs":
      return f(g * (v > 0 ? 1 : v < 0 ? -1 : 0));
    case "clamp": {
      const inside = (!(p.flags & 1) || v >= p.alpha) && (!(p.flags & 2) || v <= p.beta);
      return inside ? g : 0;
    }
  }
}

function full(p: UnaryParams): Required<UnaryParams> {
  return { alpha: f(p.alpha ?? 0), beta: f(p.beta ?? 0), flags: p.flags ?? 0 };
}

/**
 * `op(x)` elementwise on x's device (`name` is the public op's name, for
 * errors); a float16 x is computed in float32 and rounded once to float16.
 */
export function unaryKernel(
  name: string,
  op: UnaryOp,
  x: Tensor,
  params: UnaryParams = {},
): Tensor {
  const p = full(params);
  const dtype = floatDType(name, ["x", x]);
  return unaryKernels.for(x)(name, op, x, p, dtype);
}

/** A unary op implementation (see {@linkcode unaryKernel}), params filled in. */
export type UnaryImpl = (
  name: string,
  op: UnaryOp,
  x: Tensor,
  p: Required<UnaryParams>,
  dtype: FloatDType,
) => Tensor;

function referenceUnary(
  name: string,
  op: UnaryOp,
  x: Tensor,
  p: Required<UnaryParams>,
  dtype: FloatDType,
): Tensor {
  const src = widened(x, name, "x");
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = unaryValue(op, src[i], p);
  return cpuFloatTensor(out, x.shape, dtype);
}

function webgpuUnary(
  name: string,
  op: UnaryOp,
  x: Tensor,
  p: Required<UnaryParams>,
  dtype: FloatDType,
): Tensor {
  return launch(gpuOf(x), {
    op: name,
    shader: "unary",
    includes: [storageSnippet(dtype), "elementwise_header", "unary_math", "elementwise_main"],
    constants: { OP: UNARY_OPS[op] },
    uniforms: words(x.size, { f32: p.alpha }, { f32: p.beta }, p.flags),
    inputs: [["x", x]],
    dtypes: [dtype],
    outShape: x.shape,
    workgroups: Math.ceil(x.size / ELEMENTWISE_WG),
  });
}

/** The unary math ops, per backend (src/ops/kernel_table.ts). */
export const unaryKernels: KernelTable<UnaryImpl> = kernelTable<UnaryImpl>("unary", {
  reference: referenceUnary,
  webgpu: webgpuUnary,
});

/** The gradient of `op` from the saved value v and the output's gradient g (same shape). */
export function unaryGradKernel(
  name: string,
  op: UnaryOp,
  v: Tensor,
  g: Tensor,
  params: UnaryParams = {},
): Tensor {
  const p = full(params);
  return unaryGradKernels.for(v)(name, op, v, g, p);
}

/** A unary op's gradient implementation (see {@linkcode unaryGradKernel}). */
export type UnaryGradImpl = (
  name: string,
  op: UnaryOp,
  v: Tensor,
  g: Tensor,
  p: Required<UnaryParams>,
) => Tensor;

function referenceUnaryGrad(
  name: string,
  op: UnaryOp,
  v: Tensor,
  g: Tensor,
  p: Required<UnaryParams>,
): Tensor {
  const src = cpuData(v, name, "saved value");
  const grad = cpuData(g, name, "gradient");
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = unaryGradValue(op, src[i], grad[i], p);
  return cpuTensor(out, v.shape);
}

function webgpuUnaryGrad(
  name: string,
  op: UnaryOp,
  v: Tensor,
  g: Tensor,
  p: Required<UnaryParams>,
): Tensor {
  return launch(gpuOf(v), {
    op: `${name} backward`,
    shader: "unary_backward",
    includes: ["elementwise_header", "unary_math", "elementwise_main"],
    constants: { OP: UNARY_OPS[op] },
    uniforms: words(v.size, { f32: p.alpha }, { f32: p.beta }, p.flags),
    inputs: [["saved value", v], ["gradient", g]],
    outShape: v.shape,
    workgroups: Math.ceil(v.size / ELEMENTWISE_WG),
  });
}

/** The unary math ops' gradients, per backend (src/ops/kernel_table.ts). */
export const unaryGradKernels: KernelTable<UnaryGradImpl> = kernelTable<UnaryGradImpl>(
  "unary backward",
  { reference: referenceUnaryGrad, webgpu: webgpuUnaryGrad },
);

/**
 * `gelu(x + bias)` in one pass, bias over x's last dimension; the sum is
 * rounded to float32 first, so it equals `gelu(add(x, bias))` exactly on cpu.
 * float16 x and bias keep the sum in float32 and round the output once.
 */
export function biasGeluKernel(x: Tensor, bias: Tensor, approximate: "none" | "tanh"): Tensor {
  assertSameDevice("biasGelu", ["x", x], ["bias", bias]);
  const dtype = floatDType("biasGelu", ["x", x], ["bias", bias]);
  return biasGeluKernels.for(x)(x, bias, approximate === "tanh", dtype);
}

/** `gelu(x + bias)` (tanh approximation when `tanh`), see {@linkcode biasGeluKernel}. */
export type BiasGeluImpl = (x: Tensor, bias: Tensor, tanh: boolean, dtype: FloatDType) => Tensor;

function referenceBiasGelu(x: Tensor, bias: Tensor, tanh: boolean, dtype: FloatDType): Tensor {
  const features = bias.size;
  const src = widened(x, "biasGelu", "x");
  const b = widened(bias, "biasGelu", "bias");
  const out = new Float32Array(src.length);
  const gelu = tanh ? tanhGelu : erfGelu;
  for (let i = 0; i < src.length; i++) out[i] = gelu(f(src[i] + b[i % features]));
  return cpuFloatTensor(out, x.shape, dtype);
}

function webgpuBiasGelu(x: Tensor, bias: Tensor, tanh: boolean, dtype: FloatDType): Tensor {
  const features = bias.size;
  return launch(gpuOf(x), {
    op: "biasGelu",
    shader: "bias_gelu",
    includes: [storageSnippet(dtype), "elementwise_header", "unary_math", "elementwise_main"],
    constants: { TANH: tanh ? 1 : 0 },
    uniforms: words(x.size, features, 0, 0),
    inputs: [["x", x], ["bias", bias]],
    dtypes: [dtype],
    outShape: x.shape,
    workgroups: Math.ceil(x.size / ELEMENTWISE_WG),
  });
}

/** Fused bias + GELU, per backend (src/ops/kernel_table.ts). */
export const biasGeluKernels: KernelTable<BiasGeluImpl> = kernelTable<BiasGeluImpl>("biasGelu", {
  reference: referenceBiasGelu,
  webgpu: webgpuBiasGelu,
});
