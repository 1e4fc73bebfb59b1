/**
 * Running your own WGSL over tensors: Tessera is a compute-shader library,
 * not only a layer zoo. A custom kernel records into the same pipeline of
 * passes as the built-in ops and is submitted with them.
 *
 * @module
 */

import { isRecording, record } from "../autograd/recording.ts";
import { runtimeOf, type WebGpuDevice } from "../device.ts";
import {
  ArgumentError,
  DeviceLimitError,
  DeviceMismatchError,
  DTypeError,
  ShapeError,
} from "../errors.ts";
import { allocationSize, type BindingKind, type GpuBufferHandle } from "./runtime.ts";
import { checkShape, type DType, gpuBuffer, gpuTensor, numel, Tensor } from "../tensor.ts";
import { parseBindings, type WgslBinding } from "./wgsl_bindings.ts";

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
  /**
   * Shapes of the float32 outputs, bound after the inputs (one per
   * `read_write` binding). Outputs start as zeros.
   */
  outputs: readonly (readonly number[])[];
  /**
   * Workgroup count `x`, or an explicit grid `[x]`, `[x, y]` or `[x, y, z]`
   * (missing dimensions are 1). Each dimension must
   * be within the device's `maxComputeWorkgroupsPerDimension` (65535 by
   * default): custom kernels are never folded into a 2-D grid, because only
   * the kernel knows how to index one.
   */
  workgroups:
    | number
    | readonly [number]
    | readonly [number, number]
    | readonly [number, number, number];
  /** 32-bit words of the uniform block (use a `Float32Array` view for floats). */
  uniforms?: Uint32Array | Int32Array | Float32Array;
  /**
   * The gradient rule, needed when the kernel runs inside `valueAndGrad` on
   * values that depend on the differentiated params (without it the backward
   * pass throws `ArgumentError` naming the kernel). Called once per output
   * that receives a gradient, with that gradient; returns one gradient per
   * input (shaped like it) or null where there is none. The tape owns the
   * returned tensors.
   */
  backward?: KernelBackward;
}

/**
 * A custom kernel's gradient rule (see {@linkcode KernelLaunch.backward}).
 *
 * @example
 * ```ts
 * import { type KernelBackward, scale } from "@tessera/core";
 * // y = 2x: dL/dx = 2 dL/dy
 * const backward: KernelBackward = (grad) => [scale(grad, 2)];
 * ```
 */
export type KernelBackward = (
  grad: Tensor,
  saved: {
    /** The launch's inputs, valid until the backward pass is over. */
    readonly inputs: readonly Tensor[];
    /** The output whose gradient is `grad`. */
    readonly output: Tensor;
    /** Which output it is. */
    readonly index: number;
  },
) => readonly (Tensor | null)[];

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
 * The shader's group-0 declarations are the kernel's signature: an optional
 * `var<uniform>` at binding 0, then one `var<storage, read>` per input, then
 * one `var<storage, read_write>` per output, numbered without gaps. `run`
 * checks every launch against them (input and output counts, uniform block
 * size, grid limits, devices, disposed tensors) and throws naming the kernel
 * before anything is recorded, so a bad launch never spoils other work.
 * Each input's dtype must match the scalar its binding is made of (`f32`:
 * float32, `i32` or `u32`: int32, `f16`: float16; a struct takes any), so an
 * int32 tensor is never read as float bits by accident (`DTypeError`).
 * Outputs are float32 tensors of whatever words the kernel writes.
 * Declared bindings the entry point does not use are still bound.
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
  const runtime = runtimeOf(device, "compileKernel");
  if (spec === null || typeof spec !== "object" || typeof spec.name !== "string") {
    throw new ArgumentError(
      "compileKernel: spec must be an object like { name: 'k.wgsl', code: '...' }, but got " +
        (spec === null ? "null" : typeof spec),
    );
  }
  const signature = signatureOf(spec.name, spec.code);
  const source = {
    name: spec.name,
    code: spec.code,
    entryPoint: spec.entryPoint,
    constants: spec.constants,
    layout: signature.layout,
  };
  await runtime.compileChecked(source);
  return {
    name: spec.name,
    run(inputs: readonly Tensor[], launch: KernelLaunch): Tensor[] {
      const op = spec.name;
      runtime.ensureAlive(op);
      const handles = checkInputs(op, device, signature, inputs);
      const grid = checkLaunch(op, device, signature, launch);
      const uniforms = launch.uniforms
        ? new Uint32Array(
          launch.uniforms.buffer,
          launch.uniforms.byteOffset,
          launch.uniforms.length,
        )
        : undefined;
      const outputs: GpuBufferHandle[] = [];
      try {
        for (const [i, shape] of launch.outputs.entries()) {
          const created = runtime.counters.buffersCreated;
          const h = runtime.acquire(op, `${op} outputs[${i}]`, numel(shape) * 4);
          outputs.push(h);
          // Outputs start as zeros, as new buffers do: elements a kernel
          // leaves unwritten never show another tensor's old values.
          if (runtime.counters.buffersCreated === created) runtime.clear(op, h);
        }
        runtime.dispatch(op, runtime.pipeline(source), [...handles, ...outputs], uniforms, grid);
      } catch (error) {
        for (const h of outputs) runtime.release(h);
        throw error;
      }
      const results = outputs.map((h, i) => gpuTensor(device, h, launch.outputs[i]));
      if (isRecording()) {
        results.forEach((result, index) =>
          record(op, inputs, result, (grad, saved) => {
            if (!launch.backward) {
              throw new ArgumentError(
                `${op}: valueAndGrad needs the gradient through this custom kernel's ` +
                  `outputs[${index}], but run() got no backward: pass ` +
                  "run(inputs, { ..., backward: (grad, { inputs, output, index }) => [...] })",
              );
            }
            const grads = launch.backward(grad, {
              inputs: saved.inputs,
              output: saved.output,
              index,
            });
            if (!Array.isArray(grads) || grads.length !== inputs.length) {
              if (Array.isArray(grads)) {
                for (const g of grads) if (g instanceof Tensor) g.dispose();
              }
              throw new ArgumentError(
                `${op}: backward must return one gradient (or null) per input, ${inputs.length} ` +
                  `in all, but returned ${Array.isArray(grads) ? grads.length : typeof grads}`,
              );
            }
            return grads;
          })
        );
      }
      return results;
    },
  };
}

