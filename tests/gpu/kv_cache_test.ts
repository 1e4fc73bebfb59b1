// The GPT's KV cache on webgpu: the decode attention and the cache writes
// against the CPU reference on awkward sizes (NaN included), cached logits
// equal uncached ones, generate gives the uncached tokens, toDevice moves
// the cache, and a decode step is one submit and one 4-byte read per row
// with no pipeline compile and no buffer allocation after the first token.

import assert from "node:assert/strict";
import {
  cpu,
  dispose,
  generate,
  Generator,
  gpuStats,
  manualSeed,
  nn,
  reshape,
  slice,
  stateDict,
  type Tensor,
  tensor,
  toDevice,
  type WebGpuDevice,
} from "../../mod.ts";
import { advancePosition, decodeAttention, writeKv } from "../../src/ops/kv_cache.ts";
import { selectTokens } from "../../src/ops/select_token.ts";
import { gpu, randomData, randomTensor } from "../helpers.ts";

function positionTensor(p: number): Tensor {
  return tensor([p], undefined, { dtype: "int32" });
}

/** NaN-aware closeness: NaN where expected NaN, else |a - b| <= atol + rtol |b|. */
function assertNear(
  actual: Float32Array,
  expected: Float32Array,
  what: string,
  rtol = 1e-5,
  atol = 1e-5,
) {
  assert.equal(actual.length, expected.length, what);
  for (let i = 0; i < actual.length; i++) {
    if (Number.isNaN(expected[i])) {
      assert.ok(Number.isNaN(actual[i]), `${what}: element ${i}: ${actual[i]}, expected NaN`);
      continue;
    }
    const bound = atol + rtol * Math.abs(expected[i]);
    if (!(Math.abs(actual[i] - expected[i]) <= bound)) {
      assert.fail(`${what}: element ${i}: ${actual[i]} vs ${expected[i]}`);
    }
  }
}

async function onGpu(device: WebGpuDevice, ...ts: Tensor[]): Promise<Tensor[]> {
  return await Promise.all(ts.map((t) => toDevice(t, device)));
}

Deno.test("kv cache on webgpu: decode attention equals the cpu reference on awkward sizes", async () => {
  const device = await gpu();
  const cases: [number, number, number, number][] = [
    // batch, heads, maxTokens, headDim
    [1, 1, 1, 1],
    [2, 3, 3, 3],
    [1, 2, 7, 8],
    [2, 1, 17, 17],
    [1, 2, 65, 64],
    [1, 1, 257, 5],
    [1, 2, 1100, 80],
    [1, 1, 300, 260], // more channel groups of 4 than lanes
  ];
  for (const [i, [batch, heads, maxTokens, headDim]] of cases.entries()) {
    const width = heads * headDim;
    const q = randomTensor([batch, 1, 3 * width], 100 + i);
    const k = randomTensor([batch, heads, maxTokens, headDim], 200 + i);
    const v = randomTensor([batch, heads, maxTokens, headDim], 300 + i);
    const maskData = randomData(maxTokens * maxTokens, 400 + i).map((x) => x > 1.5 ? 1 : 0);
    const mask = tensor(maskData, [maxTokens, maxTokens]);
    for (const pos of new Set([0, Math.floor(maxTokens / 2), maxTokens - 1])) {
      for (const m of [undefined, mask]) {
        const p = positionTensor(pos);
        const want = await decodeAttention(q, k, v, m, p, 0.37).data() as Float32Array;
        const [qg, kg, vg, pg, mg] = await onGpu(device, q, k, v, p, mask);
        const out = decodeAttention(qg, kg, vg, m ? mg : undefined, pg, 0.37);
        const got = await out.data() as Float32Array;
        // All keys masked: the cpu path gives NaN (as PyTorch), the kernel zeros (as the fused one).
        const expected = want.map((x) => Number.isNaN(x) ? 0 : x);
        assertNear(got, expected, `case ${i} pos ${pos} mask ${!!m}`);
        dispose([out, qg, kg, vg, pg, mg]);
      }
    }
  }
});

