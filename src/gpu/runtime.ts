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
  /**
   * Binds only `[offset, offset + size)` of the buffer (set on the range views
   * `big_buffer.ts` makes for tensors larger than one binding); the whole
   * buffer when absent.
   */
  readonly offset?: number;
  /** Bytes bound from `offset`; see `offset`. */
  readonly size?: number;
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
  /**
   * An explicit layout for bind group 0, one entry per binding in order
   * (custom kernels). Without it the layout is derived from the shader
   * (`"auto"`), which leaves out bindings the entry point never uses.
   */
  readonly layout?: readonly BindingKind[];
}

/** The kind of one binding of an explicit layout. */
export type BindingKind = "uniform" | "read-only-storage" | "storage";

/** Default bound on pooled plus staging bytes kept for reuse (see `setMaxCachedBytes`). */
export const DEFAULT_MAX_CACHED_BYTES = 256 * 1024 * 1024;
/**
 * How many entries each of a device's small caches keeps (set through
 * `webgpu({ cacheLimits })`); past it the oldest or least recently used go.
 */
export interface CacheLimits {
  /** Compiled pipelines, least recently used evicted first; default 256. */
  pipelines: number;
  /** Readback staging buffers kept for reuse; default 8. */
  stagingBuffers: number;
  /** Uniform blocks (small parameter buffers), oldest evicted first; default 512. */
  uniformBlocks: number;
  /** Bind groups, oldest evicted first; default 1,024. */
  bindGroups: number;
}

/** The default {@linkcode CacheLimits}. */
export const DEFAULT_CACHE_LIMITS: Readonly<CacheLimits> = Object.freeze({
  pipelines: 256,
  stagingBuffers: 8,
  uniformBlocks: 512,
  bindGroups: 1024,
});

/** Dispatches recorded before a submit is forced, bounding one submission's work. */
const MAX_DISPATCHES_PER_SUBMIT = 1024;

// WebGPU's numeric flag values, spelled out because Node has no
// GPUBufferUsage global unless a WebGPU implementation installs one, and
// importing the library must work everywhere.
const USAGE = { MAP_READ: 0x1, COPY_SRC: 0x4, COPY_DST: 0x8, UNIFORM: 0x40, STORAGE: 0x80 };
const MAP_MODE_READ = 0x1;
const STORAGE_USAGE = USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST;
const SHADER_STAGE_COMPUTE = 0x4;

function pipelineKey(source: KernelSource): string {
  return `${source.name}|${source.entryPoint ?? "main"}|${JSON.stringify(source.constants ?? {})}|${
    source.layout?.join(",") ?? "auto"
  }|${source.code}`;
}

