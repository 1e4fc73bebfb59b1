/**
 * Tessera's cpu device against jax-js's CPU backends, in one process:
 * Tessera with its WebAssembly kernels ("wasm", the default) and with the
 * TypeScript reference, jax-js's "wasm" backend (SIMD, a worker per core)
 * and its "cpu" backend.
 *
 *   deno task bench:cpu                                  # all cases
 *   deno task bench:cpu --reps=5 --cases=matmul-512 --no-jax --threads=2
 *
 * Every implementation gets the same inputs and its result is compared with
 * Tessera's before it is timed. A timing is one op plus reading its result
 * (wall clock); rounds interleave the implementations so that machine noise
 * hits them alike; the table gives medians. Slow implementations (the
 * reference, jax-js cpu) get fewer rounds where one run takes seconds.
 *
 * @module
 */

import {
  manualSeed,
  matmul,
  nn,
  setCpuBackend,
  setCpuThreads,
  type Tensor,
  tensor,
} from "../mod.ts";

type Case =
  | { id: string; label: string; kind: "matmul"; n: number; flops: number }
  | { id: string; label: string; kind: "gpt"; flops: number }
  | { id: string; label: string; kind: "core"; B: number; T: number; d: number; flops: number };

const CASES: Case[] = [
  { id: "matmul-512", label: "matmul 512^3", kind: "matmul", n: 512, flops: 2 * 512 ** 3 },
  { id: "matmul-1024", label: "matmul 1024^3", kind: "matmul", n: 1024, flops: 2 * 1024 ** 3 },
  {
    id: "core-256",
    label: "attention core B=4 T=256 d=64 (causal)",
    kind: "core",
    B: 4,
    T: 256,
    d: 64,
    // QK^T and PV, full (not halved for the mask), to compare rates across implementations.
    flops: 2 * 2 * 4 * 256 * 256 * 64,
  },
  {
    id: "gpt-token",
    label: "GPT-2 124M forward of 1 token (no KV cache)",
    kind: "gpt",
    // The linear layers' multiply-adds: 12 blocks of 4 768^2 + 2 768 * 3072, and the head.
    flops: 2 * (12 * (4 * 768 * 768 + 2 * 768 * 3072) + 768 * 50257),
  },
];

/** A case an implementation has no program for (reported, not a failure). */
class Unsupported extends Error {}

