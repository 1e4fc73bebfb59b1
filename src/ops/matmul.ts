/**
 * Matrix products: `matmul` (batched, broadcasting, with optional transposed
 * operands) and its backward rule, and `linear` (`x @ W^T + b`, PyTorch's
 * layout for weights).
 *
 * @module
 */

import { ShapeError } from "../errors.ts";
import { type Backward, record, type Saved } from "../autograd/recording.ts";
import { launch, words } from "../gpu/launch.ts";
import { itemsPerInvocation } from "../gpu/loop_bound.ts";
import { matmulTiles, planMatmul } from "../gpu/tuning.ts";
import { fromHost, hostArray, numel, type Tensor, viewOf } from "../tensor.ts";
import { castKernel } from "./cast.ts";
import type { CpuMatmulShape } from "../cpu/matmul.ts";
import { gpuOf, type KernelTable, kernelTable } from "./kernel_table.ts";
import {
  cpuFloatTensor,
  type FloatDType,
  floatDType,
  storageSnippet,
  widened,
} from "./float_dtype.ts";
import { add } from "./elementwise.ts";
import { bigLinear, needsBigLinear } from "./big_linear.ts";
import {
  assertSameDevice,
  broadcastStrides,
  checkBoolean,
  checkFiniteNumber,
  checkOptions,
  checkRank,
  checkTensor,
  showShape,
} from "./checks.ts";
import { gather } from "./gather.ts";
import { reshape } from "./layout.ts";
import { reduceOver, sumTo } from "./reduce.ts";

/**
 * Options for {@linkcode matmul}.
 *
 * @example
 * ```ts
 * import type { MatmulOptions } from "@tessera/core";
 * const qkT: MatmulOptions = { transposeB: true };
 * ```
 */
export interface MatmulOptions {
  /** Read `a` as `[..., K, M]` and use its transpose. */
  transposeA?: boolean;
  /** Read `b` as `[..., N, K]` and use its transpose (`Q @ K^T`, `x @ W^T`). */
  transposeB?: boolean;
  /** Multiply the product by this factor inside the kernel (attention's 1/sqrt(d)). */
  alpha?: number;
}

/**
 * Matrix product like `torch.matmul`: `a` `[..., M, K]` and `b` `[..., K, N]`
 * give `[..., M, N]`, where the batch dimensions broadcast (NumPy rules:
 * `[B1, 1, M, K] @ [B2, K, N]` gives `[B1, B2, M, N]`). A 1-D `a` `[K]` is a
 * row and a 1-D `b` `[K]` a column, and that dimension is dropped from the
 * result (`[K] @ [K]` is a scalar of shape `[]`). Transposed operands
 * (`transposeA` / `transposeB`, which swap the last two dimensions of a
 * matrix operand; a 1-D operand is read the same either way) are read in
 * place: no copy is made. An operand whose batch shape is neither the full
 * broadcast batch nor all ones is expanded into a copy first.
 *
 * On webgpu a very long inner dimension K is split across invocations and
 * the partial products summed (split-K), so any K works on adapters that cap
 * shader loops.
 *
 * @example
 * ```ts
 * import { matmul, tensor } from "@tessera/core";
 * const a = tensor([[1, 2], [3, 4]]);
 * console.log(await matmul(a, a).toArray()); // [[7, 10], [15, 22]]
 * console.log(await matmul(a, a, { transposeB: true }).toArray()); // [[5, 11], [11, 25]]
 * console.log(await matmul(a, tensor([1, 1])).toArray()); // [3, 7]
 * ```
 */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  checkTensor("matmul", "a", a);
  checkTensor("matmul", "b", b);
  checkOptions("matmul", options);
  if (options.alpha !== undefined) checkFiniteNumber("matmul", "alpha", options.alpha);
  checkBoolean("matmul", "options.transposeA", options.transposeA, false);
  checkBoolean("matmul", "options.transposeB", options.transposeB, false);
  assertSameDevice("matmul", ["a", a], ["b", b]);
  if (a.shape.length < 1 || b.shape.length < 1) {
    throw new ShapeError(
      `matmul: expected a and b to have at least 1 dimension, but got a ${showShape(a.shape)} ` +
        `and b ${showShape(b.shape)}`,
    );
  }
  checkRank("matmul", "a", a.shape);
  checkRank("matmul", "b", b.shape);
  // A weight over one storage binding (GPT-2's tied head) is multiplied block by block.
  if (needsBigLinear(b, options)) return bigLinear(a, b, options.alpha ?? 1, matmul);
  const vecA = a.shape.length === 1;
  const vecB = b.shape.length === 1;
  if (!vecA && !vecB) {
    return record("matmul", [a, b], batchedProduct(a, b, options), matmulBackward(options));
  }
  // A vector becomes a one-row (a) or one-column (b) matrix, laid out so the
  // transpose flags read it as such, and its unit dimension is dropped after.
  const opts = { ...options, transposeA: vecA ? false : options.transposeA };
  const optsB = { ...opts, transposeB: vecB ? false : options.transposeB };
  const a2 = vecA ? reshape(a, [1, a.shape[0]]) : a;
  const b2 = vecB ? reshape(b, [b.shape[0], 1]) : b;
  const product = record("matmul", [a2, b2], batchedProduct(a2, b2, optsB), matmulBackward(optsB));
  if (a2 !== a) a2.dispose();
  if (b2 !== b) b2.dispose();
  const shape = product.shape.slice(0, -2);
  if (!vecA) shape.push(product.shape.at(-2)!);
  if (!vecB) shape.push(product.shape.at(-1)!);
  const out = reshape(product, shape);
  product.dispose();
  return out;
}

