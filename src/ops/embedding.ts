/**
 * `embedding(weight, ids)`: a row gather, PyTorch's `F.embedding`, with its
 * scatter-add backward. The weight may be larger than one storage binding (a
 * GPT-2 token table): it is bound as blocks of rows (`big_buffer.ts`).
 *
 * @module
 */

import { type Backward, record } from "../autograd/recording.ts";
import { runtimeOf, type WebGpuDevice } from "../device.ts";
import { ArgumentError, ShapeError } from "../errors.ts";
import { rowChunks, unboundBuffer } from "../gpu/big_buffer.ts";
import { ELEMENTWISE_WG, words } from "../gpu/launch.ts";
import type { GpuBufferHandle } from "../gpu/runtime.ts";
import { SHADERS } from "../gpu/shaders.generated.ts";
import {
  checkDType,
  checkF16Device,
  cpuData,
  cpuInts,
  cpuRaw,
  cpuTensor,
  fromHost,
  gpuBuffer,
  gpuTensor,
  type HostData,
  type Tensor,
} from "../tensor.ts";
import { assertSameDevice, checkTensor, showShape } from "./checks.ts";
import { gpuOf, type KernelTable, kernelTable } from "./kernel_table.ts";

/** List nodes one backward invocation walks per dispatch (llvmpipe's loop budget is 65,535). */
const STEPS = 4096;
/** Id positions one workgroup links per dispatch in the backward pass. */
const LINK_BLOCK = 1024;
/** A quiet NaN's bits, written for out-of-range ids on webgpu. */
const NAN_BITS = 0x7fc00000;
/** The float16 quiet NaN, for a float16 weight. */
const NAN_BITS_F16 = 0x7e00;

/**
 * Looks up rows of `weight` ([V, D], float32 or float16: the result has its
 * dtype) by `ids` (int32, any shape): the result has shape
 * `[...ids.shape, D]`, as `torch.nn.functional.embedding`. The gradient is
 * float32 only.
 * Differentiable in `weight`: the gradient sums the output gradients of
 * repeated ids into their row, in position order on both devices (so the
 * webgpu gradient equals the CPU's bit for bit).
 *
 * Ids outside `[0, V)` throw `ArgumentError` when the ids are on cpu (PyTorch's
 * "index out of range in self"), including a cpu `ids` with a webgpu `weight`,
 * which is allowed and checked before upload. Ids already on the GPU cannot be
 * checked without a readback, so their output rows are NaN: loud, never a
 * silently wrong row.
 *
 * @example
 * ```ts
 * import { embedding, tensor } from "@tessera/core";
 * const weight = tensor([[0, 1], [2, 3], [4, 5]]);
 * const ids = tensor([[2, 0]], undefined, { dtype: "int32" });
 * console.log(await embedding(weight, ids).toArray()); // [[[4, 5], [0, 1]]]
 * ```
 */
export function embedding(weight: Tensor, ids: Tensor): Tensor {
  const op = "embedding";
  checkTensor(op, "weight", weight);
  checkTensor(op, "ids", ids);
  checkDType(op, "weight", weight, ["float32", "float16"]);
  checkDType(op, "ids", ids, ["int32"]);
  if (weight.shape.length !== 2) {
    throw new ShapeError(
      `embedding: weight has shape ${showShape(weight.shape)}, but it must be 2-D ` +
        `[num_embeddings, embedding_dim]`,
    );
  }
  const [vocab, dim] = weight.shape;
  const outShape = [...ids.shape, dim];
  if (weight.device.kind === "cpu" || ids.device.kind !== "cpu") {
    assertSameDevice(op, ["weight", weight], ["ids", ids]);
  }
  if (ids.device.kind === "cpu") checkIds(cpuInts(ids, op, "ids"), vocab);
  const out = embeddingKernels.for(weight)(weight, ids, outShape);
  return record(op, [weight, ids], out, embeddingBackward(vocab, dim));
}

/** PyTorch's check, with the position and value it found. */
function checkIds(ids: Int32Array, vocab: number): void {
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] < 0 || ids[i] >= vocab) {
      throw new ArgumentError(
        `embedding: index out of range in self: ids holds ${ids[i]} at flat index ${i}, ` +
          `but weight has ${vocab} rows (valid ids are 0 to ${vocab - 1})`,
      );
    }
  }
}

/**
 * An embedding lookup implementation: rows of `weight` by `ids` (validated
 * by the op; on webgpu, ids may be on cpu) as `outShape`, weight's dtype.
 */
