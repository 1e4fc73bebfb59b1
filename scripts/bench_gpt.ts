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
 *   Tessera steps its KV cache (`nn.gptModel.withCache` / `step`, filled by
 *   one prefill step), one step per run at positions P, P+1, ...
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
import {
  ADAMW,
  type Cfg,
  type Impl,
  type InferCase,
  makeWeights,
  type Runner,
  TRAIN_BATCH,
  TRAIN_CFG,
  type Trainer,
  type Weights,
} from "./bench_gpt_common.ts";
import { jaxImpl, jaxTrainer } from "./bench_gpt_jax.ts";
import { ortImpl } from "./bench_gpt_ort.ts";
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
    `${(bandwidth / 1e6).toFixed(2)} GB/s (bytes copied per second by a 128 MiB ` +
    `copyBufferToBuffer, submit to onSubmittedWorkDone, median; the copy also writes as many ` +
    `bytes) = ${fmtMs(floorMs)} ms/token. The KV cache read at position P adds ` +
    `${((2 * cfg.nLayers * cfg.embDim * 4) / 1024).toFixed(0)} ` +
    `KiB per cached token (${((2 * cfg.nLayers * cfg.embDim * 4 * 1000) / 2 ** 20).toFixed(0)} ` +
    `MiB at 1000), not counted in the floor.`,
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
