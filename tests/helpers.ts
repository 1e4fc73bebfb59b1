// Shared test utilities: the WebGPU device (a missing adapter fails the
// test, never skips it), seeded random data, and shape grids.

import { Generator, type Tensor, tensor, uniform, webgpu, type WebGpuDevice } from "../mod.ts";
import { runtimeOf } from "../src/device.ts";

let device: Promise<WebGpuDevice> | undefined;

/** The shared WebGPU device; rejects with WebGpuUnavailableError when there is no adapter. */
export function gpu(): Promise<WebGpuDevice> {
  device ??= webgpu();
  return device;
}

/** Uniform random float32 values in [-2, 2) from a seeded generator. */
export function randomData(n: number, seed: number): Float32Array {
  return uniform([n], -2, 2, { generator: new Generator(seed) });
}

/** A CPU tensor of the given shape filled with seeded random values. */
export function randomTensor(shape: readonly number[], seed: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tensor(randomData(n, seed), shape);
}

/** Bit patterns of float32 values, for bitwise comparisons. */
export function bits(values: Float32Array | Int32Array): Uint32Array {
  return new Uint32Array(
    values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength),
  );
}

/** Runs `fn` with the device's binding limit lowered to `bytes` (the blocked paths at small sizes). */
export async function withBindingLimit<T>(
  device: WebGpuDevice,
  bytes: number,
  fn: () => Promise<T>,
): Promise<T> {
  const runtime = runtimeOf(device);
  const saved = runtime.maxBindingBytes;
  runtime.maxBindingBytes = bytes;
  try {
    return await fn();
  } finally {
    runtime.maxBindingBytes = saved;
  }
}