/** The broadcast batch shape of two batch shapes, or null when they do not broadcast. */
function broadcastBatch(x: readonly number[], y: readonly number[]): number[] | null {
  const rank = Math.max(x.length, y.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const dx = x[x.length - rank + i] ?? 1;
    const dy = y[y.length - rank + i] ?? 1;
    if (dx !== dy && dx !== 1 && dy !== 1) return null;
    out.push(dx === 1 ? dy : dx);
  }
  return out;
}

/**
 * `t` read with batch stride 0 (one matrix for the whole batch), its own
 * contiguous stride (its batch is the full batch), or expanded into a copy.
 */
function batchOperand(
  t: Tensor,
  batchShape: readonly number[],
): { operand: Tensor; stride: number } {
  const own = t.shape.slice(0, -2);
  const matrix = t.shape.slice(-2);
  const size = matrix[0] * matrix[1];
  if (numel(own) === 1) return { operand: t, stride: 0 };
  const lead = batchShape.length - own.length;
  if (own.every((d, i) => d === batchShape[lead + i]) && numel(own) === numel(batchShape)) {
    return { operand: t, stride: size };
  }
  const full = [...batchShape, ...matrix];
  const operand = gather("matmul", t, full, broadcastStrides(t.shape, full), 0);
  return { operand, stride: size };
}

function batchedProduct(a: Tensor, b: Tensor, options: MatmulOptions): Tensor {
  const { transposeA = false, transposeB = false } = options;
  const alpha = Math.fround(options.alpha ?? 1);
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const [M, K] = transposeA ? [ac, ar] : [ar, ac];
  const [Kb, N] = transposeB ? [bc, br] : [br, bc];
  const aBatch = a.shape.slice(0, -2);
  const bBatch = b.shape.slice(0, -2);
  const batchShape = broadcastBatch(aBatch, bBatch);
  if (K !== Kb || batchShape === null) {
    throw new ShapeError(
      `matmul: a ${showShape(a.shape)}${transposeA ? " (transposed)" : ""} and b ` +
        `${showShape(b.shape)}${transposeB ? " (transposed)" : ""} do not fit: ` +
        (K !== Kb
          ? `inner dimensions ${K} and ${Kb} differ`
          : `batch dimensions ${showShape(aBatch)} and ${showShape(bBatch)} do not broadcast`),
    );
  }
  const batch = numel(batchShape);
  const outShape = [...batchShape, M, N];
  if (a.device.kind === "webgpu" && K > 0 && batch > 0) {
    const limit = a.device.gpu.limits.maxComputeWorkgroupsPerDimension;
    if (batch > limit) {
      throw new ShapeError(
        `matmul: a batch of ${batch} matrices exceeds the device's ` +
          `maxComputeWorkgroupsPerDimension (${limit})`,
      );
    }
  }
  const A = batchOperand(a, batchShape);
  const B = batchOperand(b, batchShape);
  try {
    return product(A.operand, B.operand, {
      M,
      N,
      K,
      batch,
      aStride: A.stride,
      bStride: B.stride,
      transposeA,
      transposeB,
      alpha,
      outShape,
    });
  } finally {
    if (A.operand !== a) A.operand.dispose();
    if (B.operand !== b) B.operand.dispose();
  }
}

/** The sizes the kernels take, plus the output's shape. */
export interface ProductShape extends CpuMatmulShape {
  outShape: number[];
}

function product(a: Tensor, b: Tensor, s: ProductShape): Tensor {
  // float16 operands accumulate in float32; each output rounds once.
  const dtype = floatDType("matmul", ["a", a], ["b", b]);
  return matmulKernels.for(a)(a, b, s, dtype);
}

/** A batched product implementation: `alpha * op(a) @ op(b)` per batch, as `dtype`. */
export type MatmulImpl = (a: Tensor, b: Tensor, s: ProductShape, dtype: FloatDType) => Tensor;

