// valueAndGrad / grad: gradients against PyTorch 1.13 (tests/fixtures/training.json,
// written by scripts/gen_training_fixtures.py) on cpu and webgpu, against
// central finite differences on the cpu, and the tape's promises: buffers get
// no gradient, nothing is read back on webgpu, and nothing leaks.

import assert from "node:assert/strict";
import {
  add,
  assertClose,
  broadcastTo,
  crossEntropy,
  dispose,
  div,
  dropout,
  full,
  gpuStats,
  grad,
  type HostArray,
  linear,
  maskedFill,
  matmul,
  mean,
  mse,
  mul,
  nn,
  ones,
  reshape,
  scale,
  ShapeError,
  slice,
  softmax,
  stack,
  sub,
  sum,
  sumTo,
  type Tensor,
  tensor,
  toDevice,
  transpose,
  treeLeaves,
  tril,
  triu,
  valueAndGrad,
} from "../../mod.ts";
import fx from "../fixtures/training.json" with { type: "json" };
import { gpu, randomTensor } from "../helpers.ts";
import { decode, paths, tinyLoss } from "../training_helpers.ts";

// Float32 gradients against PyTorch's float32 CPU gradients: summation order
// and exp differ in the last bits only. On llvmpipe the webgpu gradients are
// within 1.5e-6 absolute of PyTorch's; a looser 2e-3 absolute bound lets a
// wrong softmax scale in the tiny model's backward pass go unnoticed.
const CPU_TORCH = { rtol: 1e-5, atol: 1e-6 };
const GPU_TORCH = { rtol: 1e-4, atol: 1e-5 };
// The same math on both devices; only accumulation order differs.
const GPU_CPU = { rtol: 1e-4, atol: 1e-5 };

type AttentionCase = (typeof fx.attention)[number];

function attentionModule(c: AttentionCase): nn.CausalAttention {
  return {
    params: decode(c.params),
    buffers: { mask: nn.causalAttention.causalMask(c.config.contextLength) },
    config: { ...c.config, dropout: 0, qkvBias: c.config.qkvBias },
  };
}

function attentionLoss(kind: string) {
  return (
    params: nn.CausalAttentionParams,
    module: nn.CausalAttention,
    x: Tensor,
    other: Tensor,
  ): Tensor => {
    const context = nn.causalAttention.apply({ ...module, params }, x);
    return kind === "mse" ? mse(context, other) : sum(mul(context, other));
  };
}

async function assertTreeClose(
  actual: unknown,
  expected: unknown,
  tolerance: { rtol: number; atol: number },
): Promise<void> {
  assert.deepEqual(paths(actual), paths(expected));
  const want = new Map(treeLeaves(expected));
  for (const [path, t] of treeLeaves(actual)) {
    await assertClose(t, want.get(path)!, tolerance).catch((e) => {
      throw new Error(`${path}: ${e.message}`);
    });
  }
}

for (const c of fx.attention) {
  const name = `attention dIn=${c.config.dIn} dOut=${c.config.dOut} T=${c.config.tokens} ` +
    `bias=${c.config.qkvBias} ${c.loss}`;

  Deno.test(`${name}: gradients match PyTorch on cpu`, async () => {
    const m = attentionModule(c);
    const { value, grads } = valueAndGrad(attentionLoss(c.loss))(
      m.params,
      m,
      decode(c.x),
      decode(c.other),
    );
    await assertClose(value, [c.value], CPU_TORCH);
    await assertTreeClose(grads, decode(c.grads), CPU_TORCH);
  });

  Deno.test(`${name}: gradients match PyTorch on webgpu with no readback`, async () => {
    const device = await gpu();
    const m = await toDevice(attentionModule(c), device);
    const x = await toDevice(decode(c.x) as Tensor, device);
    const other = await toDevice(decode(c.other) as Tensor, device);
    const maskBefore = await m.buffers.mask.data();
    const before = gpuStats(device);
    const { value, grads } = valueAndGrad(attentionLoss(c.loss))(m.params, m, x, other);
    const after = gpuStats(device);
    assert.equal(after.readbacks - before.readbacks, 0);
    assert.equal(after.submits - before.submits, 0);
    // Only the value and one gradient per parameter outlive the call.
    const nParams = paths(m.params).length;
    assert.equal(after.buffersInUse - before.buffersInUse, 1 + nParams);
    for (const [, g] of treeLeaves(grads)) assert.equal(g.device, device);
    await assertClose(value, [c.value], GPU_TORCH);
    await assertTreeClose(grads, decode(c.grads), GPU_TORCH);
    assert.deepEqual(await m.buffers.mask.data(), maskBefore);
    value.dispose();
    dispose(grads);
    assert.equal(gpuStats(device).buffersInUse, before.buffersInUse);
    dispose([m, x, other]);
  });
}

