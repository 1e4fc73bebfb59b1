// float16 through sum, mean, where, dropout and crossEntropy on cpu (the
// cases and their tolerance: tests/f16_ops_cases.ts).

import { cpu } from "../mod.ts";
import { checkCrossEntropy, checkDropout, checkReductions, checkWhere } from "./f16_ops_cases.ts";

Deno.test("f16 ops: sum and mean accumulate in float32 and round once", () => checkReductions(cpu));
Deno.test("f16 ops: where selects float16 bits", () => checkWhere(cpu));
Deno.test("f16 ops: dropout draws the float32 mask", () => checkDropout(cpu));
Deno.test("f16 ops: crossEntropy of float16 logits is float32 with a float16 gradient", () =>
  checkCrossEntropy(cpu));
