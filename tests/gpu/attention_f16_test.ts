// The float16 attention core on webgpu: the fused kernel and the one-pass
// mask + softmax of the unfused path read and write float16 storage with
// float32 math. Tolerance (documented in the terms): the f16 kernel
// equals the f32 kernel on the widened inputs, rounded once to f16, to within
// 1 f16 ulp; measured on every case below: 0 ulps (bit for bit), since both
// run the same f32 arithmetic and only the final store rounds.

import assert from "node:assert/strict";
import {
  cast,
  dispose,
  DTypeError,
  gpuStats,
  manualSeed,
  nn,
  type Tensor,
  tensor,
  toDevice,
} from "../../mod.ts";
import { attentionWeights, fusedAttention, fusedAttentionPacked } from "../../src/ops/attention.ts";
import { gpu, randomData } from "../helpers.ts";

/** A float16 webgpu tensor of seeded values in [-2, 2), optionally with poison at `bad`. */
async function half(shape: number[], seed: number, bad: [number, number][] = []): Promise<Tensor> {
  const data = randomData(shape.reduce((a, b) => a * b, 1), seed);
  for (const [i, value] of bad) data[i] = value;
  return await toDevice(tensor(data, shape), await gpu(), { dtype: "float16" });
}

/** How many f16 ulps apart two float16 values (given widened) are; NaN only matches NaN. */
function ulps(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b) ? 0 : Infinity;
  if (Object.is(a, b) || a === b) return 0;
  const order = (x: number): number => {
    const h = new Float32Array([x]);
    const f = new Uint32Array(h.buffer)[0];
    // Widened f16 values sit on the f16 grid: count in units of its spacing.
    const sign = f >>> 31;
    const exp = Math.max(((f >>> 23) & 0xff) - 127, -14);
    const steps = Math.abs(x) / 2 ** (exp - 10) + (exp + 14) * 1024;
    return sign ? -steps : steps;
  };
  return Math.abs(order(a) - order(b));
}

/** Runs `f16` natively and `f32` on the widened inputs, and compares after rounding to f16. */
async function compare(
  label: string,
  f16: () => Tensor,
  f32: (wide: (t: Tensor) => Tensor) => Tensor,
  inputs: Tensor[],
  dispatches = 1,
): Promise<void> {
  const device = await gpu();
  const widened = new Map(inputs.map((t) => [t, cast(t, "float32")]));
  const reference32 = f32((t) => widened.get(t)!);
  const reference = cast(reference32, "float16");
  const before = gpuStats(device).dispatches;
  const actual = f16();
  assert.equal(gpuStats(device).dispatches - before, dispatches, `${label}: no casts`);
  assert.equal(actual.dtype, "float16");
  assert.deepEqual(actual.shape, reference.shape);
  const [a, b] = [await actual.data(), await reference.data()] as Float32Array[];
  let worst = 0;
  let at = 0;
  for (let i = 0; i < b.length; i++) {
    const u = ulps(a[i], b[i]);
    if (u > worst) [worst, at] = [u, i];
  }
  assert.ok(worst <= 1, `${label}: ${worst} ulps at ${at}: f16 ${a[at]}, f32 rounded ${b[at]}`);
  dispose([actual, reference, reference32, ...widened.values()]);
}

