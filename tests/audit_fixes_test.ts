// CPU checks for the audit's findings (issues 10/11, engineer H19): dropout
// of NaN and infinities, arange against the step's sign, cat's dtype message,
// assertNotPickle's argument checks, GPT layer options and mask shapes. The
// webgpu halves are in tests/gpu/audit_fixes_test.ts and tests/gpu/audit_test.ts.

import assert from "node:assert/strict";
import {
  arange,
  ArgumentError,
  assertNotPickle,
  cat,
  crossEntropy,
  dispose,
  dropout,
  DTypeError,
  manualSeed,
  nn,
  ShapeError,
  type Tensor,
  tensor,
} from "../mod.ts";

Deno.test("dropout on cpu: a dropped NaN or infinity gives NaN (x * mask), a dropped finite value a signed zero", async () => {
  const values = [NaN, Infinity, -Infinity, -3, 2];
  const x = tensor(new Float32Array(64).map((_, i) => values[i % values.length]), [64]);
  const y = await dropout(x, 0.5, { seed: 7 }).data();
  const kept = await dropout(tensor(new Float32Array(64).fill(1), [64]), 0.5, { seed: 7 }).data();
  let dropped = 0;
  for (let i = 0; i < 64; i++) {
    const v = values[i % values.length];
    const expected = kept[i] === 0 ? v * 0 : v * 2;
    assert.ok(Object.is(y[i], expected), `element ${i} (${v}): ${y[i]}, expected ${expected}`);
    if (kept[i] === 0) dropped++;
  }
  assert.ok(dropped > 10 && dropped < 54, `${dropped} of 64 dropped`);
});

Deno.test("dropout backward on cpu multiplies the gradient by the mask too", async () => {
  const { valueAndGrad, sum, mul } = await import("../mod.ts");
  const g = tensor(new Float32Array(32).fill(NaN), [32]);
  const x = tensor(new Float32Array(32).fill(1), [32]);
  const { grads } = valueAndGrad((p: Tensor) => sum(mul(dropout(p, 0.5, { seed: 3 }), g)))(x);
  const data = await (grads as Tensor).data();
  assert.ok(data.every((v) => Number.isNaN(v)), "NaN upstream gradient stays NaN");
});

Deno.test("arange refuses a range against the step's sign, like torch", async () => {
  for (const [start, end, step] of [[5, 0, 1], [0, 5, -1], [0, 0.5, -0.25]]) {
    assert.throws(
      () => arange(start, end, step),
      (e: Error) =>
        e instanceof ArgumentError &&
        /^arange: upper bound and larger bound inconsistent with step sign/.test(e.message),
      `${start}, ${end}, ${step}`,
    );
  }
  assert.deepEqual(await arange(3, 3).toArray(), []);
  assert.deepEqual(await arange(3, 3, -1).toArray(), []);
  assert.deepEqual(await arange(5, 0, -2).toArray(), [5, 3, 1]);
  assert.deepEqual(await arange(0, 1, 0.5).toArray(), [0, 0.5]);
});

Deno.test("cat of float32 and int32 says the dtypes must match, and cat takes int32", async () => {
  const f = tensor([1.5, 2]);
  const i = tensor([3], undefined, { dtype: "int32" });
  assert.throws(
    () => cat([f, i]),
    (e: Error) =>
      e instanceof DTypeError &&
      e.message ===
        "cat: tensors[1] has dtype int32, but tensors[0] has dtype float32: the dtypes must match",
  );
  const ints = cat([i, tensor([4, 5], undefined, { dtype: "int32" })]);
  assert.equal(ints.dtype, "int32");
  assert.deepEqual(await ints.toArray(), [3, 4, 5]);
});

Deno.test("assertNotPickle validates its arguments", () => {
  for (const bad of [undefined, null, "oops", {}, [0x80, 2], new Uint16Array(4)]) {
    assert.throws(
      () => assertNotPickle(bad as unknown as Uint8Array),
      (e: Error) =>
        e instanceof ArgumentError &&
        /^assertNotPickle: bytes must be a Uint8Array/.test(e.message),
      String(bad),
    );
  }
  assert.throws(
    () => assertNotPickle(new Uint8Array(16), 3 as unknown as string),
    (e: Error) =>
      e instanceof ArgumentError && /^assertNotPickle: name must be a string/.test(e.message),
  );
  assertNotPickle(new Uint8Array([1, 2, 3]));
  assertNotPickle(new Uint8Array([1, 2, 3]), "weights.bin");
});

Deno.test("crossEntropy on cpu still throws ArgumentError for targets that are not class indices", () => {
  const logits = tensor([[1, 2, 3, 4], [0, 0, 0, 0], [4, 3, 2, 1]]);
  for (
    const targets of [
      tensor([0, 1, 4], undefined, { dtype: "int32" }),
      tensor([0, 1, -1], undefined, { dtype: "int32" }),
      tensor([0, 1, 2.5]),
      tensor([0, 1, NaN]),
    ]
  ) {
    assert.throws(() => crossEntropy(logits, targets), ArgumentError);
  }
});

