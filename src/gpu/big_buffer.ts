/**
 * Tensors larger than one storage binding. WebGPU lets a buffer grow to
 * `maxBufferSize` (2 GiB on llvmpipe) but binds at most
 * `maxStorageBufferBindingSize` (128 MiB) of it to a kernel; a GPT-2 token
 * embedding (50257 x 768 floats, 154 MB) is over that. Allocation, upload,
 * readback and disposal never bind, so they work up to `maxBufferSize`; the
 * few ops written for big tensors (embedding, linear) bind them as row ranges
 * planned here, with offsets aligned to `minStorageBufferOffsetAlignment`.
 * Every other op refuses them through `gpuBuffer`'s binding check.
 *
 * @module
 */

import { DeviceLimitError } from "../errors.ts";
import { checkDType, type DType, storageOf, type Tensor } from "../tensor.ts";
import type { GpuBufferHandle, GpuRuntime } from "./runtime.ts";

/** One bindable block of rows `[start, start + rows)` and the buffer range holding it. */
export interface RowChunk {
  /** First row of the block. */
  readonly start: number;
  /** Rows in the block. */
  readonly rows: number;
  /** The range to bind (the whole buffer when one chunk covers the tensor). */
  readonly range: GpuBufferHandle;
}

/**
 * The buffer behind a WebGPU tensor without the binding check of
 * `gpuBuffer`: for ops that bind it through {@linkcode rowChunks}.
 */
export function unboundBuffer(
  t: Tensor,
  op: string,
  name: string,
  dtypes: readonly DType[] = ["float32"],
): GpuBufferHandle | null {
  const storage = storageOf(t, op, name);
  if (storage.kind !== "webgpu") throw new TypeError(`${op}: ${name} is not on webgpu`);
  checkDType(op, name, t, dtypes);
  return storage.handle;
}

/** Whether a WebGPU buffer of `bytes` bytes is over the runtime's binding limit. */
export function overBinding(runtime: GpuRuntime, bytes: number): boolean {
  return bytes > runtime.maxBindingBytes;
}

/** A view binding `[offset, offset + size)` of `handle`. */
export function bufferRange(
  handle: GpuBufferHandle,
  offset: number,
  size: number,
): GpuBufferHandle {
  return { id: handle.id, buffer: handle.buffer, bytes: size, offset, size };
}

/**
 * Splits `rows` rows of `rowBytes` bytes each (stored contiguously in
 * `handle`) into blocks that fit one binding and start at an offset aligned
 * to the device's `minStorageBufferOffsetAlignment`, of at most `maxRows`
 * rows (when something else sized by the block, such as an output block, must
 * fit a binding too). One block with the whole buffer when it fits. Throws
 * `DeviceLimitError` (naming op, tensor, bytes and limit) when not even one
 * aligned block of rows fits.
 */
export function rowChunks(
  runtime: GpuRuntime,
  op: string,
  name: string,
  handle: GpuBufferHandle,
  rows: number,
  rowBytes: number,
  maxRows: number = Infinity,
): RowChunk[] {
  const limit = runtime.maxBindingBytes;
  if (rows * rowBytes <= limit && rows <= maxRows) return [{ start: 0, rows, range: handle }];
  // 16 as well: vec4 kernels read whole 16-byte groups.
  const align = lcm(runtime.device.limits.minStorageBufferOffsetAlignment, 16);
  const step = align / gcd(rowBytes, align);
  let perChunk = Math.min(Math.floor(limit / rowBytes), maxRows);
  perChunk -= perChunk % step;
  if (perChunk === 0) {
    throw new DeviceLimitError(
      `${op}: ${name} cannot be bound in blocks of rows: the smallest aligned block is ` +
        `${step} rows of ${rowBytes} bytes (a multiple of the ${align}-byte offset alignment), ` +
        (maxRows < step
          ? `but only ${maxRows} rows fit the other tensors sized by the block`
          : `${step * rowBytes} bytes`) +
        `, over the device's maxStorageBufferBindingSize of ${limit} bytes`,
    );
  }
  const chunks: RowChunk[] = [];
  for (let start = 0; start < rows; start += perChunk) {
    const n = Math.min(perChunk, rows - start);
    // The last block's size rounds up to 16 bytes, still inside the allocation.
    const size = Math.min(Math.ceil((n * rowBytes) / 16) * 16, handle.bytes - start * rowBytes);
    chunks.push({ start, rows: n, range: bufferRange(handle, start * rowBytes, size) });
  }
  return chunks;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

function lcm(a: number, b: number): number {
  return (a / gcd(a, b)) * b;
}
