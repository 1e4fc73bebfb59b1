// Hugging Face GPT-2 checkpoints onto nn.gptModel, on cpu, against PyTorch
// (scripts/gen_gpt2_hf_fixtures.py: the book's load_weights_into_gpt + GPTModel).
import assert from "node:assert/strict";
import {
  ArgumentError,
  DTypeError,
  generate,
  gpt2ConfigFromWeights,
  type HostTensor,
  loadGpt2Weights,
  manualSeed,
  nn,
  parseSafetensors,
  ShapeError,
  stateDict,
  type Tensor,
  tensor,
} from "../mod.ts";
import fixtures from "./fixtures/gpt2_hf/cases.json" with { type: "json" };
import { GPT2_FILES, type Gpt2Case, relativeError } from "./gpt2_hf_helpers.ts";

function weightsOf(c: Gpt2Case) {
  return parseSafetensors(GPT2_FILES[c.file], { source: c.file });
}

for (const c of fixtures.cases) {
  Deno.test(`gpt2 weights: ${c.name} (${c.dtype}) gives PyTorch's logits and greedy tokens on cpu`, async () => {
    const weights = weightsOf(c);
    const config = gpt2ConfigFromWeights(weights, { nHeads: c.nHeads });
    assert.deepEqual(config, { ...c.config, dropRate: 0.1, qkvBias: true });
    const model = await loadGpt2Weights(config, weights);
    const ids = tensor(c.ids, undefined, { dtype: "int32" });
    const logits = nn.gptModel.apply(model, ids);
    assert.deepEqual(logits.shape, [2, c.ids[0].length, c.config.vocabSize]);
    const err = relativeError(await logits.data() as Float32Array, c.logits);
    assert.ok(err <= 1e-5, `relative error ${err}`);
    const out = await generate(model, tensor(c.prompt, undefined, { dtype: "int32" }), {
      maxNewTokens: 6,
    });
    assert.deepEqual(await out.toArray(), c.greedy);
  });
}

Deno.test("gpt2 weights: the head is tied to wte, stored once, and the layout is the book's", async () => {
  const c = fixtures.cases[0];
  const weights = weightsOf(c);
  const model = await loadGpt2Weights(gpt2ConfigFromWeights(weights, { nHeads: 3 }), weights);
  assert.equal(model.params.out_head.weight, model.params.tok_emb.weight);
  assert.equal(model.buffers.trf_blocks[1].att.mask, model.buffers.trf_blocks[0].att.mask);
  assert.deepEqual(
    await model.buffers.trf_blocks[0].att.mask.toArray(),
    (() => {
      const n = c.config.contextLength;
      return Array.from(
        { length: n },
        (_, i) => Array.from({ length: n }, (_, j) => j > i ? 1 : 0),
      );
    })(),
  );
  const dict = stateDict(model);
  const keys = [...dict.keys()];
  assert.equal(dict.get("out_head.weight"), dict.get("tok_emb.weight"));
  for (
    const k of [
      "tok_emb.weight",
      "pos_emb.weight",
      "out_head.weight",
      "trf_blocks.0.att.W_query.weight",
      "trf_blocks.0.att.W_query.bias",
      "trf_blocks.1.ff.layers.2.bias",
      "trf_blocks.1.norm2.shift",
      "final_norm.scale",
    ]
  ) assert.ok(keys.includes(k), k);
  // c_attn's weight [in, 3 out] splits by columns; W_key is the middle third, transposed.
  const cAttn = weights.tensors.get("h.0.attn.c_attn.weight")!;
  const e = c.config.embDim;
  const wKey = await model.params.trf_blocks[0].att.W_key.weight.data();
  for (const [o, i] of [[0, 0], [3, 5], [e - 1, e - 2]]) {
    assert.equal(wKey[o * e + i], cAttn.data[i * 3 * e + e + o]);
  }
  const bValue = await model.params.trf_blocks[0].att.W_value.bias!.data();
  const cBias = weights.tensors.get("h.0.attn.c_attn.bias")!.data;
  assert.deepEqual([...bValue], [...cBias.subarray(2 * e, 3 * e)]);
});

Deno.test("gpt2 weights: into an existing model, from a Map of tensors", async () => {
  const c = fixtures.cases[0];
  const weights = weightsOf(c);
  manualSeed(1);
  const base = nn.gptModel.init({ ...c.config, dropRate: 0, qkvBias: false });
  const tensors = new Map<string, Tensor>(
    [...weights.tensors].map(([k, t]) => [k, tensor(t.data as Float32Array, t.shape)]),
  );
  const model = await loadGpt2Weights(base, tensors);
  assert.equal(model.config.qkvBias, true);
  assert.equal(model.config.dropRate, 0);
  const logits = nn.gptModel.apply(model, tensor(c.ids, undefined, { dtype: "int32" }));
  assert.ok(relativeError(await logits.data() as Float32Array, c.logits) <= 1e-5);
  // The model owns copies: disposing the inputs leaves it working.
  for (const t of tensors.values()) t.dispose();
  assert.ok(!model.params.tok_emb.weight.isDisposed);
  const wrong = nn.gptModel.init({ ...c.config, contextLength: 8, dropRate: 0, qkvBias: true });
  await assert.rejects(
    () => loadGpt2Weights(wrong, weights),
    (e) =>
      e instanceof ShapeError &&
      e.message ===
        "loadGpt2Weights: the model has contextLength 8, but the checkpoint's wpe.weight has shape [16, 12]",
  );
});