Deno.test("kv cache on webgpu: decode attention propagates NaN like PyTorch", async () => {
  const device = await gpu();
  const [batch, heads, maxTokens, headDim] = [1, 2, 70, 4];
  const q = randomData(batch * 3 * heads * headDim, 1);
  const k = randomData(batch * heads * maxTokens * headDim, 2);
  const v = randomData(batch * heads * maxTokens * headDim, 3);
  const pos = 66;
  k[(0 * maxTokens + 65) * headDim + 1] = NaN; // head 0, visible key 65: head 0 all NaN
  v[(1 * maxTokens + 3) * headDim + 2] = Infinity; // head 1, key 3: channel 2 non-finite
  v[(1 * maxTokens + 69) * headDim + 0] = NaN; // head 1, key 69 > pos: not read
  const [qg, kg, vg, pg] = await onGpu(
    device,
    tensor(q, [batch, 1, 3 * heads * headDim]),
    tensor(k, [batch, heads, maxTokens, headDim]),
    tensor(v, [batch, heads, maxTokens, headDim]),
    positionTensor(pos),
  );
  const out = decodeAttention(qg, kg, vg, undefined, pg, 0.5);
  const got = [...await out.data()];
  assert.ok(got.slice(0, 4).every(Number.isNaN), `head 0: ${got.slice(0, 4)}`);
  assert.ok(got.slice(4, 6).every(Number.isFinite), `head 1: ${got.slice(4)}`);
  assert.ok(!Number.isFinite(got[6]), `head 1 channel 2: ${got[6]}`);
  assert.ok(Number.isFinite(got[7]), `head 1 channel 3: ${got[7]}`);
  dispose([out, qg, kg, vg, pg]);
});

Deno.test("kv cache on webgpu: writeKv and the position equal the cpu path", async () => {
  const device = await gpu();
  for (
    const [batch, tokens, heads, headDim, maxTokens, base] of [
      [1, 1, 1, 1, 1, 0],
      [2, 3, 2, 3, 7, 4],
      [2, 65, 3, 17, 257, 100],
    ]
  ) {
    const width = heads * headDim;
    const src = randomTensor([batch, tokens, 3 * width], batch + tokens);
    const shape = [batch, heads, maxTokens, headDim];
    const k = randomTensor(shape, 5);
    const v = randomTensor(shape, 6);
    const p = positionTensor(base);
    const [sg, kg, vg, pg] = await onGpu(device, src, k, v, p);
    writeKv(src, width, 2 * width, p, k, v);
    writeKv(sg, width, 2 * width, pg, kg, vg);
    advancePosition(p, 1, tokens);
    advancePosition(pg, 1, tokens);
    assert.deepEqual(await kg.data(), await k.data());
    assert.deepEqual(await vg.data(), await v.data());
    assert.deepEqual([...await pg.data()], [base + tokens]);
    advancePosition(pg, 0, 0);
    assert.deepEqual([...await pg.data()], [0]);
    dispose([sg, kg, vg, pg]);
  }
});

const CONFIG: nn.GptConfig = {
  vocabSize: 61,
  contextLength: 12,
  embDim: 16,
  nHeads: 2,
  nLayers: 2,
  dropRate: 0.1,
  qkvBias: true,
};

function randomIds(batch: number, tokens: number, seed: number): Tensor {
  const g = new Generator(seed);
  const rows = Array.from(
    { length: batch },
    () => Array.from({ length: tokens }, () => Math.floor(g.nextFloat() * CONFIG.vocabSize)),
  );
  return tensor(rows, undefined, { dtype: "int32" });
}

Deno.test("kv cache on webgpu: cached logits equal the uncached ones at every position", async () => {
  const device = await gpu();
  manualSeed(7);
  const model = await toDevice(nn.gptModel.init(CONFIG), device);
  for (const batch of [1, 2]) {
    const all = await toDevice(randomIds(batch, 12, batch), device);
    const full = nn.gptModel.apply(model, all); // [b, 12, vocab]
    const want = await full.data() as Float32Array;
    full.dispose();
    let cached = nn.gptModel.withCache(model, { batch });
    for (const [start, end] of [[0, 5], [5, 6], [6, 7], [7, 12]]) {
      const chunk = slice(all, [0, batch], [start, end]);
      const step = nn.gptModel.step(cached, chunk);
      chunk.dispose();
      cached = step.model;
      const got = await step.logits.data() as Float32Array;
      step.logits.dispose();
      const t = end - 1;
      const expected = new Float32Array(batch * CONFIG.vocabSize);
      for (let b = 0; b < batch; b++) {
        const at = (b * 12 + t) * CONFIG.vocabSize;
        expected.set(want.subarray(at, at + CONFIG.vocabSize), b * CONFIG.vocabSize);
      }
      assertNear(got, expected, `batch ${batch} position ${t}`);
    }
    nn.gptModel.dropCache(cached);
    all.dispose();
  }
  dispose(model);
});

