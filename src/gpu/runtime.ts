/**
 * The WebGPU runtime behind a `webgpu:N` device: a buffer pool, a pipeline and
 * bind-group cache, and one command encoder that records every op until a
 * readback (or a full batch) submits it.
 *
 * @module
 */

import { DeviceLimitError, DeviceLostError, GpuError } from "../errors.ts";
import { type GpuCounters, zeroCounters } from "./counters.ts";
import { planGrid } from "./dispatch_plan.ts";

/** A storage buffer owned by one tensor at a time. */
export interface GpuBufferHandle {
  /** Unique per runtime; keys the bind-group cache. */
  readonly id: number;
  /** The underlying buffer; its size is `bytes`, possibly above the tensor's. */
  readonly buffer: GPUBuffer;
  /** Allocated size in bytes (a multiple of 16). */
  readonly bytes: number;
}

/** What a kernel needs to be compiled: source, entry point and override constants. */
export interface KernelSource {
  /** File name shown in compile errors, e.g. `softmax.wgsl`. */
  readonly name: string;
  /** WGSL source. */
  readonly code: string;
  /** Entry point; defaults to `main`. */
  readonly entryPoint?: string;
  /** Values for the shader's `override` declarations. */
  readonly constants?: Readonly<Record<string, number>>;
}

/** Dispatches recorded before a submit is forced, bounding one submission's work. */
const MAX_DISPATCHES_PER_SUBMIT = 1024;
/** Uniform buffers and bind groups kept per cache, oldest evicted first. */
const UNIFORM_CACHE_SIZE = 512;
const BIND_GROUP_CACHE_SIZE = 1024;

// WebGPU's numeric flag values, spelled out because Node has no
// GPUBufferUsage global unless a WebGPU implementation installs one, and
// importing the library must work everywhere.
const USAGE = { MAP_READ: 0x1, COPY_SRC: 0x4, COPY_DST: 0x8, UNIFORM: 0x40, STORAGE: 0x80 };
const MAP_MODE_READ = 0x1;
const STORAGE_USAGE = USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST;

/** The first meaningful line of a compiler message, without wgpu's preamble. */
function summarize(message: string): string {
  const line = message.split("\n").map((l) => l.trim()).find((l) => l.length > 0) ?? message;
  return line.replace(/^Shader '[^']*' parsing error:\s*/, "");
}

/** Rounds a byte size up so vec4 kernels may read whole 16-byte groups. */
export function allocationSize(bytes: number): number {
  return Math.max(16, Math.ceil(bytes / 16) * 16);
}

/**
 * Records and submits GPU work for one `GPUDevice`. Ops call it synchronously;
 * only readback is asynchronous.
 */
export class GpuRuntime {
  /** The WebGPU device. */
  readonly device: GPUDevice;
  /** Printed name, e.g. `webgpu:0`. */
  readonly name: string;
  /** Counters for tests and diagnostics. */
  readonly counters: GpuCounters = zeroCounters();
  /**
   * The grid limit the planner folds dispatches against. Defaults to the
   * device's `maxComputeWorkgroupsPerDimension`; tests lower it to exercise
   * the 2-D folding on small inputs.
   */
  maxWorkgroupsPerDimension: number;

  #nextId = 1;
  #lost: { reason: string; message: string } | undefined;
  #lostPromise: Promise<never>;
  // Free buffers keyed by size. `#free` buffers were released before the
  // current batch and are safe for queue.writeBuffer; buffers released during
  // the batch may still be read by recorded commands, and writeBuffer runs
  // ahead of those, so they only serve kernel outputs until the next submit.
  #free = new Map<number, GpuBufferHandle[]>();
  #freedThisBatch = new Map<number, GpuBufferHandle[]>();
  #staging = new Map<number, GPUBuffer[]>();
  #pipelines = new Map<string, GPUComputePipeline>();
  #uniforms = new Map<string, { buffer: GPUBuffer; id: number }>();
  #bindGroups = new Map<string, GPUBindGroup>();
  #retireAfterSubmit: GPUBuffer[] = [];
  #encoder: GPUCommandEncoder | undefined;
  #pass: GPUComputePassEncoder | undefined;
  #batchDispatches = 0;
  #scopeOpen = false;
  #pendingErrors: Promise<GPUError | null>[] = [];

