/**
 * Tessera against its peers, in one process, on one WebGPU adapter:
 * TensorFlow.js (webgpu backend), jax-js (webgpu device) and
 * onnxruntime-web (webgpu execution provider); then the model-scale cases
 * of scripts/bench_gpt.ts (GPT-2 small prefill and decode, the decode floor,
 * a training step), f16 vs f32 (scripts/bench_f16.ts), and last the cpu
 * device against jax-js's wasm and cpu backends (scripts/bench_cpu.ts).
 *
 *   deno task bench            # full run, writes bench/results.md
 *   deno task bench --quick    # fewer repetitions
 *   deno task bench --cases=matmul-512,core-256,prefill-128   # a subset (ids in the tables)
 *   deno task bench --cases=f16   # only the f16 vs f32 section, to bench/results_f16.md
 *   deno task bench --cases=cpu   # only the cpu device vs jax-js wasm/cpu, to bench/results_cpu.md
 *   deno task bench --threads=2   # Tessera's cpu threads in the CPU section (default: one per core)
 *   deno task bench --layers=2 # a 2-block GPT for the model-scale cases
 *   deno task bench --seed=7   # another implementation order (and GPT weights)
 *
 * Every implementation gets the same inputs; before anything is timed each
 * peer's result is compared with Tessera's (relative error <= 1e-5; a peer
 * that disagrees is not timed). Timings are wall-clock, readback included,
 * reported as median (min-max) over the repetitions:
 *
 * - latency: one op and a readback of its result;
 * - throughput: ten chained ops (each consumes the previous result) and one
 *   readback of the last.
 *
 * Every repetition runs each implementation once, in an order shuffled by a
 * seeded generator, so that machine noise hits all of them alike; the load
 * average is recorded with the results. Peers are imported here only (the
 * library has no dependency on them); one that fails to load or run is
 * reported and skipped.
 *
 * @module
 */

import {
  gpuStats,
  manualSeed,
  matmul,
  nn,
  resetPeakBytes,
  type Tensor,
  tensor,
  toDevice,
  webgpu,
  type WebGpuDevice,
} from "../mod.ts";
import { attentionTiles, matmulTiles, tuningEntry } from "../src/gpu/tuning.ts";
import { onnxModel, type OnnxNode, type OnnxValue } from "./bench_onnx.ts";
import { gptBench } from "./bench_gpt.ts";
import { f16Bench } from "./bench_f16.ts";
import { cpuBench, writeCpuResults } from "./bench_cpu.ts";
import {
  AGREEMENT,
  fmtMs as fmt,
  fmtSummary,
  loadavg,
  mulberry32,
  relError,
  shuffled,
  summarize,
  type Summary,
} from "./bench_stats.ts";
import type { JaxApi, JaxArray } from "./bench_gpt_jax.ts";

// ---------------------------------------------------------------------------
// Cases

type Case =
  | { id: string; label: string; kind: "matmul"; n: number }
  | { id: string; label: string; kind: "core"; B: number; T: number; d: number }
  | {
    id: string;
    label: string;
    kind: "forward";
    B: number;
    T: number;
    dIn: number;
    dOut: number;
    /** The seed notebook's module and inputs (its output cannot feed the next forward). */
    seed?: boolean;
  };

const CASES: readonly Case[] = [
  { id: "matmul-256", label: "matmul 256^3", kind: "matmul", n: 256 },
  { id: "matmul-512", label: "matmul 512^3", kind: "matmul", n: 512 },
  { id: "matmul-1024", label: "matmul 1024^3", kind: "matmul", n: 1024 },
  { id: "core-256", label: "attention core B=4 T=256 d=64", kind: "core", B: 4, T: 256, d: 64 },
  { id: "core-1024", label: "attention core B=4 T=1024 d=64", kind: "core", B: 4, T: 1024, d: 64 },
  {
    id: "forward-256",
    label: "causalAttention forward B=4 T=256 64->64",
    kind: "forward",
    B: 4,
    T: 256,
    dIn: 64,
    dOut: 64,
  },
  {
    id: "seed",
    label: "seed forward B=2 T=6 3->2",
    kind: "forward",
    B: 2,
    T: 6,
    dIn: 3,
    dOut: 2,
    seed: true,
  },
];

const CHAIN = 10;
type Mode = "latency" | "throughput";
const MODES: readonly Mode[] = ["latency", "throughput"];

/** The data every implementation starts from. */
interface Inputs {
  /** Named arrays with their shapes. */
  arrays: Record<string, { data: Float32Array; shape: number[] }>;
}

function uniformArray(n: number, lo: number, hi: number, rand: () => number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * rand();
  return out;
}

const SEED_INPUTS = [
  [0.43, 0.15, 0.89],
  [0.55, 0.87, 0.66],
  [0.57, 0.85, 0.64],
  [0.22, 0.58, 0.33],
  [0.77, 0.25, 0.10],
  [0.05, 0.80, 0.55],
];