Deno.test("kv cache on webgpu: generate gives the uncached and the cpu tokens", async () => {
  const device = await gpu();
  const cases: [number, number, number, number | undefined][] = [
    // batch, prompt tokens, new tokens, temperature (undefined: greedy)
    [1, 1, 5, undefined],
    [2, 12, 4, undefined], // a whole-context prompt: every step past the context
    [2, 3, 14, 1.2], // past the context
    [1, 2, 6, 0.9],
  ];
  for (const [i, [batch, tokens, maxNewTokens, temperature]] of cases.entries()) {
    manualSeed(30 + i);
    const cpuModel = nn.gptModel.init(CONFIG);
    const model = await toDevice(cpuModel, device);
    const prompt = randomIds(batch, tokens, 40 + i);
    const promptGpu = await toDevice(prompt, device);
    const options = { maxNewTokens, temperature, topK: temperature ? 30 : undefined };
    const run = async (m: nn.GptModel, ids: Tensor, useCache: boolean) => {
      const out = await generate(m, ids, { ...options, generator: new Generator(5), useCache });
      const values = await out.toArray();
      out.dispose();
      return values;
    };
    const cached = await run(model, promptGpu, true);
    assert.deepEqual(cached, await run(model, promptGpu, false), `case ${i}: uncached`);
    assert.deepEqual(cached, await run(cpuModel, prompt, true), `case ${i}: cpu`);
    dispose([model, promptGpu]);
  }
});

Deno.test("kv cache on webgpu: toDevice moves the cache, stateDict leaves it out, reset equals fresh", async () => {
  const device = await gpu();
  manualSeed(11);
  const model = nn.gptModel.init(CONFIG);
  const prompt = randomIds(2, 4, 12);
  const first = nn.gptModel.step(nn.gptModel.withCache(model, { batch: 2 }), prompt);
  first.logits.dispose();
  const moved = await toDevice(first.model, device);
  assert.equal(moved.cache.position, 4);
  assert.equal(moved.buffers.trf_blocks[1].att.cache_v.device, device);
  assert.equal(moved.buffers.cache_position.device, device);
  assert.deepEqual([...stateDict(moved).keys()], [...stateDict(model).keys()]);
  const next = randomIds(2, 1, 13);
  const onCpu = nn.gptModel.step(first.model, next);
  const nextGpu = await toDevice(next, device);
  const onGpu = nn.gptModel.step(moved, nextGpu);
  assertNear(
    await onGpu.logits.data() as Float32Array,
    await onCpu.logits.data() as Float32Array,
    "moved cache",
  );
  // Reset: the same prompt again gives the logits of a fresh cache.
  const again = nn.gptModel.step(nn.gptModel.resetCache(onGpu.model), nextGpu);
  const fresh = nn.gptModel.step(
    nn.gptModel.withCache(await toDevice(model, device), { batch: 2 }),
    nextGpu,
  );
  assert.deepEqual(await again.logits.data(), await fresh.logits.data());
  dispose([onGpu.logits, again.logits, fresh.logits, nextGpu, fresh.model]);
  dispose(again.model);
});

Deno.test("kv cache on webgpu: a decode step is one submit and one 4-byte read per row, with no compile or allocation", async () => {
  const device = await gpu();
  manualSeed(21);
  const model = await toDevice(nn.gptModel.init({ ...CONFIG, contextLength: 40 }), device);
  for (const rows of [1, 2]) {
    const before = gpuStats(device).buffersInUse;
    let cached = nn.gptModel.withCache(model, { batch: rows });
    let ids = await toDevice(randomIds(rows, 3, rows), device);
    const perStep: Record<string, number>[] = [];
    let last = gpuStats(device);
    for (let step = 0; step < 30; step++) {
      const result = nn.gptModel.step(cached, ids);
      cached = result.model;
      ids.dispose();
      const draws = new Float32Array(rows).fill(0.5);
      const next = selectTokens("test", result.logits, { temperature: 1, draws });
      result.logits.dispose();
      const chosen = await next.data();
      assert.equal(chosen.byteLength, 4 * rows);
      ids = reshape(next, [rows, 1]);
      next.dispose();
      const now = gpuStats(device);
      perStep.push({
        submits: now.submits - last.submits,
        readbacks: now.readbacks - last.readbacks,
        pipelinesCompiled: now.pipelinesCompiled - last.pipelinesCompiled,
        buffersCreated: now.buffersCreated - last.buffersCreated,
        uniformBuffersCreated: now.uniformBuffersCreated - last.uniformBuffersCreated,
      });
      last = now;
    }
    // Step 0 is the prefill, step 1 the first decode (compiles, fills the pool).
    for (const [i, counts] of perStep.slice(2).entries()) {
      assert.deepEqual(counts, {
        submits: 1,
        readbacks: 1,
        pipelinesCompiled: 0,
        buffersCreated: 0,
        uniformBuffersCreated: 0,
      }, `rows ${rows}, step ${i + 2}`);
    }
    ids.dispose();
    nn.gptModel.dropCache(cached);
    assert.equal(gpuStats(device).buffersInUse, before, "leaked buffers");
  }
  dispose(model);
});

