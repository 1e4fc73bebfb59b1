// generate() and next-token selection on the CPU path: greedy decoding, the
// context crop, top-k / temperature sampling against an independent
// reference, end-of-sequence semantics, NaN handling and argument checks.
// The GPU path is checked against this one in tests/gpu/generate_test.ts.

import assert from "node:assert/strict";
import {
  ArgumentError,
  DTypeError,
  embedding,
  generate,
  Generator,
  manualSeed,
  nn,
  ShapeError,
  type Tensor,
  tensor,
  TesseraError,
} from "../mod.ts";
import { selectTokens } from "../src/ops/select_token.ts";
import { CHUNK } from "../src/ops/select_token_cpu.ts";
import { randomData } from "./helpers.ts";
import fixtures from "./fixtures/generate.json" with { type: "json" };
import exampleSource from "../examples/gpt.ts" with { type: "text" };

/** The book's cfg dict as an nn.GptConfig. */
function gptConfig(c: (typeof fixtures.small)[number]["config"]): nn.GptConfig {
  return {
    vocabSize: c.vocab_size,
    contextLength: c.context_length,
    embDim: c.emb_dim,
    nHeads: c.n_heads,
    nLayers: c.n_layers,
    dropRate: c.drop_rate,
    qkvBias: c.qkv_bias,
  };
}

const ints = (rows: number[][]): Tensor => tensor(rows, undefined, { dtype: "int32" });

/** A bigram stand-in model: the logits at a position are row `id` of `table` [V, V]. */
function bigram(table: Tensor, seen?: number[][]): (ids: Tensor) => Tensor {
  return (ids) => {
    seen?.push([...ids.shape]);
    return embedding(table, ids);
  };
}

/** Reference greedy decoding on host arrays. */
function greedyReference(table: Float32Array, v: number, prompt: number[], steps: number) {
  const out = [...prompt];
  for (let s = 0; s < steps; s++) {
    const row = table.subarray(out[out.length - 1] * v, out[out.length - 1] * v + v);
    let best = 0;
    for (let i = 1; i < v; i++) if (row[i] > row[best]) best = i;
    out.push(best);
  }
  return out;
}

/** Inverse-CDF sampling in float64, written independently of the kernels' order. */
function sampleReference(
  row: Float32Array,
  temperature: number,
  topK: number | undefined,
  u: number,
) {
  const sorted = [...row].sort((a, b) => b - a);
  const threshold = topK === undefined ? -Infinity : sorted[topK - 1];
  const scaled = [...row].map((x) => x >= threshold ? Math.fround(x / temperature) : -Infinity);
  const m = Math.max(...scaled);
  const w = scaled.map((x) => x === -Infinity ? 0 : Math.exp(x - m));
  const total = w.reduce((a, b) => a + b, 0);
  let running = 0;
  for (let i = 0; i < w.length; i++) {
    running += w[i];
    if (running > u * total) return i;
  }
  return w.findLastIndex((x) => x > 0);
}

Deno.test("generate: greedy decoding follows the argmax of the last position", async () => {
  const v = 11;
  const data = randomData(v * v, 3);
  const table = tensor(data, [v, v]);
  const out = await generate(bigram(table), ints([[4], [7]]), { maxNewTokens: 6 });
  assert.equal(out.dtype, "int32");
  assert.deepEqual(out.shape, [2, 7]);
  assert.deepEqual(await out.toArray(), [
    greedyReference(data, v, [4], 6),
    greedyReference(data, v, [7], 6),
  ]);
});

Deno.test("generate: the context is cropped to the last contextSize tokens", async () => {
  const v = 5;
  const seen: number[][] = [];
  const table = tensor(randomData(v * v, 4), [v, v]);
  const ids = ints([[1, 2, 3, 4, 0]]);
  const out = await generate(bigram(table, seen), ids, { maxNewTokens: 4, contextSize: 3 });
  assert.deepEqual(seen, [[1, 3], [1, 3], [1, 3], [1, 3]]);
  assert.deepEqual(out.shape, [1, 9]);
  // The prompt comes back unchanged, and the caller's ids stay usable.
  assert.deepEqual((await out.toArray() as number[][])[0].slice(0, 5), [1, 2, 3, 4, 0]);
  assert.deepEqual(await ids.toArray(), [[1, 2, 3, 4, 0]]);
  const all: number[][] = [];
  await generate(bigram(table, all), ids, { maxNewTokens: 2 });
  assert.deepEqual(all, [[1, 5], [1, 6]]);
});

