/**
 * The cpu device's WebAssembly row kernels (src/cpu/rows.ts) against the
 * TypeScript reference, in one process: medians of interleaved rounds.
 *
 *   deno run -A --no-lock scripts/bench_rows.ts [--reps=15] [--threads=1]
 *
 * Op-level rows time the public op on each backend (tensor in, tensor out);
 * "kernel table" rows call the op's kernel table on each backend; softmax
 * backward (no table yet) times the src/cpu/rows.ts function against the
 * reference rule's ops. The attention core runs on the wasm
 * backend with the softmax entry unregistered ("before") and registered.
 *
 * @module
 */

import {
  crossEntropy,
  gelu,
  logSoftmax,
  mul,
  nn,
  scale,
  setCpuBackend,
  setCpuThreads,
  softmax,
  sub,
  sum,
  type Tensor,
  tensor,
  valueAndGrad,
} from "../mod.ts";
import { softmaxKernels } from "../src/ops/softmax.ts";
import { unaryGradKernel } from "../src/ops/unary_kernels.ts";
import { layerNormBackwardKernels } from "../src/ops/layer_norm.ts";
import { wasmSoftmaxBackwardRows } from "../src/cpu/rows.ts";
import { fmtMs, mulberry32, summarize } from "./bench_stats.ts";

const args = Object.fromEntries(
  Deno.args.map((a) => a.replace(/^--/, "").split("=")).map(([k, v]) => [k, v ?? "1"]),
);
const REPS = Number(args.reps ?? 15);
setCpuThreads(Number(args.threads ?? 1));

const rand = mulberry32(7);
const data = (n: number, m = 4) => new Float32Array(n).map(() => (rand() * 2 - 1) * m);

/** Median ms of each function, rounds interleaved. */
async function race(fns: Record<string, () => Promise<unknown> | unknown>): Promise<number[]> {
  const names = Object.keys(fns);
  for (const n of names) await fns[n](); // warm-up
  const samples: number[][] = names.map(() => []);
  for (let r = 0; r < REPS; r++) {
    for (let i = 0; i < names.length; i++) {
      const t0 = performance.now();
      await fns[names[i]]();
      samples[i].push(performance.now() - t0);
    }
  }
  return samples.map((s) => summarize(s).median);
}

/** Reads a tensor's values and frees it (so a timing includes the work). */
async function done(t: Tensor): Promise<void> {
  await t.data();
  t.dispose();
}

const on = (backend: "wasm" | "reference", f: () => Tensor) => async () => {
  setCpuBackend(backend);
  await done(f());
};

const rows: string[][] = [];
function report(label: string, ref: number, fast: number): void {
  rows.push([label, fmtMs(ref), fmtMs(fast), (ref / fast).toFixed(1) + "x"]);
  console.log(`${label}: reference ${fmtMs(ref)} ms, wasm ${fmtMs(fast)} ms`);
}

// Attention-shaped softmax: B=4 heads-batch, T=256 rows of 256 scores.
const scores = tensor(data(4 * 256 * 256), [4, 256, 256]);
for (const [name, f] of [["softmax", softmax], ["logSoftmax", logSoftmax]] as const) {
  const [r, w] = await race({
    r: on("reference", () => f(scores, { scale: 0.125 })),
    w: on("wasm", () => f(scores, { scale: 0.125 })),
  });
  report(`${name} [4, 256, 256] (op)`, r, w);
}

// GPT-2 feed-forward activations: [256, 3072].
const act = tensor(data(256 * 3072), [256, 3072]);
const gAct = tensor(data(256 * 3072, 1), [256, 3072]);
{
  const [r, w] = await race({
    r: on("reference", () => gelu(act, { approximate: "tanh" })),
    w: on("wasm", () => gelu(act, { approximate: "tanh" })),
  });
  report("gelu tanh [256, 3072] (op)", r, w);
  const [rb, wb] = await race({
    r: on("reference", () => unaryGradKernel("gelu", "geluTanh", act, gAct)),
    w: on("wasm", () => unaryGradKernel("gelu", "geluTanh", act, gAct)),
  });
  report("gelu tanh backward [256, 3072] (kernel table)", rb, wb);
}

