// The GPT's KV cache on cpu: cached steps give the uncached logits at the
// same positions, generate gives the same tokens with and without the cache
// (greedy, seeded sampling, eos, batch 1 and 2, prompts of 1 token and of the
// whole context, past the context), the cache stays out of the state dict,
// a reset cache equals a fresh one, and misuse fails clearly.

import assert from "node:assert/strict";
import {
  cpu,
  generate,
  Generator,
  manualSeed,
  nn,
  slice,
  stateDict,
  type Tensor,
  tensor,
  toDevice,
  UseAfterDisposeError,
} from "../mod.ts";
import { ShapeError } from "../src/errors.ts";

const CONFIG: nn.GptConfig = {
  vocabSize: 37,
  contextLength: 9,
  embDim: 12,
  nHeads: 3,
  nLayers: 2,
  dropRate: 0.1,
  qkvBias: true,
};

function model(seed: number, config: nn.GptConfig = CONFIG): nn.GptModel {
  manualSeed(seed);
  return nn.gptModel.init(config);
}

function ids(rows: number[][]): Tensor {
  return tensor(rows, undefined, { dtype: "int32" });
}

/** Random ids [batch, tokens] from a seeded generator. */
function randomIds(batch: number, tokens: number, vocab: number, seed: number): Tensor {
  const g = new Generator(seed);
  const rows = Array.from(
    { length: batch },
    () => Array.from({ length: tokens }, () => Math.floor(g.nextFloat() * vocab)),
  );
  return ids(rows);
}

/** |a - b| <= atol + rtol |b| elementwise, reporting the worst element. */
function assertNear(actual: Float32Array, expected: Float32Array, rtol = 1e-5, atol = 1e-5) {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < actual.length; i++) {
    const bound = atol + rtol * Math.abs(expected[i]);
    if (!(Math.abs(actual[i] - expected[i]) <= bound)) {
      assert.fail(`element ${i}: ${actual[i]} vs ${expected[i]}`);
    }
  }
}

Deno.test("kv cache cpu: cached steps give the uncached logits at every position", async () => {
  for (const batch of [1, 2]) {
    const m = model(batch);
    const all = randomIds(batch, 9, 37, 10 + batch);
    const full = (await nn.gptModel.apply(m, all).data()) as Float32Array; // [b, 9, 37]
    let cached = nn.gptModel.withCache(m, { batch });
    const prompt = slice(all, [0, batch], [0, 3]);
    let { logits, model: next } = nn.gptModel.step(cached, prompt);
    cached = next;
    for (let t = 2; t < 9; t++) {
      const got = (await logits.data()) as Float32Array;
      logits.dispose();
      const want = new Float32Array(batch * 37);
      for (let b = 0; b < batch; b++) {
        want.set(full.subarray((b * 9 + t) * 37, (b * 9 + t + 1) * 37), b * 37);
      }
      assertNear(got, want);
      if (t === 8) break;
      const one = slice(all, [0, batch], [t + 1, t + 2]);
      ({ logits, model: cached } = nn.gptModel.step(cached, one));
    }
    assert.equal(cached.cache.position, 9);
    nn.gptModel.dropCache(cached);
  }
});

Deno.test("kv cache cpu: a multi-token step on a filled cache runs token by token", async () => {
  const m = model(3);
  const all = randomIds(1, 7, 37, 4);
  const full = (await nn.gptModel.apply(m, all).data()) as Float32Array;
  const first = nn.gptModel.step(
    nn.gptModel.withCache(m, { batch: 1 }),
    slice(all, [0, 1], [0, 2]),
  );
  first.logits.dispose();
  const second = nn.gptModel.step(first.model, slice(all, [0, 1], [2, 7]));
  assert.deepEqual(second.logits.shape, [1, 1, 37]);
  assertNear((await second.logits.data()) as Float32Array, full.subarray(6 * 37, 7 * 37));
  assert.equal(second.model.cache.position, 7);
});

