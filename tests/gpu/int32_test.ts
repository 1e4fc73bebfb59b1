// int32 tensors on webgpu: bitwise toDevice round trips (int32 extremes
// included), printing with the device suffix before the dtype, and state
// dicts / safetensors from GPU modules keeping the dtype.

import assert from "node:assert/strict";
import {
  cpu,
  format,
  loadStateDict,
  safetensorsToStateDict,
  stateDict,
  stateDictToSafetensors,
  tensor,
  toDevice,
} from "../../mod.ts";
import { bits, gpu } from "../helpers.ts";

const INT_MIN = -2147483648;
const INT_MAX = 2147483647;

Deno.test("int32 webgpu: toDevice round trips are bitwise, extremes included", async () => {
  const device = await gpu();
  for (const n of [1, 3, 7, 17, 65, 257, 70_000]) {
    const values = new Int32Array(n);
    for (let i = 0; i < n; i++) values[i] = Math.imul(i + 1, 0x9e3779b1);
    values[0] = INT_MIN;
    values[n - 1] = n > 1 ? INT_MAX : INT_MIN;
    const host = tensor(values, [n]);
    const onGpu = await toDevice(host, device);
    assert.equal(onGpu.dtype, "int32");
    const back = await toDevice(onGpu, cpu);
    assert.equal(back.dtype, "int32");
    assert.deepEqual(bits(await back.data()), bits(values), `n = ${n}`);
    assert.deepEqual(bits(await onGpu.data()), bits(values), `n = ${n}`);
    onGpu.dispose();
  }
});

Deno.test("int32 webgpu: format puts the device suffix before the dtype, as torch does", async () => {
  const device = await gpu();
  const ids = tensor([[INT_MIN, 2], [3, INT_MAX]], undefined, { dtype: "int32", device });
  assert.equal(
    await format(ids),
    `tensor([[-2147483648,           2],\n        [          3,  2147483647]], ` +
      `device='${device.name}', dtype=torch.int32)`,
  );
  const empty = tensor([], [2, 0], { dtype: "int32", device });
  assert.equal(
    await format(empty),
    `tensor([], device='${device.name}', size=(2, 0), dtype=torch.int32)`,
  );
  ids.dispose();
  empty.dispose();
});

Deno.test("int32 webgpu: state dicts and safetensors keep the dtype", async () => {
  const device = await gpu();
  const module = {
    params: { weight: tensor([[0.5, -1]], undefined, { device }) },
    buffers: { positions: tensor([INT_MIN, 0, INT_MAX], undefined, { dtype: "int32", device }) },
    config: {},
  };
  const bytes = await stateDictToSafetensors(stateDict(module));
  const dict = safetensorsToStateDict(bytes, device);
  assert.equal(dict.get("positions")!.dtype, "int32");
  assert.equal(dict.get("positions")!.device, device);
  const fresh = {
    params: { weight: tensor([[0, 0]], undefined, { device }) },
    buffers: { positions: tensor([1, 1, 1], undefined, { dtype: "int32", device }) },
    config: {},
  };
  const { module: loaded } = await loadStateDict(fresh, dict);
  assert.equal(loaded.buffers.positions.dtype, "int32");
  assert.deepEqual(await loaded.buffers.positions.toArray(), [INT_MIN, 0, INT_MAX]);
  for (const t of [...dict.values(), ...Object.values(module.params)]) t.dispose();
  module.buffers.positions.dispose();
  fresh.params.weight.dispose();
  fresh.buffers.positions.dispose();
});