for (const dtype of ["float32", "float16"] as const) {
  Deno.test(`kv cache on webgpu: a warm ${dtype} generate compiles and allocates nothing, one read per token`, async () => {
    const device = await gpu();
    manualSeed(22);
    const model = await toDevice(nn.gptModel.init(CONFIG), device, { dtype });
    const ids = await toDevice(randomIds(2, 3, 23), device);
    const options = { maxNewTokens: 8, temperature: 1, topK: 20 };
    let streamed: number[][] = [];
    // Streaming (onToken) reuses each step's read of the chosen ids.
    const onToken = (next: Int32Array) => {
      streamed.push(Array.from(next));
    };
    const run = () => generate(model, ids, { ...options, generator: new Generator(1), onToken });
    const warm = await run(); // compiles the kernels and fills the pools
    const expected = (await warm.toArray()) as number[][];
    assert.deepEqual(streamed, streamed.map((_, i) => expected.map((r) => r[3 + i])));
    assert.equal(streamed.length, 8);
    streamed = [];
    warm.dispose(); // its buffer serves the next result
    const before = gpuStats(device);
    const out = await run();
    const after = gpuStats(device);
    assert.deepEqual(await out.toArray(), expected);
    assert.deepEqual({
      // One read of the prompt, then one of the chosen ids per token.
      readbacks: after.readbacks - before.readbacks,
      submits: after.submits - before.submits,
      pipelinesCompiled: after.pipelinesCompiled - before.pipelinesCompiled,
      buffersCreated: after.buffersCreated - before.buffersCreated,
    }, { readbacks: 9, submits: 9, pipelinesCompiled: 0, buffersCreated: 0 });
    assert.equal(streamed.length, 8);
    dispose([out, ids, model]);
  });
}

Deno.test("kv cache on webgpu: float16 decode attention and writes equal the cpu float16 path", async () => {
  const device = await gpu();
  const cases: [number, number, number, number][] = [
    // batch, heads, maxTokens, headDim
    [1, 1, 1, 1],
    [2, 3, 3, 3],
    [2, 1, 17, 17],
    [1, 2, 65, 64],
    [1, 1, 257, 7],
  ];
  const half = (t: Tensor) => toDevice(t, cpu, { dtype: "float16" });
  for (const [i, [batch, heads, maxTokens, headDim]] of cases.entries()) {
    const width = heads * headDim;
    const q = await half(randomTensor([batch, 1, 3 * width], 500 + i));
    const k = await half(randomTensor([batch, heads, maxTokens, headDim], 600 + i));
    const v = await half(randomTensor([batch, heads, maxTokens, headDim], 700 + i));
    const maskData = randomData(maxTokens * maxTokens, 800 + i).map((x) => x > 1.5 ? 1 : 0);
    const mask = await half(tensor(maskData, [maxTokens, maxTokens]));
    for (const pos of new Set([0, Math.floor(maxTokens / 2), maxTokens - 1])) {
      for (const m of [undefined, mask]) {
        const p = positionTensor(pos);
        const ref = decodeAttention(q, k, v, m, p, 0.37);
        assert.equal(ref.dtype, "float16");
        const want = await ref.data() as Float32Array;
        const [qg, kg, vg, pg, mg] = await onGpu(device, q, k, v, p, mask);
        const out = decodeAttention(qg, kg, vg, m ? mg : undefined, pg, 0.37);
        assert.equal(out.dtype, "float16");
        const got = await out.data() as Float32Array;
        const expected = want.map((x) => Number.isNaN(x) ? 0 : x);
        // Both round one float32 result to float16: at most one float16 ulp apart.
        assertNear(got, expected, `case ${i} pos ${pos} mask ${!!m}`, 1e-3, 1e-4);
        dispose([out, qg, kg, vg, pg, mg, ref]);
      }
    }
    // The cache write copies float16 bits exactly.
    const src = await half(randomTensor([batch, 2, 3 * width], 900 + i));
    const base = Math.max(0, maxTokens - 2);
    const p = positionTensor(base);
    const [sg, kg, vg, pg] = await onGpu(device, src, k, v, p);
    writeKv(src, width, 2 * width, p, k, v);
    writeKv(sg, width, 2 * width, pg, kg, vg);
    assert.deepEqual(await kg.data(), await k.data(), `case ${i} cache_k`);
    assert.deepEqual(await vg.data(), await v.data(), `case ${i} cache_v`);
    dispose([sg, kg, vg, pg]);
  }
  // NaN in a visible float16 key makes its head NaN, as in float32.
  const kData = randomData(1 * 1 * 70 * 4, 11);
  kData[65 * 4 + 1] = NaN;
  const [qg, kg, vg, pg] = await onGpu(
    device,
    await half(randomTensor([1, 1, 12], 12)),
    await half(tensor(kData, [1, 1, 70, 4])),
    await half(randomTensor([1, 1, 70, 4], 13)),
    positionTensor(66),
  );
  const out = decodeAttention(qg, kg, vg, undefined, pg, 0.5);
  assert.ok([...await out.data()].every(Number.isNaN));
  dispose([out, qg, kg, vg, pg]);
});

