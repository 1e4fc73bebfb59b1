/**
 * onnxruntime-web as a peer of the model-scale benchmark
 * (scripts/bench_gpt.ts): the GPT-2 graph built programmatically
 * (LayerNormalization, MatMul, com.microsoft MultiHeadAttention with
 * past/present keys and values, com.microsoft FastGelu), weights fed as GPU
 * buffers on ORT's device.
 *
 * @module
 */

import { onnxModel, type OnnxNode, type OnnxValue } from "./bench_onnx.ts";
import {
  type Cfg,
  half,
  type HostArray,
  type Impl,
  rowsTransposed,
  splitIds,
  transposed,
  type Weights,
} from "./bench_gpt_common.ts";

// Built at run time so that `deno check` never needs the peer.
const ORT = ["npm:onnxruntime-web@1.30.0", "webgpu"].join("/");

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
  const ort = await import(ORT) as unknown as OrtApi;
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

/**
 * onnxruntime-web (`/webgpu`) running a hand-built ONNX graph of the GPT:
 * prefill, and decode with past/present keys and values.
 *
 * @example
 * ```ts ignore
 * import { ortImpl } from "./bench_gpt_ort.ts";
 * import { makeWeights } from "./bench_gpt_common.ts";
 * const c = { vocabSize: 64, contextLength: 8, embDim: 16, nHeads: 2, nLayers: 1 };
 * const impl = await ortImpl(c, makeWeights(c, 1));
 * ```
 */
export async function ortImpl(c: Cfg, w: Weights): Promise<Impl> {
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
