/**
 * Launching a kernel that writes several same-sized outputs in one pass (a
 * fused optimizer step writes the parameter and its state together), and
 * purely elementwise kernels over tensors larger than one storage binding, in
 * bindable blocks.
 *
 * @module
 */

import { runtimeOf, type WebGpuDevice } from "../device.ts";
import { DeviceLimitError } from "../errors.ts";
import {
  bytesPerElement,
  checkF16Device,
  type DType,
  gpuBuffer,
  gpuTensor,
  numel,
  type Tensor,
} from "../tensor.ts";
import type { Launch } from "./launch.ts";
import { SHADERS } from "./shaders.generated.ts";
import { bufferRange, unboundBuffer } from "./big_buffer.ts";
import type { GpuBufferHandle, GpuRuntime } from "./runtime.ts";

/** A {@linkcode Launch} with `outputs` outputs of shape `outShape`, bound after the inputs. */
export interface LaunchMany extends Launch {
  /** How many outputs the kernel writes. */
  outputs: number;
  /**
   * Set for purely elementwise kernels: every input and output holds
   * `numel(outShape)` elements (or, for an input, exactly one: a broadcast
   * scalar), invocation work on element i touches element i of each only,
   * and uniform word 0 is the element count. Tensors over one storage binding
   * are then processed in blocks, one dispatch per block, each binding the
   * same element range of every buffer (a one-element input whole), with
   * word 0 set to the block's count and `elementwise(count)` workgroups.
   */
  elementwise?: (count: number) => number;
}

/** Records one dispatch writing `spec.outputs` new tensors of `spec.outShape`. */
export function launchMany(device: WebGpuDevice, spec: LaunchMany): Tensor[] {
  const runtime = runtimeOf(device);
  runtime.ensureAlive(spec.op);
  const outDType = spec.dtypes?.[0] ?? "float32";
  if (spec.elementwise && overOneBinding(runtime, spec, outDType)) {
    return launchBlocks(device, runtime, spec, outDType);
  }
  const handles = spec.inputs.map(([name, t]) => gpuBuffer(t, spec.op, name, spec.dtypes));
  if (outDType === "float16") checkF16Device(spec.op, "the output", device);
  const n = numel(spec.outShape);
  if (n === 0) {
    return Array.from(
      { length: spec.outputs },
      () => gpuTensor(device, null, spec.outShape, outDType),
    );
  }
  if (handles.some((h) => h === null)) {
    throw new RangeError(`${spec.op}: an empty input cannot produce ${n} output elements`);
  }
  const outs = Array.from(
    { length: spec.outputs },
    (_, i) => runtime.acquire(spec.op, `${spec.op} output ${i}`, n * bytesPerElement(outDType)),
  );
  const pipeline = runtime.pipeline({
    name: `${spec.shader}.wgsl`,
    code: [...(spec.includes ?? []), spec.shader].map((name) => SHADERS[name]).join("\n"),
    constants: spec.constants,
  });
  runtime.dispatch(
    spec.op,
    pipeline,
    [...handles.map((h) => h!), ...outs],
    spec.uniforms,
    spec.workgroups,
  );
  return outs.map((h) => gpuTensor(device, h, spec.outShape, outDType));
}

function overOneBinding(runtime: GpuRuntime, spec: LaunchMany, outDType: DType): boolean {
  const n = numel(spec.outShape);
  return n * bytesPerElement(outDType) > runtime.maxBindingBytes ||
    spec.inputs.some(([, t]) => t.size * bytesPerElement(t.dtype) > runtime.maxBindingBytes);
}

/**
 * The elementwise path over tensors larger than one binding: one dispatch per
 * block of elements, binding that block's byte range of every input and
 * output (offsets aligned to minStorageBufferOffsetAlignment and 16 bytes).
 */
function launchBlocks(
  device: WebGpuDevice,
  runtime: GpuRuntime,
  spec: LaunchMany,
  outDType: DType,
): Tensor[] {
  const n = numel(spec.outShape);
  const inputs = spec.inputs.map(([name, t]) => {
    if (t.size === 1) {
      return { handle: unboundBuffer(t, spec.op, name, spec.dtypes)!, bpe: 0 };
    }
    if (t.size !== n) {
      throw new RangeError(
        `${spec.op}: elementwise input ${name} has ${t.size} elements, not ${n}`,
      );
    }
    return { handle: unboundBuffer(t, spec.op, name, spec.dtypes)!, bpe: bytesPerElement(t.dtype) };
  });
  const widths = [...inputs.filter((i) => i.bpe > 0).map((i) => i.bpe), bytesPerElement(outDType)];
  const align = lcm(runtime.device.limits.minStorageBufferOffsetAlignment, 16);
  // Block starts are a multiple of `step` elements, so every tensor's byte offset is aligned.
  const step = align / Math.min(...widths);
  let perBlock = Math.floor(runtime.maxBindingBytes / Math.max(...widths));
  perBlock -= perBlock % step;
  if (perBlock === 0) {
    throw new DeviceLimitError(
      `${spec.op}: cannot bind blocks of ${step} elements (the ${align}-byte offset alignment) ` +
        `within the device's maxStorageBufferBindingSize of ${runtime.maxBindingBytes} bytes`,
    );
  }
  const outs = Array.from(
    { length: spec.outputs },
    (_, i) =>
      runtime.acquire(
        spec.op,
        `${spec.op} output ${i}`,
        n * bytesPerElement(outDType),
        false,
        false,
      ),
  );
  const pipeline = runtime.pipeline({
    name: `${spec.shader}.wgsl`,
    code: [...(spec.includes ?? []), spec.shader].map((name) => SHADERS[name]).join("\n"),
    constants: spec.constants,
  });
  const range = (h: GpuBufferHandle, bpe: number, start: number, count: number) =>
    // The last block's size rounds up to 16 bytes, still inside the allocation.
    bufferRange(
      h,
      start * bpe,
      Math.min(Math.ceil((count * bpe) / 16) * 16, h.bytes - start * bpe),
    );
  for (let start = 0; start < n; start += perBlock) {
    const count = Math.min(perBlock, n - start);
    const uniforms = new Uint32Array(spec.uniforms ?? new Uint32Array(4));
    uniforms[0] = count;
    runtime.dispatch(
      spec.op,
      pipeline,
      [
        ...inputs.map((i) => i.bpe === 0 ? i.handle : range(i.handle, i.bpe, start, count)),
        ...outs.map((h) => range(h, bytesPerElement(outDType), start, count)),
      ],
      uniforms,
      spec.elementwise!(count),
    );
  }
  return outs.map((h) => gpuTensor(device, h, spec.outShape, outDType));
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

function lcm(a: number, b: number): number {
  return (a / gcd(a, b)) * b;
}
