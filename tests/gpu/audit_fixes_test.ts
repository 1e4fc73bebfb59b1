// webgpu checks for the audit's findings (issues 10/11, engineer H19):
// crossEntropy targets that are not class indices give NaN, dropout keeps
// PyTorch's x * mask on NaN and infinities (also folded into the attention
// weights), and custom kernels check element types and take 1-3 grid entries.

import assert from "node:assert/strict";
import {
  ArgumentError,
  compileKernel,
  crossEntropy,
  DeviceLimitError,
  dispose,
  dropout,
  DTypeError,
  gpuStats,
  grad,
  type Tensor,
  tensor,
  toDevice,
} from "../../mod.ts";
import { attentionWeights } from "../../src/ops/attention.ts";
import { gpu, randomTensor } from "../helpers.ts";

Deno.test("audit fix: crossEntropy on webgpu gives NaN loss and NaN row gradients for float targets that are not class indices", async () => {
  const device = await gpu();
  const logits = await toDevice(tensor([[1, 2, 3, 4], [0, 0, 0, 0], [4, 3, 2, 1]]), device);
  for (const bad of [2.5, 4, -1, NaN, Infinity, -0.5]) {
    const targets = await toDevice(tensor([0, 1, bad]), device);
    const loss = crossEntropy(logits, targets);
    const value = (await loss.data())[0];
    assert.ok(Number.isNaN(value), `target ${bad}: loss ${value}`);
    const g = grad((x: Tensor) => crossEntropy(x, targets))(logits);
    const rows = await g.toArray() as number[][];
    assert.ok(rows[2].every((v) => Number.isNaN(v)), `target ${bad}: row 2 gradient ${rows[2]}`);
    assert.ok(rows[0].every((v) => Number.isFinite(v)), `target ${bad}: row 0 gradient ${rows[0]}`);
    dispose([targets, loss, g]);
  }
  // Whole float targets, -0 included, still give the cpu's loss.
  const hostTargets = tensor([0, -0, 3]);
  const expected =
    (await crossEntropy(tensor([[1, 2, 3, 4], [0, 0, 0, 0], [4, 3, 2, 1]]), hostTargets)
      .data())[0];
  const targets = await toDevice(hostTargets, device);
  const loss = crossEntropy(logits, targets);
  const value = (await loss.data())[0];
  assert.ok(Math.abs(value - expected) < 1e-6, `${value} vs ${expected}`);
  assert.ok(Math.abs(value - 2.75556) < 1e-4, `${value}`); // torch: (3.4402 + 1.3863 + 3.4402) / 3
  dispose([logits, targets, loss]);
});

Deno.test("audit fix: dropout on webgpu equals cpu bit for bit on NaN, infinities and signed values", async () => {
  const device = await gpu();
  const values = [NaN, Infinity, -Infinity, -3, 2, 0, -0];
  // p = 1 drops everything: PyTorch gives x * 0 there too (NaN, NaN, -0, 0, ...).
  for (const [n, p] of [[1, 0.4], [7, 0.4], [257, 0.4], [1000, 0.4], [65, 1]]) {
    const data = new Float32Array(n).map((_, i) => values[i % values.length]);
    const host = tensor(data, [n]);
    const onGpu = await toDevice(host, device);
    const want = await dropout(host, p, { seed: 11, offset: 3 }).data();
    const y = dropout(onGpu, p, { seed: 11, offset: 3 });
    const got = await y.data();
    for (let i = 0; i < n; i++) {
      assert.ok(
        Object.is(got[i], want[i]),
        `n ${n}, p ${p}, element ${i}: ${got[i]} vs ${want[i]}`,
      );
      if (p === 1) assert.ok(Object.is(want[i], data[i] * 0), `p 1, element ${i}: ${want[i]}`);
    }
    dispose([onGpu, y]);
  }
});

