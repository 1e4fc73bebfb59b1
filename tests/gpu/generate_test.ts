// Token selection and generate() on WebGPU against the CPU path: greedy and
// seeded sampling give the same ids, every step is one submit and one read
// of 4 bytes per row, and generation leaks no GPU buffer.

import assert from "node:assert/strict";
import {
  DeviceMismatchError,
  dispose,
  embedding,
  generate,
  Generator,
  gpuStats,
  manualSeed,
  namedParameters,
  nn,
  slice,
  type Tensor,
  tensor,
  TesseraError,
  toDevice,
  type WebGpuDevice,
} from "../../mod.ts";
import { runtimeOf } from "../../src/device.ts";
import { selectTokens } from "../../src/ops/select_token.ts";
import { CHUNK } from "../../src/ops/select_token_cpu.ts";
import { gpu, randomData } from "../helpers.ts";
import fixtures from "../fixtures/generate.json" with { type: "json" };

const SIZES = [1, 3, 7, 17, 65, 257, CHUNK + 1, 2 * CHUNK + 809];

async function idsOf(t: Tensor): Promise<number[]> {
  const values = [...await t.data()];
  t.dispose();
  return values;
}

/** Random logits [rows, tokens, n] with planted ties, equal zeros, -inf and constant rows. */
function awkwardLogits(rows: number, tokens: number, n: number, seed: number): Float32Array {
  const data = randomData(rows * tokens * n, seed);
  for (let r = 0; r < rows * tokens; r++) {
    const row = data.subarray(r * n, (r + 1) * n);
    // Every third row is constant: one big tie, at the top-k threshold too.
    if (r % 3 === 1) row.fill(0.25);
    if (n >= 7) {
      row[n - 1] = row[2] = 2.5; // a tie for the maximum: the first index wins
      row[3] = -Infinity;
      row[4] = -0;
      row[5] = 0;
    }
  }
  return data;
}

Deno.test("selectTokens on webgpu: greedy ids equal the CPU path on awkward sizes", async () => {
  const device = await gpu();
  for (const n of SIZES) {
    for (const [rows, tokens] of [[1, 1], [3, 2]]) {
      const data = awkwardLogits(rows, tokens, n, n + rows);
      const cpuIds = await idsOf(selectTokens("test", tensor(data, [rows, tokens, n]), {
        temperature: 0,
      }));
      const onGpu = await toDevice(tensor(data, [rows, tokens, n]), device);
      const gpuIds = await idsOf(selectTokens("test", onGpu, { temperature: 0 }));
      onGpu.dispose();
      assert.deepEqual(gpuIds, cpuIds, `n=${n} rows=${rows} tokens=${tokens}`);
      if (n >= 7) assert.ok(cpuIds.every((id) => id !== n - 1), "first maximum wins");
    }
  }
});

Deno.test("selectTokens on webgpu: sampled ids equal the CPU path (temperature, top-k)", async () => {
  const device = await gpu();
  const g = new Generator(2024);
  for (const n of SIZES) {
    const rows = 3;
    const data = awkwardLogits(rows, 2, n, 7 * n);
    const cpuLogits = tensor(data, [rows, 2, n]);
    const gpuLogits = await toDevice(cpuLogits, device);
    for (const topK of [undefined, 1, Math.min(5, n), n]) {
      for (const temperature of [0.6, 1, 2]) {
        const draws = Float32Array.from({ length: rows }, () => g.nextFloat());
        const options = { temperature, topK, draws };
        const cpuIds = await idsOf(selectTokens("test", cpuLogits, options));
        const gpuIds = await idsOf(selectTokens("test", gpuLogits, options));
        assert.deepEqual(gpuIds, cpuIds, `n=${n} topK=${topK} T=${temperature}`);
        assert.ok(n < 7 || cpuIds.every((id) => id !== 3), "-inf is never drawn");
      }
    }
    gpuLogits.dispose();
  }
});

