// int32 tensors on cpu: printing like PyTorch 1.13, state dicts and
// safetensors keep the dtype, and `embedding` (forward, errors, gradient,
// finite differences, PyTorch fixture). GPU counterparts: tests/gpu/int32_test.ts
// and tests/gpu/embedding_test.ts.

import assert from "node:assert/strict";
import {
  ArgumentError,
  assertClose,
  DTypeError,
  embedding,
  format,
  loadStateDict,
  mul,
  parseSafetensors,
  safetensorsToStateDict,
  serializeSafetensors,
  ShapeError,
  stateDict,
  StateDictError,
  stateDictToSafetensors,
  sum,
  type Tensor,
  tensor,
  valueAndGrad,
} from "../mod.ts";
import fixtures from "./fixtures/embedding.json" with { type: "json" };
import { bits } from "./helpers.ts";

const int = (values: number[] | number[][] | number, shape?: number[]): Tensor =>
  tensor(values, shape, { dtype: "int32" });
const INT_MIN = -2147483648;
const INT_MAX = 2147483647;

// Expected strings printed by /usr/bin/python3 with torch 1.13.
Deno.test("int32 format: prints like torch 1.13", async () => {
  assert.equal(await format(int([1, 2, 3])), "tensor([1, 2, 3], dtype=torch.int32)");
  assert.equal(
    await format(int([[1, -2], [300, 4]])),
    "tensor([[  1,  -2],\n        [300,   4]], dtype=torch.int32)",
  );
  assert.equal(
    await format(int([INT_MIN, INT_MAX])),
    "tensor([-2147483648,  2147483647], dtype=torch.int32)",
  );
  assert.equal(await format(int(5, [])), "tensor(5, dtype=torch.int32)");
  assert.equal(await format(int([], [0, 3])), "tensor([], size=(0, 3), dtype=torch.int32)");
  assert.equal(await format(int([], [0])), "tensor([], dtype=torch.int32)");
  const range = Array.from({ length: 2000 }, (_, i) => i);
  assert.equal(
    await format(int(range)),
    "tensor([   0,    1,    2,  ..., 1997, 1998, 1999], dtype=torch.int32)",
  );
  const wide = Array.from({ length: 60 }, (_, i) => (i - 30) * 1000);
  assert.equal(
    await format(int(wide)),
    "tensor([-30000, -29000, -28000, -27000, -26000, -25000, -24000, -23000, -22000,\n" +
      "        -21000, -20000, -19000, -18000, -17000, -16000, -15000, -14000, -13000,\n" +
      "        -12000, -11000, -10000,  -9000,  -8000,  -7000,  -6000,  -5000,  -4000,\n" +
      "         -3000,  -2000,  -1000,      0,   1000,   2000,   3000,   4000,   5000,\n" +
      "          6000,   7000,   8000,   9000,  10000,  11000,  12000,  13000,  14000,\n" +
      "         15000,  16000,  17000,  18000,  19000,  20000,  21000,  22000,  23000,\n" +
      "         24000,  25000,  26000,  27000,  28000,  29000], dtype=torch.int32)",
  );
  const grid = Array.from({ length: 3000 }, (_, i) => i - 1500);
  assert.equal(
    await format(int(grid, [30, 100])),
    "tensor([[-1500, -1499, -1498,  ..., -1403, -1402, -1401],\n" +
      "        [-1400, -1399, -1398,  ..., -1303, -1302, -1301],\n" +
      "        [-1300, -1299, -1298,  ..., -1203, -1202, -1201],\n" +
      "        ...,\n" +
      "        [ 1200,  1201,  1202,  ...,  1297,  1298,  1299],\n" +
      "        [ 1300,  1301,  1302,  ...,  1397,  1398,  1399],\n" +
      "        [ 1400,  1401,  1402,  ...,  1497,  1498,  1499]], dtype=torch.int32)",
  );
});

Deno.test("int32 safetensors: I32 round trip is bitwise, header says I32", async () => {
  const ids = new Int32Array([INT_MIN, -1, 0, 1, 50256, INT_MAX]);
  const bytes = serializeSafetensors(new Map([["ids", { shape: [2, 3], data: ids }]]));
  const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const header = new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)).trim();
  assert.equal(header, '{"ids":{"dtype":"I32","shape":[2,3],"data_offsets":[0,24]}}');
  // Little-endian two's complement, as torch writes int32.
  assert.deepEqual([...bytes.subarray(8 + headerLength, 8 + headerLength + 4)], [0, 0, 0, 0x80]);
  const parsed = parseSafetensors(bytes).tensors.get("ids")!;
  assert.equal(parsed.dtype, "I32");
  assert.ok(parsed.data instanceof Int32Array);
  assert.deepEqual(bits(parsed.data), bits(ids));

  const dict = new Map([["w", tensor([0.5, -1])], ["ids", tensor(ids, [6])]]);
  const loaded = safetensorsToStateDict(await stateDictToSafetensors(dict));
  assert.equal(loaded.get("ids")!.dtype, "int32");
  assert.equal(loaded.get("w")!.dtype, "float32");
  assert.deepEqual(bits(await loaded.get("ids")!.data()), bits(ids));
});

