// nn.causalAttention against PyTorch 1.13 (fixtures written by
// scripts/gen_attention_fixtures.py): init bit for bit, strict state-dict
// loading from PyTorch's safetensors, and the forward on cpu and webgpu.

import assert from "node:assert/strict";
import {
  assertClose,
  dispose,
  loadStateDict,
  manualSeed,
  nn,
  safetensorsToStateDict,
  stateDict,
  stateDictToSafetensors,
  tensor,
  toDevice,
} from "../../mod.ts";
import cases from "../fixtures/attention/cases.json" with { type: "json" };
import seedFile from "../fixtures/attention/seed.safetensors" with { type: "bytes" };
import oddFile from "../fixtures/attention/odd_dims_bias.safetensors" with { type: "bytes" };
import shortFile from "../fixtures/attention/short_sequence.safetensors" with { type: "bytes" };
import singleFile from "../fixtures/attention/single_token.safetensors" with { type: "bytes" };
import wideFile from "../fixtures/attention/wide.safetensors" with { type: "bytes" };
import { bits, gpu } from "../helpers.ts";

const FILES: Record<string, Uint8Array> = {
  seed: seedFile,
  odd_dims_bias: oddFile,
  short_sequence: shortFile,
  single_token: singleFile,
  wide: wideFile,
};

// Float32 attention against PyTorch's CPU kernels: exp and summation order
// differ in the last bits, so allow a few ULPs relative plus a small floor.
const TOLERANCE = { rtol: 2e-5, atol: 2e-6 };

function fromBits(entry: { shape: number[]; bits: number[] }) {
  return tensor(new Float32Array(new Int32Array(entry.bits).buffer), entry.shape);
}

for (const c of cases.cases) {
  const config = { ...c.config, dropout: 0 };

  Deno.test(`${c.name}: manualSeed(${c.seed}) + init gives PyTorch's weights bit for bit`, async () => {
    manualSeed(c.seed);
    const ours = stateDict(nn.causalAttention.init(config));
    const torch = safetensorsToStateDict(FILES[c.name]);
    assert.deepEqual([...ours.keys()], c.stateDictKeys);
    for (const [key, t] of torch) {
      assert.deepEqual(bits(await ours.get(key)!.data()), bits(await t.data()), key);
    }
  });

  Deno.test(`${c.name}: PyTorch's state dict loads strictly and the forward matches on cpu and webgpu`, async () => {
    const device = await gpu();
    const blank = nn.causalAttention.init(config, {});
    const { module, missingKeys, unexpectedKeys } = await loadStateDict(
      blank,
      safetensorsToStateDict(FILES[c.name]),
    );
    assert.deepEqual([missingKeys, unexpectedKeys], [[], []]);
    const x = fromBits(c.input);
    const expected = fromBits(c.output);
    await assertClose(nn.causalAttention.apply(module, x), expected, TOLERANCE);
    const moduleGpu = await toDevice(module, device);
    const out = nn.causalAttention.apply(moduleGpu, await toDevice(x, device));
    assert.equal(out.device, device);
    await assertClose(out, expected, TOLERANCE);
    dispose([moduleGpu, out]);
  });
}

Deno.test("a state dict serialized by Tessera reads back bitwise, from cpu and webgpu", async () => {
  const device = await gpu();
  const c = cases.cases[1];
  manualSeed(c.seed);
  const m = nn.causalAttention.init({ ...c.config, dropout: 0 });
  for (const source of [m, await toDevice(m, device)]) {
    const bytes = await stateDictToSafetensors(stateDict(source), { format: "pt" });
    const back = safetensorsToStateDict(bytes);
    for (const [key, t] of stateDict(m)) {
      assert.deepEqual(bits(await back.get(key)!.data()), bits(await t.data()), key);
    }
  }
});

Deno.test("loadStateDict puts tensors on the module's device and never modifies the input", async () => {
  const device = await gpu();
  const c = cases.cases[0];
  const target = await toDevice(nn.causalAttention.init({ ...c.config, dropout: 0 }), device);
  const before = await target.params.W_query.weight.data();
  const { module } = await loadStateDict(target, safetensorsToStateDict(FILES.seed));
  assert.equal(module.params.W_key.weight.device, device);
  assert.equal(module.buffers.mask.device, device);
  assert.deepEqual(await target.params.W_query.weight.data(), before);
});
