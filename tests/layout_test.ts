// Layout ops and extrema on the cpu: PyTorch 1.13 fixtures
// (tests/fixtures/layout.json, from scripts/gen_layout_fixtures.py), central
// finite differences of every backward rule, argument errors, zero-copy
// views and exact int32 copies.

import assert from "node:assert/strict";
import {
  argmax,
  ArgumentError,
  assertClose,
  cat,
  DTypeError,
  grad,
  max,
  mul,
  permute,
  reshape,
  ShapeError,
  slice,
  squeeze,
  stack,
  sum,
  type Tensor,
  tensor,
  topk,
  transpose,
  unsqueeze,
  zeros,
} from "../mod.ts";
import { cpuRaw } from "../src/tensor.ts";
import { CASES, checkCase, decode, type Encoded, runCase } from "./layout_cases.ts";
import { randomTensor } from "./helpers.ts";

Deno.test("layout ops and extrema match PyTorch 1.13 on the cpu", async () => {
  for (const c of CASES) {
    const inputs = c.inputs.map((e) => decode(e as Encoded, c.int32 === true));
    await checkCase(c, inputs[0], runCase(c, inputs));
  }
});

Deno.test("max and topk gradients match PyTorch 1.13 on the cpu", async () => {
  for (const c of CASES.filter((c) => c.grad)) {
    const x = decode(c.inputs[0] as Encoded);
    const w = decode(c.weights as Encoded);
    const g = grad((p: { x: Tensor }) => sum(mul(runCase(c, [p.x]).out, w)))({ x }).x;
    await assertClose(g, decode(c.grad as Encoded), { rtol: 0, atol: 0 });
  }
});

// Central differences in float64 of sum(f(x) * R); EPS and the tolerance as
// in tests/gpu/autograd_test.ts.
const EPS = 1e-2;
const FD_TOLERANCE = { rtol: 1e-2, atol: 2e-3 };

async function checkFiniteDifferences(
  name: string,
  params: Tensor[],
  f: (ps: Tensor[]) => Tensor,
): Promise<void> {
  const probe = f(params);
  const R = randomTensor(probe.shape, probe.size + 3);
  const w = await R.data();
  const grads = grad((p: { ps: Tensor[] }) => sum(mul(f(p.ps), R)))({ ps: params }).ps;
  for (let k = 0; k < params.length; k++) {
    const base = (await params[k].data()) as Float32Array;
    const numeric = new Float64Array(base.length);
    for (let i = 0; i < base.length; i++) {
      const at = async (delta: number) => {
        const data = base.slice();
        data[i] += delta;
        const moved = params.map((p, j) => j === k ? tensor(data, p.shape) : p);
        const out = await f(moved).data();
        let total = 0;
        for (let e = 0; e < out.length; e++) total += out[e] * w[e];
        return total;
      };
      numeric[i] = (await at(EPS) - await at(-EPS)) / (2 * EPS);
    }
    await assertClose(grads[k], numeric, FD_TOLERANCE).catch((e) => {
      throw new Error(`${name}, d/dparams[${k}]: ${e.message}`);
    });
  }
}

Deno.test("layout and extrema backward rules agree with finite differences", async () => {
  let seed = 300;
  const r = (...shape: number[]) => randomTensor(shape, seed++);
  const cases: [string, Tensor[], (ps: Tensor[]) => Tensor][] = [
    ["cat dim 1", [r(2, 3, 4), r(2, 1, 4), r(2, 2, 4)], (p) => cat(p, 1)],
    ["cat dim -1", [r(3, 2), r(3, 5)], (p) => cat(p, -1)],
    ["cat of one tensor twice", [r(2, 3)], (p) => cat([p[0], p[0]], 0)],
    ["stack dim 2", [r(2, 3), r(2, 3)], (p) => stack(p, 2)],
    ["permute", [r(2, 3, 4)], (p) => permute(p[0], [2, 0, 1])],
    ["permute of size-1 dims (a view)", [r(3, 1, 4)], (p) => permute(p[0], [1, 0, 2])],
    ["transpose", [r(3, 4, 2)], (p) => transpose(p[0], 0, 2)],
    ["unsqueeze and squeeze", [r(3, 1, 4)], (p) => unsqueeze(squeeze(p[0], 1), -1)],
    ["slice with negative bounds", [r(5, 6)], (p) => slice(p[0], [-4, -1], [1, 99])],
    ["max along dim 1", [r(3, 5, 2)], (p) => max(p[0], 1).values],
    ["max keepDim", [r(4, 3)], (p) => max(p[0], 0, { keepDim: true }).values],
    ["topk largest", [r(3, 8)], (p) => topk(p[0], 3).values],
    [
      "topk smallest along dim 0",
      [r(6, 2, 3)],
      (p) => topk(p[0], 2, { dim: 0, largest: false }).values,
    ],
  ];
  for (const [name, params, f] of cases) await checkFiniteDifferences(name, params, f);
});

Deno.test("unsqueeze, squeeze and order-keeping permutes share storage; permute copies", () => {
  const x = randomTensor([3, 1, 4], 1);
  assert.equal(cpuRaw(unsqueeze(x, 0), "t", "x"), cpuRaw(x, "t", "x"));
  assert.equal(cpuRaw(squeeze(x), "t", "x"), cpuRaw(x, "t", "x"));
  assert.equal(cpuRaw(squeeze(x, 1), "t", "x"), cpuRaw(x, "t", "x"));
  assert.equal(cpuRaw(permute(x, [1, 0, 2]), "t", "x"), cpuRaw(x, "t", "x"));
  assert.notEqual(cpuRaw(permute(x, [2, 1, 0]), "t", "x"), cpuRaw(x, "t", "x"));
  assert.deepEqual(unsqueeze(x, 3).shape, [3, 1, 4, 1]);
  assert.deepEqual(unsqueeze(x, -4).shape, [1, 3, 1, 4]);
  assert.deepEqual(squeeze(x, 0).shape, [3, 1, 4]);
  assert.deepEqual(squeeze(tensor(5)).shape, []);
  assert.deepEqual(unsqueeze(tensor(5), 0).shape, [1]);
});

