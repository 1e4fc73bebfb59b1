// Acceptance audit of issues 10 and 11 (engineer H18): checks the committed
// suite did not make, and exact repros of the gaps the audit found.
//
// The PyTorch numbers below come from scripts/torch_gpt.py (the book's
// GPTModel) under Debian's torch 1.13:
//
//   torch.manual_seed(99); m = GPTModel(cfg).eval()
//   ids = torch.randint(0, 53, (3, 11), generator=torch.Generator().manual_seed(1))
//   cross_entropy(m(ids).flatten(0, 1), ids.flatten())    # LOSS
//   generate_text_simple(m, ids[:, :4], 22, 11)           # GREEDY
//
// The tests whose comments say KNOWN GAP were ignored repros of wrong results
// the audit measured (actual vs expected in each comment); all three are fixed
// (engineer H19) and run now.

import assert from "node:assert/strict";
import {
  crossEntropy,
  dispose,
  dropout,
  generate,
  gpuStats,
  manualSeed,
  nn,
  randn,
  reshape,
  slice,
  sum,
  type Tensor,
  tensor,
  toDevice,
  valueAndGrad,
} from "../../mod.ts";
import { gpu } from "../helpers.ts";

// Five heads of size 6, qkv bias, vocab 53, context 11: a shape no fixture in
// tests/fixtures/gpt uses.
const CONFIG = {
  vocabSize: 53,
  contextLength: 11,
  embDim: 30,
  nHeads: 5,
  nLayers: 2,
  dropRate: 0.2,
  qkvBias: true,
};
const IDS = [
  [12, 40, 11, 35, 6, 5, 11, 49, 37, 22, 39],
  [22, 46, 39, 28, 23, 26, 51, 27, 22, 2, 47],
  [4, 41, 10, 44, 3, 24, 46, 15, 3, 52, 0],
];
const LOSS = 4.264348983764648;
// 22 new tokens after each row's 4-token prompt (IDS[b][:4], prepended):
// the window is cropped from step 8 on.
const GREEDY = [
  [41, 12, 5, 50, 5, 21, 46, 12, 38, 0, 38, 0, 38, 12, 38, 12, 38, 12, 38, 12, 38, 0],
  [23, 11, 44, 50, 5, 21, 46, 12, 38, 0, 38, 0, 38, 12, 38, 12, 38, 12, 38, 12, 38, 0],
  [3, 2, 35, 50, 16, 32, 10, 20, 45, 49, 27, 39, 7, 12, 38, 0, 38, 0, 38, 0, 38, 12],
].map((tokens, b) => [...IDS[b].slice(0, 4), ...tokens]);

Deno.test("audit: a GPT of 5 heads of 6 gives PyTorch's loss and greedy tokens past the context, cpu and webgpu", async () => {
  const device = await gpu();
  manualSeed(99);
  const host = nn.gptModel.init(CONFIG);
  const ids = tensor(IDS, undefined, { dtype: "int32" });
  for (const where of ["cpu", "webgpu"] as const) {
    const model = where === "cpu" ? host : await toDevice(host, device);
    const x = where === "cpu" ? ids : await toDevice(ids, device);
    const logits = nn.gptModel.apply(model, x); // [3, 11, 53]
    const flatLogits = reshape(logits, [33, CONFIG.vocabSize]);
    const flatIds = reshape(x, [33]);
    const loss = crossEntropy(flatLogits, flatIds);
    const value = (await loss.data())[0];
    assert.ok(Math.abs(value - LOSS) <= 1e-5 * LOSS, `${where}: loss ${value}, PyTorch ${LOSS}`);
    const prompt = slice(x, [0, 3], [0, 4]);
    const before = where === "webgpu" ? gpuStats(device).buffersInUse : 0;
    const out = await generate(model, prompt, { maxNewTokens: 22, contextSize: 11 });
    assert.deepEqual(await out.toArray(), GREEDY, where);
    out.dispose();
    if (where === "webgpu") assert.equal(gpuStats(device).buffersInUse, before, "generate leaked");
    dispose([logits, flatLogits, flatIds, loss, prompt]);
    if (where === "webgpu") dispose([model, x]);
  }
  dispose([host, ids]);
});

Deno.test("audit: every nn layer's apply on webgpu holds only its output, and valueAndGrad through it frees all", async () => {
  const device = await gpu();
  manualSeed(1);
  const x = await toDevice(tensor(randn([2, 7, 16]), [2, 7, 16]), device); // [2, 7, 16]
  const ids = await toDevice(tensor([[1, 2, 3], [4, 5, 6]], undefined, { dtype: "int32" }), device);
  // deno-lint-ignore no-explicit-any
  type Layer = { apply: (m: any, x: Tensor, o?: any) => Tensor };
  const layers: [string, Layer, unknown, Tensor][] = [
    ["linear", nn.linear, nn.linear.init({ inFeatures: 16, outFeatures: 5 }), x],
    ["layerNorm", nn.layerNorm, nn.layerNorm.init({ embDim: 16 }), x],
    ["gelu", nn.gelu, nn.gelu.init(), x],
    ["feedForward", nn.feedForward, nn.feedForward.init({ embDim: 16 }), x],
    ["embedding", nn.embedding, nn.embedding.init({ numEmbeddings: 10, embeddingDim: 4 }), ids],
    [
      "multiHeadAttention",
      nn.multiHeadAttention,
      nn.multiHeadAttention.init({
        dIn: 16,
        dOut: 16,
        contextLength: 8,
        dropout: 0.1,
        numHeads: 2,
        qkvBias: true,
      }),
      x,
    ],
    [
      "transformerBlock",
      nn.transformerBlock,
      nn.transformerBlock.init({
        embDim: 16,
        contextLength: 8,
        nHeads: 2,
        dropRate: 0.1,
        qkvBias: true,
      }),
      x,
    ],
    [
      "gptModel",
      nn.gptModel,
      nn.gptModel.init({ ...CONFIG, vocabSize: 11, contextLength: 8, embDim: 16, nHeads: 2 }),
      ids,
    ],
  ];
  for (const [name, layer, host, input] of layers) {
    const module = await toDevice(host, device) as { params: unknown };
    for (const options of [{}, { training: true }, { fused: false }]) {
      const what = `${name} ${JSON.stringify(options)}`;
      const before = gpuStats(device).buffersInUse;
      const y = layer.apply(module, input, options);
      assert.equal(gpuStats(device).buffersInUse, before + 1, `${what}: apply kept intermediates`);
      y.dispose();
      const { value, grads } = valueAndGrad((params: unknown) =>
        sum(layer.apply({ ...module, params }, input, options))
      )(module.params);
      dispose([value, grads]);
      assert.equal(gpuStats(device).buffersInUse, before, `${what}: valueAndGrad leaked`);
    }
    dispose(module);
  }
  dispose([x, ids]);
});