Deno.test("the tiny next-token model's gradients match PyTorch on cpu and webgpu", async () => {
  const c = fx.model;
  const params = decode(c.params);
  const mask = nn.causalAttention.causalMask(c.config.tokens + 2);
  const oneHot = decode(c.oneHot) as Tensor;
  const targets = decode(c.targets) as Tensor;
  const cpuResult = valueAndGrad(tinyLoss)(params, mask, oneHot, targets);
  await assertClose(cpuResult.value, [c.value], CPU_TORCH);
  await assertTreeClose(cpuResult.grads, decode(c.grads), CPU_TORCH);

  const device = await gpu();
  const onGpu = await toDevice({ params, mask, oneHot, targets }, device);
  const before = gpuStats(device);
  const gpuResult = valueAndGrad(tinyLoss)(onGpu.params, onGpu.mask, onGpu.oneHot, onGpu.targets);
  assert.equal(gpuStats(device).readbacks - before.readbacks, 0);
  await assertClose(gpuResult.value, [c.value], GPU_TORCH);
  await assertTreeClose(gpuResult.grads, decode(c.grads), GPU_TORCH);
  dispose([gpuResult, onGpu]);
});

Deno.test("mse and crossEntropy values and gradients match PyTorch on cpu and webgpu", async () => {
  const device = await gpu();
  for (const onDevice of [false, true]) {
    const tol = onDevice ? GPU_TORCH : CPU_TORCH;
    const move = async (t: Tensor) => onDevice ? await toDevice(t, device) : t;
    const m = fx.mse;
    const [pred, target] = await Promise.all([move(decode(m.pred)), move(decode(m.target))]);
    const r = valueAndGrad((p: { pred: Tensor; target: Tensor }) => mse(p.pred, p.target))({
      pred,
      target,
    });
    await assertClose(r.value, [m.value], tol);
    await assertClose(r.grads.pred, decode(m.gradPred), tol);
    await assertClose(r.grads.target, decode(m.gradTarget), tol);
    for (const ce of fx.crossEntropy) {
      const [logits, targets] = await Promise.all([
        move(decode(ce.logits)),
        move(decode(ce.targets)),
      ]);
      const { value, grads } = valueAndGrad((p: Tensor, t: Tensor) => crossEntropy(p, t))(
        logits,
        targets,
      );
      await assertClose(value, [ce.value], tol);
      await assertClose(grads, decode(ce.grad), tol);
    }
  }
});

// ---------------------------------------------------------------------------
// Finite differences. Each case maps params to a (non-scalar) tensor f; the
// loss is sum(f * R) for a fixed random R. The analytic gradient comes from
// valueAndGrad; the numeric one perturbs each parameter element by ±EPS in
// float32 and evaluates f on the cpu, with the reduction sum(f * R) done in
// float64. EPS = 1e-2 on O(1) inputs keeps float32 rounding (~1e-7 relative
// in f, divided by 2 * EPS) and the O(EPS^2) truncation error both near 1e-4,
// hence the tolerance below.

const EPS = 1e-2;
const FD_TOLERANCE = { rtol: 1e-2, atol: 2e-3 };

type Tensors = Record<string, Tensor>;

interface FdCase {
  name: string;
  params: Tensors;
  /** Non-differentiated inputs (masks, targets), moved to the device with the params. */
  consts?: Tensors;
  f: (p: Tensors, k: Tensors) => Tensor;
}

/** Random values in [1, 3): denominators kept away from zero. */
function positive(shape: number[], seed: number): Tensor {
  const t = randomTensor(shape, seed);
  const out = add(scale(t, 0.5), full([1], 2));
  t.dispose();
  return out;
}

let seed = 100;
const r = (...shape: number[]) => randomTensor(shape, seed++);

