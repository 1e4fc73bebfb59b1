// Training at GPT scale on webgpu (issue 14): crossEntropy's PyTorch options
// (ignoreIndex, reduction, labelSmoothing) against torch 1.13 on the
// device, and a GPT-2-sized vocabulary row; elementwise and optimizer kernels
// over tensors larger than one storage binding, in blocks.

import assert from "node:assert/strict";
import {
  adamw,
  add,
  assertClose,
  cast,
  clipGradNorm,
  crossEntropy,
  DeviceLimitError,
  dispose,
  exp,
  gpuStats,
  mul,
  nn,
  type Optimizer,
  reshape,
  scale,
  sgd,
  sub,
  sum,
  type Tensor,
  tensor,
  toDevice,
  valueAndGrad,
} from "../../mod.ts";
import { runtimeOf } from "../../src/device.ts";
import { CASES, runCase } from "../cross_entropy_cases.ts";
import { bits, gpu, randomTensor, withBindingLimit } from "../helpers.ts";
import {
  decode,
  fixtureBatch,
  fixtureGpt,
  fixtureOptimizer,
  gptTrain,
  type Run,
  trainStep,
} from "../train_gpt_cases.ts";
import tied from "../fixtures/train_gpt/tied.json" with { type: "json" };

for (const c of CASES) {
  Deno.test(`crossEntropy options on webgpu: ${c.name}`, async () => runCase(c, await gpu()));
}

Deno.test("crossEntropy on webgpu: GPT-2's 50257 classes and 300 rows, ignored rows, match cpu", async () => {
  const device = await gpu();
  for (const [rows, cols] of [[3, 50257], [300, 7]]) {
    const host = randomTensor([rows, cols], 1414 + rows);
    // Every third row ignored, the others' classes spread over [0, cols).
    const ids = tensor(
      Int32Array.from({ length: rows }, (_, r) => r % 3 === 1 ? -100 : (r * 7919) % cols),
      [rows],
    );
    const [logits, targets] = [await toDevice(host, device), await toDevice(ids, device)];
    for (const options of [{}, { labelSmoothing: 0.1 }, { reduction: "sum" as const }]) {
      const f = (p: { x: Tensor }, t: Tensor) => crossEntropy(p.x, t, options);
      const cpu = valueAndGrad(f)({ x: host }, ids);
      const dev = valueAndGrad(f)({ x: logits }, targets);
      const [cv, dv] = [await cpu.value.data(), await dev.value.data()];
      assert.ok(Math.abs(cv[0] - dv[0]) <= 1e-5 * Math.abs(cv[0]), `${cv[0]} vs ${dv[0]}`);
      const [cg, dg] = [await cpu.grads.x.data(), await dev.grads.x.data()];
      let worst = 0;
      for (let i = 0; i < cg.length; i++) worst = Math.max(worst, Math.abs(cg[i] - dg[i]));
      assert.ok(worst <= 1e-6 * (rows > 3 ? 1 : 0.1), `largest gradient difference ${worst}`);
      // An ignored row's gradient is exactly zero.
      assert.ok(dg.subarray(cols, 2 * cols).every((v) => v === 0));
      for (const t of [cpu.value, cpu.grads.x, dev.value, dev.grads.x]) t.dispose();
    }
    for (const t of [host, ids, logits, targets]) t.dispose();
  }
});

async function sameBits(actual: Tensor, expected: Tensor, what: string): Promise<void> {
  assert.deepEqual(actual.shape, expected.shape, what);
  const [a, e] = [await actual.data(), await expected.data()];
  assert.deepEqual(bits(a as Float32Array), bits(e as Float32Array), what);
}

Deno.test("elementwise ops over an injected binding limit run in blocks and match cpu bitwise", async () => {
  const device = await gpu();
  // 9009 floats = 36036 bytes: five blocks under 8192 bytes, the last one partial.
  for (const shape of [[1001, 9], [3], [2049]]) {
    const [ha, hb] = [randomTensor(shape, 71), randomTensor(shape, 72)];
    const [a, b] = [await toDevice(ha, device), await toDevice(hb, device)];
    await withBindingLimit(device, 8192, async () => {
      const before = gpuStats(device).dispatches;
      const inUse = gpuStats(device).buffersInUse;
      const cases: [string, (x: Tensor, y: Tensor) => Tensor][] = [
        ["add", add],
        ["sub", sub],
        ["mul", mul],
        ["scale", (x) => scale(x, -0.37)],
        ["cast to int32 and back", (x) => {
          const big = scale(x, 1000);
          const i = cast(big, "int32");
          const f = cast(i, "float32");
          dispose([big, i]);
          return f;
        }],
        ["float16 add, cast both ways", (x, y) => {
          const [hx, hy] = [cast(x, "float16"), cast(y, "float16")];
          const h = add(hx, hy);
          const f = cast(h, "float32");
          dispose([hx, hy, h]);
          return f;
        }],
      ];
      for (const [name, f] of cases) {
        const [dev, cpu] = [f(a, b), f(ha, hb)];
        await sameBits(dev, cpu, `${name} ${JSON.stringify(shape)}`);
        dispose([dev, cpu]);
      }
      if (shape[0] === 1001) assert.ok(gpuStats(device).dispatches - before >= 5 * 6);
      assert.equal(gpuStats(device).buffersInUse, inUse);
    });
    dispose([ha, hb, a, b]);
  }
});