Deno.test("attention f16: the fused core equals the f32 core on widened inputs, rounded (T 1..257, d 1..64, heads 1-4, masks)", async () => {
  const device = await gpu();
  const before = gpuStats(device).bytesInUse;
  const tokens = [1, 3, 7, 17, 65, 257];
  const sizes = [1, 3, 16, 64];
  let seed = 500;
  for (const [n, T] of tokens.entries()) {
    for (const d of [sizes[n % 4], sizes[(n + 1) % 4]]) {
      const heads = 1 + ((n + d) % 4);
      const batch = 1 + (n % 2);
      // A mask buffer (context T + 2) hiding extra keys; in f16 like a model's, or f32.
      const ctx = T + 2;
      const maskData = new Float32Array(ctx * ctx);
      for (let i = 0; i < ctx; i++) {
        for (let j = 0; j < ctx; j++) {
          maskData[i * ctx + j] = j > i || (i + 2 * j) % 5 === 1 ? 1 : 0;
        }
      }
      const mask32 = await toDevice(tensor(maskData, [ctx, ctx]), device);
      const mask16 = cast(mask32, "float16");
      const scale = 1 / Math.sqrt(d);
      for (const mask of [undefined, mask16, mask32]) {
        const label = `T=${T} d=${d} heads=${heads} batch=${batch} mask=${mask?.dtype}`;
        // Packed [q | k | v] rows, heads side by side, as the model's projection.
        const qkv = await half([batch, T, 3 * heads * d], seed++);
        await compare(
          `packed ${label}`,
          () => fusedAttentionPacked(qkv, d, mask, scale, heads),
          (w) => fusedAttentionPacked(w(qkv), d, mask && mask32, scale, heads),
          [qkv],
          // A float32 mask is rounded to the kernel's float16 first.
          mask === mask32 ? 2 : 1,
        );
        if (mask !== mask32) {
          const [q, k, v] = [0, 1, 2].map(() => half([batch, T, d], seed++));
          const qs = await Promise.all([q, k, v]);
          await compare(
            `separate ${label}`,
            () => fusedAttention(qs[0], qs[1], qs[2], mask, scale),
            (w) => fusedAttention(w(qs[0]), w(qs[1]), w(qs[2]), mask && mask32, scale),
            qs,
          );
          dispose(qs);
        }
        qkv.dispose();
      }
      dispose([mask16, mask32]);
    }
  }
  assert.equal(gpuStats(device).bytesInUse, before);
});

Deno.test("attention f16: NaN and infinities propagate like the f32 path (fused and unfused)", async () => {
  const device = await gpu();
  const [T, d] = [9, 8];
  // q row 2 NaN; k row 4 has +inf (rows >= 4 see an inf score); v row 6 has -inf in channel 3.
  const q = await half([1, T, d], 1, [[2 * d + 1, NaN]]);
  const k = await half([1, T, d], 2, [[4 * d + 5, Infinity]]);
  const v = await half([1, T, d], 3, [[6 * d + 3, -Infinity]]);
  const scale = 1 / Math.sqrt(d);
  await compare(
    "fused",
    () => fusedAttention(q, k, v, undefined, scale),
    (w) => fusedAttention(w(q), w(k), w(v), undefined, scale),
    [q, k, v],
  );
  const out = await fusedAttention(q, k, v, undefined, scale).data();
  assert.ok(out.slice(2 * d, 3 * d).every(Number.isNaN), "the NaN query's row");
  assert.ok(!Number.isFinite(out[3]), "a -inf value spoils its channel in every row");
  assert.ok(Number.isFinite(out[0]), "other channels of row 0 stay finite");
  // The unfused pass on scores holding NaN, +inf and -inf.
  const scores = await half([2, T, T], 4, [[3 * T + 1, NaN], [T * T + 5 * T + 2, Infinity], [
    T * T + 6 * T + 0,
    -Infinity,
  ]]);
  await compare(
    "weights",
    () => attentionWeights(scores, { causal: true }),
    (w) => attentionWeights(w(scores), { causal: true }),
    [scores],
  );
  dispose([q, k, v, scores]);
  void device;
});

Deno.test("attention f16: the one-pass weights (mask, softmax, dropout) equal the f32 pass, rounded", async () => {
  const device = await gpu();
  for (const T of [1, 3, 17, 65, 257]) {
    const scores = await half([2, T, T], T);
    const ctx = T + 1;
    const maskData = new Float32Array(ctx * ctx).map((_, i) =>
      (i % ctx) > Math.floor(i / ctx) || i % 7 === 3 ? 1 : 0
    );
    const mask32 = await toDevice(tensor(maskData, [ctx, ctx]), device);
    const mask = cast(mask32, "float16");
    for (
      const options of [
        { causal: true },
        { mask },
        { causal: true, dropout: { p: 0.25, seed: 77n } },
      ]
    ) {
      await compare(
        `T=${T} ${Object.keys(options)}`,
        () => attentionWeights(scores, options),
        (w) =>
          attentionWeights(w(scores), {
            ...options,
            mask: options.mask && mask32,
          }),
        [scores],
      );
    }
    dispose([scores, mask, mask32]);
  }
});

