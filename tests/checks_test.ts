// CPU tests of the cleanup sweep: argument messages (src/ops/checks.ts),
// dropout's and generate's up-front validation, rank limits of the
// reductions, the mean gradient, and the import-cycle checker.

import assert from "node:assert/strict";
import {
  ArgumentError,
  broadcastTo,
  crossEntropy,
  dropout,
  generate,
  grad,
  matmul,
  mean,
  nn,
  ones,
  ShapeError,
  sum,
  sumTo,
  tensor,
  UseAfterDisposeError,
  variance,
  zeros,
} from "../mod.ts";
import { checkShapeArg, describe } from "../src/ops/checks.ts";
import { dropoutMask } from "../src/philox.ts";
import { findCycles, localImports } from "../scripts/check_import_cycles.ts";

function throwsWith(fn: () => unknown, kind: new (...a: never[]) => Error, text: string): void {
  assert.throws(fn, (e: Error) => {
    assert.ok(e instanceof kind, `${e.name}: ${e.message}`);
    assert.ok(e.message.includes(text), `"${e.message}" lacks "${text}"`);
    return true;
  });
}

Deno.test("describe: 'an' before a vowel sound", () => {
  assert.equal(describe(new Int32Array(2)), "an Int32Array");
  assert.equal(describe(new ArrayBuffer(2)), "an ArrayBuffer");
  assert.equal(describe(new Error("x")), "an Error");
  assert.equal(describe(new Uint8Array(2)), "a Uint8Array");
  assert.equal(describe(new Float32Array(2)), "a Float32Array");
  assert.equal(describe(new Map()), "a Map");
  assert.equal(describe({}), "a plain object");
  assert.equal(describe([1, 2]), "an array of length 2");
});

Deno.test("checkShapeArg shows nested and odd entries as they are", () => {
  throwsWith(() => checkShapeArg("zeros", "shape", [[2]]), ArgumentError, "at index 0 of [[2]]");
  throwsWith(
    () => checkShapeArg("zeros", "shape", [2, [3, 4]]),
    ArgumentError,
    "an array of length 2 at index 1 of [2, [3, 4]]",
  );
  throwsWith(() => checkShapeArg("zeros", "shape", ["2"]), ArgumentError, `of ["2"]`);
  throwsWith(() => checkShapeArg("ones", "shape", [1, {}]), ArgumentError, "[1, a plain object]");
  throwsWith(() => zeros([[2]] as never), ArgumentError, "zeros: shape must be");
  assert.deepEqual(checkShapeArg("zeros", "shape", [2, 0, 3]), [2, 0, 3]);
});

Deno.test("dropout validates its arguments up front and keeps its mask", async () => {
  const x = ones([2, 3]);
  throwsWith(() => dropout(null as never, 0.5), ArgumentError, "dropout: input must be a Tensor");
  throwsWith(() => dropout(x, null as never), ArgumentError, "dropout: p must be a number");
  throwsWith(() => dropout(x, 1.5), ArgumentError, "dropout: p must be a probability in [0, 1]");
  throwsWith(() => dropout(x, NaN), ArgumentError, "but got NaN");
  throwsWith(() => dropout(x, 0.5, null as never), ArgumentError, "dropout: options must be");
  throwsWith(() => dropout(x, 0.5, "s" as never), ArgumentError, "dropout: options must be");
  throwsWith(() => dropout(x, 0.5, { seed: -1 }), ArgumentError, "dropout: options.seed");
  throwsWith(() => dropout(x, 0.5, { seed: 2n ** 64n }), ArgumentError, "options.seed");
  throwsWith(() => dropout(x, 0.5, { seed: 0.5 }), ArgumentError, "options.seed");
  throwsWith(() => dropout(x, 0.5, { offset: 1.5 }), ArgumentError, "dropout: options.offset");
  throwsWith(() => dropout(x, 0.5, { offset: 2 ** 32 }), ArgumentError, "options.offset");
  throwsWith(
    () => dropout(x, 0.5, { generator: {} as never }),
    ArgumentError,
    "dropout: options.generator must be a Generator",
  );
  throwsWith(
    () => dropout(tensor([1, 2], undefined, { dtype: "int32" }), 0.5),
    Error,
    "dropout: input has dtype int32",
  );
  const y = await dropout(ones([37]), 0.25, { seed: 7n, offset: 3 }).data();
  const keep = dropoutMask(37, 0.25, 7n, 3);
  assert.deepEqual(Array.from(y), Array.from(keep, (k) => (k ? Math.fround(1 / 0.75) : 0)));
  assert.deepEqual(Array.from(await dropout(ones([4]), 1, { seed: 1 }).data()), [0, 0, 0, 0]);
});

