// Philox4x32-10: known answers for the TypeScript port, and bit equality of
// shaders/philox.wgsl with it on a real WebGPU device.
import assert from "node:assert/strict";
import philoxWgsl from "../../shaders/philox.wgsl" with { type: "text" };
import {
  dropoutBits,
  dropoutKeep,
  dropoutMask,
  dropoutSeedWords,
  dropoutThreshold,
  philox4x32,
} from "../../src/philox.ts";
import { TesseraError } from "../../src/errors.ts";
import { gpu } from "../helpers.ts";

const hex = (words: Uint32Array): string[] =>
  Array.from(words, (w) => w.toString(16).padStart(8, "0"));

Deno.test("philox4x32-10 matches the Random123 known-answer vectors", () => {
  assert.deepEqual(hex(philox4x32([0, 0, 0, 0], [0, 0])), [
    "6627e8d5",
    "e169c58d",
    "bc57ac4c",
    "9b00dbd8",
  ]);
  const ones = 0xffffffff;
  assert.deepEqual(hex(philox4x32([ones, ones, ones, ones], [ones, ones])), [
    "408f276d",
    "41c83b0e",
    "a20bc7c6",
    "6d5451fd",
  ]);
  const pi = new Uint32Array([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344]);
  assert.deepEqual(hex(philox4x32(pi, new Uint32Array([0xa4093822, 0x299f31d0]))), [
    "d16cfe09",
    "94fdcceb",
    "5001e420",
    "24126ea1",
  ]);
});

Deno.test("philox4x32 writes into the given output array", () => {
  const out = new Uint32Array(4);
  assert.equal(philox4x32([0, 0, 0, 0], [0, 0], out), out);
  assert.equal(out[3], 0x9b00dbd8);
});

Deno.test("dropout draws follow the documented counter layout", () => {
  const seed = 0x9abcdef012345678n;
  const words = philox4x32([2, 0, 5, 0], [0x12345678, 0x9abcdef0]);
  for (let j = 0; j < 4; j++) assert.equal(dropoutBits(seed, 5, 8 + j), words[j] >>> 8);
  // Indices past 2^34 put the block's high word into counter[1].
  const far = 4 * 2 ** 32 + 4 * 3 + 1;
  assert.equal(dropoutBits(7, 0, far), philox4x32([3, 1, 0, 0], [7, 0])[1] >>> 8);
  assert.deepEqual(Array.from(dropoutSeedWords(2 ** 32 + 7)), [7, 1]);
});

Deno.test("dropoutMask agrees with dropoutKeep and keeps about 1 - p", () => {
  const n = 20001;
  const p = 0.3;
  const mask = dropoutMask(n, p, 1234, 9);
  let kept = 0;
  for (let i = 0; i < n; i++) {
    assert.equal(mask[i] === 1, dropoutKeep(1234, 9, i, p), `index ${i}`);
    kept += mask[i];
  }
  assert.ok(Math.abs(kept / n - (1 - p)) < 0.015, `kept fraction ${kept / n}`);
  assert.ok(dropoutMask(64, 0, 1, 0).every((m) => m === 1));
  assert.ok(dropoutMask(64, 1, 1, 0).every((m) => m === 0));
  assert.notDeepEqual(dropoutMask(64, 0.5, 1, 0), dropoutMask(64, 0.5, 1, 1));
});

Deno.test("dropoutThreshold is the exact integer form of u >= p", () => {
  assert.equal(dropoutThreshold(0), 0);
  assert.equal(dropoutThreshold(1), 2 ** 24);
  assert.equal(dropoutThreshold(0.5), 2 ** 23);
  for (const p of [0.1, 0.3, 1 / 3, 0.999999]) {
    const t = dropoutThreshold(p);
    assert.ok(t * 2 ** -24 >= p && (t - 1) * 2 ** -24 < p, `p=${p}`);
  }
  assert.throws(() => dropoutThreshold(1.5), TesseraError);
  assert.throws(() => dropoutThreshold(NaN), TesseraError);
  assert.throws(() => dropoutBits(-1, 0, 0), TesseraError);
  assert.throws(() => dropoutBits(0, 2 ** 32, 0), TesseraError);
});

