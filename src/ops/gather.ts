/**
 * Strided gathers: the single mechanism behind transpose, slice and stack on
 * both devices. A gather reads `x[offset + sum(index_k * strides_k)]` for
 * every index of `outShape` into a new contiguous tensor.
 *
 * @module
 */

import { runtimeOf, type WebGpuDevice } from "../device.ts";
import { bufferRange, overBinding, unboundBuffer } from "../gpu/big_buffer.ts";
import { dims8, ELEMENTWISE_WG, launch, words } from "../gpu/launch.ts";
import { SHADERS } from "../gpu/shaders.generated.ts";
import {
  bytesPerElement,
  cpuRaw,
  cpuTensor,
  gpuTensor,
  hostArray,
  numel,
  type Tensor,
} from "../tensor.ts";
import { gpuOf, type KernelTable, kernelTable } from "./kernel_table.ts";

/** Gathers a strided view of `x` into a contiguous tensor on x's device. */
export function gather(
  op: string,
  x: Tensor,
  outShape: readonly number[],
  strides: readonly number[],
  offset: number,
): Tensor {
  return gatherKernels.for(x)(op, x, outShape, strides, offset);
}

/** A strided gather implementation (see {@linkcode gather}). */
export type GatherImpl = (
  op: string,
  x: Tensor,
  outShape: readonly number[],
  strides: readonly number[],
  offset: number,
) => Tensor;

function referenceGather(
  op: string,
  x: Tensor,
  outShape: readonly number[],
  strides: readonly number[],
  offset: number,
): Tensor {
  const n = numel(outShape);
  const src = cpuRaw(x, op, "input");
  const out = hostArray(x.dtype, n);
  const rank = outShape.length;
  const index = new Array<number>(rank).fill(0);
  let source = offset;
  for (let i = 0; i < n; i++) {
    out[i] = src[source];
    // Odometer increment, keeping `source` in step with `index`.
    for (let d = rank - 1; d >= 0; d--) {
      index[d]++;
      source += strides[d];
      if (index[d] < outShape[d]) break;
      source -= strides[d] * outShape[d];
      index[d] = 0;
    }
  }
  return cpuTensor(out, outShape);
}

function webgpuGather(
  op: string,
  x: Tensor,
  outShape: readonly number[],
  strides: readonly number[],
  offset: number,
): Tensor {
  const n = numel(outShape);
  const device = gpuOf(x);
  const big = bigGather(device, op, x, outShape, strides, offset);
  if (big) return big;
  // 16-bit elements move two per invocation (one u32 word of output).
  const half = x.dtype === "float16";
  return launch(device, {
    op,
    shader: half ? "strided_copy_f16" : "strided_copy",
    includes: ["strided_index"],
    uniforms: words(n, outShape.length, offset, 0, ...dims8(outShape), ...dims8(strides)),
    inputs: [["input", x]],
    dtypes: [x.dtype],
    outShape,
    workgroups: Math.ceil((half ? Math.ceil(n / 2) : n) / ELEMENTWISE_WG),
  });
}

/** Strided gathers (transpose, slice, stack, ...), per backend (src/ops/kernel_table.ts). */
export const gatherKernels: KernelTable<GatherImpl> = kernelTable<GatherImpl>("gather", {
  reference: referenceGather,
  webgpu: webgpuGather,
});

/**
 * A gather from a tensor larger than one binding whose elements read lie
 * within one binding (the last position of big logits, a few rows of a big
 * table): binds just that aligned byte range. Null when `x` fits a binding
 * (the ordinary launch) or the span read does not (the launch then throws
 * `DeviceLimitError`).
 */
function bigGather(
  device: WebGpuDevice,
  op: string,
  x: Tensor,
  outShape: readonly number[],
  strides: readonly number[],
  offset: number,
): Tensor | null {
  const runtime = runtimeOf(device);
  const handle = unboundBuffer(x, op, "input", [x.dtype]);
  const n = numel(outShape);
  if (!handle || n === 0 || !overBinding(runtime, handle.bytes)) return null;
  if (strides.some((s) => s < 0)) return null;
  let last = offset;
  outShape.forEach((d, k) => last += (d - 1) * strides[k]);
  const size = bytesPerElement(x.dtype);
  const half = x.dtype === "float16";
  const align = device.gpu.limits.minStorageBufferOffsetAlignment;
  const start = Math.floor((offset * size) / align) * align;
  const end = Math.min(handle.bytes, Math.ceil(((last + 1) * size) / 16) * 16);
  if (end - start > runtime.maxBindingBytes) return null;
  const out = runtime.acquire(op, `${op} output`, n * size);
  const shader = half ? "strided_copy_f16" : "strided_copy";
  runtime.dispatch(
    op,
    // The code launch() builds for the same name (strided_index in front).
    runtime.pipeline({
      name: `${shader}.wgsl`,
      code: [SHADERS.strided_index, SHADERS[shader]].join("\n"),
    }),
    [bufferRange(handle, start, end - start), out],
    words(n, outShape.length, offset - start / size, 0, ...dims8(outShape), ...dims8(strides)),
    Math.ceil((half ? Math.ceil(n / 2) : n) / ELEMENTWISE_WG),
  );
  return gpuTensor(device, out, outShape, x.dtype);
}
