// float16 on cpu: host conversion against PyTorch's bits, creation, cast,
// printing, layout copies and toDevice's dtype option. GPU counterparts:
// tests/gpu/f16_test.ts.

import assert from "node:assert/strict";
import {
  add,
  ArgumentError,
  cast,
  cat,
  cpu,
  div,
  DTypeError,
  embedding,
  exp,
  f16Bits,
  f16Value,
  format,
  fromF16Bits,
  full,
  manualSeed,
  maskedFill,
  matmul,
  mul,
  nn,
  ones,
  parseSafetensors,
  roundF16,
  safetensorsToStateDict,
  scale,
  serializeSafetensors,
  slice,
  softmax,
  stack,
  stateDictToSafetensors,
  sub,
  type Tensor,
  tensor,
  toDevice,
  toF16Bits,
  transpose,
  zeros,
} from "../mod.ts";
import fixture from "./fixtures/f16.json" with { type: "json" };
import expected from "./fixtures/safetensors/expected.json" with { type: "json" };
import bf16 from "./fixtures/safetensors/bf16.safetensors" with { type: "bytes" };
import f16 from "./fixtures/safetensors/f16.safetensors" with { type: "bytes" };
import f32 from "./fixtures/safetensors/f32.safetensors" with { type: "bytes" };

const fixtures = { bf16, f16, f32 };

const value = (v: number | string): number =>
  v === "inf" ? Infinity : v === "-inf" ? -Infinity : v as number;

Deno.test("f16Bits rounds like PyTorch's .half() (ties, subnormals, overflow)", () => {
  const values = fixture.values.map(value);
  const got = values.map((v) => f16Bits(v));
  for (let i = 0; i < values.length; i++) {
    assert.equal(got[i], fixture.bits[i], `value ${values[i]} (#${i})`);
  }
});

Deno.test("f16Value and f16Bits round-trip every half exactly; NaN stays NaN", () => {
  for (let h = 0; h < 0x10000; h++) {
    const v = f16Value(h);
    const isNaN = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
    if (isNaN) {
      assert.ok(Number.isNaN(v), `bits ${h.toString(16)}`);
      assert.equal(f16Bits(v) & 0xfe00, (h | 0x200) & 0xfe00, `payload of ${h.toString(16)}`);
    } else {
      assert.equal(f16Bits(v), h, `bits ${h.toString(16)} (${v})`);
    }
  }
  assert.equal(f16Value(0x7bff), 65504);
  assert.equal(f16Value(0x0001), 2 ** -24);
  assert.equal(f16Value(0xfc00), -Infinity);
  assert.ok(Object.is(f16Value(0x8000), -0));
  assert.equal(roundF16(0.1), 0.0999755859375);
  assert.deepEqual([...fromF16Bits(toF16Bits([1, -2, 0.5]))], [1, -2, 0.5]);
  // Widening keeps a signalling NaN's bits; narrowing quietens it, as F16C's vcvtps2ph does.
  const wide = fromF16Bits(new Uint16Array([0x7c01, 0xfe3f]));
  assert.deepEqual([...new Uint32Array(wide.buffer)], [0x7f802000, 0xffc7e000]);
  assert.deepEqual([...toF16Bits(wide)], [0x7e01, 0xfe3f]);
});

Deno.test("float16 tensors: creation rounds, data() widens, format prints like torch", async () => {
  const t = tensor([0.1, 70000, 1e-6, 3], undefined, { dtype: "float16" });
  assert.equal(t.dtype, "float16");
  const data = await t.data();
  assert.ok(data instanceof Float32Array);
  assert.deepEqual([...data], [0.0999755859375, Infinity, roundF16(1e-6), 3]);
  assert.equal(
    await format(t),
    "tensor([9.9976e-02,        inf, 1.0133e-06, 3.0000e+00], dtype=torch.float16)",
  );
  assert.equal(
    await format(tensor([[0.1, 2], [3, 4]], undefined, { dtype: "float16" })),
    "tensor([[0.1000, 2.0000],\n        [3.0000, 4.0000]], dtype=torch.float16)",
  );
  assert.deepEqual(await full([3], 0.1, { dtype: "float16" }).toArray(), [
    0.0999755859375,
    0.0999755859375,
    0.0999755859375,
  ]);
  assert.equal(zeros([2], { dtype: "float16" }).dtype, "float16");
  assert.deepEqual(await ones([1, 2], { dtype: "float16" }).toArray(), [[1, 1]]);
  const f = tensor(new Float32Array([1.5, 2.25]), [2, 1], { dtype: "float16" });
  assert.deepEqual(await f.toArray(), [[1.5], [2.25]]);
  assert.throws(
    () => tensor([1], undefined, { dtype: "float64" as "float32" }),
    (e) => e instanceof ArgumentError && /"float32", "float16" or "int32"/.test(e.message),
  );
});