Deno.test("sgd, sgd with momentum and adamw over an injected binding limit match cpu bitwise", async () => {
  const device = await gpu();
  const host = { w: randomTensor([1001, 9], 81), b: randomTensor([7], 82) };
  const grads = { w: randomTensor([1001, 9], 83), b: randomTensor([7], 84) };
  const [dHost, dGrads] = [await toDevice(host, device), await toDevice(grads, device)];
  const optimizers: [string, Optimizer<unknown>][] = [
    ["adamw", adamw({ lr: 0.01, weightDecay: 0.1 }) as Optimizer<unknown>],
    ["sgd with momentum", sgd({ lr: 0.1, momentum: 0.9 }) as Optimizer<unknown>],
    ["plain sgd", sgd({ lr: 0.1, weightDecay: 0.01 }) as Optimizer<unknown>],
  ];
  for (const [name, opt] of optimizers) {
    const cpuState = opt.init(host);
    const cpu1 = opt.update(grads, cpuState, host);
    const cpu2 = opt.update(grads, cpu1.state, cpu1.params);
    await withBindingLimit(device, 8192, async () => {
      const state = opt.init(dHost);
      const one = opt.update(dGrads, state, dHost);
      const two = opt.update(dGrads, one.state, one.params);
      await sameBits((two.params as typeof host).w, (cpu2.params as typeof host).w, `${name} w`);
      await sameBits((two.params as typeof host).b, (cpu2.params as typeof host).b, `${name} b`);
      dispose([state, one, two]);
    });
    dispose([cpuState, cpu1, cpu2]);
  }
  dispose([host, grads, dHost, dGrads]);
});

Deno.test("a real GPT-2 embedding gradient (154 MB, over 128 MiB): add, an sgd step, clipGradNorm", async () => {
  const device = await gpu();
  const shape = [50257, 768];
  const n = shape[0] * shape[1];
  assert.ok(n * 4 > runtimeOf(device).maxBindingBytes);
  const [x, y] = [new Float32Array(n), new Float32Array(n)];
  for (let i = 0; i < n; i++) {
    x[i] = (i % 1013) * 0.001 - 0.5;
    y[i] = (i % 977) * 0.002 - 1;
  }
  let a = await toDevice(tensor(x, shape), device);
  const b = await toDevice(tensor(y, shape), device);
  const sum = add(a, b);
  const got = await sum.data();
  for (let i = 0; i < n; i += 4099) assert.equal(got[i], Math.fround(x[i] + y[i]), `sum[${i}]`);
  assert.equal(got[n - 1], Math.fround(x[n - 1] + y[n - 1]));
  sum.dispose();
  const opt = sgd({ lr: 0.5 });
  const state = opt.init({ a });
  const next = opt.update({ a: b }, state, { a });
  a.dispose();
  a = next.params.a;
  const stepped = await a.data();
  const lr = Math.fround(0.5);
  for (let i = 0; i < n; i += 4099) {
    assert.equal(stepped[i], Math.fround(x[i] - Math.fround(lr * y[i])), `param[${i}]`);
  }
  // clipGradNorm of the 154 MB gradient: norms over bindable blocks, scaling in blocks.
  let squares = 0;
  for (let i = 0; i < n; i++) squares += y[i] * y[i];
  const clipped = clipGradNorm({ g: b }, 1);
  const [total] = await clipped.totalNorm.data();
  assert.ok(Math.abs(total - Math.sqrt(squares)) <= 1e-5 * total, `${total}`);
  const scaled = await clipped.grads.g.data();
  const coef = Math.fround(1 / Math.fround(total + 1e-6));
  for (let i = 0; i < n; i += 4099) {
    assert.ok(Math.abs(scaled[i] - y[i] * coef) <= 1e-6 * Math.abs(y[i] * coef) + 1e-12);
  }
  dispose([a, b, state, clipped]);
});