/** What the shader declares: how many inputs and outputs, and the uniform block. */
interface Signature {
  uniform: WgslBinding | undefined;
  inputs: WgslBinding[];
  outputs: WgslBinding[];
  layout: BindingKind[];
}

function signatureOf(name: string, code: string): Signature {
  if (typeof code !== "string") {
    throw new ArgumentError(`compileKernel: ${name}: code must be a WGSL string`);
  }
  const all = parseBindings(code);
  const other = all.find((b) => b.group !== 0 || b.access === "other");
  if (other) {
    throw new ArgumentError(
      `compileKernel: ${name} declares ${other.name} at @group(${other.group}) ` +
        `@binding(${other.binding}) (${other.type}); custom kernels bind uniform and ` +
        "storage buffers in group 0 only",
    );
  }
  const bindings = [...all].sort((a, b) => a.binding - b.binding);
  bindings.forEach((b, i) => {
    if (b.binding !== i) {
      throw new ArgumentError(
        `compileKernel: ${name} declares bindings ${
          bindings.map((x) => x.binding).join(", ")
        }; expected 0, 1, 2, ... without gaps or repeats`,
      );
    }
  });
  const uniform = bindings[0]?.access === "uniform" ? bindings[0] : undefined;
  const storage = uniform ? bindings.slice(1) : bindings;
  const misplaced = storage.find((b, i) =>
    b.access === "uniform" || (b.access === "read" && storage[i - 1]?.access === "read_write")
  );
  if (misplaced) {
    throw new ArgumentError(
      `compileKernel: ${name} declares ${misplaced.name} (binding ${misplaced.binding}, ` +
        `${misplaced.access}) out of order; expected an optional var<uniform> at binding 0, ` +
        "then var<storage, read> inputs, then var<storage, read_write> outputs",
    );
  }
  return {
    uniform,
    inputs: storage.filter((b) => b.access === "read"),
    outputs: storage.filter((b) => b.access === "read_write"),
    layout: bindings.map((b) =>
      b.access === "uniform" ? "uniform" : b.access === "read" ? "read-only-storage" : "storage"
    ),
  };
}

function checkInputs(
  op: string,
  device: WebGpuDevice,
  signature: Signature,
  inputs: readonly Tensor[],
): GpuBufferHandle[] {
  if (!Array.isArray(inputs)) {
    throw new ArgumentError(`${op}: inputs must be an array of tensors, but got ${typeof inputs}`);
  }
  if (inputs.length !== signature.inputs.length) {
    throw new ArgumentError(
      `${op}: got ${inputs.length} inputs, but the kernel declares ` +
        `${signature.inputs.length} (var<storage, read>: ` +
        `${signature.inputs.map((b) => b.name).join(", ") || "none"})`,
    );
  }
  return inputs.map((t, i) => {
    const decl = signature.inputs[i];
    const name = `inputs[${i}] (${decl.name})`;
    if (!(t instanceof Tensor)) throw new ArgumentError(`${op}: ${name} is not a Tensor`);
    if (t.device !== device) {
      throw new DeviceMismatchError(op, ["kernel", device.name], [`inputs[${i}]`, t.device.name]);
    }
    const wanted = decl.scalar === undefined ? undefined : SCALAR_DTYPES[decl.scalar];
    if (wanted !== undefined && t instanceof Tensor && !t.isDisposed && t.dtype !== wanted) {
      throw new DTypeError(
        `${op}: ${name} is ${t.dtype}, but the kernel declares ${decl.type}, whose ` +
          `${decl.scalar} elements take ${wanted} tensors (f32: float32, i32 or u32: int32, ` +
          "f16: float16)",
      );
    }
    const h = gpuBuffer(t, op, name, ["float32", "int32", "float16"]);
    if (!h) throw new ShapeError(`${op}: ${name} is empty; WebGPU cannot bind 0 bytes`);
    // A tensor stored over the binding limit cannot be bound whole.
    runtimeOf(device).checkBinding(op, name, h.bytes);
    if (decl.minBytes !== undefined && h.bytes < decl.minBytes) {
      throw new ShapeError(
        `${op}: ${name} has shape [${t.shape.join(", ")}] (${h.bytes} bytes bound), but ` +
          `${decl.type} needs at least ${decl.minBytes} bytes`,
      );
    }
    return h;
  });
}

