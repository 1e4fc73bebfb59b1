/**
 * Worker threads for the `cpu` device's matmul: the workers instantiate the
 * kernels' shared-memory variant over one `WebAssembly.Memory`, and each
 * packed block of B is split between the calling thread and the workers by
 * column panels. Every output has one owner and the same summation order
 * with any thread count, so results do not depend on it. The calling thread
 * blocks on `Atomics.wait` until the workers finish, which keeps ops
 * synchronous.
 *
 * On by default in Deno and Node: the first large product starts one worker
 * per core (at most {@linkcode DEFAULT_MAX_THREADS}) synchronously through
 * `node:worker_threads`, unref'd so that an idle pool never keeps the
 * process alive. Products run on the calling thread alone until every
 * worker has reported ready. Browsers have no synchronous worker start and
 * forbid blocking the main thread: there threads are an explicit
 * `setCpuThreads(n)` from a worker context.
 *
 * @module
 */

import { ArgumentError, DeviceLimitError } from "../errors.ts";
import { WASM_SHARED_BYTES_BASE64 } from "./wasm_kernels.generated.ts";
import {
  decodeBase64,
  fmaModule,
  kernelsOf,
  WASM_KEEP_BYTES,
  type WasmKernels,
} from "./wasm_runtime.ts";

/** Control words (Int32 indices) shared with the workers. */
const GEN = 0, STOP = 1, DONE = 2, READY = 3, PARAMS = 4, ALPHA = 16, WORDS = 20;

/** The default pool's size cap: more workers rarely pay on one product. */
export const DEFAULT_MAX_THREADS = 8;

/** One matmul block, as every thread reads it from the control words. */
export interface PanelJob {
  aOff: number;
  bOff: number;
  cOff: number;
  K: number;
  N: number;
  mRows: number;
  cols: number;
  n0: number;
  MR: number;
  NR: number;
  alpha: number;
}

interface WorkerHandle {
  terminate(): unknown;
}

interface Pool {
  threads: number;
  kernels: WasmKernels;
  ctl: Int32Array;
  workers: WorkerHandle[];
  /** Set when a worker failed: the pool then runs on the calling thread alone. */
  broken: boolean;
}

/** A node:worker_threads Worker, as far as the pool uses it. */
interface NodeWorker extends WorkerHandle {
  unref(): void;
  on(event: "error", listener: (error: unknown) => void): void;
}
type NodeWorkerClass = new (
  code: string,
  options: { eval: true; workerData: unknown },
) => NodeWorker;

let pool: Pool | null = null;
/** Threads chosen by `setCpuThreads`, or null for the default (one per core). */
let requested: number | null = null;

/**
 * The worker's program, as source text (no file to ship or read). It runs
 * its share of each job: column panels `id`-th of `threads`. `seen` is read
 * before READY is raised, so a worker counted as ready sees every job posted
 * after that.
 */
const WORKER_SOURCE = `
const start = (data) => {
  const { module, fma, memory, ctl, id, threads } = data;
  const ex = new WebAssembly.Instance(module, { env: { memory } }).exports;
  // The calling thread's micro-kernels: every output is computed the same way on any thread.
  const micro = fma ? new WebAssembly.Instance(fma, { env: { memory } }).exports : ex;
  const mk = [];
  for (let r = 1; typeof micro["mk" + r] === "function"; r++) mk[r] = micro["mk" + r];
  const f32 = new Float32Array(ctl.buffer);
  let seen = Atomics.load(ctl, ${GEN});
  Atomics.add(ctl, ${READY}, 1);
  Atomics.notify(ctl, ${READY});
  for (;;) {
    Atomics.wait(ctl, ${GEN}, seen);
    seen = Atomics.load(ctl, ${GEN});
    if (Atomics.load(ctl, ${STOP}) === 1) return;
    const p = ${PARAMS};
    const [aOff, bOff, cOff, K, N, mRows, cols, n0, MR, NR] = ctl.subarray(p, p + 10);
    const alpha = f32[${ALPHA}];
    const panels = Math.ceil(cols / NR);
    const first = Math.floor((panels * id) / threads), last = Math.floor((panels * (id + 1)) / threads);
    for (let m0 = 0; m0 < mRows; m0 += MR) {
      const kernel = mk[Math.min(MR, mRows - m0)];
      for (let q = first; q < last; q++) {
        const j = q * NR;
        kernel(aOff + m0 * K * 4, bOff + j * K * 4, K, cOff + (m0 * N + n0 + j) * 4, N * 4, alpha,
          Math.min(NR, cols - j));
      }
    }
    Atomics.add(ctl, ${DONE}, 1);
    Atomics.notify(ctl, ${DONE});
  }
};
if (typeof require === "function") {
  start(require("node:worker_threads").workerData);
} else {
  self.onmessage = (e) => start(e.data);
}
`;