Deno.test("kv cache cpu: the cache is non-persistent, and the old record is consumed", () => {
  const m = model(4);
  const cached = nn.gptModel.withCache(m, { batch: 2, maxTokens: 5 });
  assert.deepEqual([...stateDict(cached).keys()], [...stateDict(m).keys()]);
  assert.deepEqual(cached.buffers.trf_blocks[1].att.cache_k.shape, [2, 3, 5, 4]);
  assert.equal(cached.params, m.params);
  const { logits, model: next } = nn.gptModel.step(cached, ids([[1, 2], [3, 4]]));
  logits.dispose();
  assert.equal(next.cache.position, 2);
  assert.equal(cached.buffers.trf_blocks[0].att.cache_k.isDisposed, true);
  assert.throws(
    () => nn.gptModel.step(cached, ids([[1], [2]])),
    (e: unknown) => e instanceof UseAfterDisposeError && /cache_k was disposed/.test(String(e)),
  );
  // The parameters stay usable by the plain model.
  nn.gptModel.apply(m, ids([[1, 2]])).dispose();
  const plain = nn.gptModel.dropCache(next);
  assert.equal(next.buffers.cache_position.isDisposed, true);
  assert.deepEqual([...stateDict(plain).keys()], [...stateDict(m).keys()]);
  assert.equal(plain.params.tok_emb.weight.isDisposed, false);
});

Deno.test("kv cache cpu: a full cache and bad ids fail before any work", () => {
  const cached = nn.gptModel.withCache(model(5), { batch: 1, maxTokens: 3 });
  assert.throws(
    () => nn.gptModel.step(cached, ids([[1, 2, 3, 4]])),
    (e: unknown) => e instanceof ShapeError && /holds 0 of 3 tokens/.test(String(e)),
  );
  assert.throws(
    () => nn.gptModel.step(cached, ids([[1], [2]])),
    (e: unknown) => e instanceof ShapeError && /\[1, tokens\]/.test(String(e)),
  );
  assert.throws(
    () => nn.gptModel.withCache(model(5), { batch: 1, maxTokens: 10 }),
    /maxTokens/,
  );
  assert.equal(cached.buffers.cache_position.isDisposed, false);
});

Deno.test("kv cache cpu: a reset cache gives the logits of a fresh one", async () => {
  const m = model(6);
  const a = randomIds(2, 6, 37, 7);
  const b = randomIds(2, 4, 37, 8);
  let cached = nn.gptModel.withCache(m, { batch: 2 });
  const r1 = nn.gptModel.step(cached, a);
  r1.logits.dispose();
  cached = nn.gptModel.resetCache(r1.model);
  assert.equal(cached.cache.position, 0);
  const r2 = nn.gptModel.step(cached, b);
  const fresh = nn.gptModel.step(nn.gptModel.withCache(m, { batch: 2 }), b);
  assert.deepEqual(await r2.logits.data(), await fresh.logits.data());
});

Deno.test("kv cache cpu: generate gives the uncached tokens (greedy, sampling, past the context)", async () => {
  const cases: [number, number, number, number | undefined][] = [
    // batch, prompt tokens, new tokens, temperature (undefined: greedy)
    [1, 1, 6, undefined],
    [2, 1, 12, undefined], // past the context of 9
    [1, 9, 5, undefined], // a whole-context prompt, every step past it
    [2, 4, 14, 1.3],
    [2, 12, 3, 0.8], // a prompt longer than the context
  ];
  for (const [i, [batch, tokens, maxNewTokens, temperature]] of cases.entries()) {
    const m = model(20 + i);
    const prompt = randomIds(batch, tokens, 37, 30 + i);
    const run = async (useCache: boolean) => {
      const out = await generate(m, prompt, {
        maxNewTokens,
        temperature,
        topK: temperature ? 20 : undefined,
        generator: new Generator(99),
        useCache,
      });
      return out.toArray();
    };
    assert.deepEqual(await run(true), await run(false), `case ${i}`);
  }
});

