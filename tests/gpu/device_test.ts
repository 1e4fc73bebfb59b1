import assert from "node:assert/strict";
import {
  add,
  cpu,
  DeviceMismatchError,
  format,
  manualSeed,
  matmul,
  nn,
  ones,
  stack,
  tensor,
  toDevice,
  webgpu,
} from "../../mod.ts";
import { gpu } from "../helpers.ts";

const SEED_INPUTS = [
  [0.43, 0.15, 0.89],
  [0.55, 0.87, 0.66],
  [0.57, 0.85, 0.64],
  [0.22, 0.58, 0.33],
  [0.77, 0.25, 0.10],
  [0.05, 0.80, 0.55],
];

/** The seed notebook's first printed tensor, with an optional device suffix. */
function seedFirstTensor(suffix: string): string {
  return `tensor([[[-0.4519,  0.2216],
         [-0.5874,  0.0058],
         [-0.6300, -0.0632],
         [-0.5675, -0.0843],
         [-0.5526, -0.0981],
         [-0.5299, -0.1081]],

        [[-0.4519,  0.2216],
         [-0.5874,  0.0058],
         [-0.6300, -0.0632],
         [-0.5675, -0.0843],
         [-0.5526, -0.0981],
         [-0.5299, -0.1081]]]${suffix})`;
}

Deno.test("device names print as cpu and webgpu:N; webgpu() is cached", async () => {
  assert.equal(cpu.name, "cpu");
  const device = await gpu();
  assert.match(device.name, /^webgpu:\d+$/);
  assert.equal(await webgpu(), device);
  assert.equal(await webgpu({ device: device.gpu }), device);
  assert.ok(device.gpu.limits.maxStorageBufferBindingSize >= 134217728);
});

Deno.test("mixing devices throws DeviceMismatchError in PyTorch's words", async () => {
  const device = await gpu();
  const a = tensor([[1, 2], [3, 4]]);
  const b = await toDevice(a, device);
  assert.throws(
    () => add(b, a),
    (e: Error) =>
      e instanceof DeviceMismatchError &&
      e.message ===
        `add: expected a and b to be on the same device, but got b on cpu and a on ${device.name}`,
  );
  assert.throws(() => matmul(a, b), DeviceMismatchError);
  b.dispose();
});

Deno.test("a mask kept outside the module stays on cpu and the forward names scores and mask", async () => {
  const device = await gpu();
  manualSeed(123);
  const withoutBuffers = nn.causalAttention.init({ dIn: 3, dOut: 2, contextLength: 6, dropout: 0 });
  const mask = withoutBuffers.buffers.mask; // kept outside: the seed's first class
  const params = await toDevice(withoutBuffers.params, device);
  const x = await toDevice(stack([tensor(SEED_INPUTS), tensor(SEED_INPUTS)]), device);
  assert.throws(
    () => nn.causalAttention.forward(params, mask, x, { dropout: 0 }),
    (e: Error) =>
      e instanceof DeviceMismatchError &&
      e.message.endsWith(
        `expected scores and mask to be on the same device, but got mask on cpu and scores on ${device.name}`,
      ),
  );
  const maskOnGpu = await toDevice(mask, device);
  const out = nn.causalAttention.forward(params, maskOnGpu, x, { dropout: 0 });
  assert.equal(
    await format(out),
    seedFirstTensor(`, device='${device.name}'`),
  );
});

Deno.test("format reproduces both of the seed notebook's tensors on cpu and webgpu", async () => {
  const device = await gpu();
  manualSeed(123);
  const batch = stack([tensor(SEED_INPUTS), tensor(SEED_INPUTS)]);
  const first = nn.causalAttention.init({ dIn: 3, dOut: 2, contextLength: 6, dropout: 0 });
  const second = nn.causalAttention.init({ dIn: 3, dOut: 2, contextLength: 6, dropout: 0 });
  assert.equal(await format(nn.causalAttention.apply(first, batch)), seedFirstTensor(""));
  const secondGpu = await toDevice(second, device);
  assert.equal(secondGpu.buffers.mask.device, device);
  const out = nn.causalAttention.apply(secondGpu, await toDevice(batch, device));
  assert.equal(
    await format(out),
    `tensor([[[0.4772, 0.1063],
         [0.5891, 0.3257],
         [0.6202, 0.3860],
         [0.5478, 0.3589],
         [0.5321, 0.3428],
         [0.5077, 0.3493]],

        [[0.4772, 0.1063],
         [0.5891, 0.3257],
         [0.6202, 0.3860],
         [0.5478, 0.3589],
         [0.5321, 0.3428],
         [0.5077, 0.3493]]], device='${device.name}')`,
  );
  assert.equal(await format(ones([2])), "tensor([1., 1.])");
});