/** The tensor dtype each WGSL element scalar reads without reinterpreting bits. */
const SCALAR_DTYPES: Record<string, DType> = {
  f32: "float32",
  i32: "int32",
  u32: "int32",
  f16: "float16",
};

/** Checks outputs, uniforms and the grid; returns the grid to dispatch as given (never folded). */
function checkLaunch(
  op: string,
  device: WebGpuDevice,
  signature: Signature,
  launch: KernelLaunch,
): [number, number, number] {
  if (typeof launch !== "object" || launch === null) {
    throw new ArgumentError(`${op}: run needs a launch record { outputs, workgroups, uniforms? }`);
  }
  const outputs = launch.outputs;
  if (!Array.isArray(outputs) || outputs.length !== signature.outputs.length) {
    throw new ArgumentError(
      `${op}: got ${Array.isArray(outputs) ? outputs.length : "no"} output shapes, but the ` +
        `kernel declares ${signature.outputs.length} (var<storage, read_write>: ` +
        `${signature.outputs.map((b) => b.name).join(", ") || "none"})`,
    );
  }
  outputs.forEach((shape, i) => {
    const decl = signature.outputs[i];
    checkShape(op, shape);
    if (numel(shape) === 0) {
      throw new ShapeError(
        `${op}: outputs[${i}] (${decl.name}) is empty; WebGPU cannot bind 0 bytes`,
      );
    }
    const bytes = allocationSize(numel(shape) * 4);
    if (decl.minBytes !== undefined && bytes < decl.minBytes) {
      throw new ShapeError(
        `${op}: outputs[${i}] (${decl.name}) has shape [${shape.join(", ")}] (${bytes} bytes), ` +
          `but ${decl.type} needs at least ${decl.minBytes} bytes`,
      );
    }
  });
  const { uniforms } = launch;
  if (uniforms !== undefined) {
    const typed = uniforms instanceof Uint32Array || uniforms instanceof Int32Array ||
      uniforms instanceof Float32Array;
    if (!typed) {
      throw new ArgumentError(
        `${op}: uniforms must be a Uint32Array, Int32Array or Float32Array of 32-bit words`,
      );
    }
  }
  if (signature.uniform && !uniforms) {
    throw new ArgumentError(
      `${op}: the kernel declares var<uniform> ${signature.uniform.name}: ` +
        `${signature.uniform.type} at binding 0, but the launch passes no uniforms`,
    );
  }
  if (!signature.uniform && uniforms) {
    throw new ArgumentError(
      `${op}: the launch passes ${uniforms.length} uniform words, but the kernel declares ` +
        "no var<uniform> at binding 0",
    );
  }
  const need = signature.uniform?.minBytes;
  if (uniforms && need !== undefined && uniforms.byteLength < need) {
    throw new ArgumentError(
      `${op}: uniforms hold ${uniforms.byteLength} bytes, but ${signature.uniform!.name}: ` +
        `${signature.uniform!.type} needs ${need} (${Math.ceil(need / 4)} 32-bit words)`,
    );
  }
  const limit = device.gpu.limits.maxComputeWorkgroupsPerDimension;
  const w = launch.workgroups;
  const given: unknown[] = typeof w === "number" ? [w] : Array.isArray(w) ? [...w] : [];
  if (
    given.length < 1 || given.length > 3 ||
    !given.every((n) => Number.isSafeInteger(n) && (n as number) >= 1)
  ) {
    throw new ArgumentError(
      `${op}: workgroups must be a whole number >= 1, or [x], [x, y] or [x, y, z] of them ` +
        `(an empty grid would leave the outputs unwritten), but got ${JSON.stringify(w)}`,
    );
  }
  const grid = [...given, 1, 1].slice(0, 3) as number[];
  grid.forEach((n, axis) => {
    if (n > limit) {
      throw new DeviceLimitError(
        `${op}: workgroups ${typeof w === "number" ? n : `[${grid.join(", ")}]`} ` +
          `${typeof w === "number" ? "is" : `has ${"xyz"[axis]} = ${n},`} over the device's ` +
          `maxComputeWorkgroupsPerDimension of ${limit}; custom kernels are not folded: ` +
          "launch a 2-D grid and index with the y dimension",
      );
    }
  });
  return grid as [number, number, number];
}
