/**
 * Model-scale benchmark: the GPT-2 small architecture (`nn.GPT_CONFIG_124M`,
 * random f32 weights) on Tessera against jax-js (`jit`, full recompute per
 * token) and onnxruntime-web (`/webgpu`, a hand-built ONNX graph with
 * com.microsoft MultiHeadAttention and past/present keys and values), all
 * with the same weights, in one process, on one adapter. Plus the decode
 * floor (weight bytes per token over the measured copy bandwidth) and a
 * training step (small GPT, AdamW, against jax-js `jit(valueAndGrad)`).
 *
 *   deno run -A --no-lock scripts/bench_gpt.ts              # full 124M
 *   deno run -A --no-lock scripts/bench_gpt.ts --layers 2   # 2 blocks, quick look
 *   deno run -A --no-lock scripts/bench_gpt.ts --quick --cases=prefill-128,train
 *
 * `deno task bench` runs this after the kernel cases (scripts/bench.ts).
 *
 * What is measured (wall clock, readback included):
 *
 * - prefill T: one forward over `[1, T]` token ids producing the logits of
 *   the last position (nanoGPT's inference path, `lm_head(x[:, [-1], :])`),
 *   read back; tokens/s = T / time.
 * - decode P: the logits of the token at position P given P earlier tokens.
 *   ORT feeds the cached keys and values of the P tokens (`past_key`/`past_value`)
 *   and returns `present_*` on the GPU; jax-js recomputes all P + 1 tokens;
 *   Tessera uses its KV cache when the library has one (`nn.gptModel.step`),
 *   otherwise it also recomputes.
 *
 * The vocabulary matrices (50257 x 768 f32, 147 MiB) exceed one storage
 * binding on this adapter (128 MiB); the peers get them as two halves (two
 * gathers, two head matmuls and a concat), Tessera splits internally.
 *
 * @module
 */

import {
  adamw,
  type AdamWState,
  crossEntropy,
  dispose,
  nn,
  reshape,
  tensor,
  toDevice,
  valueAndGrad,
  type WebGpuDevice,
} from "../mod.ts";
import { onnxModel, type OnnxNode, type OnnxValue } from "./bench_onnx.ts";
import {
  AGREEMENT,
  fmtMs,
  fmtSummary,
  loadavg,
  mulberry32,
  relError,
  shuffled,
  summarize,
  type Summary,
} from "./bench_stats.ts";

// ---------------------------------------------------------------------------
// Configuration and weights

/**
 * What to run.
 *
 * @example
 * ```ts
 * import type { GptBenchOptions } from "./bench_gpt.ts";
 * const o: GptBenchOptions = { layers: 2, quick: true, seed: 1 };
 * ```
 */
export interface GptBenchOptions {
  /** Transformer blocks (12 for GPT-2 small). */
  layers: number;
  /** Fewer repetitions. */
  quick: boolean;
  /** Seed of the weights, the ids and the implementation order. */
  seed: number;
  /** Case ids to run (all when absent): prefill-128, prefill-1024, decode-16, decode-1000, train. */
  cases?: readonly string[];
}

interface Cfg {
  vocabSize: number;
  contextLength: number;
  embDim: number;
  nHeads: number;
  nLayers: number;
}

type HostArray = { data: Float32Array; shape: number[] };
type Weights = Map<string, HostArray>;

function uniform(n: number, lo: number, hi: number, rand: () => number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * rand();
  return out;
}

/** Random weights keyed like PyTorch's state dict (PyTorch-like ranges, norms not identity). */
function makeWeights(c: Cfg, seed: number): Weights {
  const rand = mulberry32(seed);
  const w: Weights = new Map();
  const put = (name: string, shape: number[], lo: number, hi: number) =>
    w.set(name, { data: uniform(shape.reduce((a, b) => a * b, 1), lo, hi, rand), shape });
  const E = c.embDim;
  const emb = 0.02 * Math.sqrt(3); // std 0.02, like GPT-2's init
  const lin = (fanIn: number) => 1 / Math.sqrt(fanIn); // nn.Linear's range
  put("tok_emb.weight", [c.vocabSize, E], -emb, emb);
  put("pos_emb.weight", [c.contextLength, E], -emb, emb);
  for (let i = 0; i < c.nLayers; i++) {
    const p = `trf_blocks.${i}.`;
    put(p + "norm1.scale", [E], 0.9, 1.1);
    put(p + "norm1.shift", [E], -0.1, 0.1);
    for (const n of ["W_query", "W_key", "W_value", "out_proj"]) {
      put(`${p}att.${n}.weight`, [E, E], -lin(E), lin(E));
    }
    put(p + "att.out_proj.bias", [E], -lin(E), lin(E));
    put(p + "norm2.scale", [E], 0.9, 1.1);
    put(p + "norm2.shift", [E], -0.1, 0.1);
    put(p + "ff.layers.0.weight", [4 * E, E], -lin(E), lin(E));
    put(p + "ff.layers.0.bias", [4 * E], -lin(E), lin(E));
    put(p + "ff.layers.2.weight", [E, 4 * E], -lin(4 * E), lin(4 * E));
    put(p + "ff.layers.2.bias", [E], -lin(4 * E), lin(4 * E));
  }
  put("final_norm.scale", [E], 0.9, 1.1);
  put("final_norm.shift", [E], -0.1, 0.1);
  put("out_head.weight", [c.vocabSize, E], -lin(E), lin(E));
  return w;
}

function transposed(a: HostArray): Float32Array {
  const [rows, cols] = a.shape;
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) out[j * rows + i] = a.data[i * cols + j];
  }
  return out;
}

/** Rows [from, to) of a [rows, cols] matrix, transposed to [cols, to - from]. */
function rowsTransposed(a: HostArray, from: number, to: number): Float32Array {
  const cols = a.shape[1];
  return transposed({ data: a.data.subarray(from * cols, to * cols), shape: [to - from, cols] });
}

const half = (c: Cfg) => Math.ceil(c.vocabSize / 2);

/** Token ids split for a vocabulary held in two halves: clamped ids and a selector. */
function splitIds(ids: Int32Array, c: Cfg) {
  const h = half(c);
  const lo = new Int32Array(ids.length);
  const hi = new Int32Array(ids.length);
  const sel = new Float32Array(ids.length);
  ids.forEach((id, i) => {
    lo[i] = Math.min(id, h - 1);
    hi[i] = Math.max(id - h, 0);
    sel[i] = id >= h ? 1 : 0;
  });
  return { lo, hi, sel };
}

// ---------------------------------------------------------------------------
// Implementations

/** One prepared case: `run()` computes and reads back the last position's logits. */
interface Runner {
  run(): Promise<Float32Array>;
  dispose(): Promise<void> | void;
}

type InferCase = { id: string; label: string; kind: "prefill" | "decode"; tokens: number };

