// No silently wrong numbers at the API edge: every case from the hostile-user
// audit, run on cpu AND webgpu, with the same answer (or the same error) on
// both. Expected values come from a naive reference written here, not from
// the library's CPU path.

import assert from "node:assert/strict";
import {
  add,
  arange,
  ArgumentError,
  broadcastTo,
  checkModule,
  cpu,
  type Device,
  DeviceMismatchError,
  full,
  gpuStats,
  grad,
  loadStateDict,
  logSoftmax,
  maskedFill,
  mean,
  mul,
  nn,
  ones,
  permute,
  reshape,
  ShapeError,
  slice,
  softmax,
  StateDictError,
  sum,
  sumTo,
  type Tensor,
  tensor,
  TesseraError,
  toDevice,
  transpose,
  tril,
  triu,
  UseAfterDisposeError,
  variance,
  zeros,
} from "../../mod.ts";
import { bits, gpu, randomData, randomTensor } from "../helpers.ts";

async function devices(): Promise<Device[]> {
  return [cpu, await gpu()];
}

/** Strides reading `shape` broadcast to `out` (0 on broadcast dimensions). */
function readIndex(shape: readonly number[], out: readonly number[], flat: number): number {
  let rest = flat;
  let index = 0;
  let stride = 1;
  for (let d = out.length - 1; d >= 0; d--) {
    const i = rest % out[d];
    rest = Math.floor(rest / out[d]);
    const k = d - (out.length - shape.length);
    if (k >= 0) {
      if (shape[k] !== 1) index += i * stride;
      stride *= shape[k];
    }
  }
  return index;
}

function broadcast(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  return Array.from({ length: rank }, (_, i) => {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    return da === 1 ? db : da;
  });
}

/** torch.masked_fill(x, mask.bool(), value), the slow and obvious way. */
function referenceFill(
  x: Float32Array,
  xShape: number[],
  mask: Float32Array | Int32Array,
  maskShape: number[],
  value: number,
): Float32Array {
  const out = broadcast(xShape, maskShape);
  const n = out.reduce((a, b) => a * b, 1);
  const result = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const m = mask[readIndex(maskShape, out, i)];
    result[i] = m !== 0 ? value : x[readIndex(xShape, out, i)];
  }
  return result;
}

/** A mask with zeros, ones, NaN, -0, negatives and huge values. */
function awkwardMask(
  n: number,
  seed: number,
  dtype: "float32" | "int32",
): Float32Array | Int32Array {
  const r = randomData(n, seed);
  if (dtype === "int32") return Int32Array.from(r, (v) => v < 0 ? 0 : v < 1 ? -7 : 2 ** 30);
  const special = [NaN, -0, 0, 1, -1e-30, Infinity];
  return Float32Array.from(r, (v, i) => v < 0 ? 0 : special[i % special.length]);
}

Deno.test("maskedFill: a NaN in the mask means masked, on cpu and webgpu", async () => {
  for (const device of await devices()) {
    const x = await toDevice(tensor([[1, 2, 3], [4, 5, 6]]), device);
    const mask = await toDevice(tensor([NaN, 0, -0]), device);
    const out = maskedFill(x, mask, 9);
    assert.deepEqual(await out.toArray(), [[9, 2, 3], [9, 5, 6]], device.name);
    for (const t of [x, mask, out]) t.dispose();
  }
});

