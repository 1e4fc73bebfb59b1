// Hugging Face GPT-2 checkpoints loaded onto webgpu: PyTorch's logits
// (relative error <= 1e-5 for F32) and greedy tokens, the tied head stored
// once, and nothing left allocated when loading fails.

import assert from "node:assert/strict";
import {
  cpu,
  dispose,
  generate,
  gpt2ConfigFromWeights,
  gpuStats,
  type HostTensor,
  loadGpt2Weights,
  nn,
  parseSafetensors,
  tensor,
  toDevice,
} from "../../mod.ts";
import fixtures from "../fixtures/gpt2_hf/cases.json" with { type: "json" };
import { GPT2_FILES, GPT2_TINY, relativeError, tinyFs } from "../gpt2_hf_helpers.ts";
import { runGpt2 } from "../../examples/gpt2.ts";
import { gpu } from "../helpers.ts";

for (const c of fixtures.cases) {
  Deno.test(`gpt2 weights on webgpu: ${c.name} (${c.dtype}) gives PyTorch's logits and greedy tokens`, async () => {
    const device = await gpu();
    const weights = parseSafetensors(GPT2_FILES[c.file]);
    const config = gpt2ConfigFromWeights(weights, { nHeads: c.nHeads });
    const model = await loadGpt2Weights(config, weights, { device });
    assert.equal(model.params.tok_emb.weight.device, device);
    const ids = tensor(c.ids, undefined, { dtype: "int32" });
    const idsGpu = await toDevice(ids, device);
    const logits = nn.gptModel.apply(model, idsGpu);
    const err = relativeError(await logits.data() as Float32Array, c.logits);
    assert.ok(err <= 1e-5, `relative error ${err}`);
    const prompt = await toDevice(tensor(c.prompt, undefined, { dtype: "int32" }), device);
    const out = await generate(model, prompt, { maxNewTokens: 6 });
    assert.deepEqual(await out.toArray(), c.greedy);
    dispose([model, ids, idsGpu, logits, prompt, out]);
  });
}

Deno.test("gpt2 weights on webgpu: the tied head and the masks are uploaded once", async () => {
  const device = await gpu();
  const c = fixtures.cases[1];
  const weights = parseSafetensors(GPT2_FILES[c.file]);
  const config = gpt2ConfigFromWeights(weights, { nHeads: c.nHeads });
  const before = gpuStats(device).buffersInUse;
  const model = await loadGpt2Weights(config, weights, { device });
  // wte, wpe, per block 16 (q, k, v, out_proj, two ff layers: weight and
  // bias; two norms: scale and shift), ln_f's two, and one shared mask.
  const buffers = 2 + 16 * config.nLayers + 2 + 1;
  assert.equal(gpuStats(device).buffersInUse - before, buffers);
  assert.equal(model.params.out_head.weight, model.params.tok_emb.weight);
  // From cpu with toDevice: still one copy of the shared leaves.
  const host = await loadGpt2Weights(config, weights);
  const moved = await toDevice(host, device);
  assert.equal(moved.params.out_head.weight, moved.params.tok_emb.weight);
  assert.equal(gpuStats(device).buffersInUse - before, 2 * buffers);
  dispose([model, moved]);
  assert.equal(gpuStats(device).buffersInUse, before);
});

Deno.test("gpt2 weights on webgpu: a bad checkpoint allocates nothing", async () => {
  const device = await gpu();
  const c = fixtures.cases[0];
  const weights = new Map<string, HostTensor>(
    parseSafetensors(GPT2_FILES[c.file]).tensors,
  );
  weights.set("h.1.mlp.c_proj.bias", { shape: [11], data: new Float32Array(11) });
  const before = gpuStats(device).buffersInUse;
  await assert.rejects(
    () => loadGpt2Weights({ ...c.config, dropRate: 0, qkvBias: true }, weights, { device }),
    /loadGpt2Weights: h.1.mlp.c_proj.bias has shape \[11\], but GPT-2 with 12 features needs \[12\]/,
  );
  assert.equal(gpuStats(device).buffersInUse, before);
});

Deno.test("gpt2 weights on webgpu: examples/gpt2.ts streams PyTorch's greedy continuation", async () => {
  const device = await gpu();
  const before = gpuStats(device).buffersInUse;
  let streamed = "";
  const result = await runGpt2({
    dir: "/tiny",
    prompt: "Hello, I am",
    maxNewTokens: 10,
    device,
    fs: tinyFs(),
    write: (s) => (streamed += s),
  });
  assert.deepEqual([result.ids], GPT2_TINY.greedy);
  assert.equal(streamed, "Hello, I am" + result.text);
  const long = await runGpt2({
    dir: "/tiny",
    prompt: "Hello, I am",
    maxNewTokens: 40,
    device,
    fs: tinyFs(),
    write: () => {},
  });
  assert.deepEqual([long.ids], GPT2_TINY.greedyLong);
  const sampling = { maxNewTokens: 8, temperature: 1.5, topK: 50, seed: 7, fs: tinyFs() };
  const write = () => {};
  const onGpu = await runGpt2({ dir: "/tiny", prompt: "Hello, I am", device, write, ...sampling });
  const onCpu = await runGpt2({
    dir: "/tiny",
    prompt: "Hello, I am",
    device: cpu,
    write,
    ...sampling,
  });
  assert.deepEqual(onGpu.ids, onCpu.ids);
  assert.equal(gpuStats(device).buffersInUse, before);
});