interface Impl {
  name: string;
  failure?: string;
  /** `ids` holds tokens + 1 ids for decode (P earlier tokens and the new one). */
  setup(c: InferCase, ids: Int32Array): Promise<Runner>;
  dispose(): Promise<void> | void;
}

// --- Tessera ---------------------------------------------------------------

/** The model record from host weights (blocks' masks built by the library). */
function tesseraModel(c: Cfg, w: Weights): nn.GptModel {
  const t = (name: string) => {
    const a = w.get(name)!;
    return tensor(a.data, a.shape);
  };
  const lin = (name: string, bias = false) => ({
    weight: t(`${name}.weight`),
    ...(bias ? { bias: t(`${name}.bias`) } : {}),
  });
  const norm = (name: string) => ({ scale: t(`${name}.scale`), shift: t(`${name}.shift`) });
  const blocks = Array.from({ length: c.nLayers }, (_, i) => {
    const p = `trf_blocks.${i}.`;
    return {
      att: {
        W_query: lin(p + "att.W_query"),
        W_key: lin(p + "att.W_key"),
        W_value: lin(p + "att.W_value"),
        out_proj: lin(p + "att.out_proj", true),
      },
      ff: { layers: { 0: lin(p + "ff.layers.0", true), 2: lin(p + "ff.layers.2", true) } },
      norm1: norm(p + "norm1"),
      norm2: norm(p + "norm2"),
    };
  });
  return {
    params: {
      tok_emb: { weight: t("tok_emb.weight") },
      pos_emb: { weight: t("pos_emb.weight") },
      trf_blocks: blocks,
      final_norm: norm("final_norm"),
      out_head: lin("out_head"),
    },
    buffers: {
      trf_blocks: blocks.map(() => ({
        att: { mask: nn.causalAttention.causalMask(c.contextLength) },
      })),
    },
    config: { ...c, dropRate: 0, qkvBias: false },
  };
}

async function tesseraImpl(device: WebGpuDevice, c: Cfg, w: Weights): Promise<Impl> {
  const model = await toDevice(tesseraModel(c, w), device);
  const idsOf = (ids: Int32Array) => toDevice(tensor(ids, [1, ids.length]), device);
  return {
    name: "Tessera",
    async setup(k, ids) {
      if (k.kind === "prefill") {
        const input = await idsOf(ids);
        return {
          async run() {
            const logits = nn.gptModel.apply(model, input, { lastPosition: true }); // [1, 1, V]
            const data = (await logits.data()) as Float32Array;
            logits.dispose();
            return data;
          },
          dispose() {
            input.dispose();
          },
        };
      }
      // Decode: the KV cache filled by one step over the P earlier tokens,
      // then one step per run with the new token (positions P, P+1, ...).
      const P = ids.length - 1;
      const prompt = await idsOf(ids.subarray(0, P));
      const token = await idsOf(ids.subarray(P));
      const first = nn.gptModel.step(nn.gptModel.withCache(model, { batch: 1 }), prompt);
      first.logits.dispose();
      prompt.dispose();
      let cached = first.model;
      return {
        async run() {
          const { logits, model: next } = nn.gptModel.step(cached, token); // [1, 1, V]
          cached = next;
          const data = (await logits.data()) as Float32Array;
          logits.dispose();
          return data;
        },
        dispose() {
          token.dispose();
          nn.gptModel.dropCache(cached); // frees the cache only; the weights stay
        },
      };
    },
    dispose() {
      dispose(model);
    },
  };
}

// --- jax-js ----------------------------------------------------------------

interface JaxArray {
  readonly ref: JaxArray;
  readonly shape: number[];
  data(): Promise<ArrayLike<number>>;
  dispose(): void;
  reshape(shape: number[]): JaxArray;
}
type Fn = (...args: never[]) => unknown;
interface JaxApi {
  init(): Promise<string[]>;
  defaultDevice(device?: string): string;
  jit<F extends Fn>(f: F): F & { dispose(): void };
  valueAndGrad<F extends Fn>(f: F): (...args: Parameters<F>) => [JaxArray, JaxArray[]];
  numpy: {
    array(data: Float32Array | Int32Array, opts?: { shape?: number[]; dtype?: unknown }): JaxArray;
    int32: unknown;
    matmul(a: JaxArray, b: JaxArray): JaxArray;
    add(a: JaxArray, b: JaxArray | number): JaxArray;
    subtract(a: JaxArray, b: JaxArray | number): JaxArray;
    multiply(a: JaxArray, b: JaxArray | number): JaxArray;
    divide(a: JaxArray, b: JaxArray | number): JaxArray;
    sqrt(a: JaxArray): JaxArray;
    square(a: JaxArray): JaxArray;
    mean(a: JaxArray, axis?: number, opts?: { keepdims?: boolean }): JaxArray;
    sum(a: JaxArray, axis?: number, opts?: { keepdims?: boolean }): JaxArray;
    take(a: JaxArray, idx: JaxArray, axis?: number): JaxArray;
    takeAlongAxis(a: JaxArray, idx: JaxArray, axis?: number): JaxArray;
    concatenate(xs: JaxArray[], axis?: number): JaxArray;
    where(cond: JaxArray, x: JaxArray, y: JaxArray): JaxArray;
  };
  nn: {
    dotProductAttention(q: JaxArray, k: JaxArray, v: JaxArray, o: { isCausal: boolean }): JaxArray;
    gelu(x: JaxArray, o?: { approximate?: boolean }): JaxArray;
    logSoftmax(x: JaxArray, axis?: number): JaxArray;
    oneHot(x: JaxArray, numClasses: number): JaxArray;
  };
}

// Specifiers are built at run time so that `deno check` never needs the peers.
const PEERS = {
  jax: ["npm:@jax-js", "jax@0.1.25"].join("/"),
  ort: ["npm:onnxruntime-web@1.30.0", "webgpu"].join("/"),
};

async function loadJax(): Promise<JaxApi> {
  const jax = await import(PEERS.jax) as unknown as JaxApi;
  const devices = await jax.init();
  if (!devices.includes("webgpu")) throw new Error(`no webgpu device (have ${devices.join(", ")})`);
  jax.defaultDevice("webgpu");
  return jax;
}

/** Names of the jax weight list, in order (vocabulary matrices in two halves). */
function jaxWeightNames(c: Cfg): string[] {
  const names = ["tok_lo", "tok_hi", "pos_emb.weight"];
  for (let i = 0; i < c.nLayers; i++) {
    const p = `trf_blocks.${i}.`;
    names.push(
      ...["norm1.scale", "norm1.shift", "att.W_query.weight", "att.W_key.weight"].map((n) => p + n),
      ...["att.W_value.weight", "att.out_proj.weight", "att.out_proj.bias"].map((n) => p + n),
      ...["norm2.scale", "norm2.shift", "ff.layers.0.weight", "ff.layers.0.bias"].map((n) => p + n),
      ...["ff.layers.2.weight", "ff.layers.2.bias"].map((n) => p + n),
    );
  }
  names.push("final_norm.scale", "final_norm.shift", "head_lo", "head_hi");
  return names;
}