Deno.test("generate: maxNewTokens 0 returns a copy of the prompt", async () => {
  const table = tensor(randomData(9, 1), [3, 3]);
  const ids = ints([[0, 2]]);
  const out = await generate(bigram(table), ids, { maxNewTokens: 0 });
  assert.notEqual(out, ids);
  ids.dispose();
  assert.deepEqual(await out.toArray(), [[0, 2]]);
});

Deno.test("selectTokens: greedy breaks ties by the first index, -0 equals +0, NaN wins", async () => {
  const logits = tensor([[[1, 3, 3, 0]], [[-0, 0, -1, -2]], [[1, NaN, 5, NaN]]]);
  const ids = selectTokens("test", logits, { temperature: 0 });
  assert.deepEqual(await ids.toArray(), [1, 0, 1]);
});

Deno.test("selectTokens: sampling matches an independent inverse CDF", async () => {
  const g = new Generator(11);
  for (
    const [n, temperature, topK] of [
      [7, 1, undefined],
      [65, 0.7, 5],
      [257, 1.5, undefined],
      [CHUNK + 300, 1, 40],
      [2 * CHUNK + 17, 0.5, undefined],
    ] as const
  ) {
    const rows = 3;
    const data = randomData(rows * 2 * n, n);
    const logits = tensor(data, [rows, 2, n]);
    for (let trial = 0; trial < 8; trial++) {
      const draws = Float32Array.from({ length: rows }, () => g.nextFloat());
      const ids = await selectTokens("test", logits, { temperature, topK, draws }).data();
      for (let r = 0; r < rows; r++) {
        const row = data.subarray((r * 2 + 1) * n, (r * 2 + 2) * n);
        assert.equal(
          ids[r],
          sampleReference(row, temperature, topK, draws[r]),
          `n=${n} row ${r} trial ${trial}`,
        );
      }
    }
  }
});

Deno.test("selectTokens: top-k keeps ties at the threshold and nothing below it", async () => {
  // Values 5, 4, 4, 1: topK 2 keeps 5 and both 4s (the book keeps logits >= the k-th largest).
  const logits = tensor([[[4, 1, 5, 4]]]);
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < 400; i++) {
    const draws = new Float32Array([(i + 0.5) / 400]);
    const [id] = await selectTokens("test", logits, { temperature: 1, topK: 2, draws }).data();
    counts[id]++;
  }
  assert.equal(counts[1], 0);
  const e = Math.E;
  const total = 2 + e;
  assert.ok(Math.abs(counts[2] / 400 - e / total) < 0.01, `${counts}`);
  assert.ok(Math.abs(counts[0] / 400 - 1 / total) < 0.01, `${counts}`);
  // topK 1 is greedy whatever the draw.
  for (const u of [0, 0.5, 0.9999]) {
    const draws = new Float32Array([u]);
    assert.deepEqual(
      await selectTokens("test", logits, { temperature: 3, topK: 1, draws }).toArray(),
      [2],
    );
  }
});

Deno.test("selectTokens: -Infinity logits are never sampled; NaN or +Infinity rows give -1", async () => {
  const logits = tensor([[[-Infinity, 0, -Infinity]], [[0, NaN, 1]], [[0, Infinity, 1]]]);
  const ids = await selectTokens("test", logits, {
    temperature: 1,
    draws: new Float32Array([0.999, 0.5, 0.5]),
  }).toArray();
  assert.deepEqual(ids, [1, -1, -1]);
  // A tiny temperature overflows the scaled maximum: torch gives NaN probabilities there.
  const huge = tensor([[[3e38, 1]]]);
  assert.deepEqual(
    await selectTokens("test", huge, { temperature: 1e-30, draws: new Float32Array([0.5]) })
      .toArray(),
    [-1],
  );
});

