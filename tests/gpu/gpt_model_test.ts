// nn.gptModel against PyTorch 1.13 (fixtures written by
// scripts/gen_gpt_fixtures.py from the book's chapter-4 code in
// scripts/torch_gpt.py): strict state-dict loading, logits and parameter
// gradients on cpu and webgpu, greedy continuation, and init bit for bit.

import assert from "node:assert/strict";
import {
  assertClose,
  dispose,
  loadStateDict,
  manualSeed,
  mul,
  nn,
  safetensorsToStateDict,
  stateDict,
  sum,
  type Tensor,
  tensor,
  toDevice,
  treeLeaves,
  valueAndGrad,
} from "../../mod.ts";
import cases from "../fixtures/gpt/cases.json" with { type: "json" };
import twoLayersBias from "../fixtures/gpt/two_layers_bias.safetensors" with { type: "bytes" };
import singleToken from "../fixtures/gpt/single_token.safetensors" with { type: "bytes" };
import threeLayers from "../fixtures/gpt/three_layers.safetensors" with { type: "bytes" };
import head64 from "../fixtures/gpt/head64.safetensors" with { type: "bytes" };
import oneHeadOdd from "../fixtures/gpt/one_head_odd.safetensors" with { type: "bytes" };
import init123 from "../fixtures/gpt/init_123.safetensors" with { type: "bytes" };
import init7 from "../fixtures/gpt/init_7.safetensors" with { type: "bytes" };
import init2024 from "../fixtures/gpt/init_2024.safetensors" with { type: "bytes" };
import { gpu } from "../helpers.ts";

const FILES: Record<string, Uint8Array> = {
  two_layers_bias: twoLayersBias,
  single_token: singleToken,
  three_layers: threeLayers,
  head64: head64,
  one_head_odd: oneHeadOdd,
};
const INIT_FILES: Record<number, Uint8Array> = { 123: init123, 7: init7, 2024: init2024 };

/** Largest |a - e| over the largest |e|: the logits' relative error. */
function relativeError(actual: Float32Array, expected: Float32Array): number {
  let diff = 0, scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return diff / scale;
}

/**
 * Throws unless |a - e| <= rtol * max(|e|, floor) everywhere, where floor is
 * 1% of the tensor's largest |e| or 1e-3 of the model's largest gradient
 * (`scale`): some gradients are zero in exact arithmetic (a key bias shifts
 * every score of a row alike) and both sides hold rounding noise there, up
 * to about one float32 ulp of `scale` (rtol * 1e-3 = 1e-7).
 */
function assertFloored(
  actual: Float32Array,
  expected: Float32Array,
  rtol: number,
  scale: number,
  what: string,
): void {
  assert.equal(actual.length, expected.length, what);
  const top = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const floor = Math.max(1e-2 * top, 1e-3 * scale);
  for (let i = 0; i < expected.length; i++) {
    const bound = rtol * Math.max(Math.abs(expected[i]), floor);
    if (!(Math.abs(actual[i] - expected[i]) <= bound)) {
      throw new Error(
        `${what}: element ${i} is ${actual[i]}, expected ${expected[i]} (bound ${bound})`,
      );
    }
  }
}

type Case = (typeof cases.cases)[number];

async function loadCase(c: Case): Promise<{ model: nn.GptModel; file: Map<string, Tensor> }> {
  const file = safetensorsToStateDict(FILES[c.name]);
  const dict = new Map([...file].filter(([k]) => c.stateDictKeys.includes(k)));
  const { module, missingKeys, unexpectedKeys } = await loadStateDict(
    nn.gptModel.init(c.config),
    dict,
  );
  assert.deepEqual([missingKeys, unexpectedKeys], [[], []]);
  return { model: module, file };
}

const f32 = async (t: Tensor): Promise<Float32Array> => (await t.data()) as Float32Array;
const ids = (c: Case): Tensor => tensor(c.ids, undefined, { dtype: "int32" });

