// Shared by the cpu and webgpu cross-entropy option tests: PyTorch 1.13's
// cross_entropy with ignore_index, reduction and label_smoothing
// (tests/fixtures/cross_entropy_options.json from
// scripts/gen_cross_entropy_fixtures.py), value and logits gradient.

import assert from "node:assert/strict";
import {
  crossEntropy,
  type Device,
  mul,
  sum,
  type Tensor,
  tensor,
  toDevice,
  valueAndGrad,
} from "../mod.ts";
import fixture from "./fixtures/cross_entropy_options.json" with { type: "json" };

/** One fixture case. */
export type CrossEntropyCase = (typeof fixture.cases)[number];

/** The fixture's cases. */
export const CASES: CrossEntropyCase[] = fixture.cases;

/** Elementwise |a - e| <= atol + rtol |e|, with NaN and infinities required at the same places. */
export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number | string>,
  what: string,
  rtol = 1e-4,
  atol = 1e-6,
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = Number(expected[i]);
    if (Number.isNaN(e) || !Number.isFinite(e)) {
      assert.ok(
        Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e)),
        `${what}[${i}]: ${a} vs ${e}`,
      );
      continue;
    }
    assert.ok(Math.abs(a - e) <= atol + rtol * Math.abs(e), `${what}[${i}]: ${a} vs ${e}`);
  }
}

async function values(
  e: { shape: number[]; data: (number | string)[] },
  device?: Device,
): Promise<Tensor> {
  const t = tensor(new Float32Array(e.data.map(Number)), e.shape);
  if (!device) return t;
  const moved = await toDevice(t, device);
  t.dispose();
  return moved;
}

/** Runs one case on `device` (cpu when undefined), with int32 and float32 targets. */
export async function runCase(c: CrossEntropyCase, device?: Device): Promise<void> {
  const logits = await values(c.logits, device);
  const upstream = await values(c.upstream, device);
  const options = {
    ignoreIndex: c.ignoreIndex,
    reduction: c.reduction as "mean" | "sum" | "none",
    labelSmoothing: c.labelSmoothing,
  };
  for (const dtype of ["int32", "float32"] as const) {
    const host = dtype === "int32"
      ? tensor(new Int32Array(c.targets), [c.targets.length])
      : tensor(new Float32Array(c.targets), [c.targets.length]);
    const targets = device ? await toDevice(host, device) : host;
    const what = `${c.name} (${dtype} targets)`;
    const loss = crossEntropy(logits, targets, options);
    expectClose(await loss.data(), c.loss.data, `${what} loss`);
    assert.deepEqual(loss.shape, c.loss.shape);
    const f = (p: { x: Tensor }) => sum(mul(crossEntropy(p.x, targets, options), upstream));
    const { value, grads } = valueAndGrad(f)({ x: logits });
    expectClose(await grads.x.data(), c.grad.data, `${what} grad`);
    for (const t of [loss, value, grads.x, targets]) t.dispose();
    if (targets !== host) host.dispose();
  }
  logits.dispose();
  upstream.dispose();
}
