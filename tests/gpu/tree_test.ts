import assert from "node:assert/strict";
import {
  cpu,
  dispose,
  gpuStats,
  mapTree,
  namedBuffers,
  namedParameters,
  nn,
  type Tensor,
  tensor,
  toDevice,
  treeLeaves,
  UseAfterDisposeError,
} from "../../mod.ts";
import { runtimeOf } from "../../src/device.ts";
import { bits, gpu, randomData } from "../helpers.ts";

Deno.test("treeLeaves and mapTree keep keys, order and non-tensor leaves", async () => {
  const tree = { a: tensor([1]), nested: { list: [tensor([2]), "x", 3] }, flag: true, none: null };
  assert.deepEqual([...treeLeaves(tree)].map(([p]) => p), ["a", "nested.list.0"]);
  const doubled = mapTree(tree, (t) => tensor((t.shape[0] === 1) ? [9] : [0]));
  assert.deepEqual(Object.keys(doubled), ["a", "nested", "flag", "none"]);
  assert.equal(doubled.nested.list[1], "x");
  assert.equal(doubled.nested.list[2], 3);
  assert.equal(doubled.flag, true);
  assert.equal(doubled.none, null);
  assert.deepEqual(await (doubled.a as Tensor).toArray(), [9]);
});

Deno.test("mapTree handles a key named __proto__ without polluting prototypes", () => {
  const tree = JSON.parse('{"__proto__": 1, "b": 2}');
  const out = mapTree(tree, (t) => t);
  assert.equal(Object.keys(out).includes("__proto__"), true);
  assert.equal(({} as Record<string, unknown>).b, undefined);
});

Deno.test("toDevice moves every param AND every buffer, and keeps config", async () => {
  const device = await gpu();
  const m = nn.causalAttention.init({
    dIn: 5,
    dOut: 3,
    contextLength: 7,
    dropout: 0.1,
    qkvBias: true,
  });
  const moved = await toDevice(m, device);
  const params = [...namedParameters(moved)];
  const buffers = [...namedBuffers(moved)];
  assert.deepEqual(params.map(([n]) => n), [
    "W_query.weight",
    "W_query.bias",
    "W_key.weight",
    "W_key.bias",
    "W_value.weight",
    "W_value.bias",
  ]);
  assert.deepEqual(buffers.map(([n]) => n), ["mask"]);
  for (const [name, t] of [...params, ...buffers]) assert.equal(t.device, device, name);
  assert.deepEqual(moved.config, m.config);
  for (const [name, t] of namedParameters(m)) assert.equal(t.device, cpu, `source ${name} stays`);
  const back = await toDevice(moved, cpu);
  for (const [[name, a], [, b]] of zip([...treeLeaves(m)], [...treeLeaves(back)])) {
    assert.deepEqual(bits(await b.data()), bits(await a.data()), name);
  }
  dispose(moved);
});

function zip<A, B>(a: A[], b: B[]): [A, B][] {
  return a.map((x, i) => [x, b[i]]);
}

Deno.test("cpu -> webgpu -> cpu round trip is bitwise identical at awkward sizes", async () => {
  const device = await gpu();
  for (const n of [0, 1, 3, 257, 65537]) {
    const data = randomData(n, n + 1);
    // Include the values that trip lossy paths: -0, subnormals, extremes.
    if (n >= 3) data.set([-0, 1e-45, 3.4028234663852886e38]);
    const original = tensor(data, [n]);
    const onGpu = await toDevice(original, device);
    assert.equal(onGpu.device.name, device.name);
    const back = await toDevice(onGpu, cpu);
    assert.deepEqual(bits(await back.data()), bits(data), `n=${n}`);
    onGpu.dispose();
  }
});

Deno.test("toDevice is atomic: a failure names the path and leaks no buffer", async () => {
  const device = await gpu();
  const before = gpuStats(device).buffersInUse;
  const broken = tensor([1, 2, 3]);
  broken.dispose();
  const m = {
    params: { W_query: { weight: tensor(randomData(6, 1), [2, 3]) } },
    buffers: { mask: broken },
  };
  await assert.rejects(
    () => toDevice(m, device),
    (e: Error) => {
      assert.ok(e instanceof UseAfterDisposeError);
      assert.match(e.message, /toDevice: cannot move buffers\.mask \[3\] from cpu to webgpu:\d+/);
      return true;
    },
  );
  assert.equal(gpuStats(device).buffersInUse, before);
  assert.equal(m.params.W_query.weight.device, cpu);
});

Deno.test("toDevice moves a tensor over the binding limit (only kernels bind; issue 11)", async () => {
  const device = await gpu();
  const runtime = runtimeOf(device);
  const saved = runtime.maxBindingBytes;
  // Upload, readback and disposal never bind, so only maxBufferSize limits them.
  runtime.maxBindingBytes = 256;
  try {
    const before = gpuStats(device);
    const values = randomData(100, 3);
    const moved = await toDevice({ params: { big: tensor(values, [100]) } }, device);
    assert.deepEqual(bits(await moved.params.big.data()), bits(values));
    moved.params.big.dispose();
    assert.equal(gpuStats(device).buffersInUse, before.buffersInUse);
  } finally {
    runtime.maxBindingBytes = saved;
  }
});

Deno.test("dispose releases GPU memory and is idempotent", async () => {
  const device = await gpu();
  const before = gpuStats(device).buffersInUse;
  const tree = await toDevice(
    { a: tensor(randomData(100, 5)), b: [tensor(randomData(7, 6))] },
    device,
  );
  assert.equal(gpuStats(device).buffersInUse, before + 2);
  dispose(tree);
  dispose(tree);
  assert.equal(gpuStats(device).buffersInUse, before);
  await assert.rejects(() => tree.a.data(), UseAfterDisposeError);
});
