// Argument checks of src/random.ts and src/testing.ts: each refused argument
// gives an ArgumentError (or UseAfterDisposeError / DeviceLimitError) whose
// exact message names the function, the argument and what was expected, and
// every refusal happens before the generator draws anything.
import assert from "node:assert/strict";
import {
  ArgumentError,
  assertClose,
  AssertCloseError,
  DEFAULT_SEED,
  DeviceLimitError,
  Generator,
  globalGenerator,
  manualSeed,
  rand,
  randn,
  tensor,
  uniform,
  UseAfterDisposeError,
} from "../mod.ts";
import { kaimingUniformBound, linearInitValues } from "../src/random.ts";

type ErrorClass = new (...args: never[]) => Error;

function throwsExactly(fn: () => unknown, kind: ErrorClass, message: string): void {
  assert.throws(fn, (e: Error) => {
    assert.ok(e instanceof kind, `expected ${kind.name}, got ${e.name}: ${e.message}`);
    assert.equal(e.message, message);
    return true;
  });
}

async function rejectsExactly(
  fn: () => Promise<unknown>,
  kind: ErrorClass,
  message: string,
): Promise<void> {
  await assert.rejects(fn, (e: Error) => {
    assert.ok(e instanceof kind, `expected ${kind.name}, got ${e.name}: ${e.message}`);
    assert.equal(e.message, message);
    return true;
  });
}

const SEED_RULE =
  "seed must be a safe integer or a bigint in [-2^63, 2^64), as torch.manual_seed accepts, but got";

Deno.test("seeds: each entry point names itself and the refused seed", () => {
  throwsExactly(
    () => new Generator("5" as never),
    ArgumentError,
    `Generator: ${SEED_RULE} a string "5"`,
  );
  throwsExactly(() => new Generator(null as never), ArgumentError, `Generator: ${SEED_RULE} null`);
  throwsExactly(() => new Generator(1.5), ArgumentError, `Generator: ${SEED_RULE} 1.5`);
  throwsExactly(() => new Generator(NaN), ArgumentError, `Generator: ${SEED_RULE} NaN`);
  // Numbers past 2^53 may not be the integer that was written: use a bigint.
  throwsExactly(() => new Generator(2 ** 53), ArgumentError, `Generator: ${SEED_RULE} ${2 ** 53}`);
  throwsExactly(
    () => new Generator(2n ** 64n),
    ArgumentError,
    `Generator: ${SEED_RULE} 18446744073709551616n`,
  );
  throwsExactly(
    () => new Generator().manualSeed({} as never),
    ArgumentError,
    `Generator.manualSeed: ${SEED_RULE} a plain object`,
  );
  throwsExactly(
    () => manualSeed(true as never),
    ArgumentError,
    `manualSeed: ${SEED_RULE} a boolean true`,
  );
  throwsExactly(
    () => manualSeed(undefined as never),
    ArgumentError,
    `manualSeed: ${SEED_RULE} undefined`,
  );
  throwsExactly(
    () => manualSeed(-(2n ** 63n) - 1n),
    ArgumentError,
    `manualSeed: ${SEED_RULE} -9223372036854775809n`,
  );
});

Deno.test("seeds: the edges of torch's range are accepted, and undefined means the default", () => {
  assert.equal(new Generator(-(2n ** 63n)).initialSeed(), 2n ** 63n);
  assert.equal(new Generator(2n ** 64n - 1n).initialSeed(), 2n ** 64n - 1n);
  assert.equal(new Generator(Number.MAX_SAFE_INTEGER).initialSeed(), 2n ** 53n - 1n);
  assert.equal(new Generator(-Number.MAX_SAFE_INTEGER).initialSeed(), 2n ** 64n - 2n ** 53n + 1n);
  assert.equal(new Generator(undefined).initialSeed(), DEFAULT_SEED);
  assert.equal(new Generator(-0).initialSeed(), 0n);
});

Deno.test("seeds: a refused seed leaves the generator's stream untouched", () => {
  const g = new Generator(9);
  g.random();
  const expected = g.clone().random();
  assert.throws(() => g.manualSeed(0.5), ArgumentError);
  assert.equal(g.initialSeed(), 9n);
  assert.equal(g.random(), expected);

  manualSeed(31);
  const before = globalGenerator().clone().random();
  assert.throws(() => manualSeed("31" as never), ArgumentError);
  assert.equal(globalGenerator().initialSeed(), 31n);
  assert.equal(globalGenerator().random(), before);
});