/** The fixture GPT with GPT-2's tie: out_head.weight IS tok_emb.weight. */
async function tiedGpt(useGpu: boolean): Promise<nn.GptModel> {
  const loaded = await fixtureGpt();
  const model = useGpu ? await toDevice(loaded, await gpu()) : loaded;
  if (useGpu) dispose(loaded);
  model.params.out_head.weight.dispose();
  return {
    ...model,
    params: { ...model.params, out_head: { weight: model.params.tok_emb.weight } },
  };
}

for (const useGpu of [false, true]) {
  const where = useGpu ? "webgpu" : "cpu";
  Deno.test(`clipGradNorm with params counts a tied weight once, as torch, on ${where}`, async () => {
    const model = await tiedGpt(useGpu);
    const vocab = model.config.vocabSize;
    const lossOf = (params: nn.GptParams, ids: Tensor, next: Tensor) => {
      const logits = nn.gptModel.apply({ ...model, params }, ids); // [b, T, V]
      return crossEntropy(reshape(logits, [-1, vocab]), reshape(next, [-1]));
    };
    const batch = fixtureBatch(0);
    const [ids, next] = useGpu
      ? [await toDevice(batch.inputs, await gpu()), await toDevice(batch.targets, await gpu())]
      : [batch.inputs, batch.targets];
    const { value, grads } = valueAndGrad(lossOf)(model.params, ids, next);
    // The head's gradient as its own tensor (not a view of the embedding's), as a
    // hand-written backward would give: only params can tell that they are one.
    const copied = { ...grads, out_head: { weight: scale(grads.out_head.weight, 1) } };
    for (const c of tied.clip) {
      const normType = Number(c.normType);
      const wrong = clipGradNorm(copied, c.maxNorm, { normType });
      const right = clipGradNorm(copied, c.maxNorm, { normType, params: model.params });
      const shared = clipGradNorm(grads, c.maxNorm, { normType });
      const [total] = await right.totalNorm.data();
      assert.ok(Math.abs(total - c.totalNorm) <= 1e-4 * c.totalNorm, `${total} vs ${c.totalNorm}`);
      assert.equal((await shared.totalNorm.data())[0], total);
      if (normType === 2) assert.ok((await wrong.totalNorm.data())[0] > total * 1.0001);
      const tol = { rtol: 1e-4, atol: 1e-7 };
      // torch's clipped gradient of the tied parameter is the sum over both uses.
      await assertClose(right.grads.tok_emb.weight, decode(c.tokEmbGrad), tol);
      await assertClose(right.grads.out_head.weight, decode(c.tokEmbGrad), tol);
      await assertClose(right.grads.final_norm.scale, decode(c.finalNormScaleGrad), tol);
      dispose([wrong, right, shared]);
    }
    assert.throws(
      () => clipGradNorm(copied, 1, { params: { tok_emb: model.params.tok_emb } }),
      /clipGradNorm: grads\.[a-z_.0-9]+ has no parameter at params\./,
    );
    dispose([value, grads, copied.out_head, model, batch, ids, next]);
  });
}

/** The fixture GPT and its AdamW state on the device, with a batch of step `i` there too. */
async function gpuRun(): Promise<Run> {
  const device = await gpu();
  const loaded = await fixtureGpt();
  const model = await toDevice(loaded, device);
  dispose(loaded);
  return { model, state: fixtureOptimizer().init(model.params) };
}

async function gpuBatch(i: number): Promise<Tensor[]> {
  const device = await gpu();
  const { inputs, targets } = fixtureBatch(i);
  const out = [await toDevice(inputs, device), await toDevice(targets, device)];
  dispose([inputs, targets]);
  return out;
}

Deno.test("a gptModel training step (forward, valueAndGrad, clipGradNorm, adamw) is one submit, no readback until the loss is read", async () => {
  const device = await gpu();
  const run = await gpuRun();
  const optimizer = fixtureOptimizer();
  for (let step = 0; step < 2; step++) {
    const [ids, next] = await gpuBatch(step);
    const before = gpuStats(device);
    const { loss, totalNorm } = trainStep(run, optimizer, ids, next);
    const recorded = gpuStats(device);
    assert.equal(recorded.submits - before.submits, 0, `step ${step}: submits while recording`);
    assert.equal(recorded.readbacks - before.readbacks, 0, `step ${step}: readbacks`);
    assert.ok(recorded.dispatches - before.dispatches > 50);
    const [value] = await loss.data();
    const after = gpuStats(device);
    assert.equal(after.submits - before.submits, 1, `step ${step}: one submit`);
    assert.equal(after.readbacks - before.readbacks, 1, `step ${step}: one readback`);
    assert.ok(Math.abs(value - gptTrain.steps[step].loss) <= 1e-4 * gptTrain.steps[step].loss);
    dispose([loss, totalNorm, ids, next]);
  }
  dispose([run.model, run.state]);
});

