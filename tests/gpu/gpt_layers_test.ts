// Per-layer checks of the GPT layers: layerNorm (cpu against a float64
// reference, webgpu against cpu, finite-difference backward), multi-head
// attention (fused and unfused webgpu against cpu for 1-4 heads and head
// sizes 1, 3, 16, 64), NaN propagation like PyTorch's on every path,
// validation errors, and freed intermediates.

import assert from "node:assert/strict";
import {
  ArgumentError,
  assertClose,
  DeviceMismatchError,
  dispose,
  DTypeError,
  gpuStats,
  layerNorm,
  manualSeed,
  mul,
  nn,
  ShapeError,
  sum,
  type Tensor,
  tensor,
  toDevice,
  valueAndGrad,
} from "../../mod.ts";
import { gpu, randomData, randomTensor } from "../helpers.ts";

const f32 = async (t: Tensor): Promise<Float32Array> => (await t.data()) as Float32Array;

/** The book's LayerNorm in float64. */
function referenceLayerNorm(
  x: Float32Array,
  scale: Float32Array,
  shift: Float32Array,
): Float64Array {
  const d = scale.length;
  const out = new Float64Array(x.length);
  for (let base = 0; base < x.length; base += d) {
    let mean = 0;
    for (let j = 0; j < d; j++) mean += x[base + j] / d;
    let variance = 0;
    for (let j = 0; j < d; j++) variance += (x[base + j] - mean) ** 2 / d;
    for (let j = 0; j < d; j++) {
      out[base + j] = scale[j] * (x[base + j] - mean) / Math.sqrt(variance + 1e-5) + shift[j];
    }
  }
  return out;
}

for (const d of [1, 3, 7, 768, 1025]) {
  Deno.test(`layerNorm D=${d}: cpu equals the float64 book formula, webgpu equals cpu`, async () => {
    const device = await gpu();
    const x = randomTensor([3, 5, d], d);
    const scale = randomTensor([d], d + 1);
    const shift = randomTensor([d], d + 2);
    const y = layerNorm(x, scale, shift);
    const expected = referenceLayerNorm(await f32(x), await f32(scale), await f32(shift));
    await assertClose(y, Float32Array.from(expected), { rtol: 1e-5, atol: 1e-5 });
    const [xg, sg, bg] = await Promise.all([x, scale, shift].map((t) => toDevice(t, device)));
    await assertClose(layerNorm(xg, sg, bg), y, { rtol: 1e-5, atol: 1e-5 });
    dispose([xg, sg, bg]);
  });
}

Deno.test("layerNorm: a NaN or infinity in a row makes that row NaN and only that row, on both devices", async () => {
  const device = await gpu();
  const d = 70;
  const data = randomData(4 * d, 9);
  data[d + 5] = NaN;
  data[3 * d + 69] = Infinity;
  const x = tensor(data, [4, d]);
  const scale = randomTensor([d], 1);
  const shift = randomTensor([d], 2);
  for (
    const y of [
      layerNorm(x, scale, shift),
      layerNorm(
        await toDevice(x, device),
        await toDevice(scale, device),
        await toDevice(shift, device),
      ),
    ]
  ) {
    const v = await f32(y);
    for (let r = 0; r < 4; r++) {
      const row = [...v.subarray(r * d, r * d + d)];
      if (r === 1 || r === 3) assert.ok(row.every(Number.isNaN), `${y.device.name} row ${r}`);
      else assert.ok(row.every(Number.isFinite), `${y.device.name} row ${r}`);
    }
  }
});

