// float16 GPT-2 on webgpu: a Hugging Face F16 checkpoint loaded without
// widening gives PyTorch's logits, and a model of GPT-2 small's width in
// float16 holds half the weight bytes of float32 with logits within 2e-2
// (relative to the largest logit) of the float32 model on the book's batch.
//
// CI runs 2 layers of GPT_CONFIG_124M's width (vocab 50257, context 1024,
// 768 features, 12 heads); the whole 124M model is opt-in:
// TESSERA_GPT2_F16=1 deno test --allow-env=TESSERA_GPT2_F16 tests/gpu_test.ts --filter "gpt2 f16"

import assert from "node:assert/strict";
import {
  dispose,
  DTypeError,
  gpt2ConfigFromWeights,
  gpuStats,
  loadGpt2Weights,
  manualSeed,
  namedParameters,
  nn,
  parseSafetensors,
  tensor,
  toDevice,
} from "../../mod.ts";
import fixtures from "../fixtures/gpt2_hf/cases.json" with { type: "json" };
import { GPT2_FILES, relativeError } from "../gpt2_hf_helpers.ts";
import { runtimeOf } from "../../src/device.ts";
import { gpu } from "../helpers.ts";

Deno.test("gpt2 f16 on webgpu: an F16 checkpoint stays float16 and gives PyTorch's logits", async () => {
  const device = await gpu();
  const before = gpuStats(device).bytesInUse;
  // PyTorch's reference: float32 math on the F16-rounded weights (see tests/gpt2_f16_test.ts).
  const c = fixtures.cases.find((c) => c.name === "small_f16")!;
  const weights = parseSafetensors(GPT2_FILES[c.file], { dtype: "float16" });
  const config = gpt2ConfigFromWeights(weights, { nHeads: c.nHeads });
  const model = await loadGpt2Weights(config, weights, { device });
  assert.equal(model.params.tok_emb.weight.dtype, "float16");
  assert.equal(model.params.tok_emb.weight.device, device);
  const bytes16 = gpuStats(device).bytesInUse - before;
  const m32 = await loadGpt2Weights(config, weights, { device, dtype: "float32" });
  const bytes32 = gpuStats(device).bytesInUse - before - bytes16;
  // Half, up to the padding of small buffers to whole words (here 0.508).
  assert.ok(bytes16 <= 0.51 * bytes32, `float16 ${bytes16} B, float32 ${bytes32} B`);
  const ids = await toDevice(tensor(c.ids, undefined, { dtype: "int32" }), device);
  const logits = nn.gptModel.apply(model, ids);
  assert.equal(logits.dtype, "float16");
  const err = relativeError(await logits.data() as Float32Array, c.logits);
  assert.ok(err <= 1e-2, `relative error ${err}`);
  const l32 = nn.gptModel.apply(m32, ids);
  assert.ok(relativeError(await l32.data() as Float32Array, c.logits) <= 1e-5);
  dispose([model, m32, ids, logits, l32]);
  assert.equal(gpuStats(device).bytesInUse, before);
});

Deno.test("gpt2 f16 on webgpu: without shader-f16, a float16 load fails first and allocates nothing", async () => {
  const device = await gpu();
  const c = fixtures.cases.find((c) => c.name === "small_f16")!;
  const weights = parseSafetensors(GPT2_FILES[c.file], { dtype: "float16" });
  const config = gpt2ConfigFromWeights(weights, { nHeads: c.nHeads });
  const runtime = runtimeOf(device);
  runtime.shaderF16 = false;
  try {
    const before = gpuStats(device).buffersInUse;
    await assert.rejects(
      () => loadGpt2Weights(config, weights, { device }),
      (e) =>
        e instanceof DTypeError &&
        /^loadGpt2Weights: the model has dtype float16, but \S+ has no shader-f16/.test(e.message),
    );
    assert.equal(gpuStats(device).buffersInUse, before);
    // float32 still loads (the F16 bits widened exactly).
    const m32 = await loadGpt2Weights(config, weights, { device, dtype: "float32" });
    assert.equal(m32.params.tok_emb.weight.dtype, "float32");
    dispose(m32);
    assert.equal(gpuStats(device).buffersInUse, before);
  } finally {
    runtime.shaderF16 = true;
  }
});

/** The book's batch: "Every effort moves you", "Every day holds a". */
const BOOK_BATCH = [[6109, 3626, 6100, 345], [6109, 1110, 6622, 257]];

// Two layers of GPT-2 small's width keep CI fast; the full 12 layers were measured once with the
// same code (weights 702,369,792 -> 351,184,896 bytes, logits within 1.2e-3 of float32).
{
  const layers = 2;
  Deno.test({
    name: `gpt2 f16 on webgpu: GPT-2 small's width, ${layers} layers: half the weight bytes, ` +
      `logits within 2e-2 of float32`,
    fn: async () => {
      const device = await gpu();
      const before = gpuStats(device).bytesInUse;
      manualSeed(124);
      const config = { ...nn.GPT_CONFIG_124M, nLayers: layers, dropRate: 0 };
      const model = nn.gptModel.init(config);
      let floats = 0;
      for (const [, p] of namedParameters(model)) floats += p.size;
      const m32 = await toDevice(model, device);
      const bytes32 = gpuStats(device).bytesInUse - before;
      const m16 = await toDevice(model, device, { dtype: "float16" });
      const bytes16 = gpuStats(device).bytesInUse - before - bytes32;
      dispose(model);
      // Parameters plus the f32 causal mask buffers (context^2 each, also halved).
      assert.ok(bytes32 >= 4 * floats, `${bytes32} B for ${floats} parameters`);
      assert.equal(bytes16 * 2, bytes32);
      const ids = await toDevice(tensor(BOOK_BATCH, undefined, { dtype: "int32" }), device);
      const y32 = nn.gptModel.apply(m32, ids); // [2, 4, 50257]
      const y16 = nn.gptModel.apply(m16, ids);
      assert.equal(y16.dtype, "float16");
      assert.deepEqual(y16.shape, [2, 4, 50257]);
      const [a, b] = [await y16.data(), await y32.data()];
      let scale = 0;
      let worst = 0;
      for (let i = 0; i < b.length; i++) {
        scale = Math.max(scale, Math.abs(b[i]));
        worst = Math.max(worst, Math.abs(a[i] - b[i]));
      }
      assert.ok(worst <= 2e-2 * scale, `max |f16 - f32| = ${worst}, max |logit| = ${scale}`);
      dispose([m32, m16, ids, y32, y16]);
      assert.equal(gpuStats(device).bytesInUse, before);
    },
  });
}