/** Host arrays for jax: linear weights as [in, out]; vocabulary matrices split. */
function jaxHostWeights(c: Cfg, w: Weights): HostArray[] {
  const h = half(c);
  const E = c.embDim;
  const tok = w.get("tok_emb.weight")!;
  const head = w.get("out_head.weight")!;
  return jaxWeightNames(c).map((name) => {
    if (name === "tok_lo") return { data: tok.data.slice(0, h * E), shape: [h, E] };
    if (name === "tok_hi") {
      return { data: tok.data.slice(h * E), shape: [c.vocabSize - h, E] };
    }
    if (name === "head_lo") return { data: rowsTransposed(head, 0, h), shape: [E, h] };
    if (name === "head_hi") {
      return { data: rowsTransposed(head, h, c.vocabSize), shape: [E, c.vocabSize - h] };
    }
    const a = w.get(name)!;
    if (name.endsWith(".weight") && a.shape.length === 2 && !name.startsWith("pos_emb")) {
      return { data: transposed(a), shape: [a.shape[1], a.shape[0]] };
    }
    return a;
  });
}

/**
 * The GPT forward in jax-js (traced under `jit`). Takes ownership of its
 * arguments, like every jax-js function. Returns logits `[B, T, V]` when
 * `all`, else the last position's `[B, V]`.
 */
function jaxForward(
  jax: JaxApi,
  c: Cfg,
  B: number,
  T: number,
  all: boolean,
  oneHot: boolean,
  idsLo: JaxArray,
  idsHi: JaxArray,
  sel: JaxArray,
  positions: JaxArray,
  ws: JaxArray[],
): JaxArray {
  const np = jax.numpy;
  const E = c.embDim;
  const H = c.nHeads;
  let next = 0;
  const take = () => ws[next++];
  const norm = (x: JaxArray) => {
    const scale = take();
    const shift = take();
    const mu = np.mean(x.ref, -1, { keepdims: true });
    const xc = np.subtract(x, mu);
    const v = np.mean(np.square(xc.ref), -1, { keepdims: true });
    return np.add(np.multiply(np.divide(xc, np.sqrt(np.add(v, 1e-5))), scale), shift);
  };
  const tokLo = take();
  const tokHi = take();
  const posEmb = take();
  // Under grad, jit rejects take's transpose (a scatter): one-hot matmuls instead.
  const gather = (table: JaxArray, ids: JaxArray) =>
    oneHot ? np.matmul(jax.nn.oneHot(ids, table.shape[0]), table) : np.take(table, ids, 0);
  const lo = gather(tokLo, idsLo); // [B, T, E]
  const hi = gather(tokHi, idsHi);
  // lo + sel * (hi - lo): the half each id lives in
  const tok = np.add(lo.ref, np.multiply(np.subtract(hi, lo), sel.reshape([B, T, 1])));
  let x = np.add(tok, gather(posEmb, positions)); // [B, T, E]
  for (let i = 0; i < c.nLayers; i++) {
    const h = norm(x.ref);
    const wq = take();
    const wk = take();
    const wv = take();
    const heads = (w: JaxArray, hh: JaxArray) => np.matmul(hh, w).reshape([B, T, H, E / H]);
    const q = heads(wq, h.ref);
    const k = heads(wk, h.ref);
    const v = heads(wv, h);
    const a = jax.nn.dotProductAttention(q, k, v, { isCausal: true }).reshape([B, T, E]);
    const wo = take();
    const bo = take();
    x = np.add(x, np.add(np.matmul(a, wo), bo));
    const h2 = norm(x.ref);
    const w1 = take();
    const b1 = take();
    const w2 = take();
    const b2 = take();
    const f = jax.nn.gelu(np.add(np.matmul(h2, w1), b1), { approximate: true });
    x = np.add(x, np.add(np.matmul(f, w2), b2));
  }
  if (!all) {
    // The last position only: [B, 1, E] -> [B, E]
    const last = new Int32Array([T - 1]);
    x = np.take(x, np.array(last, { dtype: np.int32 }), 1).reshape([B, E]);
  }
  const xn = norm(x);
  const headLo = take();
  const headHi = take();
  return np.concatenate([np.matmul(xn.ref, headLo), np.matmul(xn, headHi)], -1);
}

async function jaxImpl(c: Cfg, w: Weights): Promise<Impl> {
  const jax = await loadJax();
  const np = jax.numpy;
  const weights = jaxHostWeights(c, w).map((a) => np.array(a.data).reshape(a.shape));
  const int = (a: Int32Array, shape: number[]) => np.array(a, { dtype: np.int32 }).reshape(shape);
  return {
    name: "jax-js",
    setup(_k, ids) {
      const T = ids.length;
      const { lo, hi, sel } = splitIds(ids, c);
      const held = [
        int(lo, [1, T]),
        int(hi, [1, T]),
        np.array(sel).reshape([1, T]),
        int(Int32Array.from({ length: T }, (_, i) => i), [1, T]),
      ];
      const f = jax.jit((a: JaxArray, b: JaxArray, s: JaxArray, p: JaxArray, ws: JaxArray[]) =>
        jaxForward(jax, c, 1, T, false, false, a, b, s, p, ws)
      );
      return Promise.resolve({
        async run() {
          const out = f(
            held[0].ref,
            held[1].ref,
            held[2].ref,
            held[3].ref,
            weights.map((x) => x.ref),
          );
          return Float32Array.from(await out.data()); // data() consumes out
        },
        dispose() {
          for (const a of held) a.dispose();
          f.dispose();
        },
      });
    },
    dispose() {
      for (const a of weights) a.dispose();
    },
  };
}

// --- onnxruntime-web -------------------------------------------------------