Deno.test("selectTokens on webgpu: NaN and infinity follow PyTorch", async () => {
  const device = await gpu();
  const logits = await toDevice(
    tensor([[[1, NaN, 5, NaN]], [[-Infinity, 0, -Infinity, -1]], [[0, Infinity, 1, 2]]]),
    device,
  );
  // argmax: a NaN is the maximum (first one), as torch.argmax.
  assert.deepEqual(await idsOf(selectTokens("test", logits, { temperature: 0 })), [1, 1, 1]);
  // Sampling: a NaN or +inf maximum has no finite softmax (-1: generate throws).
  const draws = new Float32Array([0.5, 0.999, 0.5]);
  assert.deepEqual(
    await idsOf(selectTokens("test", logits, { temperature: 1, draws })),
    [-1, 3, -1],
  );
  logits.dispose();
});

Deno.test("selectTokens on webgpu: grids folded into 2-D pick the same ids", async () => {
  const device = await gpu();
  const runtime = runtimeOf(device);
  const saved = runtime.maxWorkgroupsPerDimension;
  const g = new Generator(77);
  try {
    // 3 rows x 3 chunks = 9 workgroups -> 3 x 3 under a limit of 4; 4200 rows of 7 -> 4200
    // workgroups -> 65 x 65, and 66 sampling groups of 64 rows -> 33 x 2 under 65.
    for (const [rows, n, limit] of [[3, 2 * CHUNK + 809, 4], [4200, 7, 65]]) {
      runtime.maxWorkgroupsPerDimension = limit;
      const data = awkwardLogits(rows, 1, n, rows);
      const cpuLogits = tensor(data, [rows, 1, n]);
      const gpuLogits = await toDevice(cpuLogits, device);
      for (const options of [{ temperature: 0 }, { temperature: 1, topK: 5 }]) {
        const draws = Float32Array.from({ length: rows }, () => g.nextFloat());
        const cpuIds = await idsOf(selectTokens("test", cpuLogits, { ...options, draws }));
        const gpuIds = await idsOf(selectTokens("test", gpuLogits, { ...options, draws }));
        assert.deepEqual(gpuIds, cpuIds, `rows=${rows} n=${n} ${JSON.stringify(options)}`);
      }
      gpuLogits.dispose();
    }
    // The append kernel: 3 rows x 301 tokens = 4 workgroups of 256 -> 2 x 2 (the model
    // itself runs under the normal limit).
    const prompt = tensor(new Int32Array(3 * 300).map((_, i) => i % 17), [3, 300]);
    const table = tensor(randomData(17 * 17, 4), [17, 17]);
    const a = await generate((x) => embedding(table, x), prompt, { maxNewTokens: 2 });
    const gpuTable = await toDevice(table, device);
    const gpuPrompt = await toDevice(prompt, device);
    const b = await generate(
      (x) => {
        runtime.maxWorkgroupsPerDimension = saved;
        const logits = embedding(gpuTable, x);
        runtime.maxWorkgroupsPerDimension = 2;
        return logits;
      },
      gpuPrompt,
      { maxNewTokens: 2 },
    );
    assert.deepEqual(await b.toArray(), await a.toArray());
    dispose([gpuTable, gpuPrompt, b]);
  } finally {
    runtime.maxWorkgroupsPerDimension = saved;
  }
});

/** A bigram stand-in model on `device`: logits at a position are row `id` of a [V, V] table. */
async function bigramOn(device: WebGpuDevice | undefined, v: number, seed: number) {
  const cpuTable = tensor(randomData(v * v, seed), [v, v]);
  const table = device ? await toDevice(cpuTable, device) : cpuTable;
  return { table, model: (ids: Tensor): Tensor => embedding(table, ids) };
}