async function makeInputs(c: Case): Promise<Inputs> {
  const rand = mulberry32(1234);
  const arrays: Inputs["arrays"] = {};
  if (c.kind === "matmul") {
    // b's entries have variance 1/n, so chained products keep their scale.
    const r = Math.sqrt(3 / c.n);
    arrays.a = { data: uniformArray(c.n * c.n, -1, 1, rand), shape: [c.n, c.n] };
    arrays.b = { data: uniformArray(c.n * c.n, -r, r, rand), shape: [c.n, c.n] };
  } else if (c.kind === "core") {
    for (const name of ["q", "k", "v"]) {
      arrays[name] = { data: uniformArray(c.B * c.T * c.d, -1, 1, rand), shape: [c.B, c.T, c.d] };
    }
  } else if (c.seed) {
    manualSeed(123); // the seed notebook's weights
    const m = nn.causalAttention.init({ dIn: 3, dOut: 2, contextLength: 6, dropout: 0 });
    const x = new Float32Array([...SEED_INPUTS.flat(), ...SEED_INPUTS.flat()]);
    arrays.x = { data: x, shape: [2, 6, 3] };
    arrays.wq = { data: (await m.params.W_query.weight.data()) as Float32Array, shape: [2, 3] };
    arrays.wk = { data: (await m.params.W_key.weight.data()) as Float32Array, shape: [2, 3] };
    arrays.wv = { data: (await m.params.W_value.weight.data()) as Float32Array, shape: [2, 3] };
    // Chaining needs a [.., 2] -> [.., 3] link: the same small re-projection for everyone.
    arrays.p = { data: uniformArray(6, -1, 1, rand), shape: [2, 3] };
  } else {
    const r = 1 / Math.sqrt(c.dIn); // PyTorch's nn.Linear init range
    arrays.x = { data: uniformArray(c.B * c.T * c.dIn, -1, 1, rand), shape: [c.B, c.T, c.dIn] };
    for (const name of ["wq", "wk", "wv"]) {
      arrays[name] = { data: uniformArray(c.dOut * c.dIn, -r, r, rand), shape: [c.dOut, c.dIn] };
    }
  }
  return { arrays };
}

function transposed(a: { data: Float32Array; shape: number[] }): Float32Array {
  const [rows, cols] = a.shape;
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) out[j * rows + i] = a.data[i * cols + j];
  }
  return out;
}

// ---------------------------------------------------------------------------
// Implementations

/** Runs one case: `chain` ops (each on the previous result) and one readback. */
interface Runner {
  run(chain: number): Promise<Float32Array>;
  dispose(): Promise<void> | void;
}

interface Impl {
  name: string;
  /** Why it is unavailable, when it failed to load. */
  failure?: string;
  setup(c: Case, inputs: Inputs): Promise<Runner>;
}

// --- Tessera ---------------------------------------------------------------

function tesseraImpl(device: WebGpuDevice): Impl {
  const up = (a: { data: Float32Array; shape: number[] }) =>
    toDevice(tensor(a.data, a.shape), device);
  return {
    name: "Tessera",
    async setup(c, { arrays }) {
      const held: Tensor[] = [];
      const hold = async (a: { data: Float32Array; shape: number[] }) => {
        const t = await up(a);
        held.push(t);
        return t;
      };
      let first: Tensor;
      let op: (x: Tensor) => Tensor;
      let link: ((x: Tensor) => Tensor) | undefined;
      if (c.kind === "matmul") {
        first = await hold(arrays.a);
        const b = await hold(arrays.b);
        op = (x) => matmul(x, b);
      } else if (c.kind === "core") {
        first = await hold(arrays.q);
        const k = await hold(arrays.k);
        const v = await hold(arrays.v);
        op = (x) => nn.causalAttention.core(x, k, v);
      } else {
        first = await hold(arrays.x);
        const w = async (name: string) => ({ weight: await hold(arrays[name]) });
        const mask = await toDevice(nn.causalAttention.causalMask(c.T), device);
        held.push(mask);
        const module: nn.CausalAttention = {
          params: { W_query: await w("wq"), W_key: await w("wk"), W_value: await w("wv") },
          buffers: { mask },
          config: { dIn: c.dIn, dOut: c.dOut, contextLength: c.T, dropout: 0, qkvBias: false },
        };
        op = (x) => nn.causalAttention.apply(module, x);
        if (c.seed) {
          const p = await hold(arrays.p);
          link = (x) => matmul(x, p);
        }
      }
      return {
        async run(chain) {
          let cur = first;
          for (let i = 0; i < chain; i++) {
            let input = cur;
            if (i > 0 && link) {
              input = link(cur);
              cur.dispose();
            }
            const next = op(input);
            if (input !== first) input.dispose();
            cur = next;
          }
          const data = (await cur.data()) as Float32Array;
          if (cur !== first) cur.dispose();
          return data;
        },
        dispose() {
          for (const t of held) t.dispose();
        },
      };
    },
  };
}

// --- TensorFlow.js ---------------------------------------------------------

interface TfTensor {
  data(): Promise<ArrayLike<number>>;
  dispose(): void;
}
interface TfApi {
  setBackend(name: string): Promise<boolean>;
  ready(): Promise<void>;
  getBackend(): string;
  tensor(values: Float32Array, shape: number[]): TfTensor;
  matMul(a: TfTensor, b: TfTensor, transposeA?: boolean, transposeB?: boolean): TfTensor;
  mul(a: TfTensor, b: TfTensor): TfTensor;
  add(a: TfTensor, b: TfTensor): TfTensor;
  softmax(x: TfTensor): TfTensor;
  reshape(x: TfTensor, shape: number[]): TfTensor;
  scalar(v: number): TfTensor;
  tidy<T extends TfTensor>(fn: () => T): T;
}