Deno.test("layerNorm backward on cpu matches finite differences; webgpu's equals cpu's", async () => {
  const d = 7;
  const x = randomTensor([2, 3, d], 31);
  const params = { x, scale: randomTensor([d], 32), shift: randomTensor([d], 33) };
  const weights = randomTensor([2, 3, d], 34);
  const loss = (p: typeof params, w: Tensor) => sum(mul(layerNorm(p.x, p.scale, p.shift), w));
  const { grads } = valueAndGrad(loss)(params, weights);
  // Central differences in float64 on the book's formula.
  const w = await f32(weights);
  const lossOf = (xs: Float32Array, sc: Float32Array, sh: Float32Array) =>
    referenceLayerNorm(xs, sc, sh).reduce((acc, v, i) => acc + v * w[i], 0);
  const base = {
    x: await f32(params.x),
    scale: await f32(params.scale),
    shift: await f32(params.shift),
  };
  for (const name of ["x", "scale", "shift"] as const) {
    const analytic = await f32(grads[name]);
    const h = 1e-3;
    for (let i = 0; i < analytic.length; i++) {
      const plus = { ...base, [name]: Float32Array.from(base[name]) };
      const minus = { ...base, [name]: Float32Array.from(base[name]) };
      plus[name][i] += h;
      minus[name][i] -= h;
      const numeric = (lossOf(plus.x, plus.scale, plus.shift) -
        lossOf(minus.x, minus.scale, minus.shift)) / (2 * h);
      assert.ok(
        Math.abs(numeric - analytic[i]) <= 2e-3 * Math.max(1, Math.abs(numeric)),
        `d loss / d ${name}[${i}]: analytic ${analytic[i]}, numeric ${numeric}`,
      );
    }
  }
  const device = await gpu();
  const onGpu = await toDevice(params, device);
  const wg = await toDevice(weights, device);
  const gpuGrads = valueAndGrad(loss)(onGpu, wg).grads;
  for (const name of ["x", "scale", "shift"] as const) {
    await assertClose(gpuGrads[name], grads[name], { rtol: 1e-4, atol: 1e-5 });
  }
  dispose([onGpu, wg, gpuGrads]);
});

Deno.test("layerNorm rejects a scale of the wrong size, and nn.layerNorm names the features", () => {
  assert.throws(
    () => layerNorm(randomTensor([2, 4], 1), randomTensor([3], 2), randomTensor([4], 3)),
    ShapeError,
  );
  const norm = nn.layerNorm.init({ embDim: 4 });
  assert.throws(
    () => nn.layerNorm.apply(norm, randomTensor([2, 5], 1)),
    {
      name: "ShapeError",
      message: "layerNorm.apply: x has shape [2, 5], but the layer normalises 4 features",
    },
  );
  assert.throws(() => nn.layerNorm.init({ embDim: 0 }), ArgumentError);
});

// [heads, head size, tokens, dIn]
const ATTENTION_CASES = [
  [1, 64, 17, 9],
  [2, 3, 7, 5],
  [3, 16, 65, 12],
  [4, 1, 1, 3],
  [2, 64, 9, 16],
  [4, 3, 33, 6],
] as const;

for (const [heads, headSize, tokens, dIn] of ATTENTION_CASES) {
  Deno.test(`multiHeadAttention ${heads} heads of ${headSize}, T=${tokens}: fused and unfused webgpu equal cpu`, async () => {
    const device = await gpu();
    manualSeed(heads * 100 + headSize);
    const m = nn.multiHeadAttention.init({
      dIn,
      dOut: heads * headSize,
      contextLength: tokens + 2,
      dropout: 0.1,
      numHeads: heads,
      qkvBias: heads % 2 === 0,
    });
    const x = randomTensor([2, tokens, dIn], tokens);
    const expected = nn.multiHeadAttention.apply(m, x);
    assert.deepEqual(expected.shape, [2, tokens, heads * headSize]);
    const mg = await toDevice(m, device);
    const xg = await toDevice(x, device);
    const before = gpuStats(device).dispatches;
    const fused = nn.multiHeadAttention.apply(mg, xg);
    // Stacked weights (3 copies, or 6 with biases), one projection, the core, out_proj.
    assert.ok(gpuStats(device).dispatches - before <= 9);
    await assertClose(fused, expected, { rtol: 2e-5, atol: 2e-6 });
    await assertClose(nn.multiHeadAttention.apply(mg, xg, { fused: false }), expected, {
      rtol: 2e-5,
      atol: 2e-6,
    });
    dispose([mg, xg]);
  });
}

