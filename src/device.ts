/**
 * Devices: `cpu` (TypeScript over `Float32Array`) and `webgpu()` (a WebGPU
 * device from `navigator.gpu`, or one the caller brings).
 *
 * @module
 */

import { ArgumentError, WebGpuUnavailableError } from "./errors.ts";
import type { GpuCounters } from "./gpu/counters.ts";
import { type CacheLimits, DEFAULT_CACHE_LIMITS, GpuRuntime } from "./gpu/runtime.ts";

/**
 * The CPU device. Its name prints as `cpu`.
 *
 * @example
 * ```ts
 * import { cpu } from "@tessera/core";
 * console.log(cpu.name); // "cpu"
 * ```
 */
export interface CpuDevice {
  /** Always `"cpu"`. */
  readonly kind: "cpu";
  /** Always `"cpu"`. */
  readonly name: "cpu";
}

/**
 * A WebGPU device. Its name prints as `webgpu:N`, numbered in the order
 * devices were created in this process.
 *
 * @example
 * ```ts ignore
 * import { webgpu } from "@tessera/core";
 * const gpu = await webgpu();
 * console.log(gpu.name, gpu.adapterInfo.description); // "webgpu:0", ...
 * ```
 */
export interface WebGpuDevice {
  /** Always `"webgpu"`. */
  readonly kind: "webgpu";
  /** `webgpu:N`. */
  readonly name: string;
  /** The underlying `GPUDevice`, for interop with other WebGPU code. */
  readonly gpu: GPUDevice;
  /** What the adapter says about itself (vendor, description, ...). */
  readonly adapterInfo: { readonly vendor: string; readonly description: string };
}

/**
 * A device a tensor can live on.
 *
 * @example
 * ```ts
 * import { cpu, type Device } from "@tessera/core";
 * const d: Device = cpu;
 * console.log(d.kind);
 * ```
 */
export type Device = CpuDevice | WebGpuDevice;

/**
 * The CPU device.
 *
 * @example
 * ```ts
 * import { cpu, zeros } from "@tessera/core";
 * console.log(zeros([2]).device === cpu); // true
 * ```
 */
export const cpu: CpuDevice = Object.freeze({ kind: "cpu", name: "cpu" });

/**
 * Options for {@linkcode webgpu}.
 *
 * @example
 * ```ts ignore
 * import { webgpu } from "@tessera/core";
 * const gpu = await webgpu({ powerPreference: "high-performance" });
 * ```
 */
export interface WebGpuOptions {
  /** Use this device instead of requesting one (Node's `webgpu` package, browsers). */
  device?: GPUDevice;
  /** Passed to `requestAdapter`. */
  powerPreference?: GPUPowerPreference;
  /**
   * Bound on the bytes the device keeps cached for reuse (pooled storage
   * buffers plus readback staging buffers); default 256 MiB. See
   * {@linkcode setMaxCachedBytes}.
   */
  maxCachedBytes?: number;
  /**
   * Whether the buffers of GPU tensors that were garbage-collected without
   * `dispose` return to the pool (a FinalizationRegistry backstop); default
   * true. `false` keeps them counted in `buffersInUse` forever, so a leak
   * shows up in `gpuStats` deterministically (test suites use it).
   */
  reclaimUnreachable?: boolean;
  /**
   * Entry bounds of the device's small caches (pipelines 256, staging buffers
   * 8, uniform blocks 512, bind groups 1,024 by default); each must be a whole
   * number >= 1. Lower them on memory-tight devices; raise `pipelines` when a
   * program cycles through more kernels than that.
   */
  cacheLimits?: Partial<CacheLimits>;
}

// Limits Tessera raises to the adapter's maximum: the defaults (128 MiB
// bindings, 256 invocations) are far below what real adapters offer.
const RAISED_LIMITS = [
  "maxBufferSize",
  "maxStorageBufferBindingSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupSizeZ",
  "maxComputeWorkgroupsPerDimension",
  "maxStorageBuffersPerShaderStage",
] as const;

const wrapped = new WeakMap<GPUDevice, WebGpuDevice>();
const runtimes = new WeakMap<WebGpuDevice, GpuRuntime>();