Deno.test("maskedFill: any broadcastable mask, float32 or int32, matches the reference", async () => {
  const cases: [number[], number[]][] = [
    [[1], [1]],
    [[3], [3]],
    [[7, 17], [17]],
    [[7, 17], [7, 1]],
    [[2, 3, 65], [3, 1]],
    [[2, 3, 65], [2, 1, 65]],
    [[257], [1]],
    [[3, 1, 17], [1, 5, 1]], // both broadcast: out [3, 5, 17]
    [[17], [2, 3, 17]], // the mask adds leading dimensions
    [[2, 1, 3, 1, 2, 1, 3, 2], [1, 3, 1, 2, 1, 3, 1]], // rank 8
    [[0, 3], [3]],
    [[], [4]],
  ];
  const device = await gpu();
  let seed = 11;
  for (const [xShape, maskShape] of cases) {
    for (const dtype of ["float32", "int32"] as const) {
      const xs = randomData(xShape.reduce((a, b) => a * b, 1), seed++);
      const ms = awkwardMask(maskShape.reduce((a, b) => a * b, 1), seed++, dtype);
      for (const value of [-Infinity, NaN, 0.5]) {
        const expected = referenceFill(xs, xShape, ms, maskShape, value);
        const x = tensor(xs, xShape);
        const mask = tensor(ms, maskShape);
        const [gx, gm] = [await toDevice(x, device), await toDevice(mask, device)];
        const what = `x ${xShape}, ${dtype} mask ${maskShape}, value ${value}`;
        for (const out of [maskedFill(x, mask, value), maskedFill(gx, gm, value)]) {
          assert.deepEqual(out.shape, broadcast(xShape, maskShape), what);
          const got = await out.data() as Float32Array;
          // Bitwise except NaN payloads, which the GPU may canonicalise.
          for (let i = 0; i < got.length; i++) {
            if (Number.isNaN(expected[i])) assert.ok(Number.isNaN(got[i]), `${what} [${i}]`);
            else {assert.equal(
                bits(got)[i],
                bits(expected)[i],
                `${what} [${i}] on ${out.device.name}`,
              );}
          }
          out.dispose();
        }
        for (const t of [x, mask, gx, gm]) t.dispose();
      }
    }
  }
});

Deno.test("maskedFill: NaN inputs stay NaN where unmasked and are replaced where masked", async () => {
  for (const device of await devices()) {
    const x = await toDevice(tensor([NaN, NaN, 1, Infinity]), device);
    const mask = await toDevice(tensor([1, 0, 0, 1], undefined, { dtype: "int32" }), device);
    const got = await maskedFill(x, mask, -1).data();
    assert.equal(got[0], -1, device.name);
    assert.ok(Number.isNaN(got[1]), device.name);
    assert.deepEqual([got[2], got[3]], [1, -1], device.name);
  }
});

Deno.test("maskedFill: gradient is zero where masked, summed over broadcast x", async () => {
  for (const device of await devices()) {
    const mask = await toDevice(tensor([[1], [0], [NaN]]), device); // [3, 1]
    const x = await toDevice(randomTensor([2, 1, 4], 5), device); // out [2, 3, 4]
    const g = grad((p: Tensor) => sum(maskedFill(p, mask, 7)))(x);
    assert.deepEqual(g.shape, [2, 1, 4]);
    // Only row 1 of the 3 mask rows lets the gradient through.
    assert.deepEqual(Array.from(await g.data()), new Array(8).fill(1), device.name);
    const same = await toDevice(randomTensor([3, 4], 6), device);
    const g2 = grad((p: Tensor) => sum(maskedFill(p, mask, 7)))(same);
    assert.deepEqual(await g2.toArray(), [[0, 0, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]], device.name);
  }
});

Deno.test("maskedFill: a mask that does not broadcast, or of another device, is refused", async () => {
  const device = await gpu();
  const x = await toDevice(ones([2, 3]), device);
  assert.throws(() => maskedFill(x, ones([2, 3]), 0), DeviceMismatchError);
  assert.throws(() => maskedFill(x, x, "0" as unknown as number), ArgumentError);
  const wrong = await toDevice(ones([2]), device);
  assert.throws(() => maskedFill(x, wrong, 0), /maskedFill: input \[2, 3\] and mask \[2\]/);
});

Deno.test("triu / tril: huge diagonals act like torch, fractional ones are refused, on both devices", async () => {
  for (const device of await devices()) {
    const x = await toDevice(randomTensor([2, 3, 5], 9), device);
    const values = await x.data();
    for (const diagonal of [2 ** 32, -(2 ** 32), 2 ** 31, -(2 ** 31), 2 ** 53 - 1, -4, 6, 5, -3]) {
      for (const [fn, upper] of [[triu, true], [tril, false]] as const) {
        const got = await fn(x, diagonal).data();
        for (let i = 0; i < got.length; i++) {
          const offset = (i % 5) - (Math.floor(i / 5) % 3);
          const keep = upper ? offset >= diagonal : offset <= diagonal;
          assert.equal(
            got[i],
            keep ? values[i] : 0,
            `${fn.name} ${diagonal} [${i}] ${device.name}`,
          );
        }
      }
    }
    for (const diagonal of [0.5, NaN, Infinity, -1.5]) {
      assert.throws(() => triu(x, diagonal), ArgumentError);
      assert.throws(() => tril(x, diagonal), /tril: diagonal must be a whole number/);
    }
  }
});

