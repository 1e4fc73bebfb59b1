// The overhead contract of a forward pass, asserted through the runtime's
// counters rather than timings: one submit per forward with its readback,
// nothing compiled or allocated after warm-up (storage, staging, uniforms,
// bind groups), and no [T, T] score matrix on the fused path even at
// T = 1024.

import assert from "node:assert/strict";
import {
  dispose,
  type GpuCounters,
  gpuStats,
  nn,
  resetPeakBytes,
  toDevice,
  webgpu,
  type WebGpuDevice,
} from "../../mod.ts";
import { randomTensor } from "../helpers.ts";

function delta(device: WebGpuDevice, before: GpuCounters): Record<string, number> {
  const after = gpuStats(device);
  const keys = [
    "submits",
    "dispatches",
    "readbacks",
    "pipelinesCompiled",
    "buffersCreated",
    "stagingBuffersCreated",
    "uniformBuffersCreated",
    "bindGroupsCreated",
  ] as const;
  return Object.fromEntries(keys.map((k) => [k, after[k] - before[k]]));
}

for (
  const [name, options, dispatches] of [
    ["fused", {}, 2],
    ["unfused", { fused: false }, 6],
    ["training with dropout", { training: true, seed: 7 }, 6],
  ] as const
) {
  Deno.test(`${name} forward: one submit, and after warm-up no compiles or allocations`, async () => {
    const device = await webgpu();
    const m = await toDevice(
      nn.causalAttention.init({ dIn: 16, dOut: 16, contextLength: 80, dropout: 0.2 }),
      device,
    );
    const x = await toDevice(randomTensor([2, 80, 16], 1), device);
    // The pool hands buffers back in an order that settles after a couple of
    // identical forwards; from then on every bind group is a cache hit.
    for (let i = 0; i < 3; i++) {
      const warm = nn.causalAttention.apply(m, x, options);
      await warm.data();
      warm.dispose();
    }
    const before = gpuStats(device);
    const out = nn.causalAttention.apply(m, x, options);
    assert.equal(gpuStats(device).submits, before.submits, "nothing is submitted before readback");
    await out.data();
    assert.deepEqual(delta(device, before), {
      submits: 1,
      dispatches,
      readbacks: 1,
      pipelinesCompiled: 0,
      buffersCreated: 0,
      stagingBuffersCreated: 0,
      uniformBuffersCreated: 0,
      bindGroupsCreated: 0,
    });
    out.dispose();
    assert.equal(gpuStats(device).buffersInUse, before.buffersInUse, "every intermediate is back");
    dispose([m, x]);
  });
}

Deno.test("ten chained forwards record into one submit and read back once, twice over", async () => {
  const device = await webgpu();
  const m = await toDevice(
    nn.causalAttention.init({ dIn: 8, dOut: 8, contextLength: 32, dropout: 0 }),
    device,
  );
  const x = await toDevice(randomTensor([1, 32, 8], 2), device);
  const chain = async () => {
    let cur = x;
    for (let i = 0; i < 10; i++) {
      const next = nn.causalAttention.apply(m, cur);
      if (cur !== x) cur.dispose();
      cur = next;
    }
    await cur.data();
    cur.dispose();
  };
  // Chained forwards recycle intermediates within the batch; the pool's
  // hand-out order settles after a few identical chains.
  for (let i = 0; i < 5; i++) await chain();
  const before = gpuStats(device);
  await chain();
  await chain();
  assert.deepEqual(delta(device, before), {
    submits: 2,
    dispatches: 40,
    readbacks: 2,
    pipelinesCompiled: 0,
    buffersCreated: 0,
    stagingBuffersCreated: 0,
    uniformBuffersCreated: 0,
    bindGroupsCreated: 0,
  });
  dispose([m, x]);
});

Deno.test("at T = 1024 the fused forward never holds a [T, T] matrix; the unfused one does", async () => {
  const device = await webgpu();
  const [B, T, d] = [2, 1024, 8];
  const m = await toDevice(
    nn.causalAttention.init({ dIn: d, dOut: d, contextLength: T, dropout: 0 }),
    device,
  );
  const x = await toDevice(randomTensor([B, T, d], 3), device);
  const scores = B * T * T * 4; // 8 MiB
  const peakOf = async (options: nn.ApplyOptions) => {
    const live = gpuStats(device).bytesInUse;
    resetPeakBytes(device);
    const out = nn.causalAttention.apply(m, x, options);
    await out.data();
    out.dispose();
    return gpuStats(device).peakBytesInUse - live;
  };
  const fused = await peakOf({});
  // Q, K, V and the output: 4 x [B, T, d] floats = 256 KiB.
  assert.ok(fused <= 4 * B * T * d * 4, `fused forward peaked at ${fused} bytes`);
  assert.ok(fused < scores / 16, `fused forward peaked at ${fused} bytes`);
  const unfused = await peakOf({ fused: false });
  assert.ok(unfused >= 2 * scores, `unfused forward peaked at ${unfused} bytes`);

  const [q, k, v] = [4, 5, 6].map((s) => randomTensor([B, T, d], s));
  const [gq, gk, gv] = await Promise.all([q, k, v].map((t) => toDevice(t, device)));
  const live = gpuStats(device).bytesInUse;
  resetPeakBytes(device);
  const out = nn.causalAttention.core(gq, gk, gv);
  await out.data();
  assert.equal(gpuStats(device).peakBytesInUse - live, B * T * d * 4, "only the output");
  dispose([m, x, gq, gk, gv, out]);
});

Deno.test("resetPeakBytes restarts the peak from the bytes in use", async () => {
  const device = await webgpu();
  const t = await toDevice(randomTensor([1000], 9), device);
  t.dispose();
  resetPeakBytes(device);
  const stats = gpuStats(device);
  assert.equal(stats.peakBytesInUse, stats.bytesInUse);
});
