/**
 * Observable counters of a WebGPU device's runtime. Tests assert the shape of
 * a pipeline through them (passes, submits, compiles, allocations) instead of
 * timing it.
 *
 * @example
 * ```ts
 * import type { GpuCounters } from "@tessera/core";
 * const c: GpuCounters = {
 *   dispatches: 0, submits: 0, readbacks: 0, pipelinesCompiled: 0, buffersCreated: 0,
 *   buffersReused: 0, uniformBuffersCreated: 0, bindGroupsCreated: 0, buffersInUse: 0,
 *   bytesInUse: 0, peakBytesInUse: 0, buffersAllocated: 0, bytesAllocated: 0,
 *   stagingBuffersCreated: 0, buffersCached: 0, bytesCached: 0, stagingBuffersCached: 0,
 *   buffersEvicted: 0, pipelinesCached: 0, buffersReclaimed: 0,
 * };
 * console.log(c.submits);
 * ```
 */
export interface GpuCounters {
  /** Compute dispatches (passes) recorded. */
  dispatches: number;
  /** `queue.submit` calls. */
  submits: number;
  /** Readbacks (`mapAsync` of a staging buffer). */
  readbacks: number;
  /** Compute pipelines created (cache misses). */
  pipelinesCompiled: number;
  /** Storage buffers created with `createBuffer` (pool misses). */
  buffersCreated: number;
  /** Storage buffers taken from the pool instead of created. */
  buffersReused: number;
  /** Uniform buffers created (each distinct set of kernel parameters). */
  uniformBuffersCreated: number;
  /** Bind groups created (cache misses). */
  bindGroupsCreated: number;
  /** Storage buffers currently held by live tensors. */
  buffersInUse: number;
  /** Bytes currently held by live tensors. */
  bytesInUse: number;
  /** The highest `bytesInUse` seen since the device was created or the peak was reset. */
  peakBytesInUse: number;
  /** Storage buffers allocated on the device, held by tensors or pooled. */
  buffersAllocated: number;
  /** Bytes allocated on the device, held by tensors or pooled. */
  bytesAllocated: number;
  /** Readback (`MAP_READ`) staging buffers created (pool misses; they are reused by size). */
  stagingBuffersCreated: number;
  /** Storage buffers in the pool: released by tensors, kept for reuse. */
  buffersCached: number;
  /**
   * Bytes kept for reuse: pooled storage buffers plus idle staging buffers.
   * Bounded by `setMaxCachedBytes` (default 256 MiB); past it the least
   * recently released buffers are destroyed.
   */
  bytesCached: number;
  /** Idle readback staging buffers kept for reuse (at most 8). */
  stagingBuffersCached: number;
  /** Pooled storage buffers destroyed to keep `bytesCached` within its bound. */
  buffersEvicted: number;
  /** Compiled pipelines in the cache (at most 256, least recently used evicted). */
  pipelinesCached: number;
  /**
   * Storage buffers the FinalizationRegistry backstop returned to the pool:
   * their tensors were garbage-collected without `dispose`. Nonzero means
   * some code leaks and relies on garbage collection.
   */
  buffersReclaimed: number;
}

/** Returns a counters record with every field at zero. */
export function zeroCounters(): GpuCounters {
  return {
    dispatches: 0,
    submits: 0,
    readbacks: 0,
    pipelinesCompiled: 0,
    buffersCreated: 0,
    buffersReused: 0,
    uniformBuffersCreated: 0,
    bindGroupsCreated: 0,
    buffersInUse: 0,
    bytesInUse: 0,
    peakBytesInUse: 0,
    buffersAllocated: 0,
    bytesAllocated: 0,
    stagingBuffersCreated: 0,
    buffersCached: 0,
    bytesCached: 0,
    stagingBuffersCached: 0,
    buffersEvicted: 0,
    pipelinesCached: 0,
    buffersReclaimed: 0,
  };
}
