/**
 * Running your own WGSL over tensors: Tessera is a compute-shader library,
 * not only a layer zoo. A custom kernel records into the same pipeline of
 * passes as the built-in ops and is submitted with them.
 *
 * @module
 */

import { runtimeOf, type WebGpuDevice } from "../device.ts";
import { DeviceMismatchError, ShapeError } from "../errors.ts";
import { checkShape, gpuBuffer, gpuTensor, numel, type Tensor } from "../tensor.ts";
import type { GpuBufferHandle } from "./runtime.ts";

/**
 * A WGSL compute kernel to compile with {@linkcode compileKernel}.
 *
 * Binding convention (group 0): binding 0 is a `var<uniform>` block when the
 * launch passes `uniforms`; then one `var<storage, read>` array per input, in
 * order; then one `var<storage, read_write>` array per output.
 *
 * @example
 * ```ts
 * import type { KernelSpec } from "@tessera/core";
 * const spec: KernelSpec = { name: "double.wgsl", code: "/* WGSL *\/" };
 * ```
 */
export interface KernelSpec {
  /** Shown in compile errors as `name:line:column`. */
  name: string;
  /** WGSL source. */
  code: string;
  /** Entry point; default `main`. */
  entryPoint?: string;
  /** Values for `override` declarations. */
  constants?: Record<string, number>;
}

/**
 * How to launch a compiled kernel.
 *
 * @example
 * ```ts
 * import type { KernelLaunch } from "@tessera/core";
 * const launch: KernelLaunch = { outputs: [[1024]], workgroups: 16, uniforms: new Uint32Array([1024]) };
 * ```
 */
export interface KernelLaunch {
  /** Shapes of the float32 outputs, bound after the inputs. */
  outputs: readonly (readonly number[])[];
  /** Workgroup count `x`, or an explicit `[x, y, z]` grid. */
  workgroups: number | readonly [number, number, number];
  /** 32-bit words of the uniform block (use a `Float32Array` view for floats). */
  uniforms?: Uint32Array | Int32Array | Float32Array;
}

/**
 * A compiled kernel.
 *
 * @example
 * ```ts ignore
 * import { compileKernel, webgpu } from "@tessera/core";
 * const kernel = await compileKernel(await webgpu(), { name: "k.wgsl", code: "..." });
 * console.log(kernel.name);
 * ```
 */
export interface Kernel {
  /** The spec's name. */
  readonly name: string;
  /** Records one launch over `inputs` and returns the new output tensors. */
  run(inputs: readonly Tensor[], launch: KernelLaunch): Tensor[];
}

/**
 * Compiles a WGSL kernel for `device`. WGSL errors are reported as
 * `GpuError` naming the kernel and `line:column`, before anything runs.
 *
 * @example
 * ```ts ignore
 * import { compileKernel, tensor, toDevice, webgpu } from "@tessera/core";
 * const gpu = await webgpu();
 * const square = await compileKernel(gpu, {
 *   name: "square.wgsl",
 *   code: `
 *     @group(0) @binding(0) var<storage, read> x: array<f32>;
 *     @group(0) @binding(1) var<storage, read_write> y: array<f32>;
 *     @compute @workgroup_size(64)
 *     fn main(@builtin(global_invocation_id) id: vec3<u32>) {
 *       if (id.x < arrayLength(&y)) { y[id.x] = x[id.x] * x[id.x]; }
 *     }`,
 * });
 * const x = await toDevice(tensor([1, 2, 3]), gpu);
 * const [y] = square.run([x], { outputs: [[3]], workgroups: 1 });
 * console.log(await y.toArray()); // [1, 4, 9]
 * ```
 */
export async function compileKernel(device: WebGpuDevice, spec: KernelSpec): Promise<Kernel> {
  const runtime = runtimeOf(device);
  const source = {
    name: spec.name,
    code: spec.code,
    entryPoint: spec.entryPoint,
    constants: spec.constants,
  };
  await runtime.compileChecked(source);
  return {
    name: spec.name,
    run(inputs: readonly Tensor[], launch: KernelLaunch): Tensor[] {
      const op = spec.name;
      runtime.ensureAlive(op);
      inputs.forEach((t, i) => {
        if (t.device !== device) {
          throw new DeviceMismatchError(op, ["kernel", device.name], [
            `inputs[${i}]`,
            t.device.name,
          ]);
        }
      });
      const handles = inputs.map((t, i) => {
        const h = gpuBuffer(t, op, `inputs[${i}]`);
        if (!h) throw new ShapeError(`${op}: inputs[${i}] is empty; WebGPU cannot bind 0 bytes`);
        return h;
      });
      const outputs: GpuBufferHandle[] = [];
      try {
        for (const [i, shape] of launch.outputs.entries()) {
          checkShape(op, shape);
          if (numel(shape) === 0) {
            throw new ShapeError(`${op}: outputs[${i}] is empty; WebGPU cannot bind 0 bytes`);
          }
          outputs.push(runtime.acquire(op, `${op} outputs[${i}]`, numel(shape) * 4));
        }
        const uniforms = launch.uniforms
          ? new Uint32Array(
            launch.uniforms.buffer,
            launch.uniforms.byteOffset,
            launch.uniforms.length,
          )
          : undefined;
        runtime.dispatch(
          op,
          runtime.pipeline(source),
          [...handles, ...outputs],
          uniforms,
          launch.workgroups,
        );
      } catch (error) {
        for (const h of outputs) runtime.release(h);
        throw error;
      }
      return outputs.map((h, i) => gpuTensor(device, h, launch.outputs[i]));
    },
  };
}
