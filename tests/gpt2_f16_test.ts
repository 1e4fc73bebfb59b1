// Hugging Face GPT-2 F16 checkpoints loaded as float16 models on cpu: the
// file's bits are kept (no widening), and the logits match PyTorch's.
//
// The reference (scripts/gen_gpt2_hf_fixtures.py, case small_f16) is
// PyTorch's float32 model holding the F16-rounded weights: float32 math on
// float16 weights. The float16 model computes each op in float32 too, but
// stores every activation as float16 (one rounding per op), so it differs
// from the reference by those roundings only: relative error (max |diff| /
// max |logit|) below 1e-2 here, measured ~1e-3.

import assert from "node:assert/strict";
import {
  dispose,
  DTypeError,
  gpt2ConfigFromWeights,
  loadGpt2Weights,
  nn,
  parseSafetensors,
  tensor,
  toF16Bits,
} from "../mod.ts";
import { loadGpt2 } from "../src/io/mod.ts";
import { cpuRaw, cpuTensor } from "../src/tensor.ts";
import fixtures from "./fixtures/gpt2_hf/cases.json" with { type: "json" };
import { GPT2_FILES, relativeError, tinyFs } from "./gpt2_hf_helpers.ts";

const CASE = fixtures.cases.find((c) => c.name === "small_f16")!;

Deno.test("gpt2 f16: an F16 checkpoint loads as float16 bits and gives PyTorch's logits on cpu", async () => {
  const weights = parseSafetensors(GPT2_FILES[CASE.file], { dtype: "float16" });
  const config = gpt2ConfigFromWeights(weights, { nHeads: CASE.nHeads });
  // Every weight is float16, so the model is float16 without asking.
  const model = await loadGpt2Weights(config, weights);
  const wte = model.params.tok_emb.weight;
  assert.equal(wte.dtype, "float16");
  assert.equal(model.params.trf_blocks[1].ff.layers[2].bias!.dtype, "float16");
  assert.equal(model.buffers.trf_blocks[0].att.mask.dtype, "float16");
  // The very bits of the file (no widen-and-round trip that could move a NaN payload).
  assert.deepEqual(cpuRaw(wte, "test", "wte"), weights.tensors.get("wte.weight")!.data);
  const ids = tensor(CASE.ids, undefined, { dtype: "int32" });
  const logits = nn.gptModel.apply(model, ids);
  assert.equal(logits.dtype, "float16");
  const err = relativeError(await logits.data() as Float32Array, CASE.logits);
  assert.ok(err <= 1e-2, `relative error ${err}`);
  // The float32 model on the same (widened) weights is PyTorch's to 1e-5.
  const m32 = await loadGpt2Weights(config, weights, { dtype: "float32" });
  assert.equal(m32.params.tok_emb.weight.dtype, "float32");
  const l32 = nn.gptModel.apply(m32, ids);
  assert.ok(relativeError(await l32.data() as Float32Array, CASE.logits) <= 1e-5);
  dispose([model, m32, ids, logits, l32]);
});

Deno.test("gpt2 f16: dtype converts float32 weights and tensors either way", async () => {
  const wide = parseSafetensors(GPT2_FILES[CASE.file]); // F16 widened to F32
  const config = gpt2ConfigFromWeights(wide, { nHeads: CASE.nHeads });
  const half = await loadGpt2Weights(config, wide, { dtype: "float16" });
  const bits = parseSafetensors(GPT2_FILES[CASE.file], { dtype: "float16" });
  assert.deepEqual(
    cpuRaw(half.params.pos_emb.weight, "test", "wpe"),
    bits.tensors.get("wpe.weight")!.data,
  );
  // From float16 tensors (a Map), asked for float32: widened exactly.
  const map = new Map(
    [...bits.tensors].map(([k, v]) => [k, cpuTensor(v.data, v.shape)]),
  );
  const m32 = await loadGpt2Weights(config, map, { dtype: "float32" });
  assert.deepEqual(
    cpuRaw(m32.params.pos_emb.weight, "test", "wpe"),
    wide.tensors.get("wpe.weight")!.data,
  );
  assert.deepEqual(
    toF16Bits(cpuRaw(m32.params.trf_blocks[0].att.W_key.weight, "test", "k") as Float32Array),
    cpuRaw(half.params.trf_blocks[0].att.W_key.weight, "test", "k"),
  );
  await assert.rejects(
    () => loadGpt2Weights(config, wide, { dtype: "int32" as "float32" }),
    /loadGpt2Weights: options.dtype must be "float32" or "float16", but got/,
  );
  const ints = new Map(wide.tensors);
  ints.set("ln_f.bias", { shape: [12], data: new Int32Array(12), dtype: "I32" });
  await assert.rejects(() => loadGpt2Weights(config, ints), DTypeError);
  dispose([half, m32, [...map.values()]]);
});

Deno.test("gpt2 f16: loadGpt2 with { dtype: float16 } keeps the directory's F16 weights", async () => {
  const { model } = await loadGpt2("/tiny", { fs: tinyFs(), dtype: "float16" });
  assert.equal(model.params.tok_emb.weight.dtype, "float16");
  assert.equal(model.params.final_norm.scale.dtype, "float16");
  const wide = await loadGpt2("/tiny", { fs: tinyFs() });
  assert.equal(wide.model.params.tok_emb.weight.dtype, "float32");
  dispose([model, wide.model]);
});
