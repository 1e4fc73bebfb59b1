// Shared by tests/f16_ops_test.ts (cpu) and tests/gpu/f16_ops_test.ts: the
// GPT-path ops that take float16 by widening (sum, mean, where, dropout,
// crossEntropy) against their float32 counterparts on the same device.
//
// Tolerance, documented: these ops compute in float32 on the widened values
// and round the result once, so the float16 result equals the float32 op's
// result rounded to float16, bit for bit (where and dropout select or scale
// exactly; crossEntropy returns the float32 loss itself). Against the float32
// op on the unrounded inputs, the error is that of rounding the inputs and
// the output: at most 2^-11 relative per value (half an f16 ulp).

import assert from "node:assert/strict";
import {
  cast,
  crossEntropy,
  type Device,
  dispose,
  dropout,
  DTypeError,
  mean,
  sum,
  type Tensor,
  tensor,
  toDevice,
  toF16Bits,
  valueAndGrad,
  where,
} from "../mod.ts";
import { randomData } from "./helpers.ts";

/** The sizes every case runs on: awkward ones, and past one workgroup and one loop bound. */
export const F16_OP_SIZES = [1, 3, 7, 17, 65, 257, 5000];

async function on(device: Device, t: Tensor): Promise<Tensor> {
  if (device.kind === "cpu") return t;
  const moved = await toDevice(t, device);
  t.dispose();
  return moved;
}

/** Random float16 values on `device` (the f16 rounding of randomData in [-2, 2)). */
async function half(device: Device, shape: number[], seed: number, spread = 1): Promise<Tensor> {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = randomData(n, seed).map((v) => v * spread);
  return await on(device, cast(tensor(data, shape), "float16"));
}

/** f16 bits of a float16 tensor's values (data() widens exactly). */
async function bitsOf(t: Tensor): Promise<Uint16Array> {
  assert.equal(t.dtype, "float16");
  return toF16Bits(await t.data() as Float32Array);
}

/** f16 bits of a float32 tensor's values rounded (what the f16 op must give). */
async function roundedBits(t: Tensor): Promise<Uint16Array> {
  assert.equal(t.dtype, "float32");
  return toF16Bits(await t.data() as Float32Array);
}

/** sum and mean over every dimension, the last (keepDim) and the first. */
export async function checkReductions(device: Device): Promise<void> {
  for (const n of F16_OP_SIZES) {
    const data = randomData(3 * n, n).map((v) => v * 40);
    const x32 = tensor(data, [3, n]); // host float32 references
    const abs32 = tensor(data.map(Math.abs), [3, n]);
    const x = await on(device, cast(x32, "float16"));
    const w = cast(x, "float32");
    for (const dims of [undefined, -1, 0] as const) {
      for (const op of [sum, mean]) {
        const got = op(x, dims, { keepDim: dims === -1 });
        const want = op(w, dims, { keepDim: dims === -1 });
        assert.equal(got.dtype, "float16");
        assert.deepEqual(got.shape, want.shape);
        assert.deepEqual(await bitsOf(got), await roundedBits(want), `${op.name} ${n} ${dims}`);
        // Against the float32 op on the unrounded values: each input moved by at most
        // 2^-11 of itself, the output by 2^-11 of itself.
        const exact = await op(x32, dims, { keepDim: dims === -1 }).data();
        const bound = await op(abs32, dims, { keepDim: dims === -1 }).data();
        const g = await got.data();
        for (let i = 0; i < g.length; i++) {
          const tol = 2 ** -11 * (Math.abs(exact[i]) + bound[i]) * 1.001;
          assert.ok(Math.abs(g[i] - exact[i]) <= tol, `${op.name} ${n} ${dims} [${i}]`);
        }
        dispose([got, want]);
      }
    }
    dispose([x, w, x32, abs32]);
  }
  // NaN and infinities propagate as in float32.
  const s = await on(device, cast(tensor([[1, NaN, 2], [Infinity, 1, 0], [1, 2, 3]]), "float16"));
  const rowSums = sum(s, 1);
  assert.deepEqual(await rowSums.toArray(), [NaN, Infinity, 6]);
  // A float16 sum past 65504 overflows to infinity only in the output rounding.
  const big = await on(device, cast(tensor(new Float32Array(64).fill(60000), [64]), "float16"));
  const m = mean(big);
  assert.equal(m.dtype, "float16");
  assert.deepEqual(await m.toArray(), 60000);
  const total = sum(big);
  assert.deepEqual(await total.toArray(), Infinity);
  dispose([s, big, m, rowSums, total]);
}

