import assert from "node:assert/strict";
import {
  loadStateDict,
  manualSeed,
  markNonPersistent,
  nn,
  stateDict,
  StateDictError,
  tensor,
  toDevice,
} from "../../mod.ts";
import { bits, gpu, randomTensor } from "../helpers.ts";

const config = { dIn: 5, dOut: 3, contextLength: 4, dropout: 0, qkvBias: true };

Deno.test("stateDict uses PyTorch's keys and order, buffers persistent by default", () => {
  const m = nn.causalAttention.init(config);
  assert.deepEqual([...stateDict(m).keys()], [
    "mask",
    "W_query.weight",
    "W_query.bias",
    "W_key.weight",
    "W_key.bias",
    "W_value.weight",
    "W_value.bias",
  ]);
  const np = markNonPersistent(m, "mask");
  assert.equal(stateDict(np).has("mask"), false);
  assert.equal(np.buffers.mask, m.buffers.mask, "the buffer itself stays in the module");
  assert.throws(
    () => markNonPersistent(m, "maks"),
    /has no buffer named "maks"; its buffers are "mask"/,
  );
});

Deno.test("strict loading lists every problem in one error and leaves the module untouched", async () => {
  manualSeed(3);
  const m = nn.causalAttention.init(config);
  const before = await m.params.W_key.weight.data();
  const dict = stateDict(nn.causalAttention.init(config));
  dict.delete("W_value.bias");
  dict.set("W_key.weight", randomTensor([2, 5], 1));
  dict.set("extra.weight", tensor([1]));
  await assert.rejects(() => loadStateDict(m, dict), (e: Error) => {
    assert.ok(e instanceof StateDictError);
    assert.deepEqual(e.problems, [
      "size mismatch for W_key.weight: copying a tensor of shape [2, 5], but the module's tensor has shape [3, 5]",
      'missing key "W_value.bias"',
      'unexpected key "extra.weight"',
    ]);
    return true;
  });
  assert.deepEqual(await m.params.W_key.weight.data(), before);
});

Deno.test("non-strict loading reports missing and unexpected keys and keeps missing tensors", async () => {
  const m = nn.causalAttention.init(config);
  const source = nn.causalAttention.init(config);
  const dict = stateDict(source);
  dict.delete("mask");
  dict.set("__proto__", tensor([1]));
  const { module, missingKeys, unexpectedKeys } = await loadStateDict(m, dict, { strict: false });
  assert.deepEqual(missingKeys, ["mask"]);
  assert.deepEqual(unexpectedKeys, ["__proto__"]);
  assert.equal(module.buffers.mask, m.buffers.mask);
  assert.deepEqual(
    bits(await module.params.W_value.weight.data()),
    bits(await source.params.W_value.weight.data()),
  );
  assert.notEqual(module, m);
  await assert.rejects(
    () => loadStateDict(m, new Map([["W_query.bias", tensor([1, 2])]]), { strict: false }),
    /size mismatch for W_query\.bias: copying a tensor of shape \[2\], but the module's tensor has shape \[3\]/,
  );
});

Deno.test("loading onto a GPU module moves the tensors and the forward uses them", async () => {
  const device = await gpu();
  const trained = nn.causalAttention.init(config);
  const target = await toDevice(nn.causalAttention.init(config), device);
  const { module } = await loadStateDict(target, stateDict(trained));
  for (const [key, t] of stateDict(module)) assert.equal(t.device, device, key);
  const x = randomTensor([2, 3, 5], 9);
  const expected = await nn.causalAttention.apply(trained, x).data();
  const actual = await nn.causalAttention.apply(module, await toDevice(x, device)).data();
  assert.ok(actual.every((v, i) => Math.abs(v - expected[i]) < 1e-5));
});