export type EmbeddingImpl = (weight: Tensor, ids: Tensor, outShape: readonly number[]) => Tensor;

function referenceEmbedding(weight: Tensor, ids: Tensor, outShape: readonly number[]): Tensor {
  const op = "embedding";
  const dim = weight.shape[1];
  return cpuEmbedding(cpuRaw(weight, op, "weight"), cpuInts(ids, op, "ids"), dim, outShape);
}

function webgpuEmbedding(weight: Tensor, ids: Tensor, outShape: readonly number[]): Tensor {
  return gpuEmbedding(gpuOf(weight), weight, ids, outShape);
}

/** Embedding lookups, per backend (src/ops/kernel_table.ts). */
export const embeddingKernels: KernelTable<EmbeddingImpl> = kernelTable<EmbeddingImpl>(
  "embedding",
  { reference: referenceEmbedding, webgpu: webgpuEmbedding },
);

function cpuEmbedding(
  weight: HostData,
  ids: Int32Array,
  dim: number,
  outShape: readonly number[],
): Tensor {
  // Same storage type as the weight: float16 rows are copied as bits.
  const out = new (weight.constructor as new (n: number) => HostData)(ids.length * dim);
  for (let t = 0; t < ids.length; t++) {
    out.set(weight.subarray(ids[t] * dim, (ids[t] + 1) * dim), t * dim);
  }
  return cpuTensor(out, outShape);
}

/** Ids as a GPU tensor on `device`: uploaded (and owned by the caller) when on cpu. */
function idsOn(device: WebGpuDevice, ids: Tensor): { tensor: Tensor; owned: boolean } {
  if (ids.device.kind !== "cpu") return { tensor: ids, owned: false };
  const data = cpuInts(ids, "embedding", "ids");
  return { tensor: fromHost(data, ids.shape, device, "embedding", "ids"), owned: true };
}

function gpuEmbedding(
  device: WebGpuDevice,
  weight: Tensor,
  ids: Tensor,
  outShape: readonly number[],
): Tensor {
  const op = "embedding";
  const runtime = runtimeOf(device);
  runtime.ensureAlive(op);
  const [vocab, dim] = weight.shape;
  const n = ids.size * dim;
  const half = weight.dtype === "float16";
  const size = half ? 2 : 4;
  if (half) checkF16Device(op, "weight", device);
  const weightHandle = unboundBuffer(weight, op, "weight", [weight.dtype]);
  if (n === 0) return gpuTensor(device, null, outShape, weight.dtype);
  // Planned and checked before any upload: the output is bound whole.
  runtime.checkBinding(op, `output ${showShape(outShape)}`, n * size);
  const planned = weightHandle
    ? rowChunks(runtime, op, `weight ${showShape(weight.shape)}`, weightHandle, vocab, dim * size)
    : null;
  const uploaded = idsOn(device, ids);
  try {
    const idsHandle = gpuBuffer(uploaded.tensor, op, "ids", ["int32"])!;
    // An empty weight still needs something bound; every id is then out of range.
    const chunks = planned ?? [{ start: 0, rows: 0, range: idsHandle }];
    const out = runtime.acquire(op, `${op} output`, n * size);
    const shader = half ? "embedding_f16" : "embedding";
    const pipeline = runtime.pipeline({
      name: `${shader}.wgsl`,
      code: [SHADERS.embedding_rows, SHADERS[shader]].join("\n"),
    });
    chunks.forEach((chunk, k) => {
      runtime.dispatch(
        op,
        pipeline,
        [chunk.range, idsHandle, out],
        words(
          n,
          dim,
          vocab,
          chunk.start,
          chunk.rows,
          k === 0 ? 1 : 0,
          half ? NAN_BITS_F16 : NAN_BITS,
        ),
        Math.ceil((half ? Math.ceil(n / 2) : n) / ELEMENTWISE_WG),
      );
    });
    return gpuTensor(device, out, outShape, weight.dtype);
  } finally {
    if (uploaded.owned) uploaded.tensor.dispose();
  }
}

function embeddingBackward(vocab: number, dim: number): Backward {
  return (g, saved) => {
    if (!saved.needs[0]) return [null, null];
    const ids = saved.inputs[1];
    return [embeddingBackwardKernels.for(g)(g, ids, vocab, dim), null];
  };
}

/** The embedding weight's gradient `[vocab, dim]`: g's rows summed per id, in position order. */
export type EmbeddingBackwardImpl = (g: Tensor, ids: Tensor, vocab: number, dim: number) => Tensor;