/** where with float16 a and b (and a float16 condition), broadcasting. */
export async function checkWhere(device: Device): Promise<void> {
  for (const n of F16_OP_SIZES) {
    const a = await half(device, [2, n], n + 1);
    const b = await half(device, [1, n], n + 2);
    const c = await on(device, tensor(randomData(2 * n, n + 3).map((v) => v > 0 ? 1 : 0), [2, n]));
    for (const cond of [c, cast(c, "float16"), cast(c, "int32")]) {
      const got = where(cond, a, b);
      assert.equal(got.dtype, "float16");
      const wide = [cast(cond, "float32"), cast(a, "float32"), cast(b, "float32")];
      const want = where(wide[0], wide[1], wide[2]);
      assert.deepEqual(await bitsOf(got), await roundedBits(want), `where ${n} ${cond.dtype}`);
      dispose([got, want, wide]);
      if (cond !== c) cond.dispose();
    }
    const b32 = cast(b, "float32");
    assert.throws(
      () => where(c, a, b32),
      (e) =>
        e instanceof DTypeError &&
        /where: a has dtype float16 but b has dtype float32/.test(e.message),
    );
    dispose([a, b, c, b32]);
  }
}

/** dropout of float16 draws the float32 mask for the same seed and scales exactly. */
export async function checkDropout(device: Device): Promise<void> {
  for (const n of F16_OP_SIZES) {
    const x = await half(device, [n], n + 4);
    const w = cast(x, "float32");
    const got = dropout(x, 0.3, { seed: 7, offset: n });
    const want = dropout(w, 0.3, { seed: 7, offset: n });
    assert.equal(got.dtype, "float16");
    assert.deepEqual(await bitsOf(got), await roundedBits(want), `dropout ${n}`);
    const kept = (await got.data() as Float32Array).filter((v) => v !== 0).length;
    if (n >= 257) assert.ok(kept > 0.6 * n && kept < 0.8 * n, `kept ${kept} of ${n}`);
    dispose([x, w, got, want]);
  }
}

/** crossEntropy of float16 logits: the float32 loss, a float16 gradient. */
export async function checkCrossEntropy(device: Device): Promise<void> {
  for (const n of F16_OP_SIZES) {
    const rows = n > 257 ? 3 : 5;
    const logits = await half(device, [rows, n], n + 5, 3);
    const ids = Array.from({ length: rows }, (_, r) => (r * 7919 + n) % n);
    const targets = await on(device, tensor(ids, undefined, { dtype: "int32" }));
    const loss = (p: { x: Tensor }) => crossEntropy(p.x, targets);
    const got = valueAndGrad(loss)({ x: logits });
    const wide = cast(logits, "float32");
    const want = valueAndGrad(loss)({ x: wide });
    assert.equal(got.value.dtype, "float32");
    assert.deepEqual(got.value.shape, []);
    assert.deepEqual(await got.value.data(), await want.value.data(), `loss ${n}`);
    assert.equal(got.grads.x.dtype, "float16");
    assert.deepEqual(await bitsOf(got.grads.x), await roundedBits(want.grads.x), `grad ${n}`);
    dispose([logits, targets, got.value, got.grads.x, wide, want.value, want.grads.x]);
  }
}