Deno.test("generate on webgpu: greedy and seeded sampling give the CPU path's tokens", async () => {
  const device = await gpu();
  const v = 300;
  const cpuModel = await bigramOn(undefined, v, 5);
  const gpuModel = await bigramOn(device, v, 5);
  const prompt = tensor([[5, 17, 42], [299, 0, 1]], undefined, { dtype: "int32" });
  const gpuPrompt = await toDevice(prompt, device);
  for (
    const options of [
      { maxNewTokens: 12, contextSize: 2 },
      { maxNewTokens: 12, temperature: 1.3, topK: 25 },
      { maxNewTokens: 12, temperature: 0.8 },
    ]
  ) {
    const a = await generate(cpuModel.model, prompt, { ...options, generator: new Generator(9) });
    const b = await generate(gpuModel.model, gpuPrompt, {
      ...options,
      generator: new Generator(9),
    });
    assert.equal(b.device, device);
    assert.equal(b.dtype, "int32");
    assert.deepEqual(await b.toArray(), await a.toArray(), JSON.stringify(options));
    b.dispose();
  }
  gpuPrompt.dispose();
  gpuModel.table.dispose();
});

Deno.test("generate on webgpu: eosId pads finished rows as on cpu", async () => {
  const device = await gpu();
  const v = 5;
  const next = [1, 2, 3, 0, 3];
  const data = new Float32Array(v * v);
  next.forEach((to, from) => data[from * v + to] = 1);
  const table = await toDevice(tensor(data, [v, v]), device);
  const ids = await toDevice(tensor([[0], [4], [2]], undefined, { dtype: "int32" }), device);
  const out = await generate((x) => embedding(table, x), ids, { maxNewTokens: 10, eosId: 3 });
  assert.deepEqual(await out.toArray(), [[0, 1, 2, 3], [4, 3, 3, 3], [2, 3, 3, 3]]);
  for (const t of [table, ids, out]) t.dispose();
});

Deno.test("generate on webgpu: one submit and one 4-byte read per row per step, no leak", async () => {
  const device = await gpu();
  const { table, model: bigram } = await bigramOn(device, 97, 12);
  manualSeed(3);
  const gpt = await toDevice(
    nn.gptModel.init({
      vocabSize: 97,
      contextLength: 8,
      embDim: 16,
      nHeads: 2,
      nLayers: 2,
      dropRate: 0.1,
      qkvBias: false,
    }),
    device,
  );
  const models: [string, (x: Tensor) => Tensor][] = [
    ["bigram", bigram],
    ["gptModel", (x) => nn.gptModel.apply(gpt, x)],
  ];
  const rows = 2;
  const ids = await toDevice(
    tensor([[1, 2, 3], [4, 5, 6]], undefined, { dtype: "int32" }),
    device,
  );
  const reads: number[] = [];
  const original = GPUBuffer.prototype.getMappedRange;
  GPUBuffer.prototype.getMappedRange = function (offset?: number, size?: number) {
    if (size !== undefined) reads.push(size);
    return original.call(this, offset, size);
  };
  try {
    for (const [name, model] of models) {
      for (const options of [{}, { temperature: 1, topK: 10 }]) {
        // Warm up: compile the kernels and fill the pools.
        (await generate(model, ids, { maxNewTokens: 3, ...options })).dispose();
        const before = gpuStats(device).buffersInUse;
        const perStep: { submits: number; readbacks: number; reads: number[] }[] = [];
        let last = gpuStats(device);
        reads.length = 0;
        const counted = (x: Tensor): Tensor => {
          const now = gpuStats(device);
          perStep.push({
            submits: now.submits - last.submits,
            readbacks: now.readbacks - last.readbacks,
            reads: reads.splice(0),
          });
          last = now;
          return model(x);
        };
        const streamed: number[][] = [];
        const out = await generate(counted, ids, {
          maxNewTokens: 100,
          contextSize: 8,
          generator: new Generator(1),
          ...options,
          // Streaming reuses the step's read: no extra submit or readback.
          onToken: (next) => {
            streamed.push(Array.from(next));
          },
        });
        const what = `${name} ${JSON.stringify(options)}`;
        assert.deepEqual(out.shape, [rows, 103], what);
        const all = (await out.toArray()) as number[][];
        assert.deepEqual(streamed, streamed.map((_, i) => all.map((r) => r[3 + i])), what);
        assert.equal(streamed.length, 100, what);
        assert.equal(perStep.length, 100, what);
        // Steps 1..99 are seen at the next model call: one submit, one read of 4 bytes per row.
        for (const [i, step] of perStep.slice(1).entries()) {
          assert.deepEqual(
            step,
            { submits: 1, readbacks: 1, reads: [4 * rows] },
            `${what} step ${i}`,
          );
        }
        out.dispose();
        assert.equal(gpuStats(device).buffersInUse, before, `${what} leaked buffers`);
      }
    }
  } finally {
    GPUBuffer.prototype.getMappedRange = original;
  }
  dispose([table, ids, gpt]);
});

