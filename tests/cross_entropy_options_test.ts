// crossEntropy's PyTorch options on cpu: ignoreIndex, reduction and
// labelSmoothing against torch 1.13 (the webgpu half is in
// tests/gpu/train_scale_test.ts), and their argument errors.

import assert from "node:assert/strict";
import { ArgumentError, crossEntropy, tensor } from "../mod.ts";
import { CASES, runCase } from "./cross_entropy_cases.ts";

for (const c of CASES) {
  Deno.test(`crossEntropy options on cpu: ${c.name}`, () => runCase(c));
}

Deno.test("crossEntropy options: wrong options throw ArgumentError naming the option", () => {
  const logits = tensor([[1, 2, 3]]);
  const targets = tensor([0], undefined, { dtype: "int32" });
  const bad: [unknown, RegExp][] = [
    [{ reduction: "avg" }, /crossEntropy: reduction must be "mean", "sum" or "none"/],
    [{ ignoreIndex: 1.5 }, /crossEntropy: ignoreIndex must be an int32 integer/],
    [{ ignoreIndex: 2 ** 31 }, /ignoreIndex must be an int32 integer/],
    [{ labelSmoothing: 1.5 }, /crossEntropy: labelSmoothing must be a number in \[0, 1\]/],
    [{ labelSmoothing: NaN }, /labelSmoothing must be a number in \[0, 1\]/],
    [null, /crossEntropy: options must be an object/],
  ];
  for (const [options, message] of bad) {
    assert.throws(
      // deno-lint-ignore no-explicit-any
      () => crossEntropy(logits, targets, options as any),
      (e: Error) => e instanceof ArgumentError && message.test(e.message),
    );
  }
  // An ignored target need not be a class index; any other one must be.
  assert.throws(
    () => crossEntropy(tensor([[1, 2]]), tensor([5], undefined, { dtype: "int32" })),
    /crossEntropy: targets\[0\] is 5, which is not a class index in \[0, 2\)/,
  );
  logits.dispose();
  targets.dispose();
});