Deno.test("rand / randn / uniform: shapes are checked like zeros' shapes", () => {
  for (const [name, fn] of [["rand", rand], ["randn", randn]] as const) {
    throwsExactly(
      () => fn("3" as never),
      ArgumentError,
      `${name}: shape must be a whole number >= 0 or an array of them, but got a string "3"`,
    );
    throwsExactly(
      () => fn(null as never),
      ArgumentError,
      `${name}: shape must be a whole number >= 0 or an array of them, but got null`,
    );
    throwsExactly(
      () => fn(NaN),
      ArgumentError,
      `${name}: shape must be a whole number >= 0, but got NaN`,
    );
    throwsExactly(
      () => fn(-1),
      ArgumentError,
      `${name}: shape must be a whole number >= 0, but got -1`,
    );
    throwsExactly(
      () => fn([2, 1.5]),
      ArgumentError,
      `${name}: shape must be an array of whole numbers >= 0, but got 1.5 at index 1 of [2, 1.5]`,
    );
    throwsExactly(
      () => fn(["2"] as never),
      ArgumentError,
      `${name}: shape must be an array of whole numbers >= 0, but got a string "2" at index 0 of ["2"]`,
    );
    throwsExactly(
      () => fn([2 ** 30, 2 ** 30]),
      ArgumentError,
      `${name}: shape [1073741824, 1073741824] has 1152921504606847000 elements, ` +
        `more than any array can hold`,
    );
  }
  throwsExactly(
    () => uniform([-1], 0, 1),
    ArgumentError,
    "uniform: shape must be an array of whole numbers >= 0, but got -1 at index 0 of [-1]",
  );
});

Deno.test("rand / randn / uniform: an array too large for host memory is a DeviceLimitError", () => {
  throwsExactly(
    () => rand([2 ** 40]),
    DeviceLimitError,
    "rand: cannot allocate 1099511627776 elements (4398046511104 bytes) in host memory",
  );
  throwsExactly(
    () => randn(2 ** 40),
    DeviceLimitError,
    "randn: cannot allocate 1099511627776 elements (4398046511104 bytes) in host memory",
  );
});

Deno.test("rand / randn / uniform: options and options.generator are checked", () => {
  throwsExactly(
    () => rand(2, null as never),
    ArgumentError,
    "rand: options must be an object, but got null",
  );
  throwsExactly(
    () => randn(2, "g" as never),
    ArgumentError,
    `randn: options must be an object, but got a string "g"`,
  );
  throwsExactly(
    () => uniform(2, 0, 1, [] as never),
    ArgumentError,
    "uniform: options must be an object, but got an array of length 0",
  );
  throwsExactly(
    () => rand(2, { generator: 7 as never }),
    ArgumentError,
    "rand: options.generator must be a Generator, but got 7",
  );
  throwsExactly(
    () => uniform(2, 0, 1, { generator: {} as never }),
    ArgumentError,
    "uniform: options.generator must be a Generator, but got a plain object",
  );
});

Deno.test("uniform: low and high must be finite, ordered, and span a float32 range", () => {
  throwsExactly(
    () => uniform(2, NaN, 1),
    ArgumentError,
    "uniform: low must be a finite number, but got NaN",
  );
  throwsExactly(
    () => uniform(2, 0, Infinity),
    ArgumentError,
    "uniform: high must be a finite number, but got Infinity",
  );
  throwsExactly(
    () => uniform(2, 0, "1" as never),
    ArgumentError,
    `uniform: high must be a finite number, but got a string "1"`,
  );
  throwsExactly(
    () => uniform(2, 1, 0),
    ArgumentError,
    "uniform: low must be <= high, but got low=1, high=0",
  );
  throwsExactly(
    () => uniform(2, -3e38, 3e38),
    ArgumentError,
    "uniform: high - low must fit in float32 (at most 3.4028234663852886e+38), " +
      "but got low=-3e+38, high=3e+38",
  );
  // low == high is valid (torch fills with `low`).
  assert.deepEqual(Array.from(uniform(3, 0.25, 0.25, { generator: new Generator(1) })), [
    0.25,
    0.25,
    0.25,
  ]);
});

Deno.test("rand / randn / uniform: nothing is drawn when an argument is refused", () => {
  const g = new Generator(3);
  const expected = g.clone().random();
  assert.throws(() => rand([NaN], { generator: g }), ArgumentError);
  assert.throws(() => randn([-1], { generator: g }), ArgumentError);
  assert.throws(() => uniform([4], 1, 0, { generator: g }), ArgumentError);
  assert.throws(() => uniform([2 ** 40], 0, 1, { generator: g }), DeviceLimitError);
  assert.equal(g.random(), expected);
});

Deno.test("valid calls are unchanged: undefined options, frozen shapes, bare sizes", () => {
  const a = rand([2, 3], { generator: new Generator(5) });
  manualSeed(5);
  assert.deepEqual(rand([2, 3], undefined), a);
  assert.deepEqual(rand(Object.freeze([6]), { generator: new Generator(5) }), a);
  manualSeed(5);
  assert.deepEqual(rand(6, {}), a);
  assert.equal(randn([0, 5]).length, 0);
  assert.equal(uniform(0, -1, 1).length, 0);
});