  /** Wraps a device; `name` is what tensors print as their device. */
  constructor(device: GPUDevice, name: string) {
    this.device = device;
    this.name = name;
    this.maxWorkgroupsPerDimension = device.limits.maxComputeWorkgroupsPerDimension;
    this.#lostPromise = device.lost.then((info) => {
      this.#lost = { reason: info.reason ?? "unknown", message: info.message ?? "" };
      throw new DeviceLostError("readback", this.#lost.reason, this.#lost.message);
    });
    // Keep the rejection handled even when nothing is waiting on it.
    this.#lostPromise.catch(() => {});
  }

  /** Whether the device has been lost. */
  get isLost(): boolean {
    return this.#lost !== undefined;
  }

  /** Throws `DeviceLostError` naming `op` if the device is gone. */
  ensureAlive(op: string): void {
    if (this.#lost) throw new DeviceLostError(op, this.#lost.reason, this.#lost.message);
  }

  /** Checks a storage allocation against the device's limits before any GPU call. */
  checkSize(op: string, what: string, bytes: number): void {
    const limits = this.device.limits;
    if (bytes > limits.maxStorageBufferBindingSize) {
      throw new DeviceLimitError(
        `${op}: ${what} needs ${bytes} bytes, over the device's maxStorageBufferBindingSize ` +
          `of ${limits.maxStorageBufferBindingSize} bytes`,
      );
    }
    if (bytes > limits.maxBufferSize) {
      throw new DeviceLimitError(
        `${op}: ${what} needs ${bytes} bytes, over the device's maxBufferSize of ` +
          `${limits.maxBufferSize} bytes`,
      );
    }
  }

  /**
   * Takes a storage buffer of at least `bytes` bytes from the pool, or creates
   * one. `forUpload` restricts the pool to buffers no recorded command reads.
   */
  acquire(op: string, what: string, bytes: number, forUpload = false): GpuBufferHandle {
    this.ensureAlive(op);
    const size = allocationSize(bytes);
    this.checkSize(op, what, size);
    let handle = this.#free.get(size)?.pop();
    if (!handle && !forUpload) handle = this.#freedThisBatch.get(size)?.pop();
    if (handle) {
      this.counters.buffersReused++;
    } else {
      this.#openScope();
      const buffer = this.device.createBuffer({ size, usage: STORAGE_USAGE, label: what });
      handle = { id: this.#nextId++, buffer, bytes: size };
      this.counters.buffersCreated++;
      this.counters.buffersAllocated++;
      this.counters.bytesAllocated += size;
    }
    this.counters.buffersInUse++;
    this.counters.bytesInUse += size;
    if (this.counters.bytesInUse > this.counters.peakBytesInUse) {
      this.counters.peakBytesInUse = this.counters.bytesInUse;
    }
    return handle;
  }

  /** Restarts `peakBytesInUse` from the bytes live now, to measure the peak of what follows. */
  resetPeak(): void {
    this.counters.peakBytesInUse = this.counters.bytesInUse;
  }

  /** Returns a buffer to the pool. Its contents stay valid for already recorded commands. */
  release(handle: GpuBufferHandle): void {
    this.counters.buffersInUse--;
    this.counters.bytesInUse -= handle.bytes;
    if (this.#lost) {
      this.#forget(handle);
      return;
    }
    const list = this.#freedThisBatch.get(handle.bytes) ?? [];
    list.push(handle);
    this.#freedThisBatch.set(handle.bytes, list);
  }

  /** Copies host data into a new device buffer. */
  upload(op: string, what: string, data: Float32Array | Int32Array): GpuBufferHandle {
    const handle = this.acquire(op, what, data.byteLength, true);
    this.#openScope();
    this.device.queue.writeBuffer(
      handle.buffer,
      0,
      data.buffer as ArrayBuffer,
      data.byteOffset,
      data.byteLength,
    );
    return handle;
  }

  /** Returns the cached pipeline for a kernel and its constants, compiling it on first use. */
  pipeline(source: KernelSource): GPUComputePipeline {
    const entryPoint = source.entryPoint ?? "main";
    const constants = source.constants ?? {};
    const key = `${source.name}|${entryPoint}|${JSON.stringify(constants)}|${source.code}`;
    let pipeline = this.#pipelines.get(key);
    if (!pipeline) {
      this.#openScope();
      const module = this.device.createShaderModule({ code: source.code, label: source.name });
      pipeline = this.device.createComputePipeline({
        layout: "auto",
        label: source.name,
        compute: { module, entryPoint, constants: constants as Record<string, number> },
      });
      this.#pipelines.set(key, pipeline);
      this.counters.pipelinesCompiled++;
    }
    return pipeline;
  }

  /**
   * Compiles a kernel ahead of use and reports WGSL errors as `GpuError`
   * naming the shader file and `line:column`. The pipeline lands in the same
   * cache `pipeline()` reads, so later dispatches compile nothing.
   */
  async compileChecked(source: KernelSource): Promise<GPUComputePipeline> {
    this.ensureAlive(`compile ${source.name}`);
    const entryPoint = source.entryPoint ?? "main";
    const constants = source.constants ?? {};
    const key = `${source.name}|${entryPoint}|${JSON.stringify(constants)}|${source.code}`;
    const cached = this.#pipelines.get(key);
    if (cached) return cached;
    // Submit recorded work first: its error scope must not swallow ours.
    this.flush();
    const module = this.device.createShaderModule({ code: source.code, label: source.name });
    const info = await module.getCompilationInfo();
    const errors = info.messages.filter((m) => m.type === "error");
    if (errors.length > 0) {
      throw new GpuError(
        errors.map((m) =>
          `${source.name}:${m.lineNum}:${m.linePos}: error: ${summarize(m.message)}`
        ).join("\n") + `\n\n${errors.map((m) => m.message.trim()).join("\n")}`,
      );
    }
    this.device.pushErrorScope("validation");
    let pipeline: GPUComputePipeline | undefined;
    let failure: unknown;
    try {
      pipeline = await this.device.createComputePipelineAsync({
        layout: "auto",
        label: source.name,
        compute: { module, entryPoint, constants: constants as Record<string, number> },
      });
    } catch (error) {
      failure = error;
    }
    const scoped = await this.device.popErrorScope();
    if (failure || scoped || !pipeline) {
      const detail = scoped?.message ??
        (failure instanceof Error ? failure.message : String(failure));
      throw new GpuError(`${source.name}: creating the compute pipeline failed: ${detail}`, {
        cause: failure,
      });
    }
    this.#pipelines.set(key, pipeline);
    this.counters.pipelinesCompiled++;
    return pipeline;
  }

  /**
   * Records one dispatch of `workgroups` workgroups (folded into a 2-D grid
   * past the per-dimension limit). Binding 0 is the uniform block when
   * `uniforms` is given; storage buffers follow in order.
   */
  dispatch(
    op: string,
    pipeline: GPUComputePipeline,
    buffers: readonly GpuBufferHandle[],
    uniforms: Uint32Array | undefined,
    workgroups: number | readonly [number, number, number],
  ): void {
    this.ensureAlive(op);
    const grid: [number, number, number] = typeof workgroups === "number"
      ? [...planGrid(workgroups, this.maxWorkgroupsPerDimension), 1]
      : [...workgroups];
    if (grid[0] === 0 || grid[1] === 0 || grid[2] === 0) return;
    const bindGroup = this.#bindGroup(pipeline, buffers, uniforms);
    const pass = this.#computePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(grid[0], grid[1], grid[2]);
    this.counters.dispatches++;
    if (++this.#batchDispatches >= MAX_DISPATCHES_PER_SUBMIT) this.flush();
  }

  /** Records a buffer-to-buffer copy in stream order with the dispatches. */
  copy(
    op: string,
    from: GpuBufferHandle,
    to: GpuBufferHandle,
    bytes: number,
    fromOffset = 0,
    toOffset = 0,
  ): void {
    this.ensureAlive(op);
    if (bytes === 0) return;
    this.#endPass();
    this.#commandEncoder().copyBufferToBuffer(from.buffer, fromOffset, to.buffer, toOffset, bytes);
  }

  /** Submits everything recorded so far. A no-op when nothing is pending. */
  flush(): void {
    if (this.#lost) return;
    if (this.#encoder) {
      this.#endPass();
      const commands = this.#encoder.finish();
      this.#encoder = undefined;
      this.device.queue.submit([commands]);
      this.counters.submits++;
    }
    this.#batchDispatches = 0;
    this.#closeScope();
    for (const buffer of this.#retireAfterSubmit) buffer.destroy();
    this.#retireAfterSubmit = [];
    for (const [size, list] of this.#freedThisBatch) {
      const free = this.#free.get(size) ?? [];
      free.push(...list);
      // A canonical order (newest buffer on top): a repeated forward then
      // draws the same buffers in the same roles, and its bind groups hit the
      // cache instead of depending on the order earlier work released them.
      free.sort((a, b) => a.id - b.id);
      this.#free.set(size, free);
    }
    this.#freedThisBatch.clear();
  }

  /**
   * Submits pending work and copies the first `bytes` bytes of `handle` back
   * to the host. Rejects with `DeviceLostError` if the device goes away, and
   * with `GpuError` if WebGPU reported an error for the work it waited on.
   */
  async read(op: string, handle: GpuBufferHandle, bytes: number): Promise<ArrayBuffer> {
    this.ensureAlive(op);
    const size = allocationSize(bytes);
    let staging = this.#staging.get(size)?.pop();
    if (!staging) {
      staging = this.device.createBuffer({
        size,
        usage: USAGE.MAP_READ | USAGE.COPY_DST,
        label: "tessera staging",
      });
      this.counters.stagingBuffersCreated++;
    }
    this.#endPass();
    this.#openScope();
    this.#commandEncoder().copyBufferToBuffer(handle.buffer, 0, staging, 0, size);
    this.flush();
    const errors = this.#pendingErrors;
    this.#pendingErrors = [];
    this.counters.readbacks++;
    try {
      await Promise.race([staging.mapAsync(MAP_MODE_READ, 0, size), this.#lostPromise]);
    } catch (cause) {
      if (this.#lost) {
        throw new DeviceLostError(op, this.#lost.reason, this.#lost.message, { cause });
      }
      throw new GpuError(`${op}: reading back ${bytes} bytes failed: ${cause}`, { cause });
    }
    // getMappedRange's ArrayBuffer is detached by unmap, so copy it first.
    const copy = staging.getMappedRange(0, bytes).slice(0);
    staging.unmap();
    const list = this.#staging.get(size) ?? [];
    list.push(staging);
    this.#staging.set(size, list);
    await this.#throwRecordedErrors(op, errors);
    return copy;
  }

  /** Destroys pooled buffers and cached uniforms; live tensors are untouched. */
  releaseCached(): void {
    this.flush();
    for (const list of this.#free.values()) for (const h of list) this.#forget(h);
    this.#free.clear();
    for (const list of this.#staging.values()) for (const b of list) b.destroy();
    this.#staging.clear();
    for (const { buffer } of this.#uniforms.values()) buffer.destroy();
    this.#uniforms.clear();
    this.#bindGroups.clear();
  }

  #forget(handle: GpuBufferHandle): void {
    handle.buffer.destroy();
    this.counters.buffersAllocated--;
    this.counters.bytesAllocated -= handle.bytes;
  }

  async #throwRecordedErrors(op: string, errors: Promise<GPUError | null>[]): Promise<void> {
    for (const pending of errors) {
      const error = await pending.catch(() => null);
      if (error) {
        throw new GpuError(`${op}: WebGPU reported an error in recorded work: ${error.message}`);
      }
    }
  }

  #openScope(): void {
    if (this.#scopeOpen) return;
    this.device.pushErrorScope("out-of-memory");
    this.device.pushErrorScope("validation");
    this.#scopeOpen = true;
  }

  #closeScope(): void {
    if (!this.#scopeOpen) return;
    this.#scopeOpen = false;
    this.#pendingErrors.push(this.device.popErrorScope(), this.device.popErrorScope());
  }

  #commandEncoder(): GPUCommandEncoder {
    this.#openScope();
    this.#encoder ??= this.device.createCommandEncoder({ label: "tessera batch" });
    return this.#encoder;
  }

  #computePass(): GPUComputePassEncoder {
    this.#pass ??= this.#commandEncoder().beginComputePass();
    return this.#pass;
  }

  #endPass(): void {
    this.#pass?.end();
    this.#pass = undefined;
  }

  #uniformBuffer(values: Uint32Array): { buffer: GPUBuffer; id: number } {
    const key = values.join(",");
    const cached = this.#uniforms.get(key);
    if (cached) {
      // Re-insert to keep the most recently used entries at the end.
      this.#uniforms.delete(key);
      this.#uniforms.set(key, cached);
      return cached;
    }
    this.#openScope();
    const buffer = this.device.createBuffer({
      size: Math.max(16, Math.ceil(values.byteLength / 16) * 16),
      usage: USAGE.UNIFORM | USAGE.COPY_DST,
      mappedAtCreation: true,
      label: "tessera uniforms",
    });
    new Uint32Array(buffer.getMappedRange()).set(values);
    buffer.unmap();
    this.counters.uniformBuffersCreated++;
    const entry = { buffer, id: this.#nextId++ };
    this.#uniforms.set(key, entry);
    if (this.#uniforms.size > UNIFORM_CACHE_SIZE) {
      const [oldKey, old] = this.#uniforms.entries().next().value!;
      this.#uniforms.delete(oldKey);
      // Recorded commands may still bind it: destroy only after they are submitted.
      this.#retireAfterSubmit.push(old.buffer);
    }
    return entry;
  }

  #pipelineIds = new WeakMap<GPUComputePipeline, number>();

  #bindGroup(
    pipeline: GPUComputePipeline,
    buffers: readonly GpuBufferHandle[],
    uniforms: Uint32Array | undefined,
  ): GPUBindGroup {
    let pipelineId = this.#pipelineIds.get(pipeline);
    if (pipelineId === undefined) {
      pipelineId = this.#nextId++;
      this.#pipelineIds.set(pipeline, pipelineId);
    }
    const uniform = uniforms ? this.#uniformBuffer(uniforms) : undefined;
    // Keyed by buffer identities, so an evicted and recreated uniform buffer
    // can never be served through a stale bind group.
    const key = `${pipelineId}|${uniform?.id ?? "-"}|${buffers.map((b) => b.id).join(",")}`;
    let group = this.#bindGroups.get(key);
    if (group) return group;
    const entries: GPUBindGroupEntry[] = [];
    if (uniform) entries.push({ binding: 0, resource: { buffer: uniform.buffer } });
    const first = uniform ? 1 : 0;
    buffers.forEach((b, i) => entries.push({ binding: first + i, resource: { buffer: b.buffer } }));
    this.#openScope();
    group = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    this.counters.bindGroupsCreated++;
    this.#bindGroups.set(key, group);
    if (this.#bindGroups.size > BIND_GROUP_CACHE_SIZE) {
      this.#bindGroups.delete(this.#bindGroups.keys().next().value!);
    }
    return group;
  }
}
