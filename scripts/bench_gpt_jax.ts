/**
 * jax-js as a peer of the model-scale benchmark (scripts/bench_gpt.ts): the
 * GPT-2 forward written with jax-js's numpy and nn, traced by `jit`, and the
 * training step with `valueAndGrad`.
 *
 * @module
 */

import {
  ADAMW,
  type Cfg,
  half,
  type HostArray,
  type Impl,
  rowsTransposed,
  splitIds,
  TRAIN_BATCH,
  TRAIN_CFG,
  type Trainer,
  transposed,
  type Weights,
} from "./bench_gpt_common.ts";

/** The part of jax-js 0.1.25's array the benchmarks use. */
export interface JaxArray {
  readonly ref: JaxArray;
  readonly shape: number[];
  data(): Promise<ArrayLike<number>>;
  dispose(): void;
  reshape(shape: number[]): JaxArray;
}
type Fn = (...args: never[]) => unknown;
/** The part of jax-js 0.1.25's API the benchmarks use. */
export interface JaxApi {
  init(...devices: string[]): Promise<string[]>;
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

// Built at run time so that `deno check` never needs the peer.
const JAX = ["npm:@jax-js", "jax@0.1.25"].join("/");

async function loadJax(device = "webgpu"): Promise<JaxApi> {
  const jax = await import(JAX) as unknown as JaxApi;
  // The CPU bench asks for its backend alone, so that no WebGPU adapter starts.
  const devices = await jax.init(...(device === "webgpu" ? [] : [device]));
  if (!devices.includes(device)) {
    throw new Error(`no ${device} device (have ${devices.join(", ")})`);
  }
  jax.defaultDevice(device);
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

/**
 * jax-js running the GPT forward under `jit` on `device` ("webgpu" for the
 * GPU bench, "wasm" or "cpu" for scripts/bench_cpu.ts, which sets the
 * default device before each setup and run): prefill, and decode by
 * recomputing every token (jax-js has no KV-cache layer).
 *
 * @example
 * ```ts ignore
 * import { jaxImpl } from "./bench_gpt_jax.ts";
 * import { makeWeights } from "./bench_gpt_common.ts";
 * const c = { vocabSize: 64, contextLength: 8, embDim: 16, nHeads: 2, nLayers: 1 };
 * const impl = await jaxImpl(c, makeWeights(c, 1));
 * ```
 */
export async function jaxImpl(c: Cfg, w: Weights, device = "webgpu"): Promise<Impl> {
  const jax = await loadJax(device);
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

/**
 * The training step in jax-js: `jit(valueAndGrad(loss))` and a jitted AdamW
 * update per parameter, from the same weights as Tessera's.
 *
 * @example
 * ```ts ignore
 * import { jaxTrainer } from "./bench_gpt_jax.ts";
 * import { makeWeights, TRAIN_CFG } from "./bench_gpt_common.ts";
 * const ids = new Int32Array(4 * 64);
 * const t = await jaxTrainer(makeWeights(TRAIN_CFG, 1), ids, ids);
 * console.log(await t.step());
 * ```
 */
export async function jaxTrainer(
  w: Weights,
  ids: Int32Array,
  targets: Int32Array,
): Promise<Trainer> {
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