Deno.test("int32 state dict: keeps dtype; a dtype mismatch names the key", async () => {
  const module = {
    params: { weight: tensor([[1, 2]]) },
    buffers: { positions: int([0, 1, 2]) },
    config: {},
  };
  const dict = stateDict(module);
  assert.equal(dict.get("positions")!.dtype, "int32");
  const fresh = {
    params: { weight: tensor([[0, 0]]) },
    buffers: { positions: int([7, 7, 7]) },
    config: {},
  };
  const { module: loaded } = await loadStateDict(fresh, dict);
  assert.equal(loaded.buffers.positions.dtype, "int32");
  assert.deepEqual(await loaded.buffers.positions.toArray(), [0, 1, 2]);

  const wrong = new Map(dict);
  wrong.set("positions", tensor([0, 1, 2]));
  for (const strict of [true, false]) {
    await assert.rejects(loadStateDict(fresh, wrong, { strict }), (e: unknown) => {
      assert.ok(e instanceof StateDictError, String(e));
      assert.match(
        (e as Error).message,
        /dtype mismatch for positions: copying a tensor of dtype float32, but the module's tensor has dtype int32/,
      );
      return true;
    });
  }
});

Deno.test("embedding cpu: rows by id, any ids shape", async () => {
  const weight = tensor([[0, 1], [2, 3], [4, 5]]);
  assert.deepEqual(await embedding(weight, int([[2, 0], [1, 1]])).toArray(), [
    [[4, 5], [0, 1]],
    [[2, 3], [2, 3]],
  ]);
  const scalar = embedding(weight, int(1, []));
  assert.deepEqual(scalar.shape, [2]);
  assert.deepEqual(await scalar.toArray(), [2, 3]);
  const empty = embedding(weight, int([], [0, 4]));
  assert.deepEqual(empty.shape, [0, 4, 2]);
});

Deno.test("embedding cpu: bad ids, dtypes and shapes are errors naming the problem", () => {
  const weight = tensor([[0, 1], [2, 3], [4, 5]]);
  assert.throws(() => embedding(weight, int([0, 3])), (e: unknown) => {
    assert.ok(e instanceof ArgumentError, String(e));
    assert.equal(
      (e as Error).message,
      "embedding: index out of range in self: ids holds 3 at flat index 1, but weight has " +
        "3 rows (valid ids are 0 to 2)",
    );
    return true;
  });
  assert.throws(() => embedding(weight, int([-1])), /ids holds -1 at flat index 0/);
  assert.throws(() => embedding(weight, tensor([0, 1])), DTypeError);
  assert.throws(() => embedding(int([[1, 2]]), int([0])), DTypeError);
  assert.throws(() => embedding(tensor([1, 2, 3]), int([0])), ShapeError);
  assert.throws(() => embedding(weight, [0] as unknown as Tensor), ArgumentError);
});

Deno.test("embedding cpu: matches torch forward and weight gradient (repeated ids)", async () => {
  for (const c of fixtures.cases) {
    const weight = tensor(Float32Array.from(c.weight), [c.vocab, c.dim]);
    const ids = tensor(Int32Array.from(c.ids), c.idsShape);
    const cot = tensor(Float32Array.from(c.cotangent), [...c.idsShape, c.dim]);
    const { value, grads } = valueAndGrad((p: { weight: Tensor }) =>
      sum(mul(embedding(p.weight, ids), cot))
    )({ weight });
    assert.ok(Number.isFinite((await value.data())[0]), c.name);
    await assertClose(
      embedding(weight, ids),
      tensor(Float32Array.from(c.out), [...c.idsShape, c.dim]),
      {
        rtol: 0,
        atol: 0,
      },
    );
    await assertClose(grads.weight, tensor(Float32Array.from(c.grad), [c.vocab, c.dim]), {
      rtol: 1e-6,
      atol: 1e-6,
    });
  }
});

Deno.test("embedding cpu: gradient matches finite differences", async () => {
  const weight = tensor(Float32Array.from({ length: 12 }, (_, i) => Math.sin(i + 1)), [4, 3]);
  const ids = int([[3, 1, 3], [0, 3, 1]]);
  const cot = tensor(Float32Array.from({ length: 18 }, (_, i) => Math.cos(i * 0.7)), [2, 3, 3]);
  const loss = (w: Tensor) => sum(mul(embedding(w, ids), cot));
  const { grads } = valueAndGrad((p: { w: Tensor }) => loss(p.w))({ w: weight });
  const analytic = await grads.w.data();
  const base = await weight.data() as Float32Array;
  const h = 1e-2;
  for (let i = 0; i < base.length; i++) {
    const plus = base.slice();
    const minus = base.slice();
    plus[i] += h;
    minus[i] -= h;
    const fp = (await loss(tensor(plus, [4, 3])).data())[0];
    const fm = (await loss(tensor(minus, [4, 3])).data())[0];
    assert.ok(Math.abs((fp - fm) / (2 * h) - analytic[i]) < 1e-3, `element ${i}`);
  }
  // Row 2 is never looked up: its gradient is exactly zero.
  assert.deepEqual([...analytic.subarray(6, 9)], [0, 0, 0]);
});