/** Indices of NaN entries. */
async function nanPattern(t: Tensor): Promise<number[]> {
  const out: number[] = [];
  (await f32(t)).forEach((v, i) => Number.isNaN(v) && out.push(i));
  return out;
}

Deno.test("attention core: a NaN in a query, key or value gives PyTorch's NaN pattern on cpu and fused webgpu", async () => {
  const device = await gpu();
  const [b, t, d] = [2, 13, 8];
  for (const which of [0, 1, 2]) {
    for (const token of [0, 5, 12]) {
      const qkv = [0, 1, 2].map((k) => randomData(b * t * d, 40 + k));
      qkv[which][(1 * t + token) * d + 3] = NaN;
      const [q, k, v] = qkv.map((a) => tensor(a, [b, t, d]));
      const cpuOut = nn.causalAttention.core(q, k, v);
      const [qg, kg, vg] = await Promise.all([q, k, v].map((x) => toDevice(x, device)));
      const gpuOut = nn.causalAttention.core(qg, kg, vg);
      const expected = await nanPattern(cpuOut);
      assert.ok(expected.length > 0);
      // PyTorch: a NaN query spoils its row; a NaN key every row that sees it;
      // a NaN value channel 3 of every row (masked weights are 0, and 0 * NaN is NaN).
      const rowsHit = which === 0 ? 1 : which === 1 ? t - token : t;
      assert.equal(expected.length, which === 2 ? rowsHit : rowsHit * d, `case ${which}/${token}`);
      assert.deepEqual(await nanPattern(gpuOut), expected, `fused, case ${which}/${token}`);
      dispose([qg, kg, vg]);
    }
  }
});

Deno.test("a NaN in W_query or in the input gives NaN out on every path (cpu, fused, unfused)", async () => {
  const device = await gpu();
  for (const where of ["weight", "input"] as const) {
    manualSeed(5);
    const m = nn.multiHeadAttention.init({
      dIn: 6,
      dOut: 8,
      contextLength: 9,
      dropout: 0,
      numHeads: 2,
    });
    const data = randomData(2 * 9 * 6, 3);
    if (where === "input") data[(9 + 4) * 6 + 2] = NaN;
    const x = tensor(data, [2, 9, 6]);
    let module = m;
    if (where === "weight") {
      const w = (await f32(m.params.W_query.weight)).slice();
      w[5] = NaN;
      module = { ...m, params: { ...m.params, W_query: { weight: tensor(w, [8, 6]) } } };
    }
    const cpuOut = nn.multiHeadAttention.apply(module, x);
    const expected = await nanPattern(cpuOut);
    // A NaN weight spoils every score; a NaN input token every row of its batch entry.
    assert.equal(expected.length, where === "weight" ? 2 * 9 * 8 : 9 * 8, where);
    const mg = await toDevice(module, device);
    const xg = await toDevice(x, device);
    assert.deepEqual(await nanPattern(nn.multiHeadAttention.apply(mg, xg)), expected);
    assert.deepEqual(
      await nanPattern(nn.multiHeadAttention.apply(mg, xg, { fused: false })),
      expected,
    );
    // The single-head layer's fused path too (issue 10).
    const single = nn.causalAttention.init({ dIn: 6, dOut: 4, contextLength: 9, dropout: 0 });
    const w = (await f32(single.params.W_query.weight)).slice();
    w[1] = NaN;
    const bad = { ...single, params: { ...single.params, W_query: { weight: tensor(w, [4, 6]) } } };
    const out = nn.causalAttention.apply(await toDevice(bad, device), xg);
    assert.ok((await f32(out)).every(Number.isNaN));
    dispose([mg, xg]);
  }
});