/** Staging sizes are powers of two (at least 256 bytes), so reads of nearby sizes share one. */
function stagingSize(bytes: number): number {
  return Math.max(256, 2 ** Math.ceil(Math.log2(bytes)));
}

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
  /**
   * The most bytes one storage binding may hold. Defaults to the device's
   * `maxStorageBufferBindingSize`; tests lower it to exercise the chunking of
   * tensors larger than one binding on small inputs.
   */
  maxBindingBytes: number;
  /**
   * Whether kernels may use WGSL's `f16` (the device has `shader-f16`), so
   * float16 tensors can live here. Tests clear it to fake a device without it.
   */
  shaderF16: boolean;

  #nextId = 1;
  #lost: { reason: string; message: string } | undefined;
  #lostPromise: Promise<never>;
  #rejectLost!: (error: unknown) => void;
  #maxCachedBytes = DEFAULT_MAX_CACHED_BYTES;
  /** Entry bounds of the pipeline, staging, uniform and bind-group caches. */
  readonly cacheLimits: CacheLimits = { ...DEFAULT_CACHE_LIMITS };
  // Free buffers keyed by size. `#free` buffers were released before the
  // current batch and are safe for queue.writeBuffer; buffers released during
  // the batch may still be read by recorded commands, and writeBuffer runs
  // ahead of those, so they only serve kernel outputs until the next submit.
  #free = new Map<number, GpuBufferHandle[]>();
  #freedThisBatch = new Map<number, GpuBufferHandle[]>();
  /** Every pooled buffer (`#free` and `#freedThisBatch`), least recently released first. */
  #pooled = new Set<GpuBufferHandle>();
  #staging = new Map<GPUBuffer, number>();
  #pipelines = new Map<string, GPUComputePipeline>();
  #uniforms = new Map<string, { buffer: GPUBuffer; id: number }>();
  #bindGroups = new Map<string, GPUBindGroup>();
  #retireAfterSubmit: GPUBuffer[] = [];
  #encoder: GPUCommandEncoder | undefined;
  #pass: GPUComputePassEncoder | undefined;
  #batchDispatches = 0;
  #batchOps = new Set<string>();
  #scopeOpen = false;
  #pendingErrors: { error: Promise<GPUError | null>; ops: readonly string[] }[] = [];

  /** Wraps a device; `name` is what tensors print as their device. */
  constructor(device: GPUDevice, name: string) {
    this.device = device;
    this.name = name;
    this.maxWorkgroupsPerDimension = device.limits.maxComputeWorkgroupsPerDimension;
    this.maxBindingBytes = device.limits.maxStorageBufferBindingSize;
    this.shaderF16 = device.features?.has("shader-f16") ?? false;
    this.#lostPromise = new Promise<never>((_, reject) => this.#rejectLost = reject);
    // Keep the rejection handled even when nothing is waiting on it.
    this.#lostPromise.catch(() => {});
    device.lost.then((info) => this.#markLost(info.reason ?? "unknown", info.message ?? ""));
    // `device.lost` settles a task later: without this, an op in the same
    // tick as `destroy()` would reach WebGPU and fail with a raw error.
    const destroy = device.destroy;
    device.destroy = () => {
      this.#markLost("destroyed", "GPUDevice.destroy() was called");
      destroy.call(device);
    };
  }

  #markLost(reason: string, message: string): void {
    if (this.#lost) return;
    this.#lost = { reason, message };
    this.#rejectLost(new DeviceLostError("readback", reason, message));
  }

  /** Whether the device has been lost. */
  get isLost(): boolean {
    return this.#lost !== undefined;
  }

  /** Throws `DeviceLostError` naming `op` if the device is gone. */
  ensureAlive(op: string): void {
    if (this.#lost) throw new DeviceLostError(op, this.#lost.reason, this.#lost.message);
  }

  /** The bound on pooled plus staging bytes kept for reuse. */
  get maxCachedBytes(): number {
    return this.#maxCachedBytes;
  }

  /** Sets the bound on cached bytes and evicts (destroys) buffers past it, oldest first. */
  setMaxCachedBytes(bytes: number): void {
    this.#maxCachedBytes = bytes;
    this.#trimStaging();
    this.#trimPool();
  }

  /**
   * Checks a storage allocation against the device's limits before any GPU
   * call: `maxBufferSize` always, and the binding limit when the buffer will
   * be bound whole (a kernel output); uploads and copies only need the former.
   */
  checkSize(op: string, what: string, bytes: number, bindable = true): void {
    const limits = this.device.limits;
    if (bindable) this.checkBinding(op, what, bytes);
    if (bytes > limits.maxBufferSize) {
      throw new DeviceLimitError(
        `${op}: ${what} needs ${bytes} bytes, over the device's maxBufferSize of ` +
          `${limits.maxBufferSize} bytes`,
      );
    }
  }

  /** Throws `DeviceLimitError` when `bytes` cannot be bound as one storage binding. */
  checkBinding(op: string, what: string, bytes: number): void {
    if (bytes > this.maxBindingBytes) {
      throw new DeviceLimitError(
        `${op}: ${what} needs ${bytes} bytes, over the device's maxStorageBufferBindingSize ` +
          `of ${this.maxBindingBytes} bytes`,
      );
    }
  }

  /**
   * Takes a storage buffer of at least `bytes` bytes from the pool, or creates
   * one. `forUpload` restricts the pool to buffers no recorded command reads.
   * Only `bindable` buffers (kernel outputs: the default except for uploads)
   * are held to the binding limit.
   */
  acquire(
    op: string,
    what: string,
    bytes: number,
    forUpload = false,
    bindable = !forUpload,
  ): GpuBufferHandle {
    this.ensureAlive(op);
    const size = allocationSize(bytes);
    this.checkSize(op, what, size, bindable);
    let handle = this.#free.get(size)?.pop();
    if (!handle && !forUpload) handle = this.#freedThisBatch.get(size)?.pop();
    if (handle) {
      this.#pooled.delete(handle);
      this.counters.buffersCached--;
      this.counters.bytesCached -= size;
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

  /**
   * Whether buffers of tensors garbage-collected without `dispose` return to
   * the pool (the FinalizationRegistry backstop); default true.
   */
  reclaimUnreachable = true;

  /** The backstop's release: like `release`, and counted in `buffersReclaimed`. */
  reclaim(handle: GpuBufferHandle): void {
    this.counters.buffersReclaimed++;
    this.release(handle);
  }

  /** Returns a buffer to the pool. Its contents stay valid for already recorded commands. */
  release(handle: GpuBufferHandle): void {
    this.counters.buffersInUse--;
    this.counters.bytesInUse -= handle.bytes;
    if (this.#lost) {
      this.#forget(handle);
      return;
    }
    // With nothing recorded since the last submit no pending command can read
    // the buffer, so uploads may reuse it at once.
    const pool = this.#encoder ? this.#freedThisBatch : this.#free;
    const list = pool.get(handle.bytes) ?? [];
    list.push(handle);
    if (pool === this.#free) list.sort((a, b) => a.id - b.id);
    pool.set(handle.bytes, list);
    this.#pooled.add(handle);
    this.counters.buffersCached++;
    this.counters.bytesCached += handle.bytes;
    // Buffers that recorded commands may read cannot be destroyed before those
    // commands are submitted: `flush` trims them, so one batch can overshoot
    // the bound by what it releases itself, and a forward stays one submit.
    if (this.counters.bytesCached > this.#maxCachedBytes && !this.#encoder) this.#trimPool();
  }

  /** Copies host data into a new device buffer. */
  upload(
    op: string,
    what: string,
    data: Float32Array | Int32Array | Uint16Array,
  ): GpuBufferHandle {
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
    const key = pipelineKey(source);
    let pipeline = this.#pipelines.get(key);
    if (pipeline) {
      this.#touchPipeline(key, pipeline);
      return pipeline;
    }
    this.#openScope();
    const module = this.device.createShaderModule({ code: source.code, label: source.name });
    pipeline = this.device.createComputePipeline(this.#pipelineDescriptor(source, module));
    this.#cachePipeline(key, pipeline);
    return pipeline;
  }

  #pipelineDescriptor(source: KernelSource, module: GPUShaderModule): GPUComputePipelineDescriptor {
    const layout: GPUPipelineLayout | "auto" = source.layout
      ? this.device.createPipelineLayout({
        bindGroupLayouts: [
          this.device.createBindGroupLayout({
            label: source.name,
            entries: source.layout.map((type, binding) => ({
              binding,
              visibility: SHADER_STAGE_COMPUTE,
              buffer: { type },
            })),
          }),
        ],
      })
      : "auto";
    return {
      layout,
      label: source.name,
      compute: {
        module,
        entryPoint: source.entryPoint ?? "main",
        constants: (source.constants ?? {}) as Record<string, number>,
      },
    };
  }

  #touchPipeline(key: string, pipeline: GPUComputePipeline): void {
    this.#pipelines.delete(key);
    this.#pipelines.set(key, pipeline);
  }

  #cachePipeline(key: string, pipeline: GPUComputePipeline): void {
    this.#pipelines.set(key, pipeline);
    this.counters.pipelinesCompiled++;
    // Pipelines have no destroy(): dropping the reference lets WebGPU free it
    // once no recorded command uses it.
    // `while`, not `if`: the limit may have been lowered since the last insert.
    while (this.#pipelines.size > this.cacheLimits.pipelines) {
      this.#pipelines.delete(this.#pipelines.keys().next().value!);
    }
    this.counters.pipelinesCached = this.#pipelines.size;
  }

  /**
   * Compiles a kernel ahead of use and reports WGSL errors as `GpuError`
   * naming the shader file and `line:column`. The pipeline lands in the same
   * cache `pipeline()` reads, so later dispatches compile nothing. A device
   * lost before or during the compile gives `DeviceLostError`.
   */
  async compileChecked(source: KernelSource): Promise<GPUComputePipeline> {
    const op = `compile ${source.name}`;
    this.ensureAlive(op);
    const key = pipelineKey(source);
    const cached = this.#pipelines.get(key);
    if (cached) return cached;
    // Submit recorded work first: its error scope must not swallow ours.
    this.flush();
    // Whatever WebGPU says about a lost device (a rejection, an empty result,
    // or never settling), the caller gets DeviceLostError.
    const alive = <T>(promise: Promise<T>): Promise<T> =>
      Promise.race([promise, this.#lostPromise]).then((value) => {
        this.ensureAlive(op);
        return value;
      }, (cause) => {
        if (this.#lost) {
          throw new DeviceLostError(op, this.#lost.reason, this.#lost.message, { cause });
        }
        throw cause;
      });
    const module = this.device.createShaderModule({ code: source.code, label: source.name });
    const info = await alive(module.getCompilationInfo());
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
      pipeline = await alive(
        this.device.createComputePipelineAsync(this.#pipelineDescriptor(source, module)),
      );
    } catch (error) {
      if (error instanceof DeviceLostError) throw error;
      failure = error;
    }
    const scoped = await alive(this.device.popErrorScope());
    if (failure || scoped || !pipeline) {
      const detail = scoped?.message ??
        (failure instanceof Error ? failure.message : String(failure));
      throw new GpuError(`${source.name}: creating the compute pipeline failed: ${detail}`, {
        cause: failure,
      });
    }
    this.#cachePipeline(key, pipeline);
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
    this.#batchOps.add(op);
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
    this.#batchOps.add(op);
  }

  /** Records zero-filling `handle` in stream order (a pooled buffer holds old values). */
  clear(op: string, handle: GpuBufferHandle): void {
    this.ensureAlive(op);
    this.#endPass();
    this.#commandEncoder().clearBuffer(handle.buffer, 0, handle.bytes);
    this.#batchOps.add(op);
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
    this.#batchOps.clear();
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
    this.#trimPool();
  }

  /**
   * Submits pending work and copies the first `bytes` bytes of `handle` back
   * to the host. Rejects with `DeviceLostError` if the device goes away, and
   * with `GpuError` if WebGPU reported an error for the work it waited on.
   */
  async read(op: string, handle: GpuBufferHandle, bytes: number): Promise<ArrayBuffer> {
    this.ensureAlive(op);
    const size = allocationSize(bytes);
    const staging = this.#takeStaging(size);
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
      staging.destroy();
      throw new GpuError(`${op}: reading back ${bytes} bytes failed: ${cause}`, { cause });
    }
    // getMappedRange's ArrayBuffer is detached by unmap, so copy it first.
    const copy = staging.getMappedRange(0, bytes).slice(0);
    staging.unmap();
    this.#returnStaging(staging);
    await this.#throwRecordedErrors(op, errors);
    return copy;
  }

  /** Destroys pooled buffers and cached uniforms; live tensors are untouched. */
  releaseCached(): void {
    this.flush();
    for (const h of this.#pooled) this.#forget(h);
    this.#pooled.clear();
    this.#free.clear();
    this.counters.buffersCached = 0;
    this.counters.bytesCached = 0;
    for (const b of this.#staging.keys()) b.destroy();
    this.#staging.clear();
    this.counters.stagingBuffersCached = 0;
    for (const { buffer } of this.#uniforms.values()) buffer.destroy();
    this.#uniforms.clear();
    this.#bindGroups.clear();
  }

  #takeStaging(size: number): GPUBuffer {
    const wanted = stagingSize(size);
    for (const [buffer, bytes] of this.#staging) {
      if (bytes !== wanted) continue;
      this.#staging.delete(buffer);
      this.counters.stagingBuffersCached--;
      this.counters.bytesCached -= bytes;
      return buffer;
    }
    this.counters.stagingBuffersCreated++;
    return this.device.createBuffer({
      size: wanted,
      usage: USAGE.MAP_READ | USAGE.COPY_DST,
      label: "tessera staging",
    });
  }

  #returnStaging(buffer: GPUBuffer): void {
    if (this.#lost) return buffer.destroy();
    this.#staging.set(buffer, buffer.size);
    this.counters.stagingBuffersCached++;
    this.counters.bytesCached += buffer.size;
    this.#trimStaging();
    this.#trimPool();
  }

  /** Keeps at most `cacheLimits.stagingBuffers` staging buffers and half the byte bound, oldest out first. */
  #trimStaging(): void {
    for (const [buffer, bytes] of this.#staging) {
      const stagingBytes = [...this.#staging.values()].reduce((a, b) => a + b, 0);
      if (
        this.#staging.size <= this.cacheLimits.stagingBuffers &&
        stagingBytes <= this.#maxCachedBytes / 2
      ) break;
      this.#staging.delete(buffer);
      buffer.destroy();
      this.counters.stagingBuffersCached--;
      this.counters.bytesCached -= bytes;
    }
  }

  /** Destroys the least recently released pooled buffers until the cache fits its bound. */
  #trimPool(): void {
    for (const handle of this.#pooled) {
      if (this.counters.bytesCached <= this.#maxCachedBytes) break;
      const list = this.#free.get(handle.bytes);
      const at = list?.indexOf(handle) ?? -1;
      // Buffers released in this batch may still be read by recorded commands.
      if (at < 0) continue;
      list!.splice(at, 1);
      if (list!.length === 0) this.#free.delete(handle.bytes);
      this.#pooled.delete(handle);
      this.counters.buffersCached--;
      this.counters.bytesCached -= handle.bytes;
      this.counters.buffersEvicted++;
      this.#forget(handle);
    }
  }

  #forget(handle: GpuBufferHandle): void {
    handle.buffer.destroy();
    this.counters.buffersAllocated--;
    this.counters.bytesAllocated -= handle.bytes;
  }

  async #throwRecordedErrors(
    op: string,
    errors: { error: Promise<GPUError | null>; ops: readonly string[] }[],
  ): Promise<void> {
    for (const pending of errors) {
      const error = await pending.error.catch(() => null);
      if (error) {
        const ops = pending.ops.length > 0 ? ` (ops in that batch: ${pending.ops.join(", ")})` : "";
        throw new GpuError(
          `${op}: WebGPU reported an error in recorded work${ops}: ${error.message}`,
        );
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
    const ops = [...this.#batchOps];
    this.#pendingErrors.push(
      { error: this.device.popErrorScope(), ops },
      { error: this.device.popErrorScope(), ops },
    );
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
    while (this.#uniforms.size > this.cacheLimits.uniformBlocks) {
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
    const key = `${pipelineId}|${uniform?.id ?? "-"}|${
      buffers.map((b) => `${b.id}@${b.offset ?? 0}+${b.size ?? "all"}`).join(",")
    }`;
    let group = this.#bindGroups.get(key);
    if (group) return group;
    const entries: GPUBindGroupEntry[] = [];
    if (uniform) entries.push({ binding: 0, resource: { buffer: uniform.buffer } });
    const first = uniform ? 1 : 0;
    buffers.forEach((b, i) =>
      entries.push({
        binding: first + i,
        resource: { buffer: b.buffer, offset: b.offset ?? 0, size: b.size },
      })
    );
    this.#openScope();
    group = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    this.counters.bindGroupsCreated++;
    this.#bindGroups.set(key, group);
    while (this.#bindGroups.size > this.cacheLimits.bindGroups) {
      this.#bindGroups.delete(this.#bindGroups.keys().next().value!);
    }
    return group;
  }
}