Deno.test("rank-9 tensors are refused the same way on both devices; rank 8 works", async () => {
  const shape9 = [1, 2, 1, 2, 1, 2, 1, 2, 1];
  const shape8 = [1, 2, 1, 2, 1, 2, 1, 3];
  for (const device of await devices()) {
    const a9 = await toDevice(ones(shape9), device);
    assert.throws(() => add(a9, a9), ShapeError, device.name);
    assert.throws(() => add(a9, a9), /add: a has 9 dimensions/);
    assert.throws(() => maskedFill(a9, a9, 0), ShapeError, device.name);
    // Ops whose kernels index dimension by dimension refuse rank 9 up front,
    // with the same ShapeError on cpu as on webgpu (not dims8's RangeError).
    const refused: [string, () => unknown][] = [
      ["sum", () => sum(a9)],
      ["sum", () => sum(a9, 1)],
      ["mean", () => mean(a9, [1, 3])],
      ["variance", () => variance(a9)],
      ["sumTo", () => sumTo(a9, [2])],
      ["broadcastTo", () => broadcastTo(ones([2]), shape9)],
      ["permute", () => permute(a9, [8, 7, 6, 5, 4, 3, 2, 1, 0])],
      ["transpose", () => transpose(a9)],
      ["slice", () => slice(a9, [0, 1], [0, 1])],
    ];
    for (const [op, call] of refused) {
      assert.throws(call, (e: Error) => {
        assert.ok(e instanceof ShapeError, `${device.name} ${op}: ${e.name}: ${e.message}`);
        assert.match(e.message, new RegExp(`^${op}: .* 9 dimensions .*at most 8`));
        return true;
      });
    }
    const a8 = await toDevice(randomTensor(shape8, 3), device);
    const b = await toDevice(randomTensor([1, 3], 4), device);
    const got = await add(a8, b).data();
    const av = await a8.data();
    const bv = await b.data();
    assert.deepEqual(got, av.map((v, i) => Math.fround(v + bv[i % 3])), device.name);
    // Rank 8 reduces on both devices: sum over dims 1 and 7 (sizes 2 and 3).
    const s = await sum(a8, [1, 7]).data();
    const want = [0, 0, 0, 0];
    for (let i = 0; i < av.length; i++) {
      // shape8 = [1, 2, 1, 2, 1, 2, 1, 3]: the kept index is (d3, d5).
      const d3 = Math.floor(i / 6) % 2;
      const d5 = Math.floor(i / 3) % 2;
      want[d3 * 2 + d5] += av[i];
    }
    assert.equal(s.length, 4, device.name);
    for (let k = 0; k < 4; k++) {
      assert.ok(Math.abs(s[k] - want[k]) <= 1e-5 * (1 + Math.abs(want[k])), device.name);
    }
  }
});

Deno.test("softmax / logSoftmax gradients work at rank 9 like the forward pass, on both devices", async () => {
  const shape9 = [1, 2, 1, 3, 1, 2, 1, 2, 5];
  const x9 = randomTensor(shape9, 11);
  const w9 = randomTensor(shape9, 12);
  for (const fn of [softmax, logSoftmax]) {
    for (const dim of [3, -1, 0]) {
      // The reference: the same softmax on the [outer, cols, inner] view.
      const outer = shape9.slice(0, (dim + 9) % 9).reduce((a, b) => a * b, 1);
      const cols = shape9.at(dim)!;
      const flat = [outer, cols, x9.size / outer / cols];
      const loss3 = (p: Tensor) => sum(mul(fn(p, { dim: 1, scale: 0.7 }), reshape(w9, flat)));
      const want = await grad(loss3)(reshape(x9, flat)).data();
      for (const device of await devices()) {
        const x = await toDevice(x9, device);
        const w = await toDevice(w9, device);
        // mul is rank-limited, so the weighted sum reads both flat.
        const flatW = reshape(w, [w.size]);
        const loss9 = (p: Tensor) => sum(mul(reshape(fn(p, { dim, scale: 0.7 }), [p.size]), flatW));
        const got = grad(loss9)(x);
        assert.deepEqual(got.shape, shape9);
        const values = await got.data();
        for (let i = 0; i < values.length; i++) {
          const tol = 1e-5 * (1 + Math.abs(want[i]));
          assert.ok(
            Math.abs(values[i] - want[i]) <= tol,
            `${fn.name} ${dim} ${device.name} [${i}]`,
          );
        }
      }
    }
  }
});