/** The recording runtime behind a WebGPU device (internal; not exported from mod.ts). */
export function runtimeOf(device: WebGpuDevice, op?: string): GpuRuntime {
  const runtime = device !== null && typeof device === "object" ? runtimes.get(device) : undefined;
  if (!runtime) {
    const got = device === null || typeof device !== "object"
      ? String(typeof device === "string" ? JSON.stringify(device) : device)
      : (device as { name?: unknown }).name ?? "a plain object";
    throw new ArgumentError(
      `${op ?? "webgpu"}: device must be a WebGPU device from webgpu(), but got ${got}`,
    );
  }
  return runtime;
}
let defaultDevice: Promise<WebGpuDevice> | undefined;
let deviceCount = 0;

function wrap(gpu: GPUDevice, adapterInfo?: GPUAdapterInfo): WebGpuDevice {
  const existing = wrapped.get(gpu);
  if (existing) return existing;
  const name = `webgpu:${deviceCount++}`;
  const info = adapterInfo ?? (gpu as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  const device: WebGpuDevice = Object.freeze({
    kind: "webgpu",
    name,
    gpu,
    adapterInfo: Object.freeze({
      vendor: info?.vendor ?? "",
      description: info?.description ?? "",
    }),
  });
  runtimes.set(device, new GpuRuntime(gpu, name));
  wrapped.set(gpu, device);
  return device;
}

async function requestDefault(options: WebGpuOptions): Promise<WebGpuDevice> {
  const gpuApi = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpuApi) {
    throw new WebGpuUnavailableError(
      "Cannot create a WebGPU device: navigator.gpu is not defined in this runtime; " +
        "use Deno 2.x, or pass a GPUDevice with webgpu({ device }) (in Node, from the " +
        "`webgpu` npm package)",
    );
  }
  const adapter = await gpuApi.requestAdapter({ powerPreference: options.powerPreference });
  if (!adapter) {
    throw new WebGpuUnavailableError(
      "Cannot create a WebGPU device: navigator.gpu.requestAdapter() found no adapter; " +
        "install a GPU driver with Vulkan support, or Mesa's software rasteriser " +
        "(`apt-get install mesa-vulkan-drivers`)",
    );
  }
  const requiredLimits: Record<string, number> = {};
  for (const limit of RAISED_LIMITS) {
    const value = adapter.limits[limit];
    if (typeof value === "number") requiredLimits[limit] = value;
  }
  // float16 tensors need WGSL's f16; adapters without it still get a device (float32 only).
  const requiredFeatures: GPUFeatureName[] = adapter.features.has("shader-f16")
    ? ["shader-f16"]
    : [];
  const gpu = await adapter.requestDevice({ requiredLimits, requiredFeatures, label: "tessera" });
  return wrap(gpu, adapter.info);
}

/**
 * Returns a WebGPU device. Without options it requests Deno's adapter and a
 * device with the adapter's own limits, and caches it: every call returns the
 * same device until it is lost. With `{ device }` it wraps the caller's
 * `GPUDevice` (the same `GPUDevice` always gives the same Tessera device).
 *
 * @throws {WebGpuUnavailableError} when there is no WebGPU or no adapter.
 *
 * @example
 * ```ts ignore
 * import { tensor, toDevice, webgpu } from "@tessera/core";
 * const gpu = await webgpu();
 * const t = await toDevice(tensor([1, 2, 3]), gpu);
 * console.log(t.device.name); // "webgpu:0"
 * ```
 */
export async function webgpu(options: WebGpuOptions = {}): Promise<WebGpuDevice> {
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw new ArgumentError(
      `webgpu: options must be an object like { device, maxCachedBytes }, but got ${
        options === null ? "null" : typeof options
      }`,
    );
  }
  if (
    options.reclaimUnreachable !== undefined && typeof options.reclaimUnreachable !== "boolean"
  ) {
    throw new ArgumentError(
      `webgpu: reclaimUnreachable must be a boolean, but got ${options.reclaimUnreachable}`,
    );
  }
  if (options.maxCachedBytes !== undefined) checkCacheBound("webgpu", options.maxCachedBytes);
  const limits = checkCacheLimits(options.cacheLimits);
  const device = await pick(options);
  Object.assign(runtimeOf(device).cacheLimits, limits);
  if (options.maxCachedBytes !== undefined) {
    runtimeOf(device).setMaxCachedBytes(options.maxCachedBytes);
  }
  if (options.reclaimUnreachable !== undefined) {
    runtimeOf(device).reclaimUnreachable = options.reclaimUnreachable;
  }
  return device;
}