for (const c of cases.cases) {
  Deno.test(`gpt ${c.name}: state dict keys are PyTorch's, and it loads strictly`, async () => {
    const fresh = nn.gptModel.init(c.config);
    assert.deepEqual([...stateDict(fresh).keys()].sort(), [...c.stateDictKeys].sort());
    assert.deepEqual([...treeLeaves(fresh.params)].map(([k]) => k), c.parameterKeys);
    const { model } = await loadCase(c);
    dispose([fresh, model]);
  });

  for (const where of ["cpu", "webgpu"] as const) {
    Deno.test(`gpt ${c.name}: logits equal PyTorch's on ${where} (relative error <= 1e-5)`, async () => {
      const { model: host, file } = await loadCase(c);
      const device = where === "cpu" ? undefined : await gpu();
      const model = device ? await toDevice(host, device) : host;
      const x = device ? await toDevice(ids(c), device) : ids(c);
      const logits = nn.gptModel.apply(model, x);
      assert.deepEqual(logits.shape, [c.ids.length, c.ids[0].length, c.config.vocabSize]);
      const error = relativeError(await f32(logits), await f32(file.get("logits")!));
      assert.ok(error <= 1e-5, `relative error ${error}`);
      dispose([host, model, x, logits, [...file.values()]]);
    });

    Deno.test(`gpt ${c.name}: parameter gradients equal PyTorch's on ${where}`, async () => {
      const { model: host, file } = await loadCase(c);
      const device = where === "cpu" ? undefined : await gpu();
      const model = device ? await toDevice(host, device) : host;
      const x = device ? await toDevice(ids(c), device) : ids(c);
      const weights = device
        ? await toDevice(file.get("loss_weights")!, device)
        : file.get("loss_weights")!;
      const loss = (params: nn.GptParams) => {
        const logits = nn.gptModel.apply({ ...model, params }, x);
        return sum(mul(logits, weights));
      };
      const { value, grads } = valueAndGrad(loss)(model.params);
      const total = (await value.data())[0];
      assert.ok(Math.abs(total - c.loss) <= 1e-4 * Math.max(1, Math.abs(c.loss)), `loss ${total}`);
      let scale = 0;
      for (const key of c.parameterKeys) {
        for (const v of await f32(file.get(`grad.${key}`)!)) scale = Math.max(scale, Math.abs(v));
      }
      for (const [key, g] of treeLeaves(grads)) {
        const expected = await f32(file.get(`grad.${key}`)!);
        assertFloored(await f32(g), expected, 1e-4, scale, `grad.${key}`);
      }
      dispose([host, model, x, weights, value, grads, [...file.values()]]);
    });
  }

  Deno.test(`gpt ${c.name}: greedy continuation equals PyTorch's generate_text_simple`, async () => {
    const { model: host } = await loadCase(c);
    const model = await toDevice(host, await gpu());
    const tokens = [...c.prompt[0]];
    while (tokens.length < c.greedy[0].length) {
      const x = await toDevice(
        tensor([tokens], undefined, { dtype: "int32" }),
        model.params
          .out_head.weight.device,
      );
      const logits = nn.gptModel.apply(model, x);
      const all = await f32(logits);
      const last = all.subarray(all.length - c.config.vocabSize);
      tokens.push(last.indexOf(Math.max(...last)));
      dispose([x, logits]);
    }
    assert.deepEqual(tokens, c.greedy[0]);
    dispose([host, model]);
  });
}

Deno.test("gpt init: manualSeed(s) + nn.gptModel.init equals torch.manual_seed(s) + GPTModel", async () => {
  for (const seed of cases.init.seeds) {
    manualSeed(seed);
    const model = nn.gptModel.init(cases.init.config);
    const torch = safetensorsToStateDict(INIT_FILES[seed]);
    const report: string[] = [];
    let inexact = 0;
    for (const [key, t] of treeLeaves(model.params)) {
      const ours = new Int32Array((await t.data()).buffer);
      const theirs = new Int32Array((await torch.get(key)!.data()).buffer);
      assert.equal(ours.length, theirs.length, key);
      let exact = 0, ulp = 0;
      for (let i = 0; i < ours.length; i++) {
        if (ours[i] === theirs[i]) exact++;
        else if (Math.abs(ours[i] - theirs[i]) === 1) ulp++;
      }
      inexact += ours.length - exact;
      report.push(`${key}: ${exact}/${ours.length} exact, ${ulp} within 1 ulp`);
      assert.equal(exact + ulp, ours.length, `${key} differs by more than 1 ulp`);
    }
    console.log(`seed ${seed}:\n  ${report.join("\n  ")}`);
    assert.equal(inexact, 0, `seed ${seed}: ${inexact} values are not bit-exact`);
    dispose([model, [...torch.values()]]);
  }
});

Deno.test("GPT_CONFIG_124M after manualSeed(123): the book's parameter count, logits and greedy tokens on webgpu", async () => {
  const book = cases.book124m;
  manualSeed(123);
  const host = nn.gptModel.init(nn.GPT_CONFIG_124M);
  let count = 0;
  for (const [, t] of treeLeaves(host.params)) count += t.size;
  assert.equal(count, book.parameters);
  const device = await gpu();
  const model = await toDevice(host, device);
  dispose(host);
  const batch = await toDevice(tensor(book.batch, undefined, { dtype: "int32" }), device);
  const logits = await f32(nn.gptModel.apply(model, batch));
  const vocab = nn.GPT_CONFIG_124M.vocabSize;
  const got: number[] = [];
  const want: number[] = [];
  book.head.forEach((rows, b) =>
    rows.forEach((values, t) => {
      const row = logits.subarray((b * 4 + t) * vocab, (b * 4 + t + 1) * vocab);
      got.push(...row.subarray(0, 3), ...row.subarray(vocab - 3));
      want.push(...values, ...book.tail[b][t]);
    })
  );
  await assertClose(Float32Array.from(got), Float32Array.from(want), { rtol: 1e-5, atol: 2e-5 });
  const tokens = [...book.prompt[0]];
  while (tokens.length < book.greedy[0].length) {
    const x = await toDevice(tensor([tokens], undefined, { dtype: "int32" }), device);
    const out = nn.gptModel.apply(model, x);
    const all = await f32(out);
    const last = all.subarray(all.length - vocab);
    let best = 0;
    for (let j = 1; j < vocab; j++) if (last[j] > last[best]) best = j;
    tokens.push(best);
    dispose([x, out]);
  }
  assert.deepEqual(tokens, book.greedy[0]);
  dispose([model, batch]);
});