const FD_CASES: FdCase[] = [
  { name: "matmul", params: { a: r(3, 5), b: r(5, 4) }, f: (p) => matmul(p.a, p.b) },
  {
    name: "matmul, both transposed, alpha",
    params: { a: r(5, 3), b: r(4, 5) },
    f: (p) => matmul(p.a, p.b, { transposeA: true, transposeB: true, alpha: 0.7 }),
  },
  {
    name: "matmul, batched",
    params: { a: r(2, 3, 5), b: r(2, 5, 4) },
    f: (p) => matmul(p.a, p.b),
  },
  {
    name: "matmul, a weight shared across the batch (x @ W^T)",
    params: { a: r(2, 3, 5), b: r(4, 5) },
    f: (p) => matmul(p.a, p.b, { transposeB: true }),
  },
  {
    name: "matmul, a weight shared across the batch, a transposed",
    params: { a: r(2, 5, 3), b: r(5, 4) },
    f: (p) => matmul(p.a, p.b, { transposeA: true, alpha: 1.3 }),
  },
  {
    name: "matmul, left operand shared across the batch",
    params: { a: r(3, 5), b: r(2, 4, 5) },
    f: (p) => matmul(p.a, p.b, { transposeB: true }),
  },
  { name: "add, broadcast", params: { a: r(2, 3, 4), b: r(4) }, f: (p) => add(p.a, p.b) },
  { name: "sub, broadcast both", params: { a: r(3, 1), b: r(1, 4) }, f: (p) => sub(p.a, p.b) },
  { name: "mul, broadcast", params: { a: r(2, 3, 4), b: r(3, 1) }, f: (p) => mul(p.a, p.b) },
  { name: "div, broadcast", params: { a: r(3, 4), b: positive([4], 7) }, f: (p) => div(p.a, p.b) },
  { name: "mul, same tensor twice", params: { a: r(5) }, f: (p) => mul(p.a, p.a) },
  { name: "scale", params: { x: r(3, 5) }, f: (p) => scale(p.x, -0.37) },
  {
    name: "linear with bias",
    params: { x: r(2, 3, 5), w: r(4, 5), b: r(4) },
    f: (p) => linear(p.x, p.w, p.b),
  },
  {
    name: "reshape and transpose",
    params: { x: r(2, 3, 4) },
    f: (p) => transpose(reshape(p.x, [4, 3, 2]), 0, 2),
  },
  { name: "slice", params: { x: r(5, 6) }, f: (p) => slice(p.x, [1, 4], [-4, 5]) },
  {
    name: "stack along dim 1",
    params: { a: r(3, 4), b: r(3, 4), c: r(3, 4) },
    f: (p) => stack([p.a, p.b, p.c], 1),
  },
  {
    name: "maskedFill and scaled softmax (masked entries get no gradient)",
    params: { x: r(2, 4, 4) },
    consts: { mask: triu(ones([4, 4]), 1) },
    f: (p, k) => softmax(maskedFill(p.x, k.mask, -Infinity), { scale: 0.6 }),
  },
  { name: "softmax", params: { x: r(3, 7) }, f: (p) => softmax(p.x) },
  { name: "dropout", params: { x: r(4, 9) }, f: (p) => dropout(p.x, 0.3, { seed: 5 }) },
  { name: "sum over dims", params: { x: r(3, 4, 5) }, f: (p) => sum(p.x, [0, 2]) },
  { name: "sum of all", params: { x: r(3, 5) }, f: (p) => sum(p.x) },
  { name: "mean keepDim", params: { x: r(3, 4, 5) }, f: (p) => mean(p.x, -1, { keepDim: true }) },
  { name: "broadcastTo", params: { x: r(3, 1) }, f: (p) => broadcastTo(p.x, [2, 3, 4]) },
  { name: "sumTo", params: { x: r(2, 3, 4) }, f: (p) => sumTo(p.x, [3, 1]) },
  { name: "mse", params: { a: r(3, 5), b: r(3, 5) }, f: (p) => mse(p.a, p.b) },
  {
    name: "crossEntropy",
    params: { x: r(6, 5) },
    consts: { targets: tensor([3, 0, 4, 1, 1, 2]) },
    f: (p, k) => crossEntropy(p.x, k.targets),
  },
  { name: "triu and tril", params: { x: r(4, 5) }, f: (p) => add(triu(p.x, 1), tril(p.x, -1)) },
  {
    name: "causal attention with dropout in training mode",
    params: { q: r(3, 5), k: r(3, 5), v: r(3, 5), qb: r(3) },
    consts: { mask: nn.causalAttention.causalMask(6), x: r(2, 4, 5) },
    f: (p, k) =>
      nn.causalAttention.apply(
        {
          params: {
            W_query: { weight: p.q, bias: p.qb },
            W_key: { weight: p.k },
            W_value: { weight: p.v },
          },
          buffers: { mask: k.mask },
          config: { dIn: 5, dOut: 3, contextLength: 6, dropout: 0.25, qkvBias: true },
        },
        k.x,
        { training: true, seed: 9 },
      ),
  },
];