Deno.test("kaimingUniformBound and linearInitValues name their arguments", () => {
  throwsExactly(
    () => kaimingUniformBound(0),
    ArgumentError,
    "kaimingUniformBound: fanIn must be a whole number >= 1, but got 0",
  );
  throwsExactly(
    () => linearInitValues(-1, 2, true),
    ArgumentError,
    "linearInitValues: dIn must be a whole number >= 0, but got -1",
  );
  throwsExactly(
    () => linearInitValues(2, 1.5, true),
    ArgumentError,
    "linearInitValues: dOut must be a whole number >= 0, but got 1.5",
  );
  throwsExactly(
    () => linearInitValues(2, 2, true, {} as never),
    ArgumentError,
    "linearInitValues: generator must be a Generator, but got a plain object",
  );
});

Deno.test("assertClose: values must be tensors, typed arrays or flat arrays of numbers", async () => {
  const rule = "must be a Tensor, a numeric typed array or an array of numbers, but got";
  await rejectsExactly(
    () => assertClose("ab" as never, [1, 2]),
    ArgumentError,
    `assertClose: actual ${rule} a string "ab"`,
  );
  await rejectsExactly(
    () => assertClose(undefined as never, [1]),
    ArgumentError,
    `assertClose: actual ${rule} undefined`,
  );
  await rejectsExactly(
    () => assertClose([1], {} as never),
    ArgumentError,
    `assertClose: expected ${rule} a plain object`,
  );
  await rejectsExactly(
    () => assertClose([1], new BigInt64Array([1n]) as never),
    ArgumentError,
    `assertClose: expected ${rule} a BigInt64Array`,
  );
  await rejectsExactly(
    () => assertClose([[1, 2]] as never, [1, 2]),
    ArgumentError,
    "assertClose: actual[0] must be a number (flatten nested arrays), but got an array of length 2",
  );
  await rejectsExactly(
    () => assertClose([1, 2], [1, "2"] as never),
    ArgumentError,
    `assertClose: expected[1] must be a number (flatten nested arrays), but got a string "2"`,
  );
  const t = tensor([1, 2]);
  t.dispose();
  await rejectsExactly(
    () => assertClose([1, 2], t),
    UseAfterDisposeError,
    "assertClose: expected was disposed; it had shape [2] on cpu",
  );
});

Deno.test("assertClose: the tolerance object is checked", async () => {
  await rejectsExactly(
    () => assertClose([1], [1], null as never),
    ArgumentError,
    "assertClose: tolerance must be an object, but got null",
  );
  await rejectsExactly(
    () => assertClose([1], [1], 1e-3 as never),
    ArgumentError,
    "assertClose: tolerance must be an object, but got 0.001",
  );
  await rejectsExactly(
    () => assertClose([1], [1], { rotl: 1e-3 } as never),
    ArgumentError,
    `assertClose: tolerance has an unknown key "rotl"; expected rtol, atol`,
  );
  await rejectsExactly(
    () => assertClose([1], [1], { atol: NaN }),
    ArgumentError,
    "assertClose: tolerance.atol must be a finite number, but got NaN",
  );
  await rejectsExactly(
    () => assertClose([1], [1], { rtol: "0" as never }),
    ArgumentError,
    `assertClose: tolerance.rtol must be a finite number, but got a string "0"`,
  );
  await rejectsExactly(
    () => assertClose([1], [1], { rtol: -1 }),
    ArgumentError,
    "assertClose: tolerance.rtol must be >= 0, but got -1",
  );
});

Deno.test("assertClose: valid inputs behave as before", async () => {
  await assertClose(tensor([1, 2]), [1, 2.000001]);
  await assertClose(new Float64Array([1, 2]), new Int32Array([1, 2]), undefined);
  await assertClose([1, 2], [1, 2], { rtol: undefined, atol: 0 });
  await assertClose([], new Float32Array(0), { rtol: 0, atol: 0 });
  await rejectsExactly(
    () => assertClose([1, 2], [1, 3], { rtol: 0, atol: 0.5 }),
    AssertCloseError,
    "1 of 2 elements differ beyond rtol=0, atol=0.5: worst at flat index 1 " +
      "(actual 2, expected 3); max abs error 1, max rel error 0.3333333333333333",
  );
  await rejectsExactly(
    () => assertClose([NaN], [NaN]),
    AssertCloseError,
    "1 of 1 elements differ beyond rtol=0.0000013, atol=0.00001: worst at flat index 0 " +
      "(actual NaN, expected NaN); max abs error NaN, max rel error NaN",
  );
});