interface OrtTensor {
  readonly data: ArrayLike<number>;
  dispose?(): void;
  getData?(): Promise<ArrayLike<number>>;
}
interface OrtSession {
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
interface OrtApi {
  env: { wasm: { numThreads: number }; webgpu: { device?: GPUDevice | Promise<GPUDevice> } };
  InferenceSession: { create(model: Uint8Array, options: object): Promise<OrtSession> };
  Tensor: {
    fromGpuBuffer(
      buffer: GPUBuffer,
      options: { dataType: "float32" | "int32"; dims: number[] },
    ): OrtTensor;
  };
}

async function loadOrt(): Promise<{ ort: OrtApi; device: GPUDevice }> {
  const ort = await import(PEERS.ort) as unknown as OrtApi;
  ort.env.wasm.numThreads = 1;
  // A first session starts the WebGPU backend; it stays open so that ORT keeps its device.
  await ort.InferenceSession.create(
    onnxModel([{ op: "Identity", inputs: ["a"], outputs: ["b"] }], [["a", [1]]], [["b", [1]]]),
    { executionProviders: ["webgpu"] },
  );
  const device = await Promise.resolve(ort.env.webgpu.device);
  if (!device) throw new Error("onnxruntime-web exposed no WebGPU device");
  return { ort, device };
}

/**
 * The GPT graph for `T` new tokens after `past` cached ones (batch 1): last
 * position's logits `[1, 1, V]`, and the layers' present keys and values when
 * `presents`.
 */
function ortGraph(c: Cfg, T: number, past: number, presents: boolean) {
  const E = c.embDim;
  const H = c.nHeads;
  const h = half(c);
  const nodes: OnnxNode[] = [];
  const inputs: OnnxValue[] = [
    ["ids_lo", [1, T], "int32"],
    ["ids_hi", [1, T], "int32"],
    ["sel", [1, T, 1]],
    ["positions", [1, T], "int32"],
    ["last", [1], "int32"],
    ["tok_lo", [h, E]],
    ["tok_hi", [c.vocabSize - h, E]],
    ["pos_emb", [c.contextLength, E]],
    ["final_norm.scale", [E]],
    ["final_norm.shift", [E]],
    ["head_lo", [E, h]],
    ["head_hi", [E, c.vocabSize - h]],
  ];
  const outputs: OnnxValue[] = [["logits", [1, 1, c.vocabSize]]];
  const n = (op: string, ins: string[], outs: string[], extra: Partial<OnnxNode> = {}) =>
    nodes.push({ op, inputs: ins, outputs: outs, ...extra });
  const ln = (x: string, p: string, y: string) =>
    n("LayerNormalization", [x, `${p}.scale`, `${p}.shift`], [y], {
      attrs: { axis: -1, epsilon: { f: 1e-5 } },
    });
  n("Gather", ["tok_lo", "ids_lo"], ["e_lo"]);
  n("Gather", ["tok_hi", "ids_hi"], ["e_hi"]);
  n("Sub", ["e_hi", "e_lo"], ["e_d"]);
  n("Mul", ["e_d", "sel"], ["e_s"]);
  n("Add", ["e_lo", "e_s"], ["tok"]);
  n("Gather", ["pos_emb", "positions"], ["pos"]);
  n("Add", ["tok", "pos"], ["x0"]);
  let x = "x0";
  for (let i = 0; i < c.nLayers; i++) {
    const p = `b${i}`;
    for (const name of ["norm1.scale", "norm1.shift", "norm2.scale", "norm2.shift"]) {
      inputs.push([`${p}.${name}`, [E]]);
    }
    for (const name of ["wq", "wk", "wv", "wo"]) inputs.push([`${p}.${name}`, [E, E]]);
    inputs.push([`${p}.bo`, [E]], [`${p}.w1`, [E, 4 * E]], [`${p}.b1`, [4 * E]]);
    inputs.push([`${p}.w2`, [4 * E, E]], [`${p}.b2`, [E]]);
    ln(x, `${p}.norm1`, `${p}.h`);
    for (const name of ["q", "k", "v"]) n("MatMul", [`${p}.h`, `${p}.w${name}`], [`${p}.${name}`]);
    const mhaInputs = [`${p}.q`, `${p}.k`, `${p}.v`];
    const mhaOutputs = [`${p}.a`];
    if (past > 0) {
      mhaInputs.push("", "", "", `past_key_${i}`, `past_value_${i}`);
      inputs.push([`past_key_${i}`, [1, H, past, E / H]], [`past_value_${i}`, [1, H, past, E / H]]);
    }
    if (presents) {
      mhaOutputs.push(`present_key_${i}`, `present_value_${i}`);
      outputs.push(
        [`present_key_${i}`, [1, H, past + T, E / H]],
        [`present_value_${i}`, [1, H, past + T, E / H]],
      );
    }
    n("MultiHeadAttention", mhaInputs, mhaOutputs, {
      domain: "com.microsoft",
      // One new row sees every cached key; several rows need the causal mask.
      attrs: { num_heads: H, unidirectional: T > 1 ? 1 : 0 },
    });
    n("MatMul", [`${p}.a`, `${p}.wo`], [`${p}.o`]);
    n("Add", [`${p}.o`, `${p}.bo`], [`${p}.ob`]);
    n("Add", [x, `${p}.ob`], [`${p}.x1`]);
    ln(`${p}.x1`, `${p}.norm2`, `${p}.h2`);
    n("MatMul", [`${p}.h2`, `${p}.w1`], [`${p}.f1`]);
    n("FastGelu", [`${p}.f1`, `${p}.b1`], [`${p}.g`], { domain: "com.microsoft" });
    n("MatMul", [`${p}.g`, `${p}.w2`], [`${p}.f2`]);
    n("Add", [`${p}.f2`, `${p}.b2`], [`${p}.f`]);
    n("Add", [`${p}.x1`, `${p}.f`], [`${p}.x2`]);
    x = `${p}.x2`;
  }
  n("Gather", [x, "last"], ["xl"], { attrs: { axis: 1 } }); // [1, 1, E]
  ln("xl", "final_norm", "xn");
  n("MatMul", ["xn", "head_lo"], ["l_lo"]);
  n("MatMul", ["xn", "head_hi"], ["l_hi"]);
  n("Concat", ["l_lo", "l_hi"], ["logits"], { attrs: { axis: -1 } });
  return onnxModel(nodes, inputs, outputs);
}

/** ORT's weight feeds by graph input name, from host weights. */
function ortHostWeights(c: Cfg, w: Weights): Map<string, HostArray> {
  const h = half(c);
  const E = c.embDim;
  const tok = w.get("tok_emb.weight")!;
  const head = w.get("out_head.weight")!;
  const m = new Map<string, HostArray>();
  m.set("tok_lo", { data: tok.data.slice(0, h * E), shape: [h, E] });
  m.set("tok_hi", { data: tok.data.slice(h * E), shape: [c.vocabSize - h, E] });
  m.set("pos_emb", w.get("pos_emb.weight")!);
  m.set("final_norm.scale", w.get("final_norm.scale")!);
  m.set("final_norm.shift", w.get("final_norm.shift")!);
  m.set("head_lo", { data: rowsTransposed(head, 0, h), shape: [E, h] });
  m.set("head_hi", { data: rowsTransposed(head, h, c.vocabSize), shape: [E, c.vocabSize - h] });
  for (let i = 0; i < c.nLayers; i++) {
    const s = `trf_blocks.${i}.`;
    const p = `b${i}.`;
    const tr = (name: string) => {
      const a = w.get(s + name)!;
      return { data: transposed(a), shape: [a.shape[1], a.shape[0]] };
    };
    for (const name of ["norm1.scale", "norm1.shift", "norm2.scale", "norm2.shift"]) {
      m.set(p + name, w.get(s + name)!);
    }
    m.set(p + "wq", tr("att.W_query.weight"));
    m.set(p + "wk", tr("att.W_key.weight"));
    m.set(p + "wv", tr("att.W_value.weight"));
    m.set(p + "wo", tr("att.out_proj.weight"));
    m.set(p + "bo", w.get(s + "att.out_proj.bias")!);
    m.set(p + "w1", tr("ff.layers.0.weight"));
    m.set(p + "b1", w.get(s + "ff.layers.0.bias")!);
    m.set(p + "w2", tr("ff.layers.2.weight"));
    m.set(p + "b2", w.get(s + "ff.layers.2.bias")!);
  }
  return m;
}

async function ortImpl(c: Cfg, w: Weights): Promise<Impl> {
  const { ort, device } = await loadOrt();
  const buffers: GPUBuffer[] = [];
  const gpuTensor = (data: Float32Array | Int32Array, dims: number[]) => {
    const buffer = device.createBuffer({
      size: Math.max(16, Math.ceil(data.byteLength / 16) * 16),
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    device.queue.writeBuffer(buffer, 0, data as Float32Array<ArrayBuffer>);
    buffers.push(buffer);
    const dataType = data instanceof Int32Array ? "int32" : "float32";
    return { buffer, tensor: ort.Tensor.fromGpuBuffer(buffer, { dataType, dims }) };
  };
  const weightFeeds: Record<string, OrtTensor> = {};
  for (const [name, a] of ortHostWeights(c, w)) {
    weightFeeds[name] = gpuTensor(a.data, a.shape).tensor;
  }
  const create = (model: Uint8Array, presents: boolean) =>
    ort.InferenceSession.create(model, {
      executionProviders: ["webgpu"],
      ...(presents ? { preferredOutputLocation: "gpu-buffer" } : {}),
    });
  const idFeeds = (ids: Int32Array, start: number) => {
    const T = ids.length;
    const { lo, hi, sel } = splitIds(ids, c);
    const local: GPUBuffer[] = [];
    const feed = (data: Float32Array | Int32Array, dims: number[]) => {
      const g = gpuTensor(data, dims);
      local.push(g.buffer);
      return g.tensor;
    };
    return {
      feeds: {
        ids_lo: feed(lo, [1, T]),
        ids_hi: feed(hi, [1, T]),
        sel: feed(sel, [1, T, 1]),
        positions: feed(Int32Array.from({ length: T }, (_, i) => start + i), [1, T]),
        last: feed(new Int32Array([T - 1]), [1]),
      },
      local,
    };
  };
  const read = async (t: OrtTensor) => Float32Array.from(t.getData ? await t.getData() : t.data);
  return {
    name: "ORT",
    async setup(k, ids) {
      const sessions: OrtSession[] = [];
      const locals: GPUBuffer[] = [];
      const kept: OrtTensor[] = [];
      let feeds: Record<string, OrtTensor>;
      let session: OrtSession;
      if (k.kind === "prefill") {
        session = await create(ortGraph(c, ids.length, 0, false), false);
        sessions.push(session);
        const f = idFeeds(ids, 0);
        locals.push(...f.local);
        feeds = { ...weightFeeds, ...f.feeds };
      } else {
        // The cache: a prefill of the P earlier tokens that returns its presents on the GPU.
        const P = ids.length - 1;
        const prefill = await create(ortGraph(c, P, 0, true), true);
        sessions.push(prefill);
        const f0 = idFeeds(ids.subarray(0, P), 0);
        locals.push(...f0.local);
        const out = await prefill.run({ ...weightFeeds, ...f0.feeds });
        feeds = { ...weightFeeds };
        for (let i = 0; i < c.nLayers; i++) {
          feeds[`past_key_${i}`] = out[`present_key_${i}`];
          feeds[`past_value_${i}`] = out[`present_value_${i}`];
        }
        kept.push(...Object.values(out));
        session = await create(ortGraph(c, 1, P, true), true);
        sessions.push(session);
        const f1 = idFeeds(ids.subarray(P), P);
        locals.push(...f1.local);
        Object.assign(feeds, f1.feeds);
      }
      return {
        async run() {
          const out = await session.run(feeds);
          const data = await read(out.logits);
          for (const t of Object.values(out)) t.dispose?.();
          return data;
        },
        async dispose() {
          for (const s of sessions) await s.release();
          for (const t of kept) t.dispose?.();
          for (const b of locals) b.destroy();
        },
      };
    },
    dispose() {
      for (const b of buffers) b.destroy();
    },
  };
}

// ---------------------------------------------------------------------------
// The decode floor: weight bytes per token over measured copy bandwidth

/**
 * Bandwidth of a large buffer-to-buffer copy on `device`, in bytes per
 * millisecond (bytes copied over the time of the copy's submit until the
 * queue reports it done; the median of `reps`).
 */
async function copyBandwidth(device: WebGpuDevice, reps: number): Promise<number> {
  const gpu = device.gpu;
  const bytes = 128 * 1024 * 1024;
  const usage = GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const a = gpu.createBuffer({ size: bytes, usage });
  const b = gpu.createBuffer({ size: bytes, usage });
  const times: number[] = [];
  for (let i = 0; i < reps + 1; i++) {
    const t = performance.now();
    const e = gpu.createCommandEncoder();
    e.copyBufferToBuffer(a, 0, b, 0, bytes);
    gpu.queue.submit([e.finish()]);
    await gpu.queue.onSubmittedWorkDone();
    if (i > 0) times.push(performance.now() - t); // the first touches fresh pages
  }
  a.destroy();
  b.destroy();
  return bytes / summarize(times).median;
}

/** Bytes of weights one decode step reads: all but the two embedding tables (one row each). */
function weightBytesPerToken(c: Cfg): number {
  const E = c.embDim;
  const block = 4 * E * E + E + 8 * E * E + 5 * E + 4 * E; // attention, MLP, norms, biases
  return 4 * (c.nLayers * block + 2 * E + c.vocabSize * E + 2 * E);
}

// ---------------------------------------------------------------------------
// Training step: small GPT, AdamW, Tessera valueAndGrad vs jax-js jit(valueAndGrad)

const TRAIN_CFG: Cfg = { vocabSize: 512, contextLength: 64, embDim: 128, nHeads: 4, nLayers: 2 };
const TRAIN_BATCH = 4;
const ADAMW = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 };

interface Trainer {
  /** One AdamW step; resolves to the loss before the update (read back). */
  step(): Promise<number>;
  dispose(): void;
}

async function tesseraTrainer(
  device: WebGpuDevice,
  w: Weights,
  ids: Int32Array,
  targets: Int32Array,
): Promise<Trainer> {
  const c = TRAIN_CFG;
  let model = await toDevice(tesseraModel(c, w), device);
  const idsT = await toDevice(tensor(ids, [TRAIN_BATCH, c.contextLength]), device);
  const targetsT = await toDevice(tensor(targets, [TRAIN_BATCH * c.contextLength]), device);
  const optimizer = adamw({
    lr: ADAMW.lr,
    betas: [ADAMW.beta1, ADAMW.beta2],
    eps: ADAMW.eps,
    weightDecay: ADAMW.weightDecay,
  });
  let state: AdamWState = optimizer.init(model.params);
  const lossOf = (params: nn.GptParams) => {
    const logits = nn.gptModel.apply({ ...model, params }, idsT); // [B, T, V]
    return crossEntropy(reshape(logits, [-1, c.vocabSize]), targetsT); // []
  };
  const vg = valueAndGrad(lossOf);
  return {
    async step() {
      const { value, grads } = vg(model.params);
      const next = optimizer.update(grads, state, model.params);
      dispose([grads, state, model.params]);
      model = { ...model, params: next.params as nn.GptParams };
      state = next.state;
      const loss = (await value.data())[0];
      value.dispose();
      return loss;
    },
    dispose() {
      dispose([model, state, idsT, targetsT]);
    },
  };
}

async function jaxTrainer(w: Weights, ids: Int32Array, targets: Int32Array): Promise<Trainer> {
  const c = TRAIN_CFG;
  const jax = await loadJax();
  const np = jax.numpy;
  const B = TRAIN_BATCH;
  const T = c.contextLength;
  const N = B * T;
  const { lo, hi, sel } = splitIds(ids, c);
  const int = (a: Int32Array, shape: number[]) => np.array(a, { dtype: np.int32 }).reshape(shape);
  const held = [
    int(lo, [B, T]),
    int(hi, [B, T]),
    np.array(sel).reshape([B, T]),
    int(Int32Array.from({ length: N }, (_, i) => i % T), [B, T]),
    int(targets, [N]),
  ];
  let params = jaxHostWeights(c, w).map((a) => np.array(a.data).reshape(a.shape));
  let m = jaxHostWeights(c, w).map((a) =>
    np.array(new Float32Array(a.data.length)).reshape(a.shape)
  );
  let v = jaxHostWeights(c, w).map((a) =>
    np.array(new Float32Array(a.data.length)).reshape(a.shape)
  );
  const loss = (
    ws: JaxArray[],
    a: JaxArray,
    b: JaxArray,
    s: JaxArray,
    p: JaxArray,
    t: JaxArray,
  ) => {
    const logits = jaxForward(jax, c, B, T, true, true, a, b, s, p, ws).reshape([N, c.vocabSize]);
    const logp = jax.nn.logSoftmax(logits, -1); // [N, V]
    return np.divide(np.sum(np.multiply(logp, jax.nn.oneHot(t, c.vocabSize))), -N);
  };
  const vg = jax.jit(jax.valueAndGrad(loss) as unknown as Fn) as unknown as
    & ((...args: unknown[]) => [JaxArray, JaxArray[]])
    & { dispose(): void };
  let step = 0;
  // torch 1.13's AdamW, the same as Tessera's (see src/optim/adamw.ts).
  const update = jax.jit(
    ((p: JaxArray, g: JaxArray, m0: JaxArray, v0: JaxArray, lr1: JaxArray, bc2: JaxArray) => {
      const { beta1, beta2, eps, weightDecay, lr } = ADAMW;
      const decayed = np.multiply(p, 1 - lr * weightDecay);
      const m1 = np.add(np.multiply(m0, beta1), np.multiply(g.ref, 1 - beta1));
      const v1 = np.add(np.multiply(v0, beta2), np.multiply(np.square(g), 1 - beta2));
      const denom = np.add(np.divide(np.sqrt(v1.ref), bc2), eps);
      const p1 = np.subtract(decayed, np.multiply(np.divide(m1.ref, denom), lr1));
      return [p1, m1, v1];
    }) as unknown as Fn,
  ) as unknown as ((...args: JaxArray[]) => JaxArray[]) & { dispose(): void };
  return {
    async step() {
      step++;
      const [value, grads] = vg(
        params.map((x) => x.ref),
        ...held.map((x) => x.ref),
      );
      const lr1 = np.array(new Float32Array([ADAMW.lr / (1 - ADAMW.beta1 ** step)]));
      const bc2 = np.array(new Float32Array([Math.sqrt(1 - ADAMW.beta2 ** step)]));
      const next = params.map((p, i) => update(p, grads[i], m[i], v[i], lr1.ref, bc2.ref));
      lr1.dispose();
      bc2.dispose();
      params = next.map((r) => r[0]);
      m = next.map((r) => r[1]);
      v = next.map((r) => r[2]);
      return (await value.data())[0];
    },
    dispose() {
      for (const a of [...params, ...m, ...v, ...held]) a.dispose();
      vg.dispose();
      update.dispose();
    },
  };
}

// ---------------------------------------------------------------------------
// Main

/** One row of the model-scale table. */
interface GptRow {
  id: string;
  label: string;
  /** Tokens per run for tokens/s (prefill and training), or undefined (decode: ms/token). */
  tokens?: number;
  summaries: Map<string, Summary>;
  notes: string[];
}

/**
 * The model-scale section's results.
 *
 * @example
 * ```ts
 * import type { GptBenchResult } from "./bench_gpt.ts";
 * const r: GptBenchResult | undefined = undefined;
 * ```
 */
export interface GptBenchResult {
  /** Markdown: header lines, table, floor, targets, notes. */
  markdown: string;
}

const CASES: readonly InferCase[] = [
  { id: "prefill-128", label: "prefill 128 tokens", kind: "prefill", tokens: 128 },
  { id: "prefill-1024", label: "prefill 1024 tokens", kind: "prefill", tokens: 1024 },
  { id: "decode-16", label: "decode at position 16", kind: "decode", tokens: 16 },
  { id: "decode-1000", label: "decode at position 1000", kind: "decode", tokens: 1000 },
];

const PEER_NAMES = ["jax-js", "ORT"];

/**
 * Runs the model-scale cases on `device` (Tessera) with peers on their own
 * devices of the same adapter; logs as it goes and returns the markdown.
 *
 * @example
 * ```ts ignore
 * import { webgpu } from "../mod.ts";
 * import { gptBench } from "./bench_gpt.ts";
 * const r = await gptBench(await webgpu(), { layers: 2, quick: true, seed: 1 });
 * console.log(r.markdown);
 * ```
 */
export async function gptBench(
  device: WebGpuDevice,
  options: GptBenchOptions,
): Promise<GptBenchResult> {
  const started = performance.now();
  const want = (id: string) => !options.cases || options.cases.includes(id);
  const cfg: Cfg = { ...nn.GPT_CONFIG_124M, nLayers: options.layers };
  const order = mulberry32(options.seed ^ 0x9e3779b9);
  const [minReps, maxReps, budgetMs] = options.quick ? [3, 5, 4000] : [3, 15, 15000];
  // Runs longer than this are not repeated (jax-js recomputing 1000 tokens takes minutes).
  const slowMs = options.quick ? 20_000 : 60_000;
  const problems: string[] = [];
  const rows: GptRow[] = [];
  const log = (s: string) => console.log(s);
  const loadAtStart = loadavg();

  const bandwidth = await copyBandwidth(device, options.quick ? 3 : 7);
  const weightBytes = weightBytesPerToken(cfg);
  const floorMs = weightBytes / bandwidth;
  log(
    `copy bandwidth ${(bandwidth / 1e6).toFixed(2)} GB/s; weights read per decode token ` +
      `${(weightBytes / 2 ** 20).toFixed(0)} MiB; floor ${fmtMs(floorMs)} ms/token`,
  );

  const inferCases = CASES.filter((k) => want(k.id));
  if (inferCases.length) {
    const t0 = performance.now();
    const weights = makeWeights(cfg, options.seed);
    log(
      `GPT ${cfg.nLayers} layers, ${cfg.embDim} features, vocab ${cfg.vocabSize}: ` +
        `weights drawn in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    const impls: Impl[] = [await tesseraImpl(device, cfg, weights)];
    for (const [name, load] of [["jax-js", jaxImpl], ["ORT", ortImpl]] as const) {
      try {
        impls.push(await load(cfg, weights));
        log(`loaded ${name}`);
      } catch (e) {
        const failure = e instanceof Error ? e.message : String(e);
        problems.push(`${name} did not load: ${failure}`);
        log(`${name} failed to load: ${failure}`);
      }
    }
    weights.clear();
    const idRand = mulberry32(options.seed + 1);
    for (const k of inferCases) {
      log(`\n== ${k.label}`);
      const n = k.kind === "prefill" ? k.tokens : k.tokens + 1;
      const ids = Int32Array.from({ length: n }, () => Math.floor(idRand() * cfg.vocabSize));
      const row: GptRow = {
        id: k.id,
        label: k.label,
        tokens: k.kind === "prefill" ? k.tokens : undefined,
        summaries: new Map(),
        notes: [],
      };
      if (k.kind === "decode") {
        row.notes.push(
          "Tessera: KV cache, one step per run at positions P, P+1, ...; ORT: past keys/values " +
            "of length P every run; jax-js: recomputes all P + 1 tokens",
        );
      }
      const runners = new Map<string, Runner>();
      for (const impl of impls) {
        try {
          runners.set(impl.name, await impl.setup(k, ids));
        } catch (e) {
          const why = e instanceof Error ? e.message : String(e);
          row.notes.push(`${impl.name} could not run: ${why.split("\n")[0]}`);
          log(`  ${impl.name}: setup failed: ${why}`);
        }
      }
      const tessera = runners.get("Tessera");
      if (!tessera) {
        rows.push(row);
        continue;
      }
      // The checking runs double as warm-up (they compile every pipeline).
      let t = performance.now();
      const expected = await tessera.run();
      const checkMs = new Map([["Tessera", performance.now() - t]]);
      for (const [name, runner] of runners) {
        if (name === "Tessera") continue;
        try {
          t = performance.now();
          const err = relError(await runner.run(), expected);
          checkMs.set(name, performance.now() - t);
          if (!(err <= AGREEMENT)) {
            throw new Error(`logits differ from Tessera's: relative error ${err.toExponential(2)}`);
          }
          log(`  ${name}: agrees with Tessera (relative error ${err.toExponential(2)})`);
        } catch (e) {
          const why = e instanceof Error ? e.message : String(e);
          row.notes.push(`${name} not timed: ${why.split("\n")[0]}`);
          log(`  ${name}: not timed: ${why}`);
          await runner.dispose();
          runners.delete(name);
        }
      }
      // A peer whose one run takes minutes keeps its checking run (jit
      // compile included, so an upper bound) as its only sample.
      const samples = new Map<string, number[]>();
      for (const name of runners.keys()) {
        const ms = checkMs.get(name)!;
        if (name !== "Tessera" && ms > slowMs) {
          samples.set(name, [ms]);
          row.notes.push(
            `${name}: one run (${(ms / 1000).toFixed(0)} s, jit compile included: an upper bound)`,
          );
          await runners.get(name)!.dispose();
          runners.delete(name);
        } else {
          samples.set(name, []);
        }
      }
      const slowest = Math.max(...[...runners.keys()].map((n) => checkMs.get(n)!));
      const reps = Math.max(minReps, Math.min(maxReps, Math.floor(budgetMs / slowest)));
      for (let r = 0; r < reps; r++) {
        for (const name of shuffled([...runners.keys()], order)) {
          const t = performance.now();
          await runners.get(name)!.run();
          samples.get(name)!.push(performance.now() - t);
        }
      }
      for (const [name, s] of samples) row.summaries.set(name, summarize(s));
      log(
        `  ${reps} reps: ` +
          [...row.summaries].map(([name, s]) => `${name} ${fmtSummary(s)} ms`).join(", "),
      );
      for (const runner of runners.values()) await runner.dispose();
      rows.push(row);
    }
    for (const impl of impls) await impl.dispose();
  }

  if (want("train")) {
    log(`\n== training step`);
    const c = TRAIN_CFG;
    const weights = makeWeights(c, options.seed + 2);
    const rand = mulberry32(options.seed + 3);
    const n = TRAIN_BATCH * c.contextLength;
    const ids = Int32Array.from({ length: n }, () => Math.floor(rand() * c.vocabSize));
    const targets = Int32Array.from({ length: n }, () => Math.floor(rand() * c.vocabSize));
    const row: GptRow = {
      id: "train",
      label: `training step (AdamW), ${c.nLayers} layers, emb ${c.embDim}, vocab ${c.vocabSize}, ` +
        `batch ${TRAIN_BATCH} x ${c.contextLength}`,
      tokens: n,
      summaries: new Map(),
      notes: [],
    };
    const trainers = new Map<string, Trainer>();
    trainers.set("Tessera", await tesseraTrainer(device, weights, ids, targets));
    try {
      trainers.set("jax-js", await jaxTrainer(weights, ids, targets));
    } catch (e) {
      row.notes.push(`jax-js could not run: ${e instanceof Error ? e.message : e}`);
    }
    // Losses of the first two steps must agree (the second checks the update).
    const losses = new Map<string, number[]>();
    for (const [name, t] of trainers) {
      try {
        losses.set(name, [await t.step(), await t.step()]);
      } catch (e) {
        const why = e instanceof Error ? e.message : String(e);
        row.notes.push(`${name} failed: ${why.split("\n")[0]}`);
        log(`  ${name}: failed: ${why}`);
        trainers.delete(name);
      }
    }
    const ref = losses.get("Tessera");
    for (const [name, l] of losses) {
      if (name === "Tessera" || !ref) continue;
      const err = Math.max(...l.map((x, i) => Math.abs(x - ref[i]) / Math.abs(ref[i])));
      log(
        `  ${name}: losses ${l.join(", ")} vs Tessera ${ref.join(", ")}: rel ${
          err.toExponential(2)
        }`,
      );
      if (!(err <= 1e-4)) {
        row.notes.push(`${name} not timed: loss differs from Tessera's by ${err.toExponential(2)}`);
        trainers.get(name)!.dispose();
        trainers.delete(name);
      } else {
        row.notes.push(`losses of steps 1-2 agree (relative ${err.toExponential(1)})`);
      }
    }
    const reps = options.quick ? 5 : 11;
    const samples = new Map([...trainers.keys()].map((name) => [name, [] as number[]]));
    for (let r = 0; r < reps; r++) {
      for (const name of shuffled([...trainers.keys()], order)) {
        const t = performance.now();
        await trainers.get(name)!.step();
        samples.get(name)!.push(performance.now() - t);
      }
    }
    for (const [name, s] of samples) row.summaries.set(name, summarize(s));
    log(
      `  ${reps} reps: ` +
        [...row.summaries].map(([name, s]) => `${name} ${fmtSummary(s)} ms`).join(", "),
    );
    for (const t of trainers.values()) t.dispose();
    rows.push(row);
  }

  const table = renderTable(rows, floorMs);
  const targets = checkTargets(rows, floorMs);
  const elapsed = (performance.now() - started) / 1000;
  log("\n" + table + "\n");
  for (const t of targets) log(t);
  for (const p of problems) log(`problem: ${p}`);
  const markdown = [
    `- model: GPT_CONFIG_124M with ${cfg.nLayers} of 12 layers (${cfg.embDim} features, ` +
    `${cfg.nHeads} heads, vocab ${cfg.vocabSize}), random f32 weights, batch 1, dropout off`,
    `- peers: @jax-js/jax 0.1.25 (\`jit\` of the whole forward, full recompute per decoded ` +
    `token), onnxruntime-web 1.30.0 (\`/webgpu\`; LayerNormalization, MatMul, ` +
    `com.microsoft MultiHeadAttention with past/present keys and values, com.microsoft FastGelu; ` +
    `weights in GPU buffers). Vocabulary matrices given to the peers as two halves (one ` +
    `storage binding holds at most 128 MiB here).`,
    `- decode floor: ${(weightBytes / 2 ** 20).toFixed(0)} MiB of weights read per token / ` +
    `${(bandwidth / 1e6).toFixed(2)} GB/s (median of a 128 MiB copyBufferToBuffer, submit to ` +
    `onSubmittedWorkDone) = ${fmtMs(floorMs)} ms/token`,
    `- load average (1/5/15 min) at start ${loadAtStart}, at end ${loadavg()}; ${
      elapsed.toFixed(0)
    } s`,
    "",
    "Median (min-max) of wall-clock ms per run, readback of the last position's logits included; " +
    "implementation order shuffled every repetition (seeded). Prefill and training also in " +
    "tokens/s (median). Every peer's logits were checked against Tessera's (relative error <= " +
    `${AGREEMENT}) before timing; training losses of two steps to 1e-4.`,
    "",
    table,
    "",
    ...targets.map((t) => `- ${t}`),
    ...problems.map((p) => `- problem: ${p}`),
  ].join("\n");
  return { markdown };
}