function referenceEmbeddingBackward(g: Tensor, ids: Tensor, vocab: number, dim: number): Tensor {
  return cpuEmbeddingGrad(cpuData(g, "embedding backward", "grad"), ids, vocab, dim);
}

function webgpuEmbeddingBackward(g: Tensor, ids: Tensor, vocab: number, dim: number): Tensor {
  return gpuEmbeddingGrad(gpuOf(g), g, ids, vocab, dim);
}

/** The embedding's scatter-add gradient, per backend (src/ops/kernel_table.ts). */
export const embeddingBackwardKernels: KernelTable<EmbeddingBackwardImpl> = kernelTable<
  EmbeddingBackwardImpl
>("embedding backward", {
  reference: referenceEmbeddingBackward,
  webgpu: webgpuEmbeddingBackward,
});

function cpuEmbeddingGrad(g: Float32Array, ids: Tensor, vocab: number, dim: number): Tensor {
  const rows = cpuInts(ids, "embedding backward", "ids");
  const out = new Float32Array(vocab * dim);
  for (let t = 0; t < rows.length; t++) {
    const base = rows[t] * dim;
    for (let c = 0; c < dim; c++) out[base + c] += g[t * dim + c];
  }
  return cpuTensor(out, [vocab, dim]);
}

/**
 * Scatter-add without float atomics, in two kernels: link the positions of
 * each id into a list in ascending order (one dispatch per block of
 * LINK_BLOCK positions, last block first), then let each (row, column) of the
 * gradient walk its row's list, at most STEPS nodes per dispatch, over
 * ceil(count / STEPS) dispatches. Deterministic, and in the CPU's order.
 */
function gpuEmbeddingGrad(
  device: WebGpuDevice,
  g: Tensor,
  ids: Tensor,
  vocab: number,
  dim: number,
): Tensor {
  const op = "embedding backward";
  const runtime = runtimeOf(device);
  if (vocab * dim === 0) return gpuTensor(device, null, [vocab, dim]);
  const count = ids.size;
  // The gradient is as large as the weight, so it may be over one binding too.
  const grad = runtime.acquire(op, "weight gradient", vocab * dim * 4, false, false);
  const temps: GpuBufferHandle[] = [];
  const uploaded = idsOn(device, ids);
  try {
    // All ones: every list starts empty (END); the link pass leaves each
    // row's first position here.
    const head = runtime.upload(op, "list heads", new Int32Array(vocab).fill(-1));
    temps.push(head);
    const other = runtime.acquire(op, "list cursors", vocab * 4);
    temps.push(other);
    const next = runtime.acquire(op, "list links", Math.max(count, 1) * 4);
    temps.push(next);
    if (count > 0) {
      const idsHandle = gpuBuffer(uploaded.tensor, op, "ids", ["int32"])!;
      const link = runtime.pipeline({
        name: "embedding_backward_link.wgsl",
        code: SHADERS.embedding_backward_link,
        constants: { BLOCK: LINK_BLOCK },
      });
      const blocks = Math.ceil(count / LINK_BLOCK);
      for (let b = blocks - 1; b >= 0; b--) {
        runtime.dispatch(op, link, [idsHandle, head, next], words(count, vocab, b * LINK_BLOCK), 1);
      }
    }
    const gHandle = count > 0 ? gpuBuffer(g, op, "grad")! : next;
    const sum = runtime.pipeline({
      name: "embedding_backward_sum.wgsl",
      code: SHADERS.embedding_backward_sum,
      constants: { STEPS },
    });
    const passes = Math.max(1, Math.ceil(count / STEPS));
    for (const chunk of rowChunks(runtime, op, "weight gradient", grad, vocab, dim * 4)) {
      let [cursorIn, cursorOut] = [head, other];
      for (let pass = 0; pass < passes; pass++) {
        const n = chunk.rows * dim;
        runtime.dispatch(
          op,
          sum,
          [gHandle, next, cursorIn, cursorOut, chunk.range],
          words(n, dim, chunk.start, pass === 0 ? 1 : 0),
          Math.ceil(n / ELEMENTWISE_WG),
        );
        [cursorIn, cursorOut] = [cursorOut, cursorIn];
      }
    }
  } catch (error) {
    runtime.release(grad);
    throw error;
  } finally {
    // Recorded commands keep reading them; release only returns them to the pool.
    for (const h of temps) runtime.release(h);
    if (uploaded.owned) uploaded.tensor.dispose();
  }
  return gpuTensor(device, grad, [vocab, dim]);
}
