/**
 * Worker threads for the `cpu` device's matmul: the workers instantiate the
 * kernels' shared-memory variant over one `WebAssembly.Memory`, and each
 * packed block of B is split between the calling thread and the workers by
 * column panels (every output still has one owner and the same summation
 * order, so the bits do not change). The calling thread blocks on
 * `Atomics.wait` until the workers finish, which keeps ops synchronous;
 * runtimes that forbid blocking there (a browser's main thread) cannot use
 * threads.
 *
 * Off by default: a live worker keeps a Deno process from exiting, so
 * `setCpuThreads(n)` is an explicit choice and `setCpuThreads(1)` stops them.
 *
 * @module
 */

import { ArgumentError, DeviceLimitError } from "../errors.ts";
import { WASM_SHARED_BYTES_BASE64 } from "./wasm_kernels.generated.ts";
import { decodeBase64, kernelsOf, type WasmKernels } from "./wasm_runtime.ts";

/** Control words (Int32 indices) shared with the workers. */
const GEN = 0, STOP = 1, DONE = 2, PARAMS = 4, ALPHA = 16, WORDS = 20;

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
  postMessage(message: unknown): void;
  terminate(): unknown;
}

interface Pool {
  threads: number;
  kernels: WasmKernels;
  ctl: Int32Array;
  workers: WorkerHandle[];
}

let pool: Pool | null = null;

/**
 * The worker's program, as source text (no file to ship or read). It runs
 * its share of each job: column panels `id`-th of `threads`.
 */
const WORKER_SOURCE = `
const start = (post, data) => {
  const { module, memory, ctl, id, threads } = data;
  const ex = new WebAssembly.Instance(module, { env: { memory } }).exports;
  const mk = [];
  for (let r = 1; typeof ex["mk" + r] === "function"; r++) mk[r] = ex["mk" + r];
  const f32 = new Float32Array(ctl.buffer);
  post("ready");
  let seen = 0;
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
        kernel(aOff + m0 * K * 8, bOff + j * K * 8, K, cOff + (m0 * N + n0 + j) * 4, N * 4, alpha,
          Math.min(NR, cols - j));
      }
    }
    Atomics.add(ctl, ${DONE}, 1);
    Atomics.notify(ctl, ${DONE});
  }
};
if (typeof require === "function") {
  const { parentPort } = require("node:worker_threads");
  parentPort.once("message", (data) => start((m) => parentPort.postMessage(m), data));
} else {
  self.onmessage = (e) => start((m) => self.postMessage(m), e.data);
}
`;

/**
 * Uses `n` threads (the calling one plus `n - 1` workers) for large cpu
 * matmuls from now on; `1` (the default) stops the workers. Results are
 * bit for bit the same with any thread count. Resolves when the workers are
 * ready. In Deno a running worker keeps the process alive: call
 * `setCpuThreads(1)` before the program should end.
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
  if ((pool?.threads ?? 1) === n) return;
  stopPool();
  if (n === 1) return;
  if (typeof SharedArrayBuffer === "undefined" || !canBlock()) {
    throw new DeviceLimitError(
      `setCpuThreads: this runtime cannot share memory with workers or block while they ` +
        `run (SharedArrayBuffer and Atomics.wait are needed), so the cpu device stays on one thread`,
    );
  }
  const memory = new WebAssembly.Memory({ initial: 17, maximum: 65536, shared: true });
  const module = new WebAssembly.Module(decodeBase64(WASM_SHARED_BYTES_BASE64) as BufferSource);
  const kernels = kernelsOf(
    new WebAssembly.Instance(module, { env: { memory } }).exports as Record<string, unknown>,
    memory,
  );
  const ctl = new Int32Array(new SharedArrayBuffer(WORDS * 4));
  const workers: WorkerHandle[] = [];
  try {
    for (let id = 1; id < n; id++) {
      workers.push(await startWorker({ module, memory, ctl, id, threads: n }));
    }
  } catch (error) {
    for (const w of workers) w.terminate();
    throw error;
  }
  pool = { threads: n, kernels, ctl, workers };
}

/**
 * The number of threads cpu matmuls use (see {@linkcode setCpuThreads}).
 *
 * @example
 * ```ts
 * import { cpuThreads } from "@tessera/core";
 * console.log(cpuThreads()); // 1
 * ```
 */
export function cpuThreads(): number {
  return pool?.threads ?? 1;
}

/** The shared-memory kernels while threads run, else null. */
export function threadedKernels(): WasmKernels | null {
  return pool?.kernels ?? null;
}

/**
 * Runs one block's column panels on every thread (this one takes share 0)
 * and returns when all are done.
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
        job.aOff + m0 * job.K * 8,
        job.bOff + j * job.K * 8,
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
      throw new DeviceLimitError("matmul: a cpu worker thread stopped answering; threads are off");
    }
  }
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

async function startWorker(data: Record<string, unknown>): Promise<WorkerHandle> {
  const g = globalThis as unknown as {
    Deno?: unknown;
    process?: { versions?: { node?: string } };
    Worker?: new (url: string, options: { type: "module" }) => WorkerHandle & {
      onmessage: ((e: { data: unknown }) => void) | null;
      onerror: ((e: unknown) => void) | null;
    };
  };
  if (g.Deno === undefined && g.process?.versions?.node !== undefined) {
    const wt = await import(["node", "worker_threads"].join(":")) as {
      Worker: new (code: string, options: { eval: true }) => WorkerHandle & {
        once(event: string, f: (v: unknown) => void): void;
        unref(): void;
      };
    };
    const w = new wt.Worker(WORKER_SOURCE, { eval: true });
    w.unref(); // an idle pool does not keep Node running
    await new Promise((resolve, reject) => {
      w.once("message", resolve);
      w.once("error", reject);
      w.postMessage(data);
    });
    return w;
  }
  if (g.Worker === undefined) {
    throw new DeviceLimitError("setCpuThreads: this runtime has no Worker");
  }
  const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "text/javascript" }));
  const w = new g.Worker(url, { type: "module" });
  await new Promise((resolve, reject) => {
    w.onmessage = resolve;
    w.onerror = reject;
    w.postMessage(data);
  });
  URL.revokeObjectURL(url);
  return w;
}
