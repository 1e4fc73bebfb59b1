/**
 * Matrix products: batched `matmul` with optional transposed operands, and
 * `linear` (`x @ W^T + b`, PyTorch's layout for weights).
 *
 * @module
 */

import { ShapeError } from "../errors.ts";
import { matmulBackward } from "../autograd/backward/matmul.ts";
import { record } from "../autograd/recording.ts";
import { launch, words } from "../gpu/launch.ts";
import { matmulTiles, planMatmul } from "../gpu/tuning.ts";
import { cpuData, cpuTensor, fromHost, numel, type Tensor } from "../tensor.ts";
import { add } from "./elementwise.ts";
import { assertSameDevice, showShape } from "./checks.ts";
import { reshape } from "./layout.ts";

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
 * Batched matrix product of `a` `[..., M, K]` and `b` `[..., K, N]` giving
 * `[..., M, N]`. Batch dimensions must match, or one operand may have none
 * (it is then shared across the batch, like a weight). Transposed operands
 * are read in place: no copy is made.
 *
 * @example
 * ```ts
 * import { matmul, tensor } from "@tessera/core";
 * const a = tensor([[1, 2], [3, 4]]);
 * console.log(await matmul(a, a).toArray()); // [[7, 10], [15, 22]]
 * console.log(await matmul(a, a, { transposeB: true }).toArray()); // [[5, 11], [11, 25]]
 * ```
 */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  return record("matmul", [a, b], batchedProduct(a, b, options), matmulBackward(options));
}

function batchedProduct(a: Tensor, b: Tensor, options: MatmulOptions): Tensor {
  assertSameDevice("matmul", ["a", a], ["b", b]);
  const { transposeA = false, transposeB = false } = options;
  const alpha = Math.fround(options.alpha ?? 1);
  if (a.shape.length < 2 || b.shape.length < 2) {
    throw new ShapeError(
      `matmul: expected a and b to have at least 2 dimensions, but got a ${showShape(a.shape)} ` +
        `and b ${showShape(b.shape)}`,
    );
  }
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const [M, K] = transposeA ? [ac, ar] : [ar, ac];
  const [Kb, N] = transposeB ? [bc, br] : [br, bc];
  const aBatch = a.shape.slice(0, -2);
  const bBatch = b.shape.slice(0, -2);
  const batchMismatch = aBatch.length > 0 && bBatch.length > 0 &&
    showShape(aBatch) !== showShape(bBatch);
  if (K !== Kb || batchMismatch) {
    throw new ShapeError(
      `matmul: a ${showShape(a.shape)}${transposeA ? " (transposed)" : ""} and b ` +
        `${showShape(b.shape)}${transposeB ? " (transposed)" : ""} do not fit: ` +
        (K !== Kb
          ? `inner dimensions ${K} and ${Kb} differ`
          : `batch dimensions ${showShape(aBatch)} and ${showShape(bBatch)} differ`),
    );
  }
  const batchShape = aBatch.length > 0 ? aBatch : bBatch;
  const batch = numel(batchShape);
  const outShape = [...batchShape, M, N];
  const aStride = aBatch.length > 0 ? M * K : 0;
  const bStride = bBatch.length > 0 ? K * N : 0;
  if (a.device.kind === "cpu") {
    const x = cpuData(a, "matmul", "a");
    const y = cpuData(b, "matmul", "b");
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
    return cpuTensor(out, outShape);
  }
  if (K === 0) {
    // An empty inner dimension sums nothing: the product is all zeros.
    return zerosOn(a, outShape);
  }
  if (batch > a.device.gpu.limits.maxComputeWorkgroupsPerDimension) {
    throw new ShapeError(
      `matmul: a batch of ${batch} matrices exceeds the device's ` +
        `maxComputeWorkgroupsPerDimension (${a.device.gpu.limits.maxComputeWorkgroupsPerDimension})`,
    );
  }
  // Register tiles per adapter (src/gpu/tuning.ts); vec4 loads where rows are aligned.
  const plan = planMatmul(matmulTiles(a.device), M, N, K, batch, transposeA, transposeB);
  const limit = a.device.gpu.limits.maxComputeWorkgroupsPerDimension;
  if (plan.grid[0] > limit || plan.grid[1] > limit) {
    throw new ShapeError(
      `matmul: an output of ${M} x ${N} needs a ${plan.grid[0]} x ${plan.grid[1]} grid of ` +
        `workgroups, over the device's maxComputeWorkgroupsPerDimension (${limit})`,
    );
  }
  return launch(a.device, {
    op: "matmul",
    shader: "matmul",
    constants: plan.constants,
    uniforms: words(M, N, K, batch, aStride, bStride, { f32: alpha }, 0),
    // Each operand is bound twice, as f32 and as vec4 (the kernel's aligned loads).
    inputs: [["a", a], ["a", a], ["b", b], ["b", b]],
    outShape,
    workgroups: plan.grid,
  });
}

function zerosOn(like: Tensor, shape: readonly number[]): Tensor {
  return fromHost(new Float32Array(numel(shape)), shape, like.device, "matmul", "matmul output");
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