Deno.test("200 training steps of a tiny GPT keep buffersInUse flat and the masks bitwise unchanged", async () => {
  const device = await gpu();
  const run = await gpuRun();
  const optimizer = fixtureOptimizer();
  const masks = () => run.model.buffers.trf_blocks.map((b) => b.att.mask);
  const masksBefore = await Promise.all(masks().map(async (m) => bits(await m.data())));
  const batches = await Promise.all(Array.from({ length: 4 }, (_, i) => gpuBatch(i)));
  let inUse = 0;
  let first = NaN;
  let last = NaN;
  for (let step = 0; step < 200; step++) {
    const [ids, next] = batches[step % batches.length];
    const { loss, totalNorm } = trainStep(run, optimizer, ids, next);
    if (step === 0) first = (await loss.data())[0];
    if (step === 199) last = (await loss.data())[0];
    dispose([loss, totalNorm]);
    if (step === 1) inUse = gpuStats(device).buffersInUse;
    if (step > 1 && step % 50 === 0) {
      assert.equal(gpuStats(device).buffersInUse, inUse, `buffersInUse after step ${step}`);
    }
  }
  assert.equal(gpuStats(device).buffersInUse, inUse, "buffersInUse after 200 steps");
  const masksAfter = await Promise.all(masks().map(async (m) => bits(await m.data())));
  assert.deepEqual(masksAfter, masksBefore);
  // The four batches are learnt (the schedule's warmup and decay span 20 steps).
  assert.ok(last < first, `loss ${first} -> ${last}`);
  dispose([run.model, run.state, batches]);
});

Deno.test("clipGradNorm over an injected binding limit (norms of blocks, scalar scaling) matches cpu", async () => {
  const device = await gpu();
  const host = { w: randomTensor([1001, 9], 91), b: randomTensor([7], 92) };
  const grads = await toDevice(host, device);
  await withBindingLimit(device, 8192, async () => {
    const inUse = gpuStats(device).buffersInUse;
    for (const normType of [2, Infinity, 1, 3]) {
      const cpu = clipGradNorm(host, 1.5, { normType });
      const dev = clipGradNorm(grads, 1.5, { normType });
      const tol = { rtol: 1e-5, atol: 1e-7 };
      await assertClose(dev.totalNorm, cpu.totalNorm, tol);
      await assertClose(dev.grads.w, cpu.grads.w, tol);
      await assertClose(dev.grads.b, cpu.grads.b, tol);
      dispose([cpu, dev]);
    }
    assert.equal(gpuStats(device).buffersInUse, inUse);
    // A scalar operand, either side, broadcasts over the blocks.
    const k = await toDevice(tensor(1.25), device);
    for (
      const [dev, cpu] of [[mul(grads.w, k), mul(host.w, tensor(1.25))], [
        sub(k, grads.w),
        sub(tensor(1.25), host.w),
      ]]
    ) {
      await sameBits(dev, cpu, "scalar operand");
      dispose([dev, cpu]);
    }
    k.dispose();
  });
  dispose([host, grads]);
});

Deno.test("crossEntropy over an injected binding limit (logits in row blocks) matches cpu", async () => {
  const device = await gpu();
  const [rows, cols] = [300, 65]; // 78000 bytes: blocks of 128, 128 and 44 rows under 33280
  const host = randomTensor([rows, cols], 95);
  const ids = tensor(
    Int32Array.from({ length: rows }, (_, r) => r % 5 === 2 ? -100 : (r * 31) % cols),
    [rows],
  );
  const up = randomTensor([rows], 96);
  const [logits, targets, dUp] = await toDevice([host, ids, up], device);
  await withBindingLimit(device, 33280, async () => {
    const inUse = gpuStats(device).buffersInUse;
    assert.throws(() => exp(logits), DeviceLimitError); // the logits do not fit one binding
    const options = [{}, { labelSmoothing: 0.1, reduction: "none" as const }, {
      reduction: "sum" as const,
    }];
    for (const o of options) {
      const f = (p: { x: Tensor }, t: Tensor, u: Tensor) => {
        const loss = crossEntropy(p.x, t, o);
        return o.reduction === "none" ? sum(mul(loss, u)) : loss;
      };
      const cpu = valueAndGrad(f)({ x: host }, ids, up);
      const dev = valueAndGrad(f)({ x: logits }, targets, dUp);
      await assertClose(dev.value, cpu.value, { rtol: 1e-5, atol: 1e-6 });
      await assertClose(dev.grads.x, cpu.grads.x, { rtol: 1e-4, atol: 1e-7 });
      dispose([cpu, dev]);
    }
    assert.equal(gpuStats(device).buffersInUse, inUse);
  });
  dispose([host, ids, up, logits, targets, dUp]);
});