Deno.test("cast converts between float32, float16 and int32 on cpu", async () => {
  const x = tensor([0.1, -70000, 1e-8, 2.5, -3.7, NaN]);
  const h = cast(x, "float16");
  assert.equal(h.dtype, "float16");
  const hv = await h.data();
  assert.deepEqual([...hv].slice(0, 5), [0.0999755859375, -Infinity, 0, 2.5, roundF16(-3.7)]);
  assert.ok(Number.isNaN(hv[5]));
  const back = cast(h, "float32");
  assert.equal(back.dtype, "float32");
  assert.deepEqual([...await back.data()].slice(0, 4), [...hv].slice(0, 4));
  const i = cast(tensor([2.9, -2.9, 1e10, NaN]), "int32");
  assert.equal(i.dtype, "int32");
  assert.deepEqual([...await i.data()], [2, -2, -2147483648, -2147483648]);
  const hi = cast(tensor([3.75, -1.5], undefined, { dtype: "float16" }), "int32");
  assert.deepEqual([...await hi.data()], [3, -1]);
  const fi = cast(tensor([16777217, 7], undefined, { dtype: "int32" }), "float32");
  assert.deepEqual([...await fi.data()], [16777216, 7]);
  const ih = cast(tensor([2049, 7], undefined, { dtype: "int32" }), "float16");
  assert.deepEqual([...await ih.data()], [2048, 7]);
  const same = cast(h, "float16");
  assert.notEqual(same, h);
  same.dispose();
  assert.equal(h.isDisposed, false);
  assert.throws(() => cast(x, "float64" as "float32"), ArgumentError);
});

Deno.test("float16 layout copies keep dtype and bits on cpu", async () => {
  const values = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6];
  const x = tensor(values, [2, 3], { dtype: "float16" });
  const t = transpose(x);
  assert.equal(t.dtype, "float16");
  assert.deepEqual(
    await t.toArray(),
    [[0.1, 0.4], [0.2, 0.5], [0.3, 0.6]].map((r) => r.map(roundF16)),
  );
  const s = slice(x, [0, 2], [1, 3]);
  assert.equal(s.dtype, "float16");
  assert.deepEqual(await s.toArray(), [[0.2, 0.3], [0.5, 0.6]].map((r) => r.map(roundF16)));
  const c = cat([x, x], 1);
  assert.equal(c.dtype, "float16");
  assert.deepEqual(
    (await c.toArray() as number[][])[1],
    [0.4, 0.5, 0.6, 0.4, 0.5, 0.6].map(roundF16),
  );
  const st = stack([x, x]);
  assert.equal(st.dtype, "float16");
  assert.deepEqual(await st.data(), new Float32Array([...values, ...values].map(roundF16)));
});

Deno.test("toDevice({ dtype }) converts floating tensors only, never int32", async () => {
  const tree = {
    w: tensor([0.1, 0.2]),
    ids: tensor([1, 2], undefined, { dtype: "int32" }),
    h: tensor([0.5], undefined, { dtype: "float16" }),
    note: "kept",
  };
  const half = await toDevice(tree, cpu, { dtype: "float16" });
  assert.equal(half.w.dtype, "float16");
  assert.deepEqual(await half.w.toArray(), [roundF16(0.1), roundF16(0.2)]);
  assert.equal(half.ids, tree.ids);
  assert.equal(half.h, tree.h);
  assert.equal(half.note, "kept");
  const full32 = await toDevice(half, cpu, { dtype: "float32" });
  assert.equal(full32.w.dtype, "float32");
  assert.equal(full32.h.dtype, "float32");
  assert.equal(full32.ids.dtype, "int32");
  assert.deepEqual(await full32.w.toArray(), [roundF16(0.1), roundF16(0.2)]);
  await assert.rejects(
    () => toDevice(tree, cpu, { dtype: "int32" as "float32" }),
    (e) => e instanceof ArgumentError && /options.dtype/.test(e.message),
  );
});

Deno.test("parseSafetensors({ dtype: float16 }) keeps F16 bits and rounds F32/BF16", () => {
  const f16File = fixtures.f16;
  const want = expected["f16.safetensors"].tensors;
  const parsed = parseSafetensors(f16File, { dtype: "float16" });
  for (const [name, t] of Object.entries(want)) {
    const got = parsed.tensors.get(name)!;
    assert.equal(got.dtype, "F16");
    assert.ok(got.data instanceof Uint16Array, name);
    // The widened values a float32 load gives are exactly these halves.
    const widened = new Uint32Array(fromF16Bits(got.data as Uint16Array).buffer);
    assert.deepEqual([...widened], t.bits, name);
  }
  for (const file of ["bf16.safetensors", "f32.safetensors"] as const) {
    const bytes = file === "bf16.safetensors" ? fixtures.bf16 : fixtures.f32;
    const wide = parseSafetensors(bytes);
    const half = parseSafetensors(bytes, { dtype: "float16" });
    for (const [name, t] of wide.tensors) {
      const got = half.tensors.get(name)!;
      assert.ok(got.data instanceof Uint16Array, `${file} ${name}`);
      const rounded = toF16Bits(t.data as Float32Array);
      // NaN payloads differ in width; compare NaN-ness there.
      for (let i = 0; i < rounded.length; i++) {
        const nan = (rounded[i] & 0x7fff) > 0x7c00;
        if (nan) assert.ok(((got.data[i] as number) & 0x7fff) > 0x7c00);
        else assert.equal(got.data[i], rounded[i], `${file} ${name}[${i}]`);
      }
    }
  }
  assert.throws(
    () => parseSafetensors(f16File, { dtype: "int32" as "float32" }),
    (e) => e instanceof ArgumentError && /options.dtype/.test(e.message),
  );
});