function referenceMatmul(a: Tensor, b: Tensor, s: ProductShape, dtype: FloatDType): Tensor {
  const { M, N, K, batch, aStride, bStride, transposeA, transposeB, alpha, outShape } = s;
  const x = widened(a, "matmul", "a");
  const y = widened(b, "matmul", "b");
  const out = new Float32Array(batch * M * N);
  for (let bi = 0; bi < batch; bi++) {
    const ab = bi * aStride, bb = bi * bStride, ob = bi * M * N;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let acc = 0;
        for (let k = 0; k < K; k++) {
          const av = transposeA ? x[ab + k * M + m] : x[ab + m * K + k];
          const bv = transposeB ? y[bb + n * K + k] : y[bb + k * N + n];
          acc += av * bv;
        }
        out[ob + m * N + n] = alpha * Math.fround(acc);
      }
    }
  }
  return cpuFloatTensor(out, outShape, dtype);
}

function webgpuMatmul(a: Tensor, b: Tensor, s: ProductShape, dtype: FloatDType): Tensor {
  const { M, N, K, batch, aStride, bStride, transposeA, transposeB, alpha, outShape } = s;
  const device = gpuOf(a);
  if (K === 0 || batch === 0 || M === 0 || N === 0) {
    // An empty inner dimension sums nothing: the product is all zeros.
    return zerosOn(a, outShape, dtype);
  }
  // Split-K bounds each invocation's K loop (K / 4 iterations plus a tail of
  // at most 3) by the loop budget; normal sizes take one split, as before.
  const kChunk = 4 * itemsPerInvocation(1, 32);
  const splits = Math.ceil(K / kChunk);
  const limit = device.gpu.limits.maxComputeWorkgroupsPerDimension;
  if (batch * splits > limit) {
    throw new ShapeError(
      `matmul: a batch of ${batch} matrices with K = ${K} (${splits} K splits) exceeds the ` +
        `device's maxComputeWorkgroupsPerDimension (${limit})`,
    );
  }
  // Register tiles per adapter (src/gpu/tuning.ts); vec4 loads where rows are aligned.
  if (dtype === "float16" && splits > 1) {
    // Split-K partial sums must stay float32: run the product in float32.
    const a32 = castKernel("matmul", a, "float32");
    const b32 = castKernel("matmul", b, "float32");
    const p32 = webgpuMatmul(a32, b32, s, "float32");
    a32.dispose();
    b32.dispose();
    const out = castKernel("matmul", p32, "float16");
    p32.dispose();
    return out;
  }
  const plan = planMatmul(matmulTiles(device), M, N, K, batch * splits, transposeA, transposeB);
  if (plan.grid[0] > limit || plan.grid[1] > limit) {
    throw new ShapeError(
      `matmul: an output of ${M} x ${N} needs a ${plan.grid[0]} x ${plan.grid[1]} grid of ` +
        `workgroups, over the device's maxComputeWorkgroupsPerDimension (${limit})`,
    );
  }
  const out = launch(device, {
    op: "matmul",
    shader: "matmul",
    includes: [storageSnippet(dtype)],
    constants: plan.constants,
    uniforms: words(
      M,
      N,
      K,
      batch * splits,
      aStride,
      bStride,
      { f32: alpha },
      splits,
      splits === 1 ? K : kChunk,
      0,
      0,
      0,
    ),
    // Each operand is bound twice, as f32 and as vec4 (the kernel's aligned loads).
    inputs: [["a", a], ["a", a], ["b", b], ["b", b]],
    dtypes: [dtype],
    outShape: splits === 1 ? outShape : [batch, splits, M, N],
    workgroups: plan.grid,
  });
  if (splits === 1) return out;
  const summed = reduceOver("matmul", out, [1], 1, false);
  out.dispose();
  const shaped = viewOf(summed, outShape, "matmul");
  summed.dispose();
  return shaped;
}

/**
 * Batched products, per backend (src/ops/kernel_table.ts); the cpu device's
 * WebAssembly entry is registered by src/cpu/register.ts.
 */
export const matmulKernels: KernelTable<MatmulImpl> = kernelTable<MatmulImpl>("matmul", {
  reference: referenceMatmul,
  webgpu: webgpuMatmul,
});

function zerosOn(like: Tensor, shape: readonly number[], dtype: FloatDType): Tensor {
  return fromHost(hostArray(dtype, numel(shape)), shape, like.device, "matmul", "matmul output");
}

/**
 * The backward rule for `matmul(a, b, options)` on matrices (batched or not):
 * out = alpha * op(a) @ op(b), with op a transpose where asked. Each gradient
 * is one more matmul reading its operands in place (transposed flags, no
 * copies); an operand broadcast over batch dimensions gets the sum over them.
 */