Deno.test("kv cache on webgpu: a float16 GPT generates its uncached and its cpu tokens", async () => {
  const device = await gpu();
  manualSeed(7);
  const config = { ...CONFIG, vocabSize: 97, contextLength: 16, embDim: 64, nHeads: 4 };
  const cpuModel = nn.gptModel.init(config);
  const m16 = await toDevice(cpuModel, device, { dtype: "float16" });
  const cpu16 = await toDevice(cpuModel, cpu, { dtype: "float16" });
  const m32 = await toDevice(cpuModel, device);
  const cached = nn.gptModel.withCache(m16, { batch: 2 });
  assert.equal(cached.buffers.trf_blocks[1].att.cache_v.dtype, "float16");
  nn.gptModel.dropCache(cached);
  const prompt = tensor([[1, 5, 9], [3, 3, 4]], undefined, { dtype: "int32" });
  const promptGpu = await toDevice(prompt, device);
  const run = async (m: nn.GptModel, ids: Tensor, useCache: boolean, sampling = {}) => {
    const out = await generate(m, ids, {
      maxNewTokens: 20, // past the context of 16: the cache is reset and refilled
      useCache,
      generator: new Generator(4),
      ...sampling,
    });
    const values = await out.toArray();
    out.dispose();
    return values;
  };
  const want = await run(m32, promptGpu, true);
  assert.deepEqual(await run(m16, promptGpu, true), want, "float16 cached");
  assert.deepEqual(await run(m16, promptGpu, false), want, "float16 uncached");
  assert.deepEqual(await run(cpu16, prompt, true), want, "cpu float16 cached");
  const sampling = { temperature: 1.1, topK: 20 };
  assert.deepEqual(
    await run(m16, promptGpu, true, sampling),
    await run(m16, promptGpu, false, sampling),
    "float16 sampling",
  );
  // Decode-step logits of the float16 cache stay close to the float32 model's.
  let c16 = nn.gptModel.withCache(m16, { batch: 2 });
  let c32 = nn.gptModel.withCache(m32, { batch: 2 });
  for (const [start, end] of [[0, 3], [3, 4], [4, 5]]) {
    const chunk = slice(promptGpu, [0, 2], [start, Math.min(end, 3)]);
    const next = end > 3
      ? await toDevice(tensor([[7], [8]], undefined, { dtype: "int32" }), device)
      : chunk;
    const s16 = nn.gptModel.step(c16, next);
    const s32 = nn.gptModel.step(c32, next);
    c16 = s16.model;
    c32 = s32.model;
    const [a, b] = [await s16.logits.data(), await s32.logits.data()] as Float32Array[];
    const scale = Math.max(...b.map(Math.abs));
    assertNear(a, b, `step to ${end}`, 0, 2e-2 * scale);
    dispose([s16.logits, s32.logits, chunk, next]);
  }
  nn.gptModel.dropCache(c16);
  nn.gptModel.dropCache(c32);
  dispose([m16, m32, promptGpu]);
});