Deno.test("attention f16: the unfused core is three float16 passes close to the fused one", async () => {
  const device = await gpu();
  const [q, k, v] = await Promise.all([0, 1, 2].map((i) => half([2, 33, 12], 40 + i)));
  const fused = nn.causalAttention.core(q, k, v);
  const before = gpuStats(device).dispatches;
  const unfused = nn.causalAttention.core(q, k, v, { fused: false });
  assert.equal(gpuStats(device).dispatches - before, 3, "Q K^T, weights, @ V: no casts");
  assert.equal(unfused.dtype, "float16");
  // The unfused path rounds scores and weights to float16 between its passes.
  const [a, b] = [await unfused.data(), await fused.data()];
  const worst = Math.max(...a.map((x, i) => Math.abs(x - b[i])));
  assert.ok(worst <= 1e-2, `max |unfused - fused| = ${worst}`);
  dispose([q, k, v, fused, unfused]);
});

Deno.test("attention f16: mixed float16 and float32 queries, keys, values are a DTypeError", async () => {
  const device = await gpu();
  const q = await half([1, 4, 4], 1);
  const k = await toDevice(tensor(randomData(16, 2), [1, 4, 4]), device);
  const before = gpuStats(device).buffersInUse;
  assert.throws(
    () => nn.causalAttention.core(q, k, q),
    (e) =>
      e instanceof DTypeError &&
      /queries has dtype float16 but keys has dtype float32/.test(e.message),
  );
  assert.equal(gpuStats(device).buffersInUse, before);
  dispose([q, k]);
});

Deno.test("attention f16: a small GPT forward in f16 runs the native core and stays close to f32", async () => {
  const device = await gpu();
  manualSeed(15);
  const config = {
    vocabSize: 101,
    contextLength: 24,
    embDim: 48,
    nHeads: 3,
    nLayers: 2,
    dropRate: 0,
    qkvBias: false,
  };
  const model = nn.gptModel.init(config);
  const m32 = await toDevice(model, device);
  const m16 = await toDevice(model, device, { dtype: "float16" });
  dispose(model);
  const ids = await toDevice(
    tensor([[5, 9, 33, 2, 7, 100, 0, 1, 64, 12, 3, 3, 3, 80, 81, 82, 90]], undefined, {
      dtype: "int32",
    }),
    device,
  );
  const y32 = nn.gptModel.apply(m32, ids); // [1, 17, 101]
  const at = gpuStats(device).dispatches;
  const y16 = nn.gptModel.apply(m16, ids);
  const dispatches16 = gpuStats(device).dispatches - at;
  const at32 = gpuStats(device).dispatches;
  nn.gptModel.apply(m32, ids).dispose();
  const dispatches32 = gpuStats(device).dispatches - at32;
  // No casts around the attention core (it took 3 more per layer: q|k|v in,
  // the mask in, the context out). What remains is stack()'s float16 path for
  // the packed projection weights (widen 3, narrow 1: src/ops/layout.ts).
  assert.ok(
    dispatches16 <= dispatches32 + 4 * config.nLayers,
    `f16 forward: ${dispatches16} dispatches, f32: ${dispatches32}`,
  );
  assert.equal(y16.dtype, "float16");
  const [a, b] = [await y16.data(), await y32.data()];
  const scale = Math.max(...b.map(Math.abs));
  const worst = Math.max(...a.map((v, i) => Math.abs(v - b[i])));
  assert.ok(worst <= 2e-2 * scale, `max |f16 - f32| = ${worst}, max |logit| = ${scale}`);
  dispose([m16, m32, ids, y16, y32]);
});