// KNOWN GAP: on webgpu crossEntropy takes out-of-range or fractional targets
// and returns a plausible finite loss. Measured: logits
// [[1,2,3,4],[0,0,0,0],[4,3,2,1]], int32 targets [0, 1, 4] -> 2.7556 (and
// [0, 1, -1] -> 1.7556; float targets [0, 1, 2.5] -> 2.4222), where the cpu
// throws ArgumentError ("targets[2] is 4, which is not a class index in
// [0, 4)") and PyTorch raises "Target 4 is out of bounds". Expected: NaN at
// least (as embedding gives NaN rows for out-of-range GPU ids) or an error.
Deno.test({
  name: "audit: crossEntropy on webgpu gives no finite loss for a target outside [0, C)",
  fn: async () => {
    const device = await gpu();
    const logits = await toDevice(tensor([[1, 2, 3, 4], [0, 0, 0, 0], [4, 3, 2, 1]]), device);
    for (const bad of [4, -1, 1_000_000]) {
      const targets = await toDevice(tensor([0, 1, bad], undefined, { dtype: "int32" }), device);
      let value = NaN;
      try {
        const loss = crossEntropy(logits, targets);
        value = (await loss.data())[0];
        loss.dispose();
      } catch {
        // An error is an acceptable answer.
      }
      targets.dispose();
      assert.ok(Number.isNaN(value), `target ${bad}: got the finite loss ${value}`);
    }
    logits.dispose();
  },
});

// KNOWN GAP: dropout zeroes dropped NaN and infinite inputs; PyTorch
// multiplies by the mask, so a dropped NaN stays NaN and a dropped infinity
// becomes NaN (torch 1.13: dropout(full((64,), nan), 0.5, True) is 64 NaN;
// of full((64,), inf), NaN where dropped, never 0). Measured: 26 of 64 zeros
// on cpu, 32 of 64 on webgpu, for an all-NaN input.
Deno.test({
  name: "audit: dropout keeps NaN in and turns dropped infinities into NaN, like PyTorch",
  fn: async () => {
    const device = await gpu();
    for (const value of [NaN, Infinity]) {
      const host = tensor(new Float32Array(64).fill(value), [64]);
      const onGpu = await toDevice(host, device);
      for (const x of [host, onGpu]) {
        const y = dropout(x, 0.5);
        const data = await y.data();
        y.dispose();
        const zeros = Array.from(data).filter((v) => v === 0).length;
        assert.equal(zeros, 0, `${x.device.name}, input ${value}: ${zeros} zeros`);
      }
      onGpu.dispose();
    }
  },
});

// KNOWN GAP: a GPT whose block-0 mask buffer has the wrong shape fails inside
// multiHeadAttention, after the embedding and first layer norm were recorded:
// "multiHeadAttention.apply: x has 3 tokens, but the mask [1, 1] covers at
// most 1" (no module path such as buffers.trf_blocks.0.att.mask), and 2
// buffers stay in use. Expected: checked up front, path named, nothing leaked.
Deno.test({
  name: "audit: gptModel.apply checks mask buffer shapes up front and leaks nothing",
  fn: async () => {
    const device = await gpu();
    manualSeed(3);
    const model = await toDevice(
      nn.gptModel.init({ ...CONFIG, contextLength: 16, vocabSize: 61, dropRate: 0 }),
      device,
    );
    const buffers = model.buffers as unknown as { trf_blocks: { att: { mask: Tensor } }[] };
    const mask = buffers.trf_blocks[0].att.mask;
    buffers.trf_blocks[0].att.mask = await toDevice(tensor([[1]]), device);
    const ids = await toDevice(tensor([[1, 2, 3]], undefined, { dtype: "int32" }), device);
    const before = gpuStats(device).buffersInUse;
    try {
      assert.throws(
        () => nn.gptModel.apply(model, ids),
        (e: Error) =>
          /gptModel\.apply/.test(e.message) && /trf_blocks\.0\.att\.mask/.test(e.message),
      );
      assert.equal(gpuStats(device).buffersInUse, before, "the failed forward leaked");
    } finally {
      buffers.trf_blocks[0].att.mask.dispose();
      buffers.trf_blocks[0].att.mask = mask;
      dispose([model, ids]);
    }
  },
});