Deno.test("generate: sampling is reproducible from a seed and follows the generator", async () => {
  const v = 50;
  const table = tensor(randomData(v * v, 8), [v, v]);
  const ids = ints([[3], [9], [27]]);
  const run = (seed: number) =>
    generate(bigram(table), ids, {
      maxNewTokens: 20,
      temperature: 1.2,
      topK: 10,
      generator: new Generator(seed),
    }).then((t) => t.toArray());
  const a = await run(123);
  assert.deepEqual(await run(123), a);
  assert.notDeepEqual(await run(124), a);
  // One draw per row per step, in row order.
  const g = new Generator(5);
  await generate(bigram(table), ids, { maxNewTokens: 4, temperature: 1, generator: g });
  const expected = new Generator(5);
  for (let i = 0; i < 12; i++) expected.nextFloat();
  assert.equal(g.random(), expected.random());
});

Deno.test("generate: eosId pads finished rows and stops once every row has produced it", async () => {
  // Deterministic chains: 0 -> 1 -> 2 -> 3 (eos) -> 0, and 4 -> 3.
  const v = 5;
  const next = [1, 2, 3, 0, 3];
  const data = new Float32Array(v * v);
  next.forEach((to, from) => data[from * v + to] = 1);
  const table = tensor(data, [v, v]);
  const out = await generate(bigram(table), ints([[0], [4]]), { maxNewTokens: 10, eosId: 3 });
  // Row 1 finishes at once and is padded with 3; row 0 finishes at step 3.
  assert.deepEqual(await out.toArray(), [[0, 1, 2, 3], [4, 3, 3, 3]]);
  const capped = await generate(bigram(table), ints([[0]]), { maxNewTokens: 2, eosId: 3 });
  assert.deepEqual(await capped.toArray(), [[0, 1, 2]]);
});

Deno.test("generate: onToken streams each step's ids, cached and uncached, greedy and sampled", async () => {
  // Deterministic chains with eos 3: row 1 finishes at once and streams 3 from then on.
  const v = 5;
  const next = [1, 2, 3, 0, 3];
  const data = new Float32Array(v * v);
  next.forEach((to, from) => data[from * v + to] = 1);
  const table = tensor(data, [v, v]);
  const seen: [number[], number][] = [];
  const out = await generate(bigram(table), ints([[0], [4]]), {
    maxNewTokens: 10,
    eosId: 3,
    onToken: (ids, step) => {
      seen.push([Array.from(ids), step]);
    },
  });
  assert.deepEqual(await out.toArray(), [[0, 1, 2, 3], [4, 3, 3, 3]]);
  assert.deepEqual(seen, [[[1, 3], 0], [[2, 3], 1], [[3, 3], 2]]);
  manualSeed(5);
  const gpt = nn.gptModel.init({
    vocabSize: 13,
    contextLength: 5,
    embDim: 8,
    nHeads: 2,
    nLayers: 1,
    dropRate: 0,
    qkvBias: true,
  });
  const prompt = ints([[1, 2, 3], [4, 5, 6]]);
  for (const sampling of [{}, { temperature: 1.3, topK: 6 }]) {
    for (const useCache of [true, false]) {
      const what = `${JSON.stringify(sampling)} useCache ${useCache}`;
      const steps: number[][] = [];
      // Past the window of 5: the cached loop re-prefills, and must still stream every step.
      const result = await generate(gpt, prompt, {
        maxNewTokens: 7,
        useCache,
        generator: new Generator(9),
        ...sampling,
        onToken: async (ids, step) => {
          await Promise.resolve();
          assert.equal(step, steps.length, what);
          steps.push(Array.from(ids));
        },
      });
      const rows = (await result.toArray()) as number[][];
      assert.equal(steps.length, 7, what);
      assert.deepEqual(steps, steps.map((_, i) => rows.map((r) => r[3 + i])), what);
      result.dispose();
    }
  }
  // An error thrown by onToken ends generation and propagates.
  for (const useCache of [true, false]) {
    await assert.rejects(
      () =>
        generate(gpt, prompt, {
          maxNewTokens: 4,
          useCache,
          onToken: (_, step) => {
            if (step === 1) throw new Error("stop here");
          },
        }),
      /stop here/,
    );
  }
});