// Specifiers are built at run time so that `deno check` never needs the peers.
const PEERS = {
  tfjsCore: ["npm:@tensorflow", "tfjs-core@4.22.0"].join("/"),
  tfjsWebgpu: ["npm:@tensorflow", "tfjs-backend-webgpu@4.22.0"].join("/"),
  jax: ["npm:@jax-js", "jax@0.1.25"].join("/"),
  ort: ["npm:onnxruntime-web@1.30.0", "webgpu"].join("/"),
};

async function tfjsImpl(): Promise<Impl> {
  const tf = await import(PEERS.tfjsCore) as unknown as TfApi;
  await import(PEERS.tfjsWebgpu);
  if (!(await tf.setBackend("webgpu"))) throw new Error("tf.setBackend('webgpu') returned false");
  await tf.ready();
  return {
    name: "tfjs",
    setup(c, { arrays }) {
      const held: TfTensor[] = [];
      const hold = (a: { data: Float32Array; shape: number[] }, data = a.data, shape = a.shape) => {
        const t = tf.tensor(data, shape);
        held.push(t);
        return t;
      };
      const causalBias = (T: number) => {
        // Additive mask: 0 where visible, a large finite negative where masked.
        const bias = new Float32Array(T * T);
        for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) bias[i * T + j] = -1e30;
        return hold({ data: bias, shape: [T, T] });
      };
      const core = (q: TfTensor, k: TfTensor, v: TfTensor, bias: TfTensor, d: number) => {
        const scale = tf.scalar(1 / Math.sqrt(d));
        const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), scale), bias);
        return tf.matMul(tf.softmax(scores), v);
      };
      let first: TfTensor;
      let op: (x: TfTensor) => TfTensor;
      let link: ((x: TfTensor) => TfTensor) | undefined;
      if (c.kind === "matmul") {
        first = hold(arrays.a);
        const b = hold(arrays.b);
        op = (x) => tf.matMul(x, b);
      } else if (c.kind === "core") {
        first = hold(arrays.q);
        const k = hold(arrays.k);
        const v = hold(arrays.v);
        const bias = causalBias(c.T);
        op = (x) => core(x, k, v, bias, c.d);
      } else {
        first = hold(arrays.x);
        const [wq, wk, wv] = ["wq", "wk", "wv"].map((n) => hold(arrays[n]));
        const bias = causalBias(c.T);
        const { B, T, dIn, dOut } = c;
        const project = (x2: TfTensor, w: TfTensor) =>
          tf.reshape(tf.matMul(x2, w, false, true), [B, T, dOut]);
        op = (x) => {
          const x2 = tf.reshape(x, [B * T, dIn]);
          return core(project(x2, wq), project(x2, wk), project(x2, wv), bias, dOut);
        };
        if (c.seed) {
          const p = hold(arrays.p);
          link = (x) => tf.reshape(tf.matMul(tf.reshape(x, [B * T, dOut]), p), [B, T, dIn]);
        }
      }
      return Promise.resolve<Runner>({
        async run(chain) {
          let cur = first;
          for (let i = 0; i < chain; i++) {
            const prev = cur;
            cur = tf.tidy(() => op(i > 0 && link ? link(prev) : prev));
            if (prev !== first) prev.dispose();
          }
          const data = Float32Array.from(await cur.data());
          if (cur !== first) cur.dispose();
          return data;
        },
        dispose() {
          for (const t of held) t.dispose();
        },
      });
    },
  };
}

// --- jax-js ----------------------------------------------------------------

async function jaxImpl(): Promise<Impl> {
  const jax = await import(PEERS.jax) as unknown as JaxApi;
  const devices = await jax.init();
  if (!devices.includes("webgpu")) throw new Error(`no webgpu device (have ${devices.join(", ")})`);
  jax.defaultDevice("webgpu");
  const np = jax.numpy;
  return {
    name: "jax-js",
    setup(c, { arrays }) {
      const held: JaxArray[] = [];
      const disposers: { dispose(): void }[] = [];
      const hold = (data: Float32Array, shape: number[]) => {
        const a = np.array(data).reshape(shape);
        held.push(a);
        return a;
      };
      // jax-js functions take ownership of their arguments: `.ref` keeps ours alive.
      let first: JaxArray;
      let op: (x: JaxArray) => JaxArray;
      let link: ((x: JaxArray) => JaxArray) | undefined;
      if (c.kind === "matmul") {
        first = hold(arrays.a.data, arrays.a.shape);
        const b = hold(arrays.b.data, arrays.b.shape);
        op = (x) => np.matmul(x, b.ref);
      } else if (c.kind === "core") {
        const { B, T, d } = c;
        first = hold(arrays.q.data, [B, T, 1, d]);
        const k = hold(arrays.k.data, [B, T, 1, d]);
        const v = hold(arrays.v.data, [B, T, 1, d]);
        const f = jax.jit((q: JaxArray, k: JaxArray, v: JaxArray) =>
          jax.nn.dotProductAttention(q, k, v, { isCausal: true })
        );
        disposers.push(f);
        op = (x) => f(x, k.ref, v.ref);
      } else {
        const { B, T, dIn, dOut } = c;
        first = hold(arrays.x.data, [B, T, dIn]);
        const [wq, wk, wv] = ["wq", "wk", "wv"].map((n) =>
          hold(transposed(arrays[n]), [dIn, dOut])
        );
        const f = jax.jit((x: JaxArray, wq: JaxArray, wk: JaxArray, wv: JaxArray) => {
          const heads = (w: JaxArray, xx: JaxArray) => np.matmul(xx, w).reshape([B, T, 1, dOut]);
          const q = heads(wq, x.ref);
          const k = heads(wk, x.ref);
          const v = heads(wv, x);
          return jax.nn.dotProductAttention(q, k, v, { isCausal: true }).reshape([B, T, dOut]);
        });
        disposers.push(f);
        op = (x) => f(x, wq.ref, wk.ref, wv.ref);
        if (c.seed) {
          const p = hold(arrays.p.data, [dOut, dIn]);
          link = (x) => np.matmul(x, p.ref);
        }
      }
      return Promise.resolve<Runner>({
        async run(chain) {
          let cur = first.ref;
          for (let i = 0; i < chain; i++) cur = op(i > 0 && link ? link(cur) : cur);
          return Float32Array.from(await cur.data()); // data() consumes cur
        },
        dispose() {
          for (const a of held) a.dispose();
          for (const f of disposers) f.dispose();
        },
      });
    },
  };
}

