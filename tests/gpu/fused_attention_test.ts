// The fused attention kernel (shaders/attention_fused.wgsl) against the CPU
// reference (the step-by-step composition), the one-pass unfused path
// against the stages bit for bit, masking edge cases, and the generated
// shader's freshness. GPU tests fail, never skip, without an adapter.

import assert from "node:assert/strict";
import {
  assertClose,
  dispose,
  gpuStats,
  nn,
  scale,
  type Tensor,
  tensor,
  toDevice,
  webgpu,
} from "../../mod.ts";
import { renderAttentionKernel } from "../../scripts/gen_attention_wgsl.ts";
import fusedSource from "../../shaders/attention_fused.wgsl" with { type: "text" };
import { bits, randomData, randomTensor } from "../helpers.ts";

// The fused kernel sums scores in four partial sums and runs an online
// softmax; the reference sums dot products in float64 and normalises at the
// end. With |q|, |k|, |v| < 2 and head sizes up to 64 the differences stay
// within a few float32 ulps (measured: max abs error 7e-7 for T = 257, d = 64,
// a tenth of this tolerance).
const TOLERANCE = { rtol: 2e-5, atol: 2e-6 };

const TOKENS = [1, 3, 7, 17, 65, 129, 257];

async function onGpu(...ts: Tensor[]): Promise<Tensor[]> {
  const device = await webgpu();
  return await Promise.all(ts.map((t) => toDevice(t, device)));
}

Deno.test("the fused core matches the cpu reference: T in {1..257}, head sizes not multiples of 4, batch 1-3", async () => {
  const device = await webgpu();
  let seed = 10;
  const heads = [3, 5, 13, 30, 2, 7, 64];
  for (const [n, T] of TOKENS.entries()) {
    const d = heads[n % heads.length];
    const batch = 1 + (n % 3);
    const [q, k, v] = [0, 1, 2].map(() => randomTensor([batch, T, d], seed++));
    const expected = nn.causalAttention.core(q, k, v);
    const [gq, gk, gv] = await onGpu(q, k, v);
    const before = gpuStats(device).dispatches;
    const actual = nn.causalAttention.core(gq, gk, gv);
    assert.equal(gpuStats(device).dispatches - before, 1, "the fused path is one dispatch");
    await assertClose(actual, expected, TOLERANCE).catch((e) => {
      throw new Error(`T=${T} d=${d} batch=${batch}: ${e.message}`);
    });
    dispose([gq, gk, gv, actual]);
  }
});

Deno.test("fused and unfused paths agree; the unfused one is three passes", async () => {
  const device = await webgpu();
  const [q, k, v] = [0, 1, 2].map((i) => randomTensor([2, 65, 13], 100 + i));
  const [gq, gk, gv] = await onGpu(q, k, v);
  const fused = nn.causalAttention.core(gq, gk, gv);
  const before = gpuStats(device).dispatches;
  const unfused = nn.causalAttention.core(gq, gk, gv, { fused: false });
  assert.equal(gpuStats(device).dispatches - before, 3);
  await assertClose(fused, await unfused.data(), TOLERANCE);
  await assertClose(unfused, nn.causalAttention.core(q, k, v), TOLERANCE);
});

Deno.test("the module's fused forward matches cpu, and fused: false equals the stages bit for bit", async () => {
  const device = await webgpu();
  for (
    const [dIn, dOut, T, bias] of [[5, 3, 17, true], [16, 16, 70, false], [
      7,
      9,
      129,
      true,
    ]] as const
  ) {
    const m = nn.causalAttention.init({
      dIn,
      dOut,
      contextLength: T + 3,
      dropout: 0.1,
      qkvBias: bias,
    });
    const x = randomTensor([2, T, dIn], dIn * T);
    const expected = nn.causalAttention.apply(m, x);
    const mg = await toDevice(m, device);
    const [xg] = await onGpu(x);
    await assertClose(nn.causalAttention.apply(mg, xg), expected, TOLERANCE);
    const unfused = await nn.causalAttention.apply(mg, xg, { fused: false }).data();
    const stages = nn.causalAttention.stages(mg, xg);
    assert.deepEqual(bits(unfused), bits(await stages.context.data()));
    dispose([mg, xg, stages]);
  }
});

