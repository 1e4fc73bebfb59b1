// `manualSeed(s); nn.gptModel.init(cfg)` against PyTorch's
// `torch.manual_seed(s); GPTModel(cfg)` (tests/fixtures/generate_gpt_init.json
// from scripts/gen_gpt_init_fixtures.py), bit for bit, per tensor; `randn` on
// Embedding-like shapes (sizes under 16, where torch uses its scalar normal
// kernel, and not multiples of 16); and GPT-2 small's 50257 x 768 token
// embedding for seed 123 (an FNV-1a hash of all 38.6M values).

import assert from "node:assert/strict";
import { manualSeed, namedParameters, nn, randn } from "../mod.ts";
import init from "./fixtures/generate_gpt_init.json" with { type: "json" };
import gen from "./fixtures/generate.json" with { type: "json" };
import { bits } from "./helpers.ts";

interface TorchConfig {
  vocab_size: number;
  context_length: number;
  emb_dim: number;
  n_heads: number;
  n_layers: number;
  drop_rate: number;
  qkv_bias: boolean;
}

function toConfig(c: TorchConfig): nn.GptConfig {
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

/** Exact and within-one-ulp (same sign, bit patterns one apart) element counts. */
function compare(actual: Uint32Array, expected: readonly number[]) {
  let exact = 0;
  let ulp1 = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (d === 0) exact++;
    else if (d === 1) ulp1++;
  }
  return { n: expected.length, exact, ulp1 };
}

function fnv1a(words: Uint32Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    for (let s = 0; s < 32; s += 8) h = Math.imul(h ^ ((w >>> s) & 255), 0x01000193) >>> 0;
  }
  return h;
}

for (const model of init.models) {
  const c = model.config as TorchConfig;
  Deno.test(
    `gptModel.init equals torch's GPTModel init bit for bit (seed ${model.seed}, vocab ${c.vocab_size}, ` +
      `context ${c.context_length}, emb ${c.emb_dim}, ${c.n_layers} layers, qkvBias ${c.qkv_bias})`,
    async () => {
      manualSeed(model.seed);
      const m = nn.gptModel.init(toConfig(c));
      const ours = new Map(namedParameters(m));
      const expected = model.tensors as Record<string, { shape: number[]; bits: number[] }>;
      // Every parameter that draws random numbers is in the fixture, and nothing else.
      assert.deepEqual(
        [...ours.keys()].filter((k) => !k.includes("norm")).sort(),
        Object.keys(expected).sort(),
      );
      for (const [name, want] of Object.entries(expected)) {
        const t = ours.get(name)!;
        assert.deepEqual(t.shape, want.shape, name);
        const stats = compare(bits(await t.data()), want.bits);
        assert.deepEqual(stats, { n: want.bits.length, exact: want.bits.length, ulp1: 0 }, name);
      }
    },
  );
}

Deno.test("randn equals torch.randn bit for bit on Embedding-like shapes", () => {
  for (const { seed, shape, bits: want } of init.randn) {
    manualSeed(seed);
    const got = bits(randn(shape));
    assert.deepEqual(
      compare(got, want),
      { n: want.length, exact: want.length, ulp1: 0 },
      `${seed} [${shape}]`,
    );
  }
  // The scalar path (< 16 values) caches a Box-Muller sample in the generator.
  const { seed, shapes, bits: pair } = init.randnPair;
  manualSeed(seed);
  shapes.forEach((shape, i) => assert.deepEqual([...bits(randn(shape))], pair[i], `draw ${i}`));
});

Deno.test("GPT-2 small's token embedding (50257 x 768, seed 123) equals torch's", () => {
  const { shape, head, fnv } = gen.gpt124m.tokEmb;
  manualSeed(gen.gpt124m.seed);
  const words = bits(randn(shape));
  assert.deepEqual([...words.subarray(0, head.length)], head);
  assert.equal(fnv1a(words), fnv);
});