Deno.test("generate names itself for a disposed module", async () => {
  const model = nn.gptModel.init({
    vocabSize: 10,
    contextLength: 4,
    embDim: 4,
    nHeads: 2,
    nLayers: 1,
    dropRate: 0,
    qkvBias: false,
  });
  model.params.final_norm.scale.dispose();
  const ids = tensor([[1, 2]], undefined, { dtype: "int32" });
  await assert.rejects(generate(model, ids, { maxNewTokens: 1 }), (e: Error) => {
    assert.ok(e instanceof UseAfterDisposeError, e.name);
    assert.match(e.message, /^generate: params\.final_norm\.scale was disposed/);
    return true;
  });
});

Deno.test("reductions refuse rank 9 on cpu (as on webgpu) and mean's gradient is 1/n", async () => {
  const a9 = ones([1, 2, 1, 2, 1, 2, 1, 2, 1]);
  throwsWith(() => sum(a9), ShapeError, "sum: input has 9 dimensions");
  throwsWith(() => mean(a9, 1), ShapeError, "mean: input has 9 dimensions");
  throwsWith(() => variance(a9), ShapeError, "variance: input has 9 dimensions");
  throwsWith(() => sumTo(a9, [1]), ShapeError, "sumTo: input has 9 dimensions");
  throwsWith(() => broadcastTo(ones([2]), a9.shape), ShapeError, "broadcastTo: shape has 9");
  const x = tensor([[1, 2, 3], [4, 5, 7]]);
  const g = await grad((t: typeof x) => sum(mean(t, 1)))(x).data();
  assert.deepEqual(Array.from(g), new Array(6).fill(Math.fround(1 / 3)));
  const all = await grad((t: typeof x) => mean(t))(x).data();
  assert.deepEqual(Array.from(all), new Array(6).fill(Math.fround(1 / 6)));
});

Deno.test("flags must be booleans, not truthy values", () => {
  const x = tensor([[1, 2], [3, 4]]);
  throwsWith(
    () => sum(x, 0, { keepDim: "yes" as never }),
    ArgumentError,
    `sum: options.keepDim must be a boolean, but got a string "yes"`,
  );
  throwsWith(() => mean(x, 0, { keepDim: 1 as never }), ArgumentError, "mean: options.keepDim");
  throwsWith(() => variance(x, 0, { keepDim: 1 as never }), ArgumentError, "variance: options");
  throwsWith(() => variance(x, 0, { unbiased: 0 as never }), ArgumentError, "options.unbiased");
  throwsWith(
    () => variance(x, 0, { correction: "1" as never }),
    ArgumentError,
    `variance: correction must be a finite number >= 0, but got a string "1"`,
  );
  throwsWith(
    () => matmul(x, x, { transposeB: "yes" as never }),
    ArgumentError,
    "matmul: options.transposeB must be a boolean",
  );
  assert.deepEqual(sum(x, 0, { keepDim: true }).shape, [1, 2]);
});

Deno.test("crossEntropy refuses a target outside [0, C) with an ArgumentError on cpu", () => {
  const logits = tensor([[1, 2, 3], [0, 0, 0]]);
  for (const bad of [[0, 3], [-1, 0], [0.5, 1]]) {
    throwsWith(
      () => crossEntropy(logits, tensor(bad)),
      ArgumentError,
      "crossEntropy: targets[",
    );
  }
  throwsWith(
    () => crossEntropy(logits, tensor([0, 3], undefined, { dtype: "int32" })),
    ArgumentError,
    "targets[1] is 3, which is not a class index in [0, 3)",
  );
});

Deno.test("import-cycle checker: statements, type-only imports, cycles", () => {
  const source = [
    `import { a } from "./a.ts";`,
    `import type { B } from "./b.ts";`,
    `import {`,
    `  c,`,
    `  type C,`,
    `} from "../c.ts";`,
    `export { d } from "./d.ts";`,
    `export * as e from "./e/mod.ts";`,
    `export type { F } from "./f.ts";`,
    `import "./side.ts";`,
    `import data from "./x.json" with { type: "json" };`,
    `import { g } from "node:path";`,
    ` * import { doc } from "./doc.ts";`,
    `export { local };`,
  ].join("\n");
  const runtime = localImports("/r/src/m.ts", source, false);
  assert.deepEqual(runtime.sort(), [
    "/r/c.ts",
    "/r/src/a.ts",
    "/r/src/d.ts",
    "/r/src/e/mod.ts",
    "/r/src/side.ts",
  ]);
  const all = localImports("/r/src/m.ts", source, true);
  assert.deepEqual(all.filter((f) => !runtime.includes(f)).sort(), ["/r/src/b.ts", "/r/src/f.ts"]);
  const graph: Record<string, string[]> = {
    m: ["a", "b"],
    a: ["c"],
    b: ["c", "a"],
    c: ["a", "d"],
    d: [],
  };
  assert.deepEqual(findCycles(["m"], (f) => graph[f]), [["a", "c", "a"]]);
  assert.deepEqual(findCycles(["d"], (f) => graph[f]), []);
});