Deno.test("generate on webgpu: a NaN row throws when sampling and frees everything", async () => {
  const device = await gpu();
  const ids = await toDevice(tensor([[1, 2]], undefined, { dtype: "int32" }), device);
  const bad = await toDevice(tensor([[[0, 1, NaN], [0, 1, NaN]]]), device);
  const before = gpuStats(device).buffersInUse;
  await assert.rejects(
    () =>
      // slice copies: generate disposes what the model returns.
      generate(() => slice(bad, [0, 1]), ids, {
        maxNewTokens: 2,
        temperature: 1,
      }),
    (e: Error) => e instanceof TesseraError && /cannot sample row 0 at step 0/.test(e.message),
  );
  assert.equal(gpuStats(device).buffersInUse, before);
  // Logits on another device than the ids.
  await assert.rejects(
    () => generate(() => tensor([[[0, 1, 2], [0, 1, 2]]]), ids, { maxNewTokens: 1 }),
    (e: Error) => e instanceof DeviceMismatchError && /generate/.test(e.message),
  );
  assert.equal(gpuStats(device).buffersInUse, before);
  bad.dispose();
  ids.dispose();
});

Deno.test("generate on webgpu: nn.gptModel greedy equals PyTorch, sampling equals cpu", async () => {
  const device = await gpu();
  for (const c of fixtures.small) {
    manualSeed(c.seed);
    const model = nn.gptModel.init({
      vocabSize: c.config.vocab_size,
      contextLength: c.config.context_length,
      embDim: c.config.emb_dim,
      nHeads: c.config.n_heads,
      nLayers: c.config.n_layers,
      dropRate: c.config.drop_rate,
      qkvBias: c.config.qkv_bias,
    });
    const onGpu = await toDevice(model, device);
    const prompt = tensor(c.prompt, undefined, { dtype: "int32" });
    const gpuPrompt = await toDevice(prompt, device);
    const greedy = await generate(onGpu, gpuPrompt, { maxNewTokens: c.maxNewTokens });
    assert.deepEqual(await greedy.toArray(), c.tokens, `greedy, seed ${c.seed}`);
    const sampling = { maxNewTokens: c.maxNewTokens, temperature: 1.4, topK: 25 };
    const a = await generate(model, prompt, { ...sampling, generator: new Generator(c.seed) });
    const b = await generate(onGpu, gpuPrompt, { ...sampling, generator: new Generator(c.seed) });
    assert.deepEqual(await b.toArray(), await a.toArray(), `sampling, seed ${c.seed}`);
    dispose([onGpu, gpuPrompt, greedy, b]);
  }
});

// GPT-2 small end to end (~30 s and ~2 GB on llvmpipe): the book's chapter-4 continuation through
// generate's cached path (examples/gpt.ts runs the same check and exits 1 on a mismatch).
Deno.test({
  name: "generate on webgpu: GPT-2 small's greedy continuation equals PyTorch's",
  fn: async () => {
    const device = await gpu();
    const { seed, prompt, tokens, parameters } = fixtures.gpt124m;
    manualSeed(seed);
    const model = nn.gptModel.init(nn.GPT_CONFIG_124M);
    let count = 0;
    for (const [, p] of namedParameters(model)) count += p.size;
    assert.equal(count, parameters);
    const onGpu = await toDevice(model, device);
    dispose(model);
    const ids = await toDevice(tensor(prompt, undefined, { dtype: "int32" }), device);
    const out = await generate(onGpu, ids, { maxNewTokens: tokens[0].length - prompt[0].length });
    assert.deepEqual(await out.toArray(), tokens);
    dispose([onGpu, ids, out]);
  },
});