function renderTable(rows: readonly GptRow[], floorMs: number): string {
  const names = ["Tessera", ...PEER_NAMES];
  const head = [
    "case",
    ...names.map((n) => `${n} ms`),
    "Tessera tok/s",
    "fastest peer / Tessera",
    "notes",
  ];
  const lines = [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`];
  for (const r of rows) {
    const t = r.summaries.get("Tessera");
    const peers = PEER_NAMES.map((n) => r.summaries.get(n)).filter((s): s is Summary => !!s);
    const fastest = peers.length ? Math.min(...peers.map((s) => s.median)) : undefined;
    const rate = r.tokens && t
      ? (r.tokens / (t.median / 1000)).toFixed(r.tokens > 100 ? 0 : 1)
      : "-";
    const notes = [...r.notes];
    if (r.id.startsWith("decode") && t) {
      notes.push(`Tessera = ${(t.median / floorMs).toFixed(1)}x the floor`);
    }
    lines.push(
      `| ${r.label} | ${names.map((n) => fmtSummary(r.summaries.get(n))).join(" | ")} | ${rate} | ${
        fastest && t ? `${(fastest / t.median).toFixed(2)}x` : "-"
      } | ${notes.join("; ")} |`,
    );
  }
  return lines.join("\n");
}

function checkTargets(rows: readonly GptRow[], floorMs: number): string[] {
  const out: string[] = [];
  for (const id of ["prefill-128", "prefill-1024", "decode-1000"]) {
    const r = rows.find((x) => x.id === id);
    const t = r?.summaries.get("Tessera");
    if (!r || !t) continue;
    const peers = PEER_NAMES.map((n) => [n, r.summaries.get(n)] as const).filter(([, s]) => s);
    if (!peers.length) {
      out.push(`${r.label} >= 1.5x the fastest peer: no peer was timed`);
      continue;
    }
    const [name, s] = peers.reduce((a, b) => (b[1]!.median < a[1]!.median ? b : a));
    const x = s!.median / t.median;
    out.push(
      `${r.label} >= 1.5x the fastest peer: ${x >= 1.5 ? "MET" : "MISSED"} (${
        x.toFixed(2)
      }x ${name})`,
    );
  }
  const d = rows.find((x) => x.id === "decode-1000")?.summaries.get("Tessera");
  if (d) {
    const x = d.median / floorMs;
    out.push(
      `decode at ~1000 within 2x of the weight-read floor: ${x <= 2 ? "MET" : "MISSED"} ` +
        `(${fmtMs(d.median)} ms = ${x.toFixed(1)}x ${fmtMs(floorMs)} ms)`,
    );
  }
  return out;
}

if (import.meta.main) {
  const arg = (name: string) => {
    const i = Deno.args.findIndex((a) => a === name || a.startsWith(name + "="));
    if (i < 0) return undefined;
    const a = Deno.args[i];
    return a.includes("=") ? a.slice(a.indexOf("=") + 1) : Deno.args[i + 1];
  };
  const { webgpu } = await import("../mod.ts");
  const device = await webgpu();
  const result = await gptBench(device, {
    layers: Number(arg("--layers") ?? 12),
    quick: Deno.args.includes("--quick"),
    seed: Number(arg("--seed") ?? 1234),
    cases: arg("--cases")?.split(","),
  });
  console.log("\n" + result.markdown);
  Deno.exit(0);
}