Deno.test("arange / zeros with NaN or infinite sizes throw, and never poison gpuStats", async () => {
  const device = await gpu();
  for (const bad of [NaN, Infinity, -Infinity]) {
    assert.throws(() => arange(bad, undefined, 1, { device }), ArgumentError);
    assert.throws(() => arange(0, bad, 1, { device }), /arange: end must be a finite number/);
    assert.throws(() => arange(0, 3, bad, { device }), /arange: step/);
    assert.throws(() => zeros([bad], { device }), /zeros: shape must be/);
  }
  assert.throws(() => zeros([2 ** 26, 2 ** 26], { device }), /zeros: cannot allocate/);
  const t = arange(0, 5, 1, { device });
  t.dispose();
  for (const [key, value] of Object.entries(gpuStats(device))) {
    assert.ok(Number.isFinite(value), `gpuStats.${key} is ${value}`);
  }
});

Deno.test("tensor() and zeros() refuse bad values the same way on webgpu, and take Float64Array", async () => {
  const device = await gpu();
  const before = gpuStats(device).buffersInUse;
  assert.throws(
    () => tensor(["a"] as never, undefined, { device }),
    /tensor: values\[0\] must be a number or an array of numbers, but got a string "a"/,
  );
  assert.throws(() => tensor(null as never, undefined, { device }), ArgumentError);
  assert.throws(
    () => zeros(3 as never, { device }),
    /zeros: shape must be an array of whole numbers >= 0, but got 3/,
  );
  assert.equal(gpuStats(device).buffersInUse, before);
  const t = tensor(new Float64Array([0.1, -2, NaN]), undefined, { device });
  const got = await t.data();
  assert.deepEqual([got[0], got[1]], [Math.fround(0.1), -2]);
  assert.ok(Number.isNaN(got[2]));
  t.dispose();
});

Deno.test("NaN or fractional shapes given to any op are refused before they reach gpuStats", async () => {
  const device = await gpu();
  const x = await toDevice(ones([2, 3]), device);
  const attempts: [string, () => unknown][] = [
    ["reshape", () => reshape(x, [NaN, 3])],
    ["broadcastTo", () => broadcastTo(x, [NaN, 2, 3])],
    ["broadcastTo", () => broadcastTo(x, [1.5, 2, 3])],
    ["sumTo", () => sumTo(x, [NaN])],
    ["full", () => full([NaN], 1, { device })],
    ["tensor", () => tensor([1], [NaN], { device })],
  ];
  const wrong: string[] = [];
  for (const [op, attempt] of attempts) {
    try {
      attempt();
      wrong.push(`${op}: did not throw`);
    } catch (e) {
      if (!(e instanceof TesseraError) || !e.message.includes(op)) {
        wrong.push(`${op}: ${(e as Error).name}: ${(e as Error).message}`);
      }
    }
  }
  assert.deepEqual(wrong, []);
  for (const [key, value] of Object.entries(gpuStats(device))) {
    assert.ok(Number.isFinite(value), `gpuStats.${key} is ${value}`);
  }
  x.dispose();
});

Deno.test("checkModule names the path of a disposed or misplaced parameter", async () => {
  const device = await gpu();
  const m = await toDevice(nn.linear.init({ inFeatures: 3, outFeatures: 2 }), device);
  checkModule("linear.apply", m, device);
  assert.throws(() => checkModule("linear.apply", m, cpu), DeviceMismatchError);
  const mixed = { ...m, params: { ...m.params, bias: zeros([2]) } };
  assert.throws(() => checkModule("linear.apply", mixed), /params\.bias/);
  m.params.weight.dispose();
  assert.throws(
    () => checkModule("linear.apply", m),
    (e: Error) =>
      e instanceof UseAfterDisposeError &&
      e.message.startsWith("linear.apply: params.weight was disposed"),
  );
});

Deno.test("loadStateDict: an undefined entry is an error naming the key, for a GPU module", async () => {
  const device = await gpu();
  const m = await toDevice(nn.linear.init({ inFeatures: 3, outFeatures: 2 }), device);
  const dict = new Map<string, Tensor>([
    ["weight", zeros([2, 3])],
    ["bias", undefined as unknown as Tensor],
  ]);
  await assert.rejects(
    loadStateDict(m, dict),
    (e: Error) => e instanceof StateDictError && /key "bias" is undefined/.test(e.message),
  );
  await assert.rejects(loadStateDict(m, dict, { strict: false }), StateDictError);
});