interface Runner {
  run(): Promise<Float32Array>;
  dispose(): void;
}
interface Impl {
  name: string;
  setup(c: Case, inputs: Record<string, Float32Array>): Runner;
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function inputsFor(c: Case): Record<string, Float32Array> {
  const rand = mulberry32(1234);
  const arr = (n: number, r: number) =>
    Float32Array.from({ length: n }, () => r * (2 * rand() - 1));
  if (c.kind === "matmul") return { a: arr(c.n * c.n, 1), b: arr(c.n * c.n, Math.sqrt(3 / c.n)) };
  if (c.kind === "gpt") return {};
  const n = c.B * c.T * c.d;
  return { q: arr(n, 1), k: arr(n, 1), v: arr(n, 1) };
}

let gpt: nn.GptModel | undefined;

function tesseraImpl(backend: "wasm" | "reference"): Impl {
  return {
    name: backend === "wasm" ? "tessera cpu (wasm)" : "tessera cpu (reference)",
    setup(c, inputs) {
      const held: Tensor[] = [];
      const hold = (data: Float32Array, shape: number[]) => {
        const t = tensor(data, shape);
        held.push(t);
        return t;
      };
      let op: () => Tensor;
      if (c.kind === "matmul") {
        const a = hold(inputs.a, [c.n, c.n]);
        const b = hold(inputs.b, [c.n, c.n]);
        op = () => matmul(a, b);
      } else if (c.kind === "gpt") {
        // Initialised once and shared by both backends (init takes seconds).
        gpt ??= (manualSeed(1), nn.gptModel.init({ ...nn.GPT_CONFIG_124M, dropRate: 0 }));
        const model = gpt;
        const ids = tensor([[464]], undefined, { dtype: "int32" });
        held.push(ids);
        op = () => nn.gptModel.apply(model, ids);
      } else {
        const [q, k, v] = ["q", "k", "v"].map((n) => hold(inputs[n], [c.B, c.T, c.d]));
        op = () => nn.causalAttention.core(q, k, v);
      }
      return {
        async run() {
          setCpuBackend(backend);
          const out = op();
          const data = new Float32Array(await out.data());
          out.dispose();
          return data;
        },
        dispose() {
          for (const t of held) t.dispose();
        },
      };
    },
  };
}

interface JaxArray {
  readonly ref: JaxArray;
  data(): Promise<ArrayLike<number>>;
  dispose(): void;
  reshape(shape: number[]): JaxArray;
}
interface JaxApi {
  init(...devices: string[]): Promise<string[]>;
  defaultDevice(device?: string): string;
  jit<F extends (...args: JaxArray[]) => JaxArray>(f: F): F & { dispose(): void };
  numpy: { array(data: Float32Array): JaxArray; matmul(a: JaxArray, b: JaxArray): JaxArray };
  nn: {
    dotProductAttention(q: JaxArray, k: JaxArray, v: JaxArray, o: { isCausal: boolean }): JaxArray;
  };
}

async function jaxImpls(): Promise<Impl[]> {
  const jax = await import(["npm:@jax-js", "jax@0.1.25"].join("/")) as unknown as JaxApi;
  const available = await jax.init("wasm", "cpu");
  return available.filter((d) => d === "wasm" || d === "cpu").map((device) => ({
    name: `jax-js ${device}`,
    setup(c, inputs) {
      jax.defaultDevice(device);
      const np = jax.numpy;
      const held: JaxArray[] = [];
      const hold = (data: Float32Array, shape: number[]) => {
        const a = np.array(data).reshape(shape);
        held.push(a);
        return a;
      };
      let op: () => JaxArray;
      let jitted: { dispose(): void } | undefined;
      if (c.kind === "gpt") throw new Unsupported("no GPT model written for jax-js here");
      if (c.kind === "matmul") {
        const a = hold(inputs.a, [c.n, c.n]);
        const b = hold(inputs.b, [c.n, c.n]);
        op = () => np.matmul(a.ref, b.ref);
      } else {
        const { B, T, d } = c;
        const [q, k, v] = ["q", "k", "v"].map((n) => hold(inputs[n], [B, T, 1, d]));
        const f = jax.jit((q: JaxArray, k: JaxArray, v: JaxArray) =>
          jax.nn.dotProductAttention(q, k, v, { isCausal: true })
        );
        jitted = f;
        op = () => f(q.ref, k.ref, v.ref);
      }
      return {
        async run() {
          jax.defaultDevice(device);
          return Float32Array.from(await op().data()); // data() consumes the result
        },
        dispose() {
          for (const a of held) a.dispose();
          jitted?.dispose();
        },
      };
    },
  }));
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

if (import.meta.main) {
  const arg = (name: string) => Deno.args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
  const reps = Number(arg("reps") ?? 7);
  const only = arg("cases")?.split(",");
  // --threads=N: Tessera's wasm path on N threads (setCpuThreads), stopped at the end.
  const threads = Number(arg("threads") ?? 1);
  await setCpuThreads(threads);
  const impls: Impl[] = [tesseraImpl("wasm"), tesseraImpl("reference")];
  try {
    if (!Deno.args.includes("--no-jax")) impls.push(...await jaxImpls());
  } catch (e) {
    console.log(`jax-js: not loaded (${(e as Error).message})`);
  }
  console.log(`| case | implementation | median ms | GFLOP/s | runs |`);
  console.log(`| --- | --- | ---: | ---: | ---: |`);
  const summary: string[] = [];
  // An implementation whose single run took over 20 s is not run on later cases.
  const tooSlow = new Map<string, number>();
  for (const c of CASES.filter((c) => !only || only.includes(c.id))) {
    const inputs = inputsFor(c);
    const runners: { impl: Impl; runner: Runner; times: number[]; budget: number }[] = [];
    let expected: Float32Array | undefined;
    for (const impl of impls) {
      const slow = tooSlow.get(impl.name);
      if (slow !== undefined) {
        console.log(`| ${c.label} | ${impl.name} | skipped (one run took ${slow} ms before) | | |`);
        continue;
      }
      try {
        const runner = impl.setup(c, inputs);
        const t0 = performance.now();
        const out = await runner.run(); // also the warm-up
        const first = performance.now() - t0;
        if (first > 20_000) tooSlow.set(impl.name, Math.round(first));
        expected ??= out;
        const diff = maxDiff(out, expected);
        if (!(diff <= 1e-3)) {
          console.log(`| ${c.label} | ${impl.name} | disagrees (max diff ${diff}) | | |`);
          runner.dispose();
          continue;
        }
        // Runs that take seconds get fewer rounds.
        const budget = first > 2000 ? 1 : first > 500 ? 3 : reps;
        runners.push({ impl, runner, times: [], budget });
      } catch (e) {
        const what = e instanceof Unsupported ? "not run" : "failed";
        console.log(`| ${c.label} | ${impl.name} | ${what}: ${(e as Error).message} | | |`);
      }
    }
    for (let round = 0; round < reps; round++) {
      for (const r of runners) {
        if (r.times.length >= r.budget) continue;
        const t0 = performance.now();
        await r.runner.run();
        r.times.push(performance.now() - t0);
      }
    }
    const rates = new Map<string, number>();
    for (const r of runners) {
      const ms = median(r.times);
      const gflops = c.flops / ms / 1e6;
      rates.set(r.impl.name, gflops);
      console.log(
        `| ${c.label} | ${r.impl.name} | ${ms.toFixed(1)} | ${gflops.toFixed(2)} | ` +
          `${r.times.length} |`,
      );
      r.runner.dispose();
    }
    const ours = rates.get("tessera cpu (wasm)");
    const ref = rates.get("tessera cpu (reference)");
    const peers = [...rates].filter(([n]) => n.startsWith("jax-js"));
    const best = peers.reduce((m, [, v]) => Math.max(m, v), 0);
    if (ours !== undefined) {
      summary.push(
        `${c.label}: wasm / reference ${ref ? (ours / ref).toFixed(1) : "?"}x, ` +
          `wasm / fastest jax-js ${best ? (ours / best).toFixed(2) : "?"}x`,
      );
    }
  }
  console.log("");
  for (const line of summary) console.log(line);
  if (threads > 1) console.log(`(tessera cpu (wasm) ran on ${threads} threads)`);
  await setCpuThreads(1);
}