Deno.test("layout ops copy int32 values exactly", async () => {
  const big = [2147483647, -2147483648, 16777217, -16777219, 0, 1, -1, 123456789];
  const ids = tensor(new Int32Array(big), [2, 4]);
  const other = tensor(new Int32Array([7, 8, 9, 10]), [2, 2]);
  const joined = cat([ids, other], 1);
  assert.equal(joined.dtype, "int32");
  assert.deepEqual(await joined.toArray(), [
    [2147483647, -2147483648, 16777217, -16777219, 7, 8],
    [0, 1, -1, 123456789, 9, 10],
  ]);
  assert.deepEqual(await permute(ids, [1, 0]).toArray(), [
    [2147483647, 0],
    [-2147483648, 1],
    [16777217, -1],
    [-16777219, 123456789],
  ]);
  assert.deepEqual(await slice(ids, [1, 2], [-2, 4]).toArray(), [[-1, 123456789]]);
  assert.deepEqual(await stack([ids, ids], 2).data(), new Int32Array(big.flatMap((v) => [v, v])));
  assert.equal(unsqueeze(ids, 1).dtype, "int32");
  assert.throws(() => cat([ids, tensor([[1, 2, 3, 4]])], 0), DTypeError);
  assert.throws(() => max(ids, 0), DTypeError);
});

Deno.test("slice rejects fractional, NaN and infinite bounds naming the dimension", () => {
  const x = zeros([4, 5]);
  assert.throws(() => slice(x, [0.5, 2]), ArgumentError);
  assert.throws(() => slice(x, [0, 2], [NaN, 3]), /slice: the range for dimension 1 .*NaN/);
  assert.throws(() => slice(x, [0, Infinity]), /dimension 0/);
  assert.throws(() => slice(x, [0, 2, 3] as unknown as [number, number]), ArgumentError);
  assert.throws(() => slice(x, [0, 1], [0, 1], [0, 1]), ShapeError);
  assert.deepEqual(slice(x, [-99, 99], [3, 1]).shape, [4, 0]);
});

Deno.test("cat, permute, squeeze, max and topk reject bad arguments with clear errors", () => {
  const x = zeros([2, 3]);
  assert.throws(() => cat([]), /cat: expected a non-empty array of tensors/);
  assert.throws(() => cat([x, zeros([3, 3])], 1), /cat: tensors\[1\] has shape \[3, 3\]/);
  assert.throws(() => cat([x, zeros([2, 3, 1])], 0), ShapeError);
  assert.throws(() => cat([x, x], 2), ArgumentError);
  assert.throws(() => cat([tensor(1), tensor(2)]), /zero-dimensional/);
  assert.throws(() => cat([x, 3 as unknown as Tensor]), /cat: tensors\[1\] must be a Tensor/);
  assert.throws(() => permute(x, [0]), /permute: dims must list each of the 2 dimensions/);
  assert.throws(() => permute(x, [1, 1]), /repeats a dimension/);
  assert.throws(() => permute(x, [0, 2]), ArgumentError);
  assert.throws(() => unsqueeze(x, 3), ArgumentError);
  assert.throws(() => squeeze(x, 2), ArgumentError);
  assert.throws(() => max(zeros([2, 0]), 1), /max: cannot reduce dimension 1 of size 0/);
  assert.throws(() => argmax(zeros([0])), ShapeError);
  assert.throws(() => topk(x, 4), /topk: k must be a whole number from 0 to 3/);
  assert.throws(() => topk(x, -1), ArgumentError);
  assert.throws(() => topk(x, 1.5), ArgumentError);
  assert.throws(() => max(x, 0.5), ArgumentError);
  const deep = zeros([1, 1, 1, 1, 1, 1, 1, 1, 2]);
  assert.throws(() => permute(deep, [8, 0, 1, 2, 3, 4, 5, 6, 7]), /at most 8 are supported/);
  assert.throws(() => stack([zeros([1, 1, 1, 1, 1, 1, 1, 2])]), /stack: the result has 9/);
  assert.deepEqual(max(deep, -1).values.shape, [1, 1, 1, 1, 1, 1, 1, 1]);
});

Deno.test("argmax without dim is over the flattened tensor; scalars reduce like torch", async () => {
  const x = tensor([[1, 9, 3], [9, 2, NaN]]);
  assert.equal(await argmax(x).toArray(), 5);
  assert.deepEqual(argmax(x, undefined, { keepDim: true }).shape, [1, 1]);
  assert.deepEqual(await argmax(x, 0, { keepDim: true }).toArray(), [[1, 0, 1]]);
  const s = max(tensor(4), 0);
  assert.deepEqual(s.values.shape, []);
  assert.equal(await s.indices.toArray(), 0);
  assert.equal(await argmax(tensor(-3)).toArray(), 0);
  const { values, indices } = topk(tensor([1, 3, 3, 2]), 0);
  assert.deepEqual([values.shape, indices.shape], [[0], [0]]);
  assert.deepEqual(reshape(topk(tensor([[1, 3], [2, 0]]), 1, { dim: 0 }).indices, [2]).shape, [2]);
});