Deno.test("float16 state dicts save as F16 and load back bit for bit", async () => {
  const w = tensor(randomValues(37), [37], { dtype: "float16" });
  const ids = tensor([3, 1], undefined, { dtype: "int32" });
  const bytes = await stateDictToSafetensors(new Map([["w", w], ["ids", ids]]));
  const parsed = parseSafetensors(bytes, { dtype: "float16" });
  assert.equal(parsed.tensors.get("w")!.dtype, "F16");
  assert.equal(parsed.tensors.get("ids")!.dtype, "I32");
  const dict = safetensorsToStateDict(bytes, cpu, { dtype: "float16" });
  assert.equal(dict.get("w")!.dtype, "float16");
  assert.equal(dict.get("ids")!.dtype, "int32");
  assert.deepEqual(await dict.get("w")!.data(), await w.data());
  const wide = safetensorsToStateDict(bytes);
  assert.equal(wide.get("w")!.dtype, "float32");
  assert.deepEqual(await wide.get("w")!.data(), await w.data());
  // Serialized F16 bytes are the raw halves, little-endian, after the header.
  const raw = serializeSafetensors([["h", {
    shape: [2],
    data: new Uint16Array([0x3c00, 0xc000]),
  }]]);
  assert.deepEqual([...raw.slice(-4)], [0x00, 0x3c, 0x00, 0xc0]);
  assert.ok(new TextDecoder().decode(raw).includes('"dtype":"F16"'));
});

function randomValues(n: number): number[] {
  return Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 3);
}

Deno.test("float16 ops on cpu compute in float32 and round once", async () => {
  const a = tensor([[0.1, 0.2, 0.3], [1000, -2, 3.5]], undefined, { dtype: "float16" });
  const b = tensor([0.7, 60000, -1], undefined, { dtype: "float16" });
  const a32 = cast(a, "float32");
  const b32 = cast(b, "float32");
  const round = async (t: Tensor) => [...await t.data()].map(roundF16);
  for (const fn of [add, sub, mul, div]) {
    const got = fn(a, b);
    assert.equal(got.dtype, "float16");
    assert.deepEqual([...await got.data()], await round(fn(a32, b32)));
  }
  for (const fn of [exp, (t: Tensor) => scale(t, 0.3), (t: Tensor) => softmax(t)]) {
    const got = fn(a);
    assert.equal(got.dtype, "float16");
    assert.deepEqual([...await got.data()], await round(fn(a32)));
  }
  const m = matmul(a, transpose(a));
  assert.equal(m.dtype, "float16");
  assert.deepEqual([...await m.data()], await round(matmul(a32, transpose(a32))));
  const e = embedding(a, tensor([1, 0, 1], undefined, { dtype: "int32" }));
  assert.equal(e.dtype, "float16");
  assert.deepEqual(await e.toArray(), [[1000, -2, 3.5], [0.1, 0.2, 0.3].map(roundF16), [
    1000,
    -2,
    3.5,
  ]]);
  assert.throws(
    () => add(a, a32),
    (e) => e instanceof DTypeError && /cast\(b, "float16"\)/.test(e.message),
  );
  assert.throws(() => exp(tensor([1], undefined, { dtype: "int32" })), DTypeError);
});

Deno.test("a float16 GPT on cpu gives float16 logits close to float32", async () => {
  manualSeed(3);
  const config = {
    vocabSize: 50,
    contextLength: 8,
    embDim: 32,
    nHeads: 2,
    nLayers: 1,
    dropRate: 0,
    qkvBias: false,
  };
  const model = nn.gptModel.init(config);
  const ids = tensor([[1, 4, 9, 49, 0]], undefined, { dtype: "int32" });
  const y32 = await nn.gptModel.apply(model, ids).data();
  const half = await toDevice(model, cpu, { dtype: "float16" });
  const y = nn.gptModel.apply(half, ids);
  assert.equal(y.dtype, "float16");
  const got = await y.data();
  const scale = Math.max(...y32.map(Math.abs));
  const worst = Math.max(...got.map((v, i) => Math.abs(v - y32[i])));
  assert.ok(worst <= 2e-2 * scale, `max |f16 - f32| = ${worst}, max |logit| = ${scale}`);
  const m = maskedFill(
    tensor([1.5, 2], undefined, { dtype: "float16" }),
    tensor([0, 1]),
    -Infinity,
  );
  assert.equal(m.dtype, "float16");
  assert.deepEqual(await m.toArray(), [1.5, -Infinity]);
});
