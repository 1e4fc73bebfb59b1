// float16 through sum, mean, where, dropout and crossEntropy on webgpu (the
// cases and their tolerance: tests/f16_ops_cases.ts), leaking nothing.

import assert from "node:assert/strict";
import { type Device, gpuStats } from "../../mod.ts";
import { checkCrossEntropy, checkDropout, checkReductions, checkWhere } from "../f16_ops_cases.ts";
import { gpu } from "../helpers.ts";

async function noLeak(check: (device: Device) => Promise<void>): Promise<void> {
  const device = await gpu();
  const before = gpuStats(device).buffersInUse;
  await check(device);
  assert.equal(gpuStats(device).buffersInUse, before);
}

Deno.test("f16 ops on webgpu: sum and mean accumulate in float32 and round once", () =>
  noLeak(checkReductions));
Deno.test("f16 ops on webgpu: where selects float16 bits", () => noLeak(checkWhere));
Deno.test("f16 ops on webgpu: dropout draws the float32 mask", () => noLeak(checkDropout));
Deno.test("f16 ops on webgpu: crossEntropy of float16 logits is float32 with a float16 gradient", () =>
  noLeak(checkCrossEntropy));