async function pick(options: WebGpuOptions): Promise<WebGpuDevice> {
  if (options.device) return wrap(options.device);
  if (defaultDevice) {
    const cached = await defaultDevice.catch(() => undefined);
    if (cached && !runtimeOf(cached).isLost) return cached;
  }
  defaultDevice = requestDefault(options);
  return await defaultDevice;
}

function checkCacheLimits(limits: unknown): Partial<CacheLimits> {
  if (limits === undefined) return {};
  if (limits === null || typeof limits !== "object" || Array.isArray(limits)) {
    throw new ArgumentError(
      `webgpu: cacheLimits must be an object like { pipelines: 256 }, but got ${
        limits === null ? "null" : typeof limits
      }`,
    );
  }
  const out: Partial<CacheLimits> = {};
  for (const [key, value] of Object.entries(limits)) {
    if (!(key in DEFAULT_CACHE_LIMITS)) {
      throw new ArgumentError(
        `webgpu: cacheLimits has an unknown key "${key}"; the keys are ${
          Object.keys(DEFAULT_CACHE_LIMITS).join(", ")
        }`,
      );
    }
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new ArgumentError(
        `webgpu: cacheLimits.${key} must be a whole number >= 1, but got ${value}`,
      );
    }
    out[key as keyof CacheLimits] = value;
  }
  return out;
}

function checkCacheBound(op: string, bytes: number): void {
  if (!Number.isSafeInteger(bytes) || bytes < 0) {
    throw new ArgumentError(
      `${op}: maxCachedBytes must be a whole number of bytes >= 0, but got ${bytes}`,
    );
  }
}

/**
 * Bounds the bytes a WebGPU device keeps cached for reuse: storage buffers
 * released by tensors (the pool) plus idle readback staging buffers. Past the
 * bound the least recently released buffers are destroyed at once (or, for
 * buffers that recorded work still reads, right after that work is
 * submitted). `0` keeps nothing cached; the default is 256 MiB. Memory held
 * by live tensors is never affected.
 *
 * @example
 * ```ts ignore
 * import { gpuStats, setMaxCachedBytes, webgpu } from "@tessera/core";
 * const gpu = await webgpu();
 * setMaxCachedBytes(gpu, 64 * 1024 * 1024);
 * console.log(gpuStats(gpu).bytesCached <= 64 * 1024 * 1024); // true
 * ```
 */
export function setMaxCachedBytes(device: WebGpuDevice, bytes: number): void {
  const runtime = runtimeOf(device, "setMaxCachedBytes");
  checkCacheBound("setMaxCachedBytes", bytes);
  runtime.setMaxCachedBytes(bytes);
}

/**
 * A snapshot of a WebGPU device's counters: dispatches, submits, compiles,
 * buffer creation and reuse, memory in use (`buffersInUse`, `bytesInUse`:
 * held by live tensors) and cached (`bytesCached`: pooled plus staging
 * buffers kept for reuse, bounded by {@linkcode setMaxCachedBytes}). Tests use it to prove that a
 * pipeline submits once and leaks nothing.
 *
 * @example
 * ```ts ignore
 * import { gpuStats, webgpu } from "@tessera/core";
 * const gpu = await webgpu();
 * console.log(gpuStats(gpu).buffersInUse);
 * ```
 */
export function gpuStats(device: WebGpuDevice): GpuCounters {
  return { ...runtimeOf(device, "gpuStats").counters };
}

/**
 * Restarts a WebGPU device's `peakBytesInUse` counter from the bytes in use
 * now, so that `gpuStats(device).peakBytesInUse` afterwards is the peak of
 * the work recorded since (for example one forward pass).
 *
 * @example
 * ```ts ignore
 * import { gpuStats, nn, resetPeakBytes, webgpu } from "@tessera/core";
 * const gpu = await webgpu();
 * resetPeakBytes(gpu);
 * // ... run a forward pass ...
 * console.log(gpuStats(gpu).peakBytesInUse);
 * ```
 */
export function resetPeakBytes(device: WebGpuDevice): void {
  runtimeOf(device, "resetPeakBytes").resetPeak();
}

/**
 * Releases a WebGPU device's pooled buffers and caches. Tensors still alive
 * are not affected.
 *
 * @example
 * ```ts ignore
 * import { releaseCachedMemory, webgpu } from "@tessera/core";
 * releaseCachedMemory(await webgpu());
 * ```
 */
export function releaseCachedMemory(device: WebGpuDevice): void {
  runtimeOf(device, "releaseCachedMemory").releaseCached();
}