/** The small checkpoint as a mutable Map, for breaking it. */
function editable(): Map<string, HostTensor> {
  return new Map([...weightsOf(fixtures.cases[0]).tensors]);
}

Deno.test("gpt2 weights: a wrong shape, a missing block, an unknown key give errors naming them", async () => {
  const cfg = { nHeads: 3 };
  let w = editable();
  w.set("h.1.attn.c_attn.weight", { shape: [12, 30], data: new Float32Array(360) });
  assert.throws(
    () => gpt2ConfigFromWeights(w, cfg),
    (e) =>
      e instanceof ShapeError &&
      e.message ===
        "gpt2ConfigFromWeights: h.1.attn.c_attn.weight has shape [12, 30], but GPT-2 with 12 " +
          "features needs [12, 36] (Conv1D weights are [in, out])",
  );
  w = editable();
  w.set("h.0.mlp.c_fc.weight", { shape: [48, 12], data: new Float32Array(576) });
  await assert.rejects(
    () => loadGpt2Weights({ ...fixtures.cases[0].config, dropRate: 0, qkvBias: true }, w),
    /loadGpt2Weights: h.0.mlp.c_fc.weight has shape \[48, 12\], but GPT-2 with 12 features needs \[12, 48\]/,
  );
  w = editable();
  for (const k of [...w.keys()]) if (k.startsWith("h.0.")) w.delete(k);
  assert.throws(
    () => gpt2ConfigFromWeights(w, cfg),
    /gpt2ConfigFromWeights: block h.0 is missing: the checkpoint has blocks up to h.1 but no h.0.\* weights/,
  );
  w = editable();
  w.delete("h.1.ln_2.bias");
  assert.throws(
    () => gpt2ConfigFromWeights(w, cfg),
    /gpt2ConfigFromWeights: h.1.ln_2.bias is missing/,
  );
  w = editable();
  w.delete("wte.weight");
  assert.throws(
    () => gpt2ConfigFromWeights(w, cfg),
    /gpt2ConfigFromWeights: wte.weight is missing/,
  );
  w = editable();
  w.set("h.0.attn.q_proj.weight", { shape: [12, 12], data: new Float32Array(144) });
  w.set("score.weight", { shape: [2, 12], data: new Float32Array(24) });
  assert.throws(
    () => gpt2ConfigFromWeights(w, cfg),
    (e) =>
      e instanceof ArgumentError &&
      e.message ===
        "gpt2ConfigFromWeights: unknown keys h.0.attn.q_proj.weight, score.weight: not part of GPT-2's layout",
  );
  w = editable();
  w.set("transformer.wte.weight", w.get("wte.weight")!);
  assert.throws(
    () => gpt2ConfigFromWeights(w, cfg),
    /wte.weight and transformer.wte.weight are the same weight; keep one/,
  );
  w = editable();
  w.set("wpe.weight", { shape: [16, 10], data: new Float32Array(160) });
  assert.throws(
    () => gpt2ConfigFromWeights(w, cfg),
    /wpe.weight has shape \[16, 10\], but wte.weight \[61, 12\] needs \[context, 12\]/,
  );
  w = editable();
  w.set("ln_f.bias", { shape: [12], data: new Int32Array(12) });
  assert.throws(
    () => gpt2ConfigFromWeights(w, cfg),
    (e) =>
      e instanceof DTypeError &&
      e.message.startsWith("gpt2ConfigFromWeights: ln_f.bias holds int32 values, but GPT-2"),
  );
  // float16 bits are weights too (loadGpt2Weights keeps them: tests/gpt2_f16_test.ts).
  const halves = parseSafetensors(GPT2_FILES["small_f16.safetensors"], { dtype: "float16" });
  assert.equal(gpt2ConfigFromWeights(halves, cfg).embDim, 12);
  w = editable();
  w.set("lm_head.weight", { shape: [61, 11], data: new Float32Array(61 * 11) });
  assert.throws(
    () => gpt2ConfigFromWeights(w, cfg),
    /lm_head.weight has shape \[61, 11\], but the output head tied/,
  );
  w.set("lm_head.weight", w.get("wte.weight")!);
  assert.equal(gpt2ConfigFromWeights(w, cfg).vocabSize, 61);
  assert.throws(
    () => gpt2ConfigFromWeights(editable(), { nHeads: 5 }),
    /gpt2ConfigFromWeights: nHeads 5 does not divide the embedding size 12/,
  );
  assert.throws(
    () => gpt2ConfigFromWeights(editable(), {} as { nHeads: number }),
    /nHeads must be a whole number >= 1 \(config.json's n_head/,
  );
  await assert.rejects(
    () => loadGpt2Weights(null as never, editable()),
    /model must be an nn.gptModel or its config/,
  );
  await assert.rejects(
    () =>
      loadGpt2Weights(gpt2ConfigFromWeights(editable(), cfg), editable(), {
        device: "gpu" as never,
      }),
    /loadGpt2Weights: device must be cpu or a device from webgpu\(\), but got a string "gpu"/,
  );
  assert.throws(
    () => gpt2ConfigFromWeights([] as never, cfg),
    /tensors must be a parsed safetensors file/,
  );
});
