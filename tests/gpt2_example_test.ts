// examples/gpt2.ts and the model-directory helpers on the tiny checkpoint
// directory (random weights, vocab 50257, GPT-2's real tokenizer files),
// through an in-memory file system so that plain `deno test` needs no
// permission. The example's greedy ids must be PyTorch's.
import assert from "node:assert/strict";
import { ArgumentError, cpu, dispose, generate, Generator, tensor } from "../mod.ts";
import { loadGpt2, loadGpt2Tokenizer } from "../src/io/mod.ts";
import { runGpt2 } from "../examples/gpt2.ts";
import { GPT2_TINY, tinyFs } from "./gpt2_hf_helpers.ts";

Deno.test("gpt2 example: streams PyTorch's greedy continuation from a model directory", async () => {
  const chunks: string[] = [];
  const result = await runGpt2({
    dir: "/tiny",
    prompt: "Hello, I am",
    maxNewTokens: 10,
    device: cpu,
    fs: tinyFs(),
    write: (s) => chunks.push(s),
  });
  assert.deepEqual([result.ids], GPT2_TINY.greedy);
  assert.equal(result.promptTokens, 4);
  assert.equal(chunks[0], "Hello, I am");
  assert.equal(chunks.join(""), "Hello, I am" + result.text);
  const tokenizer = await loadGpt2Tokenizer("/tiny", { fs: tinyFs() });
  assert.equal(result.text, tokenizer.decode(result.ids.slice(4)));
  assert.ok(chunks.length >= 11, "one write per token");
  assert.ok(result.tokensPerSecond > 0);
});

Deno.test("gpt2 example: past the context window it slides as the book does", async () => {
  const result = await runGpt2({
    dir: "/tiny",
    prompt: "Hello, I am",
    maxNewTokens: 40,
    device: cpu,
    fs: tinyFs(),
    write: () => {},
  });
  assert.deepEqual([result.ids], GPT2_TINY.greedyLong);
});

Deno.test("gpt2 example: sampling gives generate's tokens for the seed", async () => {
  const options = { maxNewTokens: 8, temperature: 1.5, topK: 50, seed: 7 };
  const result = await runGpt2({
    dir: "/tiny",
    prompt: "Hello, I am",
    device: cpu,
    fs: tinyFs(),
    write: () => {},
    ...options,
  });
  const { model } = await loadGpt2("/tiny", { fs: tinyFs() });
  const prompt = tensor(GPT2_TINY.prompt, undefined, { dtype: "int32" });
  const expected = await generate(model, prompt, { ...options, generator: new Generator(7) });
  assert.deepEqual([result.ids], await expected.toArray());
  dispose([model, prompt, expected]);
  assert.notDeepEqual([result.ids], GPT2_TINY.greedy);
});

Deno.test("gpt2 files: config, tied head and tokenizer.json", async () => {
  const { model: m, tokenizer, config: c } = await loadGpt2("/tiny", { fs: tinyFs() });
  assert.deepEqual(c, {
    vocabSize: 50257,
    contextLength: 32,
    embDim: 8,
    nHeads: 2,
    nLayers: 1,
    dropRate: 0.1,
    qkvBias: true,
  });
  assert.equal(m.params.out_head.weight, m.params.tok_emb.weight);
  assert.deepEqual(tokenizer.encode("Hello, I am"), GPT2_TINY.prompt[0]);
  // tokenizer.json wins over vocab.json + merges.txt when both are there.
  const json = {
    model: {
      type: "BPE",
      vocab: { H: 0, i: 1, Hi: 2 },
      merges: ["H i"],
    },
  };
  const fs = tinyFs((files) =>
    files.set("/tiny/tokenizer.json", new TextEncoder().encode(JSON.stringify(json)))
  );
  const fromJson = await loadGpt2Tokenizer("/tiny", { fs });
  assert.deepEqual(fromJson.encode("Hi"), [2]);
  assert.equal(fromJson.vocabSize, 3);
});

Deno.test("gpt2 files: an incomplete directory names the missing file", async () => {
  const without = (name: string) => tinyFs((files) => files.delete(`/tiny/${name}`));
  await assert.rejects(
    () => loadGpt2("/tiny", { fs: without("model.safetensors") }),
    (e) =>
      e instanceof ArgumentError &&
      e.message.startsWith("loadGpt2: /tiny has no model.safetensors; a Hugging Face GPT-2"),
  );
  await assert.rejects(
    () => loadGpt2("/tiny", { fs: without("merges.txt") }),
    /loadGpt2Tokenizer: \/tiny has no tokenizer.json and no merges.txt \(vocab.json alone is not enough\)/,
  );
  await assert.rejects(
    () => loadGpt2Tokenizer("/tiny", { fs: tinyFs((f) => f.clear()) }),
    /loadGpt2Tokenizer: \/tiny has neither tokenizer.json nor vocab.json \+ merges.txt/,
  );
  await assert.rejects(
    () => loadGpt2("/tiny", { fs: without("config.json") }),
    /loadGpt2: \/tiny has no config.json, so the number of heads is unknown; pass \{ nHeads \}/,
  );
  const noConfig = await loadGpt2("/tiny", { fs: without("config.json"), nHeads: 4 });
  assert.equal(noConfig.config.nHeads, 4);
  const wrong = tinyFs((files) => {
    const c = JSON.parse(new TextDecoder().decode(files.get("/tiny/config.json")));
    files.set("/tiny/config.json", new TextEncoder().encode(JSON.stringify({ ...c, n_embd: 16 })));
  });
  await assert.rejects(
    () => loadGpt2("/tiny", { fs: wrong }),
    /loadGpt2: \/tiny\/config.json has n_embd 16, but model.safetensors has embDim 8/,
  );
  const broken = tinyFs((files) => files.set("/tiny/config.json", new TextEncoder().encode("{")));
  await assert.rejects(
    () => loadGpt2("/tiny", { fs: broken }),
    /\/tiny\/config.json is not valid JSON/,
  );
});