Deno.test("training with dropout takes the one-pass weights and drops what the stages drop", async () => {
  const device = await webgpu();
  const m = await toDevice(
    nn.causalAttention.init({ dIn: 6, dOut: 4, contextLength: 33, dropout: 0.4 }),
    device,
  );
  const [x] = await onGpu(randomTensor([3, 33, 6], 5));
  const before = gpuStats(device).dispatches;
  const out = nn.causalAttention.apply(m, x, { training: true, seed: 99 });
  assert.equal(gpuStats(device).dispatches - before, 6, "3 projections, Q K^T, weights, @ V");
  const stages = nn.causalAttention.stages(m, x, { training: true, seed: 99 });
  assert.deepEqual(bits(await out.data()), bits(await stages.context.data()));
  dispose([m, x, out, stages]);
});

Deno.test("a mask buffer with extra masked keys: masked keys weigh exactly 0, a fully masked row is 0", async () => {
  const device = await webgpu();
  const T = 20;
  const m = nn.causalAttention.init({ dIn: 4, dOut: 6, contextLength: 24, dropout: 0 });
  const mask = (await m.buffers.mask.data()).slice();
  const ctx = 24;
  for (let j = 0; j <= 5; j++) mask[5 * ctx + j] = 1; // row 5 sees nothing
  for (let i = 6; i < T; i += 3) mask[i * ctx + 2] = 1; // key 2 hidden from some rows
  const custom = { ...m, buffers: { mask: tensor(mask, [ctx, ctx]) } };
  const x = randomTensor([2, T, 4], 8);
  const expected = await nn.causalAttention.apply(custom, x).data();
  const mg = await toDevice(custom, device);
  const [xg] = await onGpu(x);
  const actual = await nn.causalAttention.apply(mg, xg).data();
  await assertClose(actual, expected, TOLERANCE);
  for (const b of [0, 1]) {
    const row = actual.slice((b * T + 5) * 6, (b * T + 6) * 6);
    assert.ok(row.every((v) => Object.is(v, 0)), `fully masked row: ${row}`);
  }
  dispose([mg, xg]);
});

Deno.test("the fused kernel stays finite on huge scores and ignores future keys bit for bit", async () => {
  const device = await webgpu();
  // Scores of order 1e4: exp underflows for all but the max; no inf or NaN may appear.
  const [q, k, v] = [0, 1, 2].map((i) => scale(randomTensor([1, 70, 8], 40 + i), 60));
  const [gq, gk, gv] = await onGpu(q, k, v);
  const big = await nn.causalAttention.core(gq, gk, gv).data();
  assert.ok(big.every(Number.isFinite));
  await assertClose(big, nn.causalAttention.core(q, k, v), { rtol: 1e-4, atol: 1e-3 });

  const T = 70;
  const d = 16;
  const base = randomData(T * d, 3);
  const run = async (data: Float32Array) => {
    const [x] = await onGpu(tensor(data, [1, T, d]));
    return await nn.causalAttention.core(x, x, x).data();
  };
  const reference = await run(base);
  for (const changed of [9, 41, 69]) {
    const edited = base.slice();
    for (let i = changed * d; i < T * d; i++) edited[i] += 0.75;
    const result = await run(edited);
    assert.deepEqual(bits(result.slice(0, changed * d)), bits(reference.slice(0, changed * d)));
  }
  void device;
});

Deno.test("core checks shapes and devices before recording anything", async () => {
  const device = await webgpu();
  const q = randomTensor([1, 4, 3], 1);
  assert.throws(() => nn.causalAttention.core(q, randomTensor([1, 5, 3], 2), q), /one shape/);
  assert.throws(
    () => nn.causalAttention.core(q, q, q, { mask: nn.causalAttention.causalMask(3) }),
    /cannot cover 4 tokens/,
  );
  const [gq] = await onGpu(q);
  assert.throws(() => nn.causalAttention.core(gq, q, q), /same device/);
  void device;
});

Deno.test("shaders/attention_fused.wgsl is what scripts/gen_attention_wgsl.ts generates", () => {
  assert.equal(
    fusedSource,
    renderAttentionKernel(),
    "stale: run `deno run --allow-write=shaders scripts/gen_attention_wgsl.ts` and `deno task embed`",
  );
});