Deno.test("attention core: a fully masked row gives zeros on cpu and fused webgpu (the documented difference)", async () => {
  const device = await gpu();
  const [b, t, d] = [1, 5, 4];
  const mask = new Float32Array(t * t);
  for (let i = 0; i < t; i++) for (let j = i + 1; j < t; j++) mask[i * t + j] = 1;
  mask[2 * t + 0] = mask[2 * t + 1] = mask[2 * t + 2] = 1; // row 2 sees nothing
  const [q, k, v] = [1, 2, 3].map((s) => randomTensor([b, t, d], s));
  const m = tensor(mask, [t, t]);
  const cpuOut = await f32(nn.causalAttention.core(q, k, v, { mask: m }));
  const g = await Promise.all([q, k, v, m].map((x) => toDevice(x, device)));
  const gpuOut = await f32(nn.causalAttention.core(g[0], g[1], g[2], { mask: g[3] }));
  for (const out of [cpuOut, gpuOut]) {
    assert.deepEqual([...out.subarray(2 * d, 3 * d)], [0, 0, 0, 0]);
    assert.ok(out.every(Number.isFinite));
  }
  await assertClose(gpuOut, cpuOut, { rtol: 2e-5, atol: 2e-6 });
  dispose(g);
});

Deno.test("GPT layers validate configs and inputs with clear errors", async () => {
  assert.throws(
    () =>
      nn.multiHeadAttention.init({ dIn: 4, dOut: 6, contextLength: 4, dropout: 0, numHeads: 4 }),
    {
      name: "ArgumentError",
      message: "multiHeadAttention.init: config.dOut (6) must be divisible by config.numHeads (4)",
    },
  );
  const cfg = {
    vocabSize: 11,
    contextLength: 4,
    embDim: 6,
    nHeads: 2,
    nLayers: 1,
    dropRate: 0,
    qkvBias: false,
  };
  assert.throws(() => nn.gptModel.init({ ...cfg, nHeads: 4 }), ArgumentError);
  assert.throws(() => nn.gptModel.init({ ...cfg, dropRate: 1 }), ArgumentError);
  const model = nn.gptModel.init(cfg);
  assert.throws(() => nn.gptModel.apply(model, tensor([[1, 2]])), DTypeError);
  assert.throws(
    () =>
      nn.gptModel.apply(
        model,
        tensor([[1, 2]], undefined, { dtype: "int32" }),
        null as unknown as nn.GptApplyOptions,
      ),
    { name: "ArgumentError", message: "gptModel.apply: options must be an object, but got null" },
  );
  assert.throws(
    () => nn.gptModel.apply(model, tensor([[1, 2, 3, 4, 5]], undefined, { dtype: "int32" })),
    {
      name: "ShapeError",
      message: "gptModel.apply: ids has 5 tokens, but the model's context length is 4; " +
        "keep the last 4 (the book's idx[:, -context_size:])",
    },
  );
  assert.throws(
    () => nn.gptModel.apply(model, tensor([1, 2], undefined, { dtype: "int32" })),
    ShapeError,
  );
  const device = await gpu();
  const onGpu = await toDevice(model, device);
  assert.throws(
    () => nn.gptModel.apply(onGpu, tensor([[1, 2]], undefined, { dtype: "int32" })),
    DeviceMismatchError,
  );
  dispose(onGpu);
});

Deno.test("gptModel.apply frees every intermediate on webgpu, training or not", async () => {
  const device = await gpu();
  manualSeed(1);
  const model = await toDevice(
    nn.gptModel.init({
      vocabSize: 23,
      contextLength: 8,
      embDim: 8,
      nHeads: 2,
      nLayers: 2,
      dropRate: 0.2,
      qkvBias: true,
    }),
    device,
  );
  const ids = await toDevice(
    tensor([[1, 5, 22, 3], [0, 0, 7, 9]], undefined, { dtype: "int32" }),
    device,
  );
  for (const training of [false, true]) {
    const before = gpuStats(device).buffersInUse;
    const logits = nn.gptModel.apply(model, ids, { training });
    assert.equal(gpuStats(device).buffersInUse - before, 1, `training: ${training}`);
    assert.ok((await f32(logits)).every(Number.isFinite));
    logits.dispose();
  }
  dispose([model, ids]);
});