/** sum(f * weights) in float64, evaluated outside any tape. */
async function weightedSum(f: Tensor, weights: HostArray): Promise<number> {
  const values = await f.data();
  let total = 0;
  for (let i = 0; i < values.length; i++) total += values[i] * weights[i];
  return total;
}

/** The case's loss, sum(f * R), with R random and shaped like f. */
function weightedLoss(
  c: FdCase,
): { loss: (p: Tensors, R: Tensor, k: Tensors) => Tensor; R: Tensor } {
  const probe = c.f(c.params, c.consts ?? {});
  const R = randomTensor(probe.shape, probe.size + 17);
  probe.dispose();
  return { loss: (p, weights, k) => sum(mul(c.f(p, k), weights)), R };
}

for (const c of FD_CASES) {
  const consts = c.consts ?? {};

  Deno.test(`finite differences on cpu: ${c.name}`, async () => {
    const { loss, R } = weightedLoss(c);
    const w = await R.data();
    const grads = grad(loss)(c.params, R, consts);
    for (const [name, param] of Object.entries(c.params)) {
      const base = await param.data();
      const numeric = new Float64Array(base.length);
      for (let i = 0; i < base.length; i++) {
        const at = async (delta: number) => {
          const data = base.slice();
          data[i] += delta;
          const moved = tensor(data, param.shape);
          const out = c.f({ ...c.params, [name]: moved }, consts);
          const value = await weightedSum(out, w);
          dispose([moved, out]);
          return value;
        };
        numeric[i] = (await at(EPS) - await at(-EPS)) / (2 * EPS);
      }
      await assertClose(grads[name], numeric, FD_TOLERANCE).catch((e) => {
        throw new Error(`${c.name}, d/d${name}: ${e.message}`);
      });
    }
  });

  Deno.test(`webgpu gradients equal the cpu's with no readback: ${c.name}`, async () => {
    const device = await gpu();
    const { loss, R } = weightedLoss(c);
    const cpuGrads = grad(loss)(c.params, R, consts);
    const onGpu = await toDevice({ params: c.params, R, consts }, device);
    const before = gpuStats(device);
    const gpuGrads = grad(loss)(onGpu.params, onGpu.R, onGpu.consts);
    const after = gpuStats(device);
    assert.equal(after.readbacks - before.readbacks, 0);
    assert.equal(after.buffersInUse - before.buffersInUse, Object.keys(c.params).length);
    await assertTreeClose(gpuGrads, cpuGrads, GPU_CPU);
    dispose([gpuGrads, onGpu]);
  });
}

Deno.test("webgpu backward kernels agree with the cpu past one workgroup", async () => {
  const device = await gpu();
  const cases: FdCase[] = [
    {
      name: "matmul with a shared weight",
      params: { a: r(2, 65, 33), b: r(17, 33) },
      f: (p) => matmul(p.a, p.b, { transposeB: true }),
    },
    { name: "bias sum", params: { x: r(257, 7), b: r(7) }, f: (p) => add(p.x, p.b) },
    { name: "long softmax rows", params: { x: r(5, 130) }, f: (p) => softmax(p.x, { scale: 0.3 }) },
    { name: "slice", params: { x: r(65, 9) }, f: (p) => slice(p.x, [3, 60], [1, 8]) },
    {
      name: "crossEntropy, wide rows, many rows",
      params: { x: r(300, 301) },
      consts: { targets: tensor(Array.from({ length: 300 }, (_, i) => (i * 7) % 301)) },
      f: (p, k) => crossEntropy(p.x, k.targets),
    },
    { name: "mse, many elements", params: { a: r(1000), b: r(1000) }, f: (p) => mse(p.a, p.b) },
  ];
  for (const c of cases) {
    const { loss, R } = weightedLoss(c);
    const cpuGrads = grad(loss)(c.params, R, c.consts ?? {});
    const onGpu = await toDevice({ params: c.params, R, consts: c.consts ?? {} }, device);
    const gpuGrads = grad(loss)(onGpu.params, onGpu.R, onGpu.consts);
    await assertTreeClose(gpuGrads, cpuGrads, GPU_CPU).catch((e) => {
      throw new Error(`${c.name}: ${e.message}`);
    });
    dispose([gpuGrads, onGpu]);
  }
});