// --- onnxruntime-web -------------------------------------------------------

interface OrtTensor {
  readonly data: ArrayLike<number>;
  dispose?(): void;
}
interface OrtSession {
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
interface OrtApi {
  env: { wasm: { numThreads: number }; webgpu: { device?: GPUDevice | Promise<GPUDevice> } };
  InferenceSession: { create(model: Uint8Array, options: object): Promise<OrtSession> };
  Tensor: {
    fromGpuBuffer(buffer: GPUBuffer, options: { dataType: "float32"; dims: number[] }): OrtTensor;
  };
}

async function ortImpl(): Promise<Impl> {
  const ort = await import(PEERS.ort) as unknown as OrtApi;
  ort.env.wasm.numThreads = 1;
  // A first session starts the WebGPU backend so that its device exists. It
  // stays open: releasing the last session lets ORT drop the device, and the
  // input buffers created on it would be invalid in later sessions.
  await ort.InferenceSession.create(
    onnxModel([{ op: "Identity", inputs: ["a"], outputs: ["b"] }], [["a", [1]]], [["b", [1]]]),
    { executionProviders: ["webgpu"] },
  );
  const device = await Promise.resolve(ort.env.webgpu.device);
  if (!device) throw new Error("onnxruntime-web exposed no WebGPU device");
  return {
    name: "ORT",
    async setup(c, { arrays }) {
      const buffers: GPUBuffer[] = [];
      // Inputs live on ORT's device, like every other implementation's.
      const gpuTensor = (data: Float32Array, dims: number[]) => {
        const buffer = device.createBuffer({
          size: Math.ceil(data.byteLength / 16) * 16,
          usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
        });
        device.queue.writeBuffer(buffer, 0, data as Float32Array<ArrayBuffer>);
        buffers.push(buffer);
        return ort.Tensor.fromGpuBuffer(buffer, { dataType: "float32", dims });
      };
      const feeds: Record<string, OrtTensor> = {};
      const graphInputs: OnnxValue[] = [];
      const input = (name: string, data: Float32Array, dims: number[]) => {
        feeds[name] = gpuTensor(data, dims);
        graphInputs.push([name, dims]);
      };
      // Node lists for one op taking `x` to `y`; the chain renames values per step.
      let opNodes: (x: string, y: string, step: number) => OnnxNode[];
      let linkNodes: ((x: string, y: string, step: number) => OnnxNode[]) | undefined;
      let firstName: string;
      let outShape: number[];
      const mha = (q: string, k: string, v: string, y: string): OnnxNode => ({
        op: "MultiHeadAttention",
        domain: "com.microsoft",
        inputs: [q, k, v],
        outputs: [y],
        attrs: { num_heads: 1, unidirectional: 1 },
      });
      if (c.kind === "matmul") {
        input("a", arrays.a.data, arrays.a.shape);
        input("b", arrays.b.data, arrays.b.shape);
        firstName = "a";
        outShape = [c.n, c.n];
        opNodes = (x, y) => [{ op: "MatMul", inputs: [x, "b"], outputs: [y] }];
      } else if (c.kind === "core") {
        for (const n of ["q", "k", "v"]) input(n, arrays[n].data, arrays[n].shape);
        firstName = "q";
        outShape = [c.B, c.T, c.d];
        opNodes = (x, y) => [mha(x, "k", "v", y)];
      } else {
        input("x", arrays.x.data, arrays.x.shape);
        for (const n of ["wq", "wk", "wv"]) input(`${n}T`, transposed(arrays[n]), [c.dIn, c.dOut]);
        firstName = "x";
        outShape = [c.B, c.T, c.dOut];
        opNodes = (x, y, s) => [
          { op: "MatMul", inputs: [x, "wqT"], outputs: [`q${s}`] },
          { op: "MatMul", inputs: [x, "wkT"], outputs: [`k${s}`] },
          { op: "MatMul", inputs: [x, "wvT"], outputs: [`v${s}`] },
          mha(`q${s}`, `k${s}`, `v${s}`, y),
        ];
        if (c.seed) {
          input("p", arrays.p.data, arrays.p.shape);
          linkNodes = (x, y) => [{ op: "MatMul", inputs: [x, "p"], outputs: [y] }];
        }
      }
      const sessions = new Map<number, OrtSession>();
      const session = async (chain: number) => {
        let s = sessions.get(chain);
        if (!s) {
          const nodes: OnnxNode[] = [];
          let cur = firstName;
          for (let i = 0; i < chain; i++) {
            if (i > 0 && linkNodes) {
              nodes.push(...linkNodes(cur, `link${i}`, i));
              cur = `link${i}`;
            }
            nodes.push(...opNodes(cur, `y${i}`, i));
            cur = `y${i}`;
          }
          const model = onnxModel(nodes, graphInputs, [[cur, outShape]]);
          s = await ort.InferenceSession.create(model, { executionProviders: ["webgpu"] });
          sessions.set(chain, s);
        }
        return s;
      };
      await session(1);
      await session(CHAIN);
      return {
        async run(chain) {
          const results = await (await session(chain)).run(feeds);
          const out = Object.values(results)[0];
          const data = Float32Array.from(out.data);
          out.dispose?.();
          return data;
        },
        async dispose() {
          for (const s of sessions.values()) await s.release();
          for (const b of buffers) b.destroy();
        },
      };
    },
  };
}

// ---------------------------------------------------------------------------
// Measurement

function median(values: readonly number[]): number {
  return summarize(values).median;
}

async function floorMs(device: WebGpuDevice, reps: number): Promise<{ map: number; copy: number }> {
  const gpu = device.gpu;
  const source = gpu.createBuffer({ size: 16, usage: GPUBufferUsage.COPY_SRC });
  const staging = gpu.createBuffer({
    size: 4,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const map: number[] = [];
  const copy: number[] = [];
  for (let i = 0; i < reps; i++) {
    let t = performance.now();
    await staging.mapAsync(GPUMapMode.READ);
    staging.unmap();
    map.push(performance.now() - t);
    t = performance.now();
    const encoder = gpu.createCommandEncoder();
    encoder.copyBufferToBuffer(source, 0, staging, 0, 4);
    gpu.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    staging.getMappedRange().slice(0);
    staging.unmap();
    copy.push(performance.now() - t);
  }
  source.destroy();
  staging.destroy();
  return { map: median(map), copy: median(copy) };
}

interface Row {
  c: Case;
  mode: Mode;
  medians: Map<string, number>;
  /** Median, min-max and quartiles per implementation. */
  summaries: Map<string, Summary>;
  reps: number;
  /** Tessera's submits per run, and compiles and buffer creations over the timed runs. */
  submits: number;
  compiles: number;
  created: number;
}

function flopsOf(c: Case): number | undefined {
  return c.kind === "matmul" ? 2 * c.n ** 3 : undefined;
}

function renderTable(rows: readonly Row[], peers: readonly string[]): string {
  const head = [
    "case",
    "mode",
    "reps",
    "Tessera ms",
    ...peers.map((p) => `${p} ms`),
    ...peers.map((p) => `Tessera/${p}`),
    "fastest peer / Tessera",
  ];
  const lines = [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`];
  for (const r of rows) {
    const t = r.medians.get("Tessera");
    const peerMs = peers.map((p) => r.medians.get(p));
    const present = peerMs.filter((m): m is number => m !== undefined);
    const fastest = present.length ? Math.min(...present) : undefined;
    const flops = flopsOf(r.c);
    const gflops = flops && t
      ? ` (${((flops * (r.mode === "throughput" ? CHAIN : 1)) / t / 1e6).toFixed(1)} GFLOP/s)`
      : "";
    const cells = peers.map((p) => fmtSummary(r.summaries.get(p)));
    lines.push(
      `| ${r.c.label} | ${r.mode} | ${r.reps} | ${
        fmtSummary(r.summaries.get("Tessera"))
      }${gflops} | ${cells.join(" | ")} | ${
        peerMs.map((m) => (m && t ? (t / m).toFixed(2) : "-")).join(" | ")
      } | ${fastest && t ? `${(fastest / t).toFixed(2)}x` : "-"} |`,
    );
  }
  return lines.join("\n");
}

// ---------------------------------------------------------------------------
// Main

/** `--name=value` or `--name value`. */
function flag(name: string): string | undefined {
  const i = Deno.args.findIndex((a) => a === name || a.startsWith(name + "="));
  if (i < 0) return undefined;
  const a = Deno.args[i];
  return a.includes("=") ? a.slice(a.indexOf("=") + 1) : Deno.args[i + 1];
}

const GPT_CASES = ["prefill-128", "prefill-1024", "decode-16", "decode-1000", "train"];

async function main(): Promise<void> {
  const quick = Deno.args.includes("--quick");
  const only = flag("--cases")?.split(",");
  const cases = CASES.filter((c) => !only || only.includes(c.id));
  const gptCases = GPT_CASES.filter((id) => !only || only.includes(id));
  const runF16 = !only || only.includes("f16");
  const runCpu = !only || only.includes("cpu");
  const layers = Number(flag("--layers") ?? 12);
  const orderSeed = Number(flag("--seed") ?? 1234);
  if (!Number.isSafeInteger(layers) || layers < 1 || !Number.isSafeInteger(orderSeed)) {
    throw new Error("--layers must be a whole number >= 1 and --seed a whole number");
  }
  // Implementation order per repetition comes from this generator.
  const order = mulberry32(orderSeed);
  const loadAtStart = loadavg();
  // Time per implementation and mode that sets the repetition count.
  const budgetMs = quick ? 1200 : 5000;
  const [minReps, maxReps] = quick ? [3, 7] : [5, 21];
  const started = performance.now();

  // The CPU section (scripts/bench_cpu.ts) runs last; it also writes bench/results_cpu.md.
  const cpuSection = async (): Promise<string[]> => {
    console.log("\n== cpu device vs jax-js wasm and cpu");
    const threads = flag("--threads");
    const cpu = await cpuBench({
      threads: threads === undefined ? undefined : Number(threads),
      reps: quick ? 3 : 7,
      seed: orderSeed,
    });
    console.log("\n" + cpu.markdown);
    await writeCpuResults(
      cpu,
      `deno task bench${Deno.args.length ? " " + Deno.args.join(" ") : ""}`,
    );
    console.log("wrote bench/results_cpu.md");
    return ["## CPU device", "", ...cpu.header.map((h) => `- ${h}`), "", cpu.markdown, ""];
  };
  if (cases.length === 0 && gptCases.length === 0 && !runF16) {
    if (!runCpu) throw new Error(`--cases=${only?.join(",")} names no known case`);
    await cpuSection();
    return;
  }
  if (cases.length === 0 && gptCases.length === 0) {
    // Only the f16 section: write it beside bench/results.md, which keeps the other sections.
    const f16 = await f16Bench(await webgpu(), { quick });
    const command = `deno task bench ${Deno.args.join(" ")}`;
    const md = [
      "# Tessera benchmark results: f16 vs f32",
      "",
      `Generated by \`${command}\` (scripts/bench.ts) on ${new Date().toISOString()}, ` +
      `${((performance.now() - started) / 1000).toFixed(0)} s.`,
      "",
      f16.markdown,
      "",
    ].join("\n");
    await Deno.mkdir(new URL("../bench/", import.meta.url), { recursive: true });
    const target = new URL("../bench/results_f16.md", import.meta.url);
    await Deno.writeTextFile(target, md);
    await new Deno.Command(Deno.execPath(), { args: ["fmt", "-q", target.pathname] }).output();
    console.log("\n" + f16.markdown);
    console.log("wrote bench/results_f16.md");
    if (runCpu) await cpuSection();
    return;
  }

  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error("no WebGPU adapter");
  const device = await webgpu();
  const info = adapter.info;
  const vendorId = Number(info.vendor);
  const backend = Deno.env.get("WGPU_BACKEND") ??
    (vendorId === 0x10005
      ? "vulkan (inferred: vendor id 0x10005 is Mesa's Vulkan vendor id)"
      : "not exposed by Deno's WebGPU (vendor id " + info.vendor + ")");
  const features = [...adapter.features].sort();
  const header: string[] = [
    `adapter: ${info.description} (vendor ${info.vendor}, device ${info.device}, fallback ${
      (info as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter ?? "?"
    })`,
    `backend: ${backend}`,
    `features: ${features.join(", ")}`,
    `deno ${Deno.version.deno}, v8 ${Deno.version.v8}; ${navigator.hardwareConcurrency} CPU threads`,
    `tessera tuning: ${tuningEntry(info.description).name} (matmul ${
      JSON.stringify(matmulTiles(device))
    }, attention ${JSON.stringify(attentionTiles(device))})`,
    `order seed: ${orderSeed} (implementation order shuffled every repetition)`,
  ];
  for (const line of header) console.log(line);

  const impls: Impl[] = [tesseraImpl(device)];
  for (const [name, load] of [["tfjs", tfjsImpl], ["jax-js", jaxImpl], ["ORT", ortImpl]] as const) {
    try {
      impls.push(await load());
      console.log(`loaded ${name}`);
    } catch (e) {
      const failure = e instanceof Error ? e.message : String(e);
      console.log(`${name} failed to load: ${failure}`);
      impls.push({ name, failure, setup: () => Promise.reject(new Error(failure)) });
    }
  }
  const peerNames = impls.slice(1).map((i) => i.name);
  const problems: string[] = impls.filter((i) => i.failure).map((i) =>
    `${i.name} did not load: ${i.failure}`
  );

  const floor = await floorMs(device, quick ? 15 : 40);
  console.log(
    `readback floor: mapAsync of a 4-byte buffer ${fmt(floor.map)} ms; ` +
      `4-byte copy + mapAsync ${fmt(floor.copy)} ms`,
  );

  const rows: Row[] = [];
  const tesseraNotes: string[] = [];
  for (const c of cases) {
    console.log(`\n== ${c.label}`);
    const inputs = await makeInputs(c);
    const runners = new Map<string, Runner>();
    for (const impl of impls) {
      if (impl.failure) continue;
      try {
        runners.set(impl.name, await impl.setup(c, inputs));
      } catch (e) {
        problems.push(
          `${c.label}: ${impl.name} setup failed: ${e instanceof Error ? e.message : e}`,
        );
        console.log(`  ${impl.name}: setup failed: ${e}`);
      }
    }
    const tessera = runners.get("Tessera")!;
    // Reference results (this also compiles Tessera's pipelines).
    const expected = new Map<number, Float32Array>();
    for (const chain of [1, CHAIN]) expected.set(chain, await tessera.run(chain));
    for (const [name, runner] of runners) {
      if (name === "Tessera") continue;
      try {
        for (const chain of [1, CHAIN]) {
          const err = relError(await runner.run(chain), expected.get(chain)!);
          if (!(err <= AGREEMENT)) {
            throw new Error(`result differs from Tessera's (${chain} ops): relative error ${err}`);
          }
        }
        console.log(`  ${name}: agrees with Tessera`);
      } catch (e) {
        const why = e instanceof Error ? e.message : String(e);
        problems.push(`${c.label}: ${name} not timed: ${why}`);
        console.log(`  ${name}: not timed: ${why}`);
        await runner.dispose();
        runners.delete(name);
      }
    }
    for (const mode of MODES) {
      const chain = mode === "latency" ? 1 : CHAIN;
      const names = [...runners.keys()];
      // One warm-up run each (the agreement check already compiled every
      // pipeline); the slowest decides the repetitions.
      let slowest = 0;
      for (const name of names) {
        const t = performance.now();
        await runners.get(name)!.run(chain);
        slowest = Math.max(slowest, performance.now() - t);
      }
      // Runs of seconds each get the minimum of 3, keeping the whole run near 6 minutes.
      const floorReps = slowest > 2000 ? 3 : minReps;
      const reps = Math.max(floorReps, Math.min(maxReps, Math.floor(budgetMs / slowest)));
      const samples = new Map(names.map((n) => [n, [] as number[]]));
      const before = gpuStats(device);
      for (let r = 0; r < reps; r++) {
        // A fresh seeded order every repetition: no implementation always follows another.
        for (const name of shuffled(names, order)) {
          const t = performance.now();
          await runners.get(name)!.run(chain);
          samples.get(name)!.push(performance.now() - t);
        }
      }
      const after = gpuStats(device);
      const compiles = after.pipelinesCompiled - before.pipelinesCompiled;
      const created = after.buffersCreated - before.buffersCreated +
        after.stagingBuffersCreated - before.stagingBuffersCreated;
      const submits = (after.submits - before.submits) / reps;
      const summaries = new Map([...samples].map(([n, s]) => [n, summarize(s)]));
      const medians = new Map([...summaries].map(([n, s]) => [n, s.median]));
      rows.push({ c, mode, medians, summaries, reps, submits, compiles, created });
      console.log(
        `  ${mode} (${reps} reps): ` +
          [...summaries].map(([n, m]) => `${n} ${fmtSummary(m)} ms`).join(", "),
      );
    }
    // Peak GPU memory of one Tessera run above its inputs.
    if (c.kind !== "matmul") {
      const live = gpuStats(device).bytesInUse;
      resetPeakBytes(device);
      await tessera.run(1);
      const peak = gpuStats(device).peakBytesInUse - live;
      const scores = c.B * c.T * c.T * 4;
      const d = c.kind === "core" ? c.d : c.dOut;
      const tensorBytes = c.B * c.T * d * 4;
      tesseraNotes.push(
        `${c.label}: peak GPU memory above the inputs during one ${
          c.kind === "core" ? "core op" : "forward"
        }: ${peak} bytes = ${(peak / tensorBytes).toFixed(1)} x a [B, T, d] tensor; ` +
          `one [B, T, T] score matrix would be ${scores} bytes`,
      );
    }
    for (const runner of runners.values()) await runner.dispose();
  }

  // Targets from the performance issue.
  const targets: string[] = [];
  const get = (id: string, mode: Mode) => rows.find((r) => r.c.id === id && r.mode === mode);
  for (
    const [id, label] of [["matmul-512", "matmul 512^3"], ["core-256", "attention core T=256"], [
      "core-1024",
      "attention core T=1024",
    ]]
  ) {
    const r = get(id, "throughput");
    if (!r) continue;
    const t = r.medians.get("Tessera")!;
    const peers = [...r.medians].filter(([n]) => n !== "Tessera");
    if (peers.length === 0) {
      targets.push(`${label} throughput >= 1.5x the fastest peer: no peer was timed`);
      continue;
    }
    const [fastName, fastMs] = peers.reduce((a, b) => (b[1] < a[1] ? b : a));
    const speedup = fastMs / t;
    targets.push(
      `${label} throughput >= 1.5x the fastest peer: ${speedup >= 1.5 ? "MET" : "MISSED"} ` +
        `(${speedup.toFixed(2)}x ${fastName})`,
    );
  }
  for (const r of rows.filter((r) => r.mode === "latency")) {
    const t = r.medians.get("Tessera")!;
    const slower = [...r.medians].filter(([n, m]) => n !== "Tessera" && m < t);
    targets.push(
      `${r.c.label} latency not slower than any peer: ${slower.length ? "MISSED" : "MET"}` +
        (slower.length
          ? ` (${slower.map(([n, m]) => `${n} ${fmt(m)} ms vs ${fmt(t)} ms`).join(", ")})`
          : ""),
    );
  }
  const seed = get("seed", "latency");
  if (seed) {
    const ratio = seed.medians.get("Tessera")! / floor.map;
    targets.push(
      `seed forward + readback <= 1.3x the bare readback floor: ${
        ratio <= 1.3 ? "MET" : "MISSED"
      } ` +
        `(${fmt(seed.medians.get("Tessera"))} ms / ${fmt(floor.map)} ms = ${ratio.toFixed(2)}x)`,
    );
  }

  const table = renderTable(rows, peerNames);
  const irregular = rows.filter((r) => r.submits !== 1 || r.compiles || r.created);
  const overheads = irregular.length === 0
    ? "exactly one submit per run (its readback), no pipeline compiles, no storage or staging " +
      "buffer creations"
    : irregular.map((r) =>
      `${r.c.label} ${r.mode}: ${r.submits.toFixed(1)} submits/run, ${r.compiles} compiles, ` +
      `${r.created} buffers created`
    ).join("; ");
  const loadAfterKernels = loadavg();
  console.log("\n" + table + "\n");
  for (const t of targets) console.log(t);
  for (const n of tesseraNotes) console.log(n);
  console.log(`runtime counters: ${overheads}`);
  for (const p of problems) console.log(`problem: ${p}`);

  let gptSection: string[] = [];
  if (gptCases.length) {
    console.log(`\n== model scale: GPT_CONFIG_124M, ${layers} layers`);
    const gpt = await gptBench(device, { layers, quick, seed: orderSeed, cases: gptCases });
    gptSection = ["## Model scale: GPT-2 small (GPT_CONFIG_124M)", "", gpt.markdown, ""];
  }
  let f16Section: string[] = [];
  if (runF16) {
    console.log("\n== f16 vs f32");
    const f16 = await f16Bench(device, { quick });
    console.log("\n" + f16.markdown);
    f16Section = ["## f16 vs f32", "", f16.markdown, ""];
  }
  // A failing CPU section must not lose the GPU sections' results.
  const cpuMarkdown = runCpu
    ? await cpuSection().catch((e) => {
      const why = e instanceof Error ? e.message : String(e);
      console.log(`cpu section failed: ${why}`);
      return ["## CPU device", "", `- failed: ${why}`, ""];
    })
    : [];
  const elapsed = (performance.now() - started) / 1000;
  const command = `deno task bench${Deno.args.length ? " " + Deno.args.join(" ") : ""}`;
  console.log(`total ${elapsed.toFixed(0)} s`);

  const md = [
    "# Tessera benchmark results",
    "",
    `Generated by \`${command}\` (scripts/bench.ts) on ${new Date().toISOString()}, ` +
    `${elapsed.toFixed(0)} s.`,
    "",
    ...header.map((h) => `- ${h}`),
    `- peers: @tensorflow/tfjs-core + @tensorflow/tfjs-backend-webgpu 4.22.0, @jax-js/jax 0.1.25 ` +
    `(webgpu device, \`jit\` for attention), onnxruntime-web 1.30.0 (\`onnxruntime-web/webgpu\`, ` +
    `MatMul and com.microsoft MultiHeadAttention with unidirectional=1, inputs in GPU buffers)`,
    `- readback floor: mapAsync of a 4-byte buffer ${fmt(floor.map)} ms ` +
    `(4-byte copy + mapAsync ${fmt(floor.copy)} ms)`,
    `- load average (1/5/15 min): ${loadAtStart} at start, ${loadAfterKernels} after the ` +
    `kernel cases, ${loadavg()} at the end (2 CPU threads; llvmpipe runs on them)`,
    "",
    "## Kernels",
    "",
    "Median (min-max) of wall-clock milliseconds over `reps` repetitions, readback included; " +
    "every repetition runs each implementation once, in a fresh seeded random order. " +
    "latency = one op + readback; " +
    `throughput = ${CHAIN} chained ops (each consumes the previous result) + one readback. ` +
    "Ratios (of medians) Tessera/peer below 1 mean Tessera is faster. Every peer's result " +
    "was checked " +
    `against Tessera's (relative error <= ${AGREEMENT}) before timing. The seed case chains ` +
    "through a small [2, 3] re-projection matmul (its output has 2 features, its input 3), " +
    "the same for every implementation.",
    "",
    table,
    "",
    "## Targets",
    "",
    ...targets.map((t) => `- ${t}`),
    "",
    "## Notes",
    "",
    ...tesseraNotes.map((n) => `- ${n}`),
    `- Tessera's runtime counters over all timed runs: ${overheads}`,
    ...problems.map((p) => `- problem: ${p}`),
    "",
    ...gptSection,
    ...f16Section,
    ...cpuMarkdown,
    "Reproduce: `deno task bench` (kernels and model scale; `--quick` for fewer repetitions, " +
    "`--layers=2` for a 2-block GPT, `--cases=matmul-512,prefill-128,train` for a subset " +
    "(`--cases=f16` for the f16 vs f32 section alone, `--cases=cpu` for the CPU device's), " +
    "`--seed=N` for another order). " +
    "On a shared machine other processes compete for the same CPU cores (llvmpipe runs on " +
    "them), so compare ratios within one run rather than absolute times across runs.",
    "",
  ].join("\n");
  await Deno.mkdir(new URL("../bench/", import.meta.url), { recursive: true });
  const target = new URL("../bench/results.md", import.meta.url);
  await Deno.writeTextFile(target, md);
  // Keep the committed file as `deno fmt --check` wants it (wrapped prose, aligned table).
  await new Deno.Command(Deno.execPath(), { args: ["fmt", "-q", target.pathname] }).output();
  console.log("wrote bench/results.md");
}

if (import.meta.main) {
  await main();
  // Peers keep devices and timers alive; the results are written.
  Deno.exit(0);
}