function matmulBackward(options: MatmulOptions): Backward {
  const { transposeA: tA = false, transposeB: tB = false, alpha = 1 } = options;
  return (g: Tensor, s: Saved) => {
    const [a, b] = s.inputs;
    let da: Tensor | null = null;
    let db: Tensor | null = null;
    if (s.needs[0]) {
      // d op(a) = alpha * g @ op(b)^T, and da is its transpose when a is read transposed.
      da = tA
        ? matmul(b, g, { transposeA: tB, transposeB: true, alpha })
        : matmul(g, b, { transposeB: !tB, alpha });
      da = sumBatch(da, a.shape);
    }
    if (s.needs[1]) {
      // d op(b) = alpha * op(a)^T @ g, transposed back when b is read transposed.
      db = sharedWeightGrad(a, g, tA, tB, alpha, b) ??
        sumBatch(
          tB
            ? matmul(g, a, { transposeA: true, transposeB: tA, alpha })
            : matmul(a, g, { transposeA: !tA, alpha }),
          b.shape,
        );
    }
    return [da, db];
  };
}

/**
 * When b has no batch dimensions but a does (a weight applied to a batch),
 * and a is not read transposed, the batch folds into a's rows: one
 * unbatched matmul sums over the batch for free.
 */
function sharedWeightGrad(
  a: Tensor,
  g: Tensor,
  tA: boolean,
  tB: boolean,
  alpha: number,
  b: Tensor,
): Tensor | null {
  if (tA || b.shape.length !== 2 || a.shape.length === 2) return null;
  if (g.size !== numel(a.shape.slice(0, -1)) * g.shape.at(-1)!) return null;
  const rows = a.size / a.shape.at(-1)!;
  const flatA = reshape(a, [rows, a.shape.at(-1)!]);
  const flatG = reshape(g, [rows, g.shape.at(-1)!]);
  const out = tB
    ? matmul(flatG, flatA, { transposeA: true, alpha })
    : matmul(flatA, flatG, { transposeA: true, alpha });
  flatA.dispose();
  flatG.dispose();
  return out;
}

/** Sums a batched gradient over the batch dimensions its operand lacks or broadcast. */
function sumBatch(t: Tensor, shape: readonly number[]): Tensor {
  if (showShape(t.shape) === showShape(shape)) return t;
  const out = sumTo(t, shape);
  t.dispose();
  return out;
}

/**
 * `x @ weight^T + bias`, with PyTorch's `nn.Linear` layout: `weight` is
 * `[out, in]`, `bias` is `[out]`, `x` is `[..., in]`.
 *
 * @example
 * ```ts
 * import { linear, tensor } from "@tessera/core";
 * const w = tensor([[1, 0, 0], [0, 1, 1]]);
 * console.log(await linear(tensor([[1, 2, 3]]), w, tensor([0.5, 0.5])).toArray());
 * // [[1.5, 5.5]]
 * ```
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
  checkTensor("linear", "input", x);
  checkTensor("linear", "weight", weight);
  if (bias !== undefined) checkTensor("linear", "bias", bias);
  assertSameDevice("linear", ["input", x], ["weight", weight]);
  if (bias) assertSameDevice("linear", ["input", x], ["bias", bias]);
  if (weight.shape.length !== 2 || x.shape.length < 1 || x.shape.at(-1) !== weight.shape[1]) {
    throw new ShapeError(
      `linear: input ${showShape(x.shape)} and weight ${showShape(weight.shape)} do not fit: ` +
        `expected weight [out, ${x.shape.at(-1)}]`,
    );
  }
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== weight.shape[0])) {
    throw new ShapeError(
      `linear: bias ${showShape(bias.shape)} does not fit weight ${showShape(weight.shape)}: ` +
        `expected [${weight.shape[0]}]`,
    );
  }
  const rows = numel(x.shape.slice(0, -1));
  const flat = x.shape.length === 2 ? x : reshapeRows(x, rows);
  const product = matmul(flat, weight, { transposeB: true });
  if (flat !== x) flat.dispose();
  const shaped = x.shape.length === 2 ? product : reshapeBack(product, x.shape, weight.shape[0]);
  if (!bias) return shaped;
  const out = add(shaped, bias);
  shaped.dispose();
  return out;
}

function reshapeRows(x: Tensor, rows: number): Tensor {
  return reshape(x, [rows, x.shape.at(-1)!]);
}

function reshapeBack(t: Tensor, xShape: readonly number[], outFeatures: number): Tensor {
  const out = reshape(t, [...xShape.slice(0, -1), outFeatures]);
  t.dispose();
  return out;
}