const TINY = {
  vocabSize: 13,
  contextLength: 6,
  embDim: 8,
  nHeads: 2,
  nLayers: 2,
  dropRate: 0.1,
  qkvBias: false,
};

Deno.test("GPT layers validate their apply options", () => {
  manualSeed(5);
  const model = nn.gptModel.init(TINY);
  const ids = tensor([[1, 2, 3]], undefined, { dtype: "int32" });
  const x = tensor(new Float32Array(2 * 3 * 8).fill(0.5), [2, 3, 8]);
  const block = nn.transformerBlock.init({ ...TINY, nHeads: 2 });
  const att = nn.multiHeadAttention.init({
    dIn: 8,
    dOut: 8,
    contextLength: 6,
    dropout: 0.1,
    numHeads: 2,
  });
  const cases: [string, () => unknown, RegExp][] = [
    [
      "gptModel training",
      () => nn.gptModel.apply(model, ids, { training: "yes" } as never),
      /^gptModel\.apply: options\.training must be a boolean, but got a string/,
    ],
    [
      "gptModel lastPosition",
      () => nn.gptModel.apply(model, ids, { lastPosition: 1 } as never),
      /^gptModel\.apply: options\.lastPosition must be a boolean/,
    ],
    [
      "gptModel generator",
      () => nn.gptModel.apply(model, ids, { generator: {} } as never),
      /^gptModel\.apply: options\.generator must be a Generator/,
    ],
    [
      "gptModel options",
      () => nn.gptModel.apply(model, ids, null as never),
      /^gptModel\.apply: options must be an object/,
    ],
    [
      "transformerBlock training",
      () => nn.transformerBlock.apply(block, x, { training: "yes" } as never),
      /^transformerBlock\.apply: options\.training must be a boolean/,
    ],
    [
      "multiHeadAttention fused",
      () => nn.multiHeadAttention.apply(att, x, { fused: "no" } as never),
      /^multiHeadAttention\.apply: options\.fused must be a boolean/,
    ],
    [
      "multiHeadAttention training",
      () => nn.multiHeadAttention.apply(att, x, { training: 1 } as never),
      /^multiHeadAttention\.apply: options\.training must be a boolean/,
    ],
  ];
  for (const [what, fn, pattern] of cases) {
    assert.throws(fn, (e: Error) => e instanceof ArgumentError && pattern.test(e.message), what);
  }
  // Valid options still work.
  const y = nn.gptModel.apply(model, ids, { training: false, lastPosition: true, fused: true });
  assert.deepEqual(y.shape, [1, 1, 13]);
  dispose([model, ids, x, block, att, y]);
});

Deno.test("gptModel.apply checks every block's mask against the tokens up front, naming its path", () => {
  manualSeed(6);
  const model = nn.gptModel.init(TINY);
  const ids = tensor([[1, 2, 3]], undefined, { dtype: "int32" });
  for (const block of [0, 1]) {
    const buffers = model.buffers.trf_blocks[block].att;
    const mask = buffers.mask;
    buffers.mask = tensor([[0, 1], [0, 0]]);
    assert.throws(
      () => nn.gptModel.apply(model, ids),
      (e: Error) =>
        e instanceof ShapeError &&
        e.message.startsWith(
          `gptModel.apply: buffers.trf_blocks.${block}.att.mask has shape [2, 2], but ids has 3 tokens`,
        ),
    );
    buffers.mask.dispose();
    buffers.mask = mask;
  }
  const ok = nn.gptModel.apply(model, ids);
  assert.deepEqual(ok.shape, [1, 3, 13]);
  dispose([model, ids, ok]);
});

Deno.test("parseBindings reads each binding's element scalar through arrays, vectors and atomics", async () => {
  const { parseBindings } = await import("../src/gpu/wgsl_bindings.ts");
  const code = `
    struct P { n: u32 }
    @group(0) @binding(0) var<uniform> p: P;
    @group(0) @binding(1) var<storage, read> a: array<f32>;
    @group(0) @binding(2) var<storage, read> b: array<vec4<i32>>;
    @group(0) @binding(3) var<storage, read> c: array<vec2u>;
    @group(0) @binding(4) var<storage, read> d: array<mat2x2<f16>, 4>;
    @group(0) @binding(5) var<storage, read> e: array<P>;
    @group(0) @binding(6) var<storage, read_write> f: array<atomic<u32>>;`;
  assert.deepEqual(
    parseBindings(code).map((b) => [b.name, b.scalar]),
    [
      ["p", undefined],
      ["a", "f32"],
      ["b", "i32"],
      ["c", "u32"],
      ["d", "f16"],
      ["e", undefined],
      ["f", "u32"],
    ],
  );
});