/**
 * Uses `n` threads (the calling one plus `n - 1` workers) for large cpu
 * matmuls from now on; `1` stops the workers. Deno and Node start one
 * thread per core (at most 8) by themselves; call this to choose another
 * count, or to start threads in a browser worker. Results are the same
 * with any thread count. Resolves when the workers are ready.
 *
 * @example
 * ```ts ignore
 * import { matmul, ones, setCpuThreads } from "@tessera/core";
 * await setCpuThreads(2);
 * console.log(matmul(ones([512, 512]), ones([512, 512])).shape); // [512, 512]
 * await setCpuThreads(1);
 * ```
 */
export async function setCpuThreads(n: number): Promise<void> {
  if (!Number.isInteger(n) || n < 1 || n > 64) {
    throw new ArgumentError(
      `setCpuThreads: n must be an integer from 1 to 64, but got ${String(n)}`,
    );
  }
  requested = n;
  if (pool !== null && pool.threads === n && !pool.broken) return;
  stopPool();
  if (n === 1) return;
  if (typeof SharedArrayBuffer === "undefined" || !canBlock()) {
    requested = 1;
    throw new DeviceLimitError(
      `setCpuThreads: this runtime cannot share memory with workers or block while they ` +
        `run (SharedArrayBuffer and Atomics.wait are needed), so the cpu device stays on one thread`,
    );
  }
  const NodeWorker = nodeWorkerClass() ?? await importNodeWorker();
  const started = NodeWorker !== null ? startPool(n, NodeWorker) : startWebPool(n);
  pool = started;
  // Resolve once every worker is ready, so that the next product uses them all.
  while (!poolReady(started) && !started.broken && pool === started) {
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  if (started.broken) {
    stopPool();
    requested = 1;
    throw new DeviceLimitError(`setCpuThreads: a worker thread failed to start`);
  }
}

/**
 * The number of threads cpu matmuls use (see {@linkcode setCpuThreads}):
 * the chosen count, or in Deno and Node by default the number of cores
 * (at most 8), 1 where threads are unavailable.
 *
 * @example
 * ```ts
 * import { cpuThreads } from "@tessera/core";
 * console.log(cpuThreads() >= 1); // true
 * ```
 */
export function cpuThreads(): number {
  return requested ?? defaultThreads();
}

/**
 * The shared-memory kernels of the thread pool, starting the default pool
 * on first use in Deno and Node; null where products run without a pool
 * (one thread chosen, or threads unavailable).
 */
export function threadedKernels(): WasmKernels | null {
  if (pool === null && requested === null) {
    const n = defaultThreads();
    const NodeWorker = n > 1 ? nodeWorkerClass() : null;
    if (NodeWorker === null) {
      requested = 1;
      return null;
    }
    try {
      pool = startPool(n, NodeWorker);
    } catch {
      requested = 1; // workers refused: one thread from now on
      return null;
    }
  }
  return pool?.kernels ?? null;
}

/** Whether a block can be split across the workers now (all started and healthy). */
export function workersReady(): boolean {
  return pool !== null && !pool.broken && poolReady(pool);
}

/** The threads a block is split across now: the pool's size once ready, else 1. */
export function readyThreads(): number {
  return workersReady() ? pool!.threads : 1;
}

/**
 * Restarts the pool (next use) when its shared memory grew past
 * WASM_KEEP_BYTES: shared memory never shrinks, and one large product
 * should not pin its working set for the life of the process.
 */
export function trimPoolMemory(kernels: WasmKernels): void {
  if (
    pool !== null && pool.kernels === kernels && kernels.memory.buffer.byteLength > WASM_KEEP_BYTES
  ) {
    const keep = requested;
    stopPool();
    requested = keep;
  }
}

/**
 * Runs one block's column panels on every thread (this one takes share 0)
 * and returns when all are done. Call only when {@linkcode workersReady}.
 */
export function runPanels(job: PanelJob): void {
  const p = pool!;
  const { ctl, threads } = p;
  const words = [job.aOff, job.bOff, job.cOff, job.K, job.N, job.mRows, job.cols, job.n0];
  ctl.set([...words, job.MR, job.NR], PARAMS);
  new Float32Array(ctl.buffer)[ALPHA] = job.alpha;
  Atomics.store(ctl, DONE, 0);
  Atomics.add(ctl, GEN, 1);
  Atomics.notify(ctl, GEN);
  const panels = Math.ceil(job.cols / job.NR);
  const last = Math.floor(panels / threads);
  const mk = p.kernels.mk;
  for (let m0 = 0; m0 < job.mRows; m0 += job.MR) {
    const kernel = mk[Math.min(job.MR, job.mRows - m0)];
    for (let q = 0; q < last; q++) {
      const j = q * job.NR;
      const c = job.cOff + (m0 * job.N + job.n0 + j) * 4;
      kernel(
        job.aOff + m0 * job.K * 4,
        job.bOff + j * job.K * 4,
        job.K,
        c,
        job.N * 4,
        job.alpha,
        Math.min(job.NR, job.cols - j),
      );
    }
  }
  const started = Date.now();
  for (;;) {
    const done = Atomics.load(ctl, DONE);
    if (done >= threads - 1) return;
    Atomics.wait(ctl, DONE, done, 1000);
    if (Date.now() - started > 60_000) {
      stopPool();
      requested = 1;
      throw new DeviceLimitError("matmul: a cpu worker thread stopped answering; threads are off");
    }
  }
}

function poolReady(p: Pool): boolean {
  return Atomics.load(p.ctl, READY) >= p.threads - 1;
}

function stopPool(): void {
  if (pool === null) return;
  Atomics.store(pool.ctl, STOP, 1);
  Atomics.add(pool.ctl, GEN, 1);
  Atomics.notify(pool.ctl, GEN);
  for (const w of pool.workers) w.terminate();
  pool = null;
}

function canBlock(): boolean {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

/** The runtime's processes, where it is Deno or Node. */
function nodeProcess(): { getBuiltinModule?(name: string): unknown } | undefined {
  return (globalThis as { process?: { getBuiltinModule?(name: string): unknown } }).process;
}

/** node:worker_threads' Worker, loaded synchronously (Deno 2, Node 20.16+); else null. */
function nodeWorkerClass(): NodeWorkerClass | null {
  try {
    const wt = nodeProcess()?.getBuiltinModule?.("node:worker_threads") as
      | { Worker?: NodeWorkerClass }
      | undefined;
    return wt?.Worker ?? null;
  } catch {
    return null;
  }
}

/** node:worker_threads' Worker by dynamic import (Node before 20.16); null elsewhere. */
async function importNodeWorker(): Promise<NodeWorkerClass | null> {
  const g = globalThis as { Deno?: unknown; process?: { versions?: { node?: string } } };
  if (g.Deno !== undefined || g.process?.versions?.node === undefined) return null;
  try {
    // A computed name: bundlers for browsers must not try to resolve it.
    const wt = await import(["node", "worker_threads"].join(":")) as { Worker?: NodeWorkerClass };
    return wt.Worker ?? null;
  } catch {
    return null;
  }
}

/** One thread per core, at most DEFAULT_MAX_THREADS; 1 where threads cannot run. */
function defaultThreads(): number {
  if (typeof SharedArrayBuffer === "undefined" || nodeWorkerClass() === null) return 1;
  let cores = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator
    ?.hardwareConcurrency;
  if (cores === undefined) {
    // Node before 21 has no navigator.
    const os = nodeProcess()?.getBuiltinModule?.("node:os") as
      | { availableParallelism?(): number }
      | undefined;
    cores = os?.availableParallelism?.();
  }
  const n = Number.isInteger(cores) && cores! > 0 ? cores! : 1;
  return Math.min(n, DEFAULT_MAX_THREADS);
}

/** The shared memory, its kernels and the control words of a new pool. */
function poolParts(): {
  module: WebAssembly.Module;
  fma: WebAssembly.Module | null;
  memory: WebAssembly.Memory;
  kernels: WasmKernels;
  ctl: Int32Array;
} {
  const memory = new WebAssembly.Memory({ initial: 17, maximum: 65536, shared: true });
  const module = new WebAssembly.Module(decodeBase64(WASM_SHARED_BYTES_BASE64) as BufferSource);
  const fma = fmaModule(true);
  const kernels = kernelsOf(
    new WebAssembly.Instance(module, { env: { memory } }).exports as Record<string, unknown>,
    memory,
    fma,
  );
  return { module, fma, memory, kernels, ctl: new Int32Array(new SharedArrayBuffer(WORDS * 4)) };
}

/** A pool of node:worker_threads workers, created synchronously (they report ready later). */
function startPool(n: number, NodeWorker: NodeWorkerClass): Pool {
  const { module, fma, memory, kernels, ctl } = poolParts();
  const p: Pool = { threads: n, kernels, ctl, workers: [], broken: false };
  try {
    for (let id = 1; id < n; id++) {
      const w = new NodeWorker(WORKER_SOURCE, {
        eval: true,
        workerData: { module, fma, memory, ctl, id, threads: n },
      });
      w.unref(); // an idle pool does not keep the process alive
      w.on("error", () => {
        p.broken = true;
      });
      p.workers.push(w);
    }
  } catch (error) {
    for (const w of p.workers) w.terminate();
    throw error;
  }
  return p;
}

/** A pool of Web Workers (browsers): started asynchronously, kept until `setCpuThreads(1)`. */
function startWebPool(n: number): Pool {
  const WebWorker = (globalThis as {
    Worker?: new (url: string, options: { type: "module" }) => WorkerHandle & {
      postMessage(message: unknown): void;
      onerror: ((e: unknown) => void) | null;
    };
  }).Worker;
  if (WebWorker === undefined) {
    requested = 1;
    throw new DeviceLimitError("setCpuThreads: this runtime has no Worker");
  }
  const { module, fma, memory, kernels, ctl } = poolParts();
  const p: Pool = { threads: n, kernels, ctl, workers: [], broken: false };
  const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "text/javascript" }));
  try {
    for (let id = 1; id < n; id++) {
      const w = new WebWorker(url, { type: "module" });
      w.onerror = () => {
        p.broken = true;
      };
      w.postMessage({ module, fma, memory, ctl, id, threads: n });
      p.workers.push(w);
    }
  } finally {
    // Revoked after the workers fetched it: give them a turn first.
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }
  return p;
}
