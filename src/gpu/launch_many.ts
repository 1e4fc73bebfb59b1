/**
 * Launching a kernel that writes several same-sized outputs in one pass (a
 * fused optimizer step writes the parameter and its state together).
 *
 * @module
 */

import { runtimeOf, type WebGpuDevice } from "../device.ts";
import {
  bytesPerElement,
  checkF16Device,
  gpuBuffer,
  gpuTensor,
  numel,
  type Tensor,
} from "../tensor.ts";
import type { Launch } from "./launch.ts";
import { SHADERS } from "./shaders.generated.ts";

/** A {@linkcode Launch} with `outputs` outputs of shape `outShape`, bound after the inputs. */
export interface LaunchMany extends Launch {
  /** How many outputs the kernel writes. */
  outputs: number;
}

/** Records one dispatch writing `spec.outputs` new tensors of `spec.outShape`. */
export function launchMany(device: WebGpuDevice, spec: LaunchMany): Tensor[] {
  const runtime = runtimeOf(device);
  runtime.ensureAlive(spec.op);
  const handles = spec.inputs.map(([name, t]) => gpuBuffer(t, spec.op, name, spec.dtypes));
  const outDType = spec.dtypes?.[0] ?? "float32";
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
