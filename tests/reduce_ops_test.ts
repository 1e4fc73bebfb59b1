// Reductions, softmax / logSoftmax along any dimension, variance and
// broadcasting matmul on the cpu: against PyTorch 1.13 (tests/fixtures/
// reduce.json, from scripts/gen_reduce_fixtures.py) and against central
// finite differences for the backward rules.

import assert from "node:assert/strict";
import {
  ArgumentError,
  assertClose,
  cpu,
  dispose,
  grad,
  logSoftmax,
  matmul,
  mul,
  ShapeError,
  softmax,
  sum,
  type Tensor,
  tensor,
  variance,
} from "../mod.ts";
import { randomTensor } from "./helpers.ts";
import { CASES, checkCase } from "./reduce_cases.ts";

for (const c of CASES) {
  Deno.test(`cpu matches PyTorch: ${c.name}`, async () => {
    await checkCase(c, cpu);
  });
}

const EPS = 1e-2;

/** d sum(f(x) * w) / dx by central differences, for each input in turn. */
async function numericGrads(f: (xs: Tensor[]) => Tensor, xs: Tensor[], w: Tensor) {
  const wv = await w.data();
  const at = async (inputs: Tensor[]) => {
    const out = f(inputs);
    const v = await out.data();
    out.dispose();
    let total = 0;
    for (let i = 0; i < v.length; i++) total += v[i] * wv[i];
    return total;
  };
  const grads: Float64Array[] = [];
  for (let k = 0; k < xs.length; k++) {
    const base = await xs[k].data() as Float32Array;
    const g = new Float64Array(base.length);
    for (let i = 0; i < base.length; i++) {
      const moved = (delta: number) => {
        const data = base.slice();
        data[i] += delta;
        return xs.map((x, j) => j === k ? tensor(data, x.shape) : x);
      };
      const plus = moved(EPS);
      const minus = moved(-EPS);
      g[i] = (await at(plus) - await at(minus)) / (2 * EPS);
      dispose([plus[k], minus[k]]);
    }
    grads.push(g);
  }
  return grads;
}

const FD: [string, number[][], (xs: Tensor[]) => Tensor][] = [
  ["variance dim 1", [[3, 5]], ([x]) => variance(x, 1)],
  ["variance all, biased", [[2, 3, 2]], ([x]) => variance(x, undefined, { correction: 0 })],
  ["variance dims [0, 2] keepDim", [[2, 3, 4]], ([x]) => variance(x, [0, 2], { keepDim: true })],
  ["softmax dim 0", [[3, 4]], ([x]) => softmax(x, { dim: 0 })],
  ["softmax dim 1 of 3-d, scaled", [[2, 3, 4]], ([x]) => softmax(x, { dim: 1, scale: 0.7 })],
  ["logSoftmax last dim", [[3, 5]], ([x]) => logSoftmax(x)],
  ["logSoftmax dim 0, scaled", [[4, 3]], ([x]) => logSoftmax(x, { dim: 0, scale: 1.3 })],
  ["matmul [2, 1, 3, 4] @ [3, 4, 2]", [[2, 1, 3, 4], [3, 4, 2]], ([a, b]) => matmul(a, b)],
  ["matmul [4] @ [2, 4, 3]", [[4], [2, 4, 3]], ([a, b]) => matmul(a, b)],
  ["matmul [2, 3, 4] @ [4]", [[2, 3, 4], [4]], ([a, b]) => matmul(a, b)],
  [
    "matmul [2, 1, 4, 3]^T @ [3, 5, 4]^T",
    [[2, 1, 4, 3], [3, 5, 4]],
    ([a, b]) => matmul(a, b, { transposeA: true, transposeB: true }),
  ],
];

for (const [name, shapes, f] of FD) {
  Deno.test(`finite differences on cpu: ${name}`, async () => {
    const xs = shapes.map((s, i) => randomTensor(s, 100 + i));
    const probe = f(xs);
    const w = randomTensor(probe.shape, 7);
    probe.dispose();
    const analytic = grad((p: Tensor[]) => sum(mul(f(p), w)))(xs);
    const numeric = await numericGrads(f, xs, w);
    for (let k = 0; k < xs.length; k++) {
      await assertClose(analytic[k], numeric[k], { rtol: 1e-2, atol: 2e-3 });
    }
  });
}

Deno.test("variance and matmul reject bad arguments with clear errors", () => {
  const x = tensor([[1, 2], [3, 4]]);
  assert.throws(() => variance(x, 0, { correction: -1 }), ArgumentError);
  assert.throws(() => matmul(tensor([[1, 2]]), tensor([1, 2, 3])), ShapeError);
  assert.throws(
    () => matmul(randomTensor([2, 3, 4], 1), randomTensor([3, 4, 2], 2)),
    /batch dimensions \[2\] and \[3\] do not broadcast/,
  );
});