Deno.test("kv cache cpu: generate with eosId and a smaller contextSize matches the uncached loop", async () => {
  const m = model(40);
  const prompt = randomIds(2, 3, 37, 41);
  const uncached = await generate(m, prompt, { maxNewTokens: 10, useCache: false });
  const values = (await uncached.data()) as Int32Array;
  const eosId = values[5]; // a token row 0 produces
  for (const options of [{ eosId }, { contextSize: 4 }, { contextSize: 4, eosId }]) {
    const run = async (useCache: boolean) =>
      (await generate(m, prompt, { maxNewTokens: 10, ...options, useCache })).toArray();
    assert.deepEqual(await run(true), await run(false), JSON.stringify(options));
  }
});

Deno.test("kv cache cpu: useCache is checked", async () => {
  const m = model(50);
  const fn = (x: Tensor) => nn.gptModel.apply(m, x);
  await assert.rejects(
    () => generate(fn, ids([[1]]), { maxNewTokens: 1, useCache: true }),
    /useCache: true needs an nn.gptModel module/,
  );
  await assert.rejects(
    // deno-lint-ignore no-explicit-any
    () => generate(m, ids([[1]]), { maxNewTokens: 1, useCache: "yes" as any }),
    /useCache must be a boolean/,
  );
  // The uncached path of a module computes the last position's logits only.
  assert.deepEqual(nn.gptModel.apply(m, ids([[1, 2, 3]]), { lastPosition: true }).shape, [
    1,
    1,
    37,
  ]);
});

Deno.test("kv cache cpu: a float16 model decodes with float16 caches, as its uncached forward", async () => {
  const m32 = model(41, { ...CONFIG, embDim: 24, contextLength: 16 });
  const m16 = await toDevice(m32, cpu, { dtype: "float16" });
  const cached = nn.gptModel.withCache(m16, { batch: 2 });
  const att = cached.buffers.trf_blocks[0].att;
  assert.equal(att.cache_k.dtype, "float16");
  assert.equal(att.cache_v.dtype, "float16");
  // Logits at every position: cached float16 close to uncached float16 and to float32.
  const all = randomIds(2, 16, CONFIG.vocabSize, 42);
  const full16 = nn.gptModel.apply(m16, all); // [2, 16, vocab] float16
  const full32 = nn.gptModel.apply(m32, all);
  const [want16, want32] = [await full16.data(), await full32.data()] as Float32Array[];
  const scale = Math.max(...want32.map(Math.abs));
  let current = cached;
  const v = CONFIG.vocabSize;
  for (const [start, end] of [[0, 6], [6, 7], [7, 8], [8, 16]]) {
    const chunk = slice(all, [0, 2], [start, end]);
    const step = nn.gptModel.step(current, chunk);
    chunk.dispose();
    current = step.model;
    assert.equal(step.logits.dtype, "float16");
    const got = await step.logits.data() as Float32Array;
    step.logits.dispose();
    const at = (b: number, src: Float32Array) =>
      src.subarray((b * 16 + end - 1) * v, (b * 16 + end) * v);
    for (let b = 0; b < 2; b++) {
      // float16 roundings differ between the paths (one rounding of the fused decode).
      assertNear(got.subarray(b * v, (b + 1) * v), at(b, want16), 0, 1e-2 * scale);
      assertNear(got.subarray(b * v, (b + 1) * v), at(b, want32), 0, 2e-2 * scale);
    }
  }
  nn.gptModel.dropCache(current);
  // Greedy tokens: cached = uncached = float32's, through the window's end.
  const prompt = ids([[1, 5, 9], [3, 3, 4]]);
  const want = await (await generate(m32, prompt, { maxNewTokens: 20 })).toArray();
  for (const useCache of [true, false]) {
    const out = await generate(m16, prompt, { maxNewTokens: 20, useCache });
    assert.deepEqual(await out.toArray(), want, `useCache ${useCache}`);
  }
  // Sampling on float16 logits: cached = uncached for one seed.
  const sampled = await Promise.all(
    [true, false].map(async (useCache) =>
      await (await generate(m16, prompt, {
        maxNewTokens: 12,
        temperature: 1.2,
        topK: 8,
        useCache,
        generator: new Generator(3),
      })).toArray()
    ),
  );
  assert.deepEqual(sampled[0], sampled[1]);
});