Deno.test("buffers and other inputs get no gradient; unused params get zeros", async () => {
  const m = nn.causalAttention.init({ dIn: 5, dOut: 3, contextLength: 6, dropout: 0 });
  const x = r(2, 4, 5);
  const maskBefore = await m.buffers.mask.data();
  const unused = r(2, 3);
  const { value, grads } = valueAndGrad(
    (p: { attention: nn.CausalAttentionParams; unused: Tensor }, mask: Tensor, input: Tensor) =>
      sum(nn.causalAttention.forward(p.attention, mask, input, { dropout: 0 })),
  )({ attention: m.params, unused }, m.buffers.mask, x);
  assert.deepEqual(paths(grads), [
    "attention.W_query.weight",
    "attention.W_key.weight",
    "attention.W_value.weight",
    "unused",
  ]);
  assert.deepEqual(await grads.unused.toArray(), [[0, 0, 0], [0, 0, 0]]);
  assert.notDeepEqual(await grads.attention.W_query.weight.data(), new Float32Array(15));
  assert.deepEqual(await m.buffers.mask.data(), maskBefore);
  assert.equal(m.buffers.mask.isDisposed, false);
  assert.equal(x.isDisposed, false);
  assert.equal(value.shape.length, 0);
});

Deno.test("valueAndGrad disposes the trace's intermediates but not its inputs", async () => {
  const device = await gpu();
  const w = await toDevice(r(4, 3), device);
  const x = await toDevice(r(5, 3), device);
  const before = gpuStats(device).buffersInUse;
  let kept: Tensor[] = [];
  const { value, grads } = valueAndGrad((p: { w: Tensor }, input: Tensor) => {
    const h = linear(input, p.w);
    const sq = mul(h, h);
    kept = [h, sq];
    return mean(sq);
  })({ w }, x);
  assert.ok(kept.every((t) => t.isDisposed));
  assert.equal(w.isDisposed || x.isDisposed, false);
  assert.equal(gpuStats(device).buffersInUse - before, 2);
  const expected = grad((p: { w: Tensor }, input: Tensor) => {
    const h = linear(input, p.w);
    return mean(mul(h, h));
  })(
    { w: tensor(await w.data(), [4, 3]) },
    tensor(await x.data(), [5, 3]),
  );
  await assertClose(grads.w, expected.w, GPU_CPU);
  dispose([value, grads, w, x]);
  assert.equal(gpuStats(device).buffersInUse, before - 2);
});

Deno.test("a failing function leaves nothing behind and names the problem", async () => {
  const device = await gpu();
  const w = await toDevice(r(3, 4), device);
  const before = gpuStats(device).buffersInUse;
  assert.throws(
    () => valueAndGrad((p: { w: Tensor }) => mul(p.w, p.w))({ w }),
    (e: unknown) =>
      e instanceof ShapeError &&
      /valueAndGrad: the function must return a scalar tensor \(shape \[\] or \[1\]\), but returned shape \[3, 4\]/
        .test(e.message),
  );
  assert.throws(
    () =>
      valueAndGrad((p: { w: Tensor }) => {
        const h = scale(p.w, 2);
        return matmul(h, h); // [3, 4] @ [3, 4] does not fit
      })({ w }),
    ShapeError,
  );
  assert.equal(gpuStats(device).buffersInUse, before);
  assert.equal(w.isDisposed, false);
  w.dispose();
});

Deno.test("a value that is a param itself is returned as a separate handle", async () => {
  const w = tensor([2.5]);
  const { value, grads } = valueAndGrad((p: { w: Tensor }) => p.w)({ w });
  assert.notEqual(value, w);
  assert.deepEqual(await grads.w.toArray(), [1]);
  value.dispose();
  assert.deepEqual(await w.toArray(), [2.5]);
});