Deno.test("generate: arguments are checked before any work", async () => {
  const table = tensor(randomData(9, 1), [3, 3]);
  const model = bigram(table);
  const ids = ints([[0, 1]]);
  const bad = async (args: unknown[], kind: new (...a: never[]) => Error, words: RegExp) => {
    await assert.rejects(
      () => (generate as (...a: unknown[]) => Promise<Tensor>)(...args),
      (e: Error) => {
        assert.ok(e instanceof kind, `${e.name}: ${e.message}`);
        assert.match(e.message, /^generate: /);
        assert.match(e.message, words);
        return true;
      },
    );
  };
  await bad([42, ids, { maxNewTokens: 1 }], ArgumentError, /model must be/);
  await bad([model, tensor([[0, 1]]), { maxNewTokens: 1 }], DTypeError, /ids has dtype float32/);
  await bad([model, ints([[]]), { maxNewTokens: 1 }], ShapeError, /ids must have shape/);
  await bad([model, ids, undefined], ArgumentError, /options must be/);
  await bad([model, ids, { maxNewTokens: -1 }], ArgumentError, /maxNewTokens/);
  await bad([model, ids, { maxNewTokens: 1.5 }], ArgumentError, /maxNewTokens/);
  await bad([model, ids, { maxNewTokens: 1, contextSize: 0 }], ArgumentError, /contextSize/);
  await bad([model, ids, { maxNewTokens: 1, temperature: -1 }], ArgumentError, /temperature/);
  await bad([model, ids, { maxNewTokens: 1, temperature: NaN }], ArgumentError, /temperature/);
  await bad([model, ids, { maxNewTokens: 1, topK: 0 }], ArgumentError, /topK/);
  await bad([model, ids, { maxNewTokens: 1, eosId: -2 }], ArgumentError, /eosId/);
  await bad([model, ids, { maxNewTokens: 1, generator: 3 }], ArgumentError, /generator/);
  await bad([model, ids, { maxNewTokens: 1, onToken: 3 }], ArgumentError, /onToken must be/);
  await bad(
    [model, ids, { maxNewTokens: 1, temperature: 1, topK: 4 }],
    ArgumentError,
    /topK must be in \[1, 3\]/,
  );
  await bad([() => tensor([[1, 2]]), ids, { maxNewTokens: 1 }], ShapeError, /logits of shape/);
  await bad(
    [() => 42, ids, { maxNewTokens: 1 }],
    ArgumentError,
    /the model's output must be a Tensor/,
  );
  const gpt = nn.gptModel.init({
    vocabSize: 10,
    contextLength: 4,
    embDim: 4,
    nHeads: 2,
    nLayers: 1,
    dropRate: 0,
    qkvBias: false,
  });
  await bad(
    [gpt, ids, { maxNewTokens: 1, topK: 11 }],
    ArgumentError,
    /topK must be .*in \[1, 10\]/,
  );
  await bad(
    [() => tensor([[[NaN, 1, 2], [NaN, 1, 2]]]), ids, { maxNewTokens: 1, temperature: 1 }],
    TesseraError,
    /cannot sample row 0 at step 0/,
  );
});

Deno.test("generate: nn.gptModel greedy continuations equal PyTorch's generate_text_simple", async () => {
  for (const c of fixtures.small) {
    manualSeed(c.seed);
    const model = nn.gptModel.init(gptConfig(c.config));
    const prompt = tensor(c.prompt, undefined, { dtype: "int32" });
    // contextSize defaults to the model's contextLength (the fixture's context_size).
    const out = await generate(model, prompt, { maxNewTokens: c.maxNewTokens });
    assert.deepEqual(await out.toArray(), c.tokens, `seed ${c.seed}`);
  }
});

Deno.test("examples/gpt.ts checks against PyTorch's GPT-2 small continuation", () => {
  // The example itself exits 1 on a mismatch; here its recorded ids must be the fixture's.
  const { prompt, tokens } = fixtures.gpt124m;
  const list = exampleSource.match(/const TORCH_TOKENS = \[([\d,\s]+)\]/);
  assert.ok(list, "TORCH_TOKENS not found in examples/gpt.ts");
  assert.deepEqual(list[1].split(",").map((s) => Number(s.trim())).filter((x) => x > 0), tokens[0]);
  assert.deepEqual(tokens[0].slice(0, 4), prompt[0]);
  assert.ok(exampleSource.includes(`[${tokens[0].slice(0, 10).join(", ")}]`), "doc comment");
  assert.equal(fixtures.gpt124m.parameters, 163_009_536);
});