Deno.test("audit fix: attention weights with dropout keep a NaN row NaN where dropped", async () => {
  const device = await gpu();
  const t = 17;
  const scores = randomTensor([2, t, t], 5);
  const data = await scores.data();
  data[3 * t + 1] = NaN; // row 3 of batch 0: a visible NaN score
  const onGpu = await toDevice(tensor(data, [2, t, t]), device);
  const w = attentionWeights(onGpu, { causal: true, dropout: { p: 0.5, seed: 9n } });
  const out = await w.data();
  for (let j = 0; j < t; j++) assert.ok(Number.isNaN(out[3 * t + j]), `row 3, column ${j}`);
  let zeros = 0;
  for (let j = 0; j < 2 * t * t; j++) if (out[j] === 0) zeros++;
  assert.ok(zeros > 0, "dropout and the causal mask still give zeros in finite rows");
  dispose([scores, onGpu, w]);
});

const SCALE_F32 = `@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
  @group(0) @binding(1) var<storage, read_write> y: array<f32>;
  @compute @workgroup_size(4) fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x + id.y * 4u;
    if (i < arrayLength(&y)) { y[i] = 2.0 * x[i / 4u][i % 4u]; }
  }`;
const TO_FLOAT = `@group(0) @binding(0) var<storage, read> ids: array<i32>;
  @group(0) @binding(1) var<storage, read> more: array<u32>;
  @group(0) @binding(2) var<storage, read_write> y: array<f32>;
  @compute @workgroup_size(1) fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x < arrayLength(&y)) { y[id.x] = f32(ids[id.x]) + f32(more[id.x]); }
  }`;

Deno.test("audit fix: custom kernels check input dtypes against the declared element type, and take 1-3 grid entries", async () => {
  const device = await gpu();
  const scaleKernel = await compileKernel(device, { name: "scale.wgsl", code: SCALE_F32 });
  const toFloat = await compileKernel(device, { name: "to_float.wgsl", code: TO_FLOAT });
  const floats = await toDevice(randomTensor([8], 2), device);
  const ints = await toDevice(
    tensor([1, 2, 3, 4, 5, 6, 7, 8], undefined, { dtype: "int32" }),
    device,
  );
  const before = gpuStats(device).buffersInUse;
  assert.throws(
    () => scaleKernel.run([ints], { outputs: [[8]], workgroups: 2 }),
    (e: Error) =>
      e instanceof DTypeError &&
      e.message ===
        "scale.wgsl: inputs[0] (x) is int32, but the kernel declares array<vec4<f32>>, whose " +
          "f32 elements take float32 tensors (f32: float32, i32 or u32: int32, f16: float16)",
  );
  assert.throws(
    () => toFloat.run([ints, floats], { outputs: [[8]], workgroups: 8 }),
    (e: Error) =>
      e instanceof DTypeError && /^to_float\.wgsl: inputs\[1\] \(more\) is float32/.test(e.message),
  );
  assert.equal(gpuStats(device).buffersInUse, before, "a refused launch allocated");
  const [sum] = toFloat.run([ints, ints], { outputs: [[8]], workgroups: [8] });
  assert.deepEqual(await sum.toArray(), [2, 4, 6, 8, 10, 12, 14, 16]);
  // [x, y] grids: 2 x 1 workgroups of 4 cover 8 elements through the y index.
  const [doubled] = scaleKernel.run([floats], { outputs: [[8]], workgroups: [1, 2] });
  const want = Array.from(await floats.data(), (v) => 2 * v);
  assert.deepEqual(await doubled.toArray(), want);
  assert.throws(
    () => scaleKernel.run([floats], { outputs: [[8]], workgroups: [2, 70000] }),
    (e: Error) =>
      e instanceof DeviceLimitError &&
      /^scale\.wgsl: workgroups \[2, 70000, 1\] has y = 70000, over the device's/.test(e.message),
  );
  for (const bad of [[], [1, 1, 1, 1], [2, 0], "2"]) {
    assert.throws(
      () => scaleKernel.run([floats], { outputs: [[8]], workgroups: bad as never }),
      (e: Error) =>
        e instanceof ArgumentError &&
        /workgroups must be a whole number >= 1, or \[x\], \[x, y\] or \[x, y, z\]/.test(e.message),
      JSON.stringify(bad),
    );
  }
  dispose([floats, ints, sum, doubled]);
});