// Softmax backward: the reference rule's ops vs the row kernel.
{
  setCpuBackend("reference");
  const y = softmax(scores, { scale: 0.125 });
  const g = tensor(data(y.size, 1), y.shape);
  const yv = new Float32Array(await y.data());
  const gv = new Float32Array(await g.data());
  const out = new Float32Array(yv.length);
  const [r, w] = await race({
    r: () => {
      setCpuBackend("reference");
      const gy = mul(g, y);
      const dot = sum(gy, [-1], { keepDim: true });
      const centred = sub(g, dot);
      const prod = mul(y, centred);
      const dx = scale(prod, 0.125);
      for (const t of [gy, dot, centred, prod]) t.dispose();
      return done(dx);
    },
    w: () => {
      setCpuBackend("wasm");
      if (!wasmSoftmaxBackwardRows(yv, gv, out, 1024, 256, 0.125, false)) {
        throw new Error("declined");
      }
    },
  });
  report("softmax backward [4, 256, 256] (reference ops vs kernel)", r, w);
}

// Cross-entropy over GPT-2's vocabulary: 32 rows of 50257 logits.
{
  const N = 32, C = 50257;
  const logits = tensor(data(N * C), [N, C]);
  const targets = tensor(new Int32Array(N).map((_, i) => (i * 977) % C), [N]);
  const [r, w] = await race({
    r: on("reference", () => crossEntropy(logits, targets)),
    w: on("wasm", () => crossEntropy(logits, targets)),
  });
  report(`crossEntropy forward [${N}, ${C}] (op)`, r, w);
  const both = (backend: "wasm" | "reference") => async () => {
    setCpuBackend(backend);
    const { value, grads } = valueAndGrad((p: Tensor) => crossEntropy(p, targets))(logits);
    value.dispose();
    await done(grads);
  };
  const [rb, wb] = await race({ r: both("reference"), w: both("wasm") });
  report(`crossEntropy forward+backward [${N}, ${C}] (valueAndGrad)`, rb, wb);
}

// Layer norm backward, GPT-2 width: [1024, 768] (the kernel table entry).
{
  const x = tensor(data(1024 * 768), [1024, 768]);
  const w = tensor(data(768, 1), [768]);
  const g = tensor(data(1024 * 768, 1), [1024, 768]);
  const run = (backend: "wasm" | "reference") => async () => {
    setCpuBackend(backend);
    const [dx, gx] = layerNormBackwardKernels.for(x)(x, w, g, 1e-5);
    gx.dispose();
    await done(dx);
  };
  const [r, wm] = await race({ r: run("reference"), w: run("wasm") });
  report("layerNorm backward [1024, 768] (kernel table)", r, wm);
}

// The attention core on the wasm backend, softmax entry off ("before") and on.
{
  const [q, k, v] = [0, 1, 2].map(() => tensor(data(4 * 256 * 64, 1), [4, 256, 64]));
  const entry = softmaxKernels.lookup("wasm", "float32")!;
  const [before, after] = await race({
    before: async () => {
      softmaxKernels.unregister("wasm", "any");
      try {
        await on("wasm", () => nn.causalAttention.core(q, k, v))();
      } finally {
        softmaxKernels.register("wasm", "any", entry);
      }
    },
    after: on("wasm", () => nn.causalAttention.core(q, k, v)),
  });
  report(
    "nn.causalAttention.core B=4 T=256 d=64 (wasm backend, softmax entry off vs on)",
    before,
    after,
  );
}

console.log(`\nmedians of ${REPS} interleaved rounds, ms; ${navigator.hardwareConcurrency} cores`);
console.log("| case | reference | wasm | ratio |\n|---|---|---|---|");
for (const r of rows) console.log(`| ${r.join(" | ")} |`);