// Values the test kernel uses; mirrored below in TypeScript.
const COUNT = 4100;
const STRIDE = 7;
const SEED = [0x12345678, 0x9abcdef0];
const OFFSET = 3;
const P = 0.3;

const testKernel = /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> out: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= ${COUNT}u) {
    return;
  }
  // Spread the inputs over all 32 bits of every word.
  let ctr = vec4<u32>(i * 0x9e3779b9u, ~i, i << 20u, 0xffffffffu - i);
  let key = vec2<u32>(i * 0x85ebca6bu, 0xc2b2ae35u ^ i);
  let r = philox4x32_10(ctr, key);
  let seed = vec2<u32>(${SEED[0]}u, ${SEED[1]}u);
  let base = i * ${STRIDE}u;
  out[base + 0u] = r.x;
  out[base + 1u] = r.y;
  out[base + 2u] = r.z;
  out[base + 3u] = r.w;
  out[base + 4u] = bitcast<u32>(dropout_uniform(seed, ${OFFSET}u, i));
  out[base + 5u] = select(0u, 1u, dropout_keep(seed, ${OFFSET}u, i, ${dropoutThreshold(P)}u));
  out[base + 6u] = dropout_bits(seed, ${OFFSET}u, i);
}
`;

function expectedOutput(): Uint32Array {
  const expected = new Uint32Array(COUNT * STRIDE);
  const asF32 = new Float32Array(1);
  const asU32 = new Uint32Array(asF32.buffer);
  const seed = (BigInt(SEED[1]) << 32n) | BigInt(SEED[0]);
  for (let i = 0; i < COUNT; i++) {
    const ctr = [Math.imul(i, 0x9e3779b9), ~i, i << 20, 0xffffffff - i];
    const key = [Math.imul(i, 0x85ebca6b), 0xc2b2ae35 ^ i];
    expected.set(philox4x32(ctr, key), i * STRIDE);
    const bits = dropoutBits(seed, OFFSET, i);
    asF32[0] = bits * 2 ** -24;
    expected[i * STRIDE + 4] = asU32[0];
    expected[i * STRIDE + 5] = dropoutKeep(seed, OFFSET, i, P) ? 1 : 0;
    expected[i * STRIDE + 6] = bits;
  }
  return expected;
}

async function runOnGpu(device: GPUDevice): Promise<Uint32Array> {
  const size = COUNT * STRIDE * 4;
  const out = device.createBuffer({
    size,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC,
  });
  const staging = device.createBuffer({
    size,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  try {
    device.pushErrorScope("validation");
    const module = device.createShaderModule({ code: philoxWgsl + "\n" + testKernel });
    const messages = (await module.getCompilationInfo()).messages
      .filter((m) => m.type === "error")
      .map((m) => `${m.lineNum}:${m.linePos} ${m.message}`);
    assert.deepEqual(messages, [], "WGSL compilation errors");
    const pipeline = device.createComputePipeline({
      layout: "auto",
      compute: { module, entryPoint: "main" },
    });
    const bindGroup = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [{ binding: 0, resource: { buffer: out } }],
    });
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(Math.ceil(COUNT / 64));
    pass.end();
    encoder.copyBufferToBuffer(out, 0, staging, 0, size);
    device.queue.submit([encoder.finish()]);
    const error = await device.popErrorScope();
    assert.equal(error, null, `WebGPU validation error: ${error?.message}`);
    await staging.mapAsync(GPUMapMode.READ);
    const result = new Uint32Array(staging.getMappedRange().slice(0));
    staging.unmap();
    return result;
  } finally {
    out.destroy();
    staging.destroy();
  }
}

Deno.test("philox.wgsl produces the same bits as philox.ts on the GPU", async () => {
  // The shared device: a second live GPUDevice in the test process makes
  // Mesa/wgpu corrupt the heap at exit about one run in ten. gpu() rejects
  // when there is no adapter, so a machine without one fails here.
  const device = (await gpu()).gpu;
  const got = await runOnGpu(device);
  const expected = expectedOutput();
  for (let i = 0; i < expected.length; i++) {
    if (got[i] !== expected[i]) {
      const index = Math.floor(i / STRIDE);
      assert.fail(
        `index ${index}, word ${i % STRIDE}: gpu 0x${got[i].toString(16)}, ` +
          `ts 0x${expected[i].toString(16)}`,
      );
    }
  }
});
