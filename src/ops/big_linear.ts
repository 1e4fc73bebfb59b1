/**
 * `x @ W^T` for a webgpu weight W [N, K] larger than one storage binding (a
 * GPT-2 output head tied to its 154 MB token embedding): W's rows are bound
 * as blocks (`big_buffer.ts`), each block's product is computed by the
 * ordinary matmul, and the blocks are joined along the last dimension. The
 * matmul itself is passed in (`matmul.ts` routes here), so this file imports
 * no matmul code and there is no import cycle.
 *
 * @module
 */

import { type Backward, pauseRecording, record } from "../autograd/recording.ts";
import { runtimeOf, type WebGpuDevice } from "../device.ts";
import { ShapeError } from "../errors.ts";
import { overBinding, type RowChunk, rowChunks, unboundBuffer } from "../gpu/big_buffer.ts";
import {
  borrowedGpuTensor,
  gpuBuffer,
  gpuTensor,
  numel,
  storageOf,
  type Tensor,
} from "../tensor.ts";
import { add } from "./elementwise.ts";
import { reshape, slice, transpose } from "./layout.ts";
import { showShape } from "./checks.ts";

/** The subset of `matmul`'s options and signature this file needs. */
export type MatmulFn = (
  a: Tensor,
  b: Tensor,
  options?: { transposeA?: boolean; transposeB?: boolean; alpha?: number },
) => Tensor;

/**
 * Whether `matmul(a, b, options)` must take the big-weight path: `b` is a 2-D
 * webgpu weight read transposed whose buffer is over the binding limit.
 */
export function needsBigLinear(
  b: Tensor,
  options: { transposeA?: boolean; transposeB?: boolean },
): boolean {
  if (b.device.kind !== "webgpu" || b.shape.length !== 2 || !options.transposeB) return false;
  if (options.transposeA || b.dtype !== "float32" || b.isDisposed) return false;
  const storage = storageOf(b, "matmul", "b");
  return storage.kind === "webgpu" && storage.handle !== null &&
    overBinding(runtimeOf(b.device), storage.handle.bytes);
}

/**
 * `alpha * a @ b^T` for `a` [..., K] and a big `b` [N, K] (see
 * {@linkcode needsBigLinear}), recorded for autograd as one `matmul`. The
 * result [..., N] may be over one binding too (GPT-2 logits for 1024
 * tokens): it is then joined row segment by row segment with buffer copies,
 * and only readback and the ops written for big tensors can use it. The
 * backward pass needs the output's gradient to fit one binding.
 */
export function bigLinear(a: Tensor, b: Tensor, alpha: number, mm: MatmulFn): Tensor {
  const op = "matmul";
  const device = b.device as WebGpuDevice;
  const [n, k] = b.shape;
  if (a.shape.at(-1) !== k) {
    throw new ShapeError(
      `matmul: a ${showShape(a.shape)} and b ${showShape(b.shape)} (transposed) do not fit: ` +
        `expected a [..., ${k}]`,
    );
  }
  gpuBuffer(a, op, "a");
  const m = numel(a.shape.slice(0, -1));
  const outShape = [...a.shape.slice(0, -1), n];
  const runtime = runtimeOf(device);
  const bigOut = overBinding(runtime, m * n * 4);
  // A big output is joined from [m, rows] blocks, each of which must fit a binding.
  const chunks = weightChunks(b, bigOut ? Math.floor(runtime.maxBindingBytes / (m * 4)) : Infinity);
  const out = pauseRecording(() => {
    const a2 = reshape(a, [m, k]);
    if (bigOut) {
      const joined = runtime.acquire(op, "matmul output", m * n * 4, false, false);
      for (const chunk of chunks) {
        const w = borrowedGpuTensor(device, chunk.range, [chunk.rows, k]);
        const part = mm(a2, w, { transposeB: true, alpha }); // [m, rows]
        const partBuffer = gpuBuffer(part, op, "partial product")!;
        for (let r = 0; r < m; r++) {
          const bytes = chunk.rows * 4;
          runtime.copy(op, partBuffer, joined, bytes, r * bytes, (r * n + chunk.start) * 4);
        }
        part.dispose();
      }
      a2.dispose();
      return gpuTensor(device, joined, outShape);
    }
    // Blocks of rows of out^T are contiguous: joined by buffer copies.
    const outT = runtime.acquire(op, "matmul output (transposed)", n * m * 4, false, false);
    for (const chunk of chunks) {
      const w = borrowedGpuTensor(device, chunk.range, [chunk.rows, k]);
      const part = mm(w, a2, { transposeB: true, alpha });
      const partBuffer = gpuBuffer(part, op, "partial product");
      if (partBuffer) {
        runtime.copy(op, partBuffer, outT, chunk.rows * m * 4, 0, chunk.start * m * 4);
      }
      part.dispose();
    }
    a2.dispose();
    const t = gpuTensor(device, outT, [n, m]);
    const joined = transpose(t);
    t.dispose();
    const shaped = reshape(joined, outShape);
    joined.dispose();
    return shaped;
  });
  return record(op, [a, b], out, bigLinearBackward(alpha, mm));
}

function weightChunks(b: Tensor, maxRows = Infinity): RowChunk[] {
  const handle = unboundBuffer(b, "matmul", "b")!;
  const [rows, k] = b.shape;
  const runtime = runtimeOf(b.device as WebGpuDevice);
  return rowChunks(runtime, "matmul", `b ${showShape(b.shape)}`, handle, rows, k * 4, maxRows);
}

/** da = alpha g W and dW = alpha g^T a, block by block of W's rows. */
function bigLinearBackward(alpha: number, mm: MatmulFn): Backward {
  return (g, saved) => {
    const [a, b] = saved.inputs;
    const device = b.device as WebGpuDevice;
    const runtime = runtimeOf(device);
    const [n, k] = b.shape;
    const m = numel(a.shape.slice(0, -1));
    const g2 = reshape(g, [m, n]);
    const a2 = reshape(a, [m, k]);
    let da: Tensor | null = null;
    const dw = saved.needs[1]
      ? runtime.acquire("matmul backward", "weight gradient", n * k * 4, false, false)
      : null;
    try {
      for (const chunk of weightChunks(b)) {
        const gc = slice(g2, [0, m], [chunk.start, chunk.start + chunk.rows]);
        if (saved.needs[0]) {
          const w = borrowedGpuTensor(device, chunk.range, [chunk.rows, k]);
          const part = mm(gc, w, { alpha });
          if (da) {
            const sum = add(da, part);
            da.dispose();
            part.dispose();
            da = sum;
          } else {
            da = part;
          }
        }
        if (dw) {
          const part = mm(gc, a2, { transposeA: true, alpha });
          const partBuffer = gpuBuffer(part, "matmul backward", "weight gradient block");
          if (partBuffer) {
            runtime.copy(
              "matmul backward",
              partBuffer,
              dw,
              chunk.rows * k * 4,
              0,
              chunk.start * k * 4,
            );
          }
          part.dispose();
        }
        gc.dispose();
      }
    } catch (error) {
      da?.dispose();
      if (dw) runtime.release(dw);
      throw error;
    } finally {
      g2.dispose();
      a2.dispose();
    }
    let daShaped: Tensor | null = null;
    if (da) {
      daShaped = reshape(da, a.shape);
      da.dispose();
    }
    return [daShaped, dw ? gpuTensor(device, dw, [n, k]) : null];
  };
}
