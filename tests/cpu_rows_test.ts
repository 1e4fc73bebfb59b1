// The cpu device's WebAssembly row kernels (src/cpu/rows.ts) against the
// TypeScript reference ops (`setCpuBackend("reference")`) within float32
// tolerances, NaN and infinities included; and the kernels' exp and tanh
// against Math.exp / Math.tanh in ulps over dense sweeps.

import assert from "node:assert/strict";
import {
  ArgumentError,
  crossEntropy,
  exp,
  gelu,
  layerNorm,
  logSoftmax,
  mul,
  setCpuBackend,
  softmax,
  sum,
  tanh,
  type Tensor,
  tensor,
  valueAndGrad,
} from "../mod.ts";
import {
  wasmCrossEntropyGrad,
  wasmCrossEntropyLosses,
  wasmExp,
  wasmGeluTanh,
  wasmGeluTanhBackward,
  wasmLayerNormBackward,
  wasmSoftmaxBackwardRows,
  wasmSoftmaxRows,
  wasmTanh,
} from "../src/cpu/rows.ts";
import { biasGelu } from "../src/ops/unary.ts";
import { randomData } from "./helpers.ts";

const COLS = [1, 3, 7, 17, 65, 257, 1031];

/** Runs `f` on the reference backend, restoring "wasm" after. */
async function reference(f: () => Tensor): Promise<Float32Array> {
  setCpuBackend("reference");
  try {
    const t = f();
    const out = new Float32Array(await t.data());
    t.dispose();
    return out;
  } finally {
    setCpuBackend("wasm");
  }
}

/** The reference gradient of `sum(f(x) * g)` with respect to x. */
async function referenceGrad(
  f: (x: Tensor) => Tensor,
  x: Tensor,
  g: Tensor,
): Promise<Float32Array> {
  setCpuBackend("reference");
  try {
    const { value, grads } = valueAndGrad((p: Tensor) => sum(mul(f(p), g)))(x);
    const out = new Float32Array(await grads.data());
    value.dispose();
    grads.dispose();
    return out;
  } finally {
    setCpuBackend("wasm");
  }
}

/** |a - e| <= atol + rtol |e|; NaN only matches NaN, infinities only themselves. */
function expectClose(
  actual: Float32Array,
  expected: Float32Array,
  what: string,
  rtol: number,
  atol: number,
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i], e = expected[i];
    const ok = Number.isNaN(e)
      ? Number.isNaN(a)
      : !Number.isFinite(e)
      ? a === e
      : Math.abs(a - e) <= atol + rtol * Math.abs(e);
    if (!ok) assert.fail(`${what}: element ${i} is ${a} (wasm), reference ${e}`);
  }
}

/**
 * Rows of random data scaled by `magnitude`, with special rows when `cols`
 * allows: row 1 partly masked (-inf), row 2 fully masked, row 3 with a NaN,
 * row 4 with +inf, row 5 with -inf and +inf.
 */
function rowsData(rows: number, cols: number, seed: number, magnitude: number): Float32Array {
  const x = randomData(rows * cols, seed).map((v) => v * magnitude);
  const row = (r: number) => x.subarray(r * cols, (r + 1) * cols);
  if (rows > 1) { for (let j = 0; j < cols; j += 3) row(1)[j] = -Infinity; }
  if (rows > 2) row(2).fill(-Infinity);
  if (rows > 3) row(3)[cols >> 1] = NaN;
  if (rows > 4) row(4)[cols - 1] = Infinity;
  if (rows > 5) {
    row(5)[0] = -Infinity;
    row(5)[cols - 1] = Infinity;
  }
  return x;
}

function ulps(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b) ? 0 : Infinity;
  if (a === b) return 0;
  const i = new Int32Array(new Float32Array([a, b]).buffer);
  const key = (v: number) => (v < 0 ? -2147483648 - v : v);
  return Math.abs(key(i[0]) - key(i[1]));
}

/** The largest ulp distance of `fn` from `Math.fround(ref(x))` over `x`. */
function maxUlps(
  fn: (src: Float32Array, out: Float32Array) => boolean,
  ref: (x: number) => number,
  x: Float32Array,
): number {
  const out = new Float32Array(x.length);
  assert.ok(fn(x, out), "the wasm kernel ran");
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, ulps(out[i], Math.fround(ref(x[i]))));
  return worst;
}

function sweep(lo: number, hi: number, n: number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = lo + ((hi - lo) * i) / (n - 1);
  return x;
}

Deno.test("wasm exp is within 1 ulp of Math.exp, special values included", () => {
  // Dense over every finite result (subnormals to overflow), and near 0.
  assert.ok(maxUlps(wasmExp, Math.exp, sweep(-105, 90, 1_000_003)) <= 1);
  assert.ok(maxUlps(wasmExp, Math.exp, sweep(-1, 1, 200_001)) <= 1);
  const special = new Float32Array([
    0,
    -0,
    Infinity,
    -Infinity,
    NaN,
    88.72283,
    88.7229,
    -104,
    3e38,
  ]);
  const out = new Float32Array(special.length);
  wasmExp(special, out);
  assert.deepEqual([...out], [1, 1, Infinity, 0, NaN, 3.402798519021476e38, Infinity, 0, Infinity]);
});

Deno.test("wasm tanh is within 1 ulp of Math.tanh; tanh(x) = x near 0 and +-1 far out", () => {
  assert.ok(maxUlps(wasmTanh, Math.tanh, sweep(-12, 12, 1_000_003)) <= 1);
  assert.ok(maxUlps(wasmTanh, Math.tanh, sweep(-0.7, 0.7, 200_001)) <= 1);
  const special = new Float32Array([-0, 1e-30, -1e-45, Infinity, -Infinity, NaN, 50, -3e38]);
  const out = new Float32Array(special.length);
  wasmTanh(special, out);
  assert.ok(Object.is(out[0], -0));
  assert.deepEqual([...out.subarray(1)], [
    Math.fround(1e-30),
    Math.fround(-1e-45),
    1,
    -1,
    NaN,
    1,
    -1,
  ]);
});

Deno.test("wasm softmax and logSoftmax rows equal the reference op", async () => {
  let seed = 11;
  for (const cols of COLS) {
    for (const [magnitude, alpha] of [[1, 1], [1000, 0.125], [1e-3, 3], [30, -1]]) {
      const rows = 7;
      const x = rowsData(rows, cols, seed++, magnitude);
      const t = tensor(x, [rows, cols]);
      for (const log of [false, true]) {
        const f = log ? logSoftmax : softmax;
        const expected = await reference(() => f(t, { scale: alpha }));
        const out = new Float32Array(x.length);
        assert.ok(wasmSoftmaxRows(x, out, rows, cols, alpha, log));
        const what = `${log ? "logSoftmax" : "softmax"} cols ${cols} x${magnitude} scale ${alpha}`;
        expectClose(out, expected, what, 4e-6, log ? 1e-6 : 1e-9);
      }
      t.dispose();
    }
  }
});

Deno.test("wasm softmax rows: masked rows give zeros, NaN and +inf rows NaN", () => {
  const x = new Float32Array([
    1,
    -Infinity,
    2,
    -Infinity,
    -Infinity,
    -Infinity,
    0,
    NaN,
    1,
    0,
    1,
    Infinity,
  ]);
  const out = new Float32Array(12);
  assert.ok(wasmSoftmaxRows(x, out, 4, 3, 1, false));
  assert.equal(out[1], 0);
  assert.deepEqual([...out.subarray(3, 6)], [0, 0, 0]);
  assert.ok(out.subarray(6).every(Number.isNaN));
  assert.ok(wasmSoftmaxRows(x, out, 4, 3, 1, true));
  assert.equal(out[1], -Infinity);
  assert.ok(out.subarray(3).every(Number.isNaN));
});

Deno.test("wasm softmax and logSoftmax backward rows equal the reference rules", async () => {
  let seed = 101;
  for (const cols of COLS) {
    for (const alpha of [1, 0.125]) {
      const rows = 5;
      const x = rowsData(rows, cols, seed++, 3).map((v) => (Number.isFinite(v) ? v : 0));
      // Partly masked rows keep their zero weights in the gradient.
      for (let j = 0; j < cols; j += 4) x[cols + j] = -Infinity;
      const g = randomData(rows * cols, seed++);
      const t = tensor(x, [rows, cols]);
      const gt = tensor(g, [rows, cols]);
      for (const log of [false, true]) {
        const f = (p: Tensor) => (log ? logSoftmax : softmax)(p, { scale: alpha });
        const expected = await referenceGrad(f, t, gt);
        const y = await reference(() => softmax(t, { scale: alpha }));
        const out = new Float32Array(x.length);
        assert.ok(wasmSoftmaxBackwardRows(y, g, out, rows, cols, alpha, log));
        expectClose(
          out,
          expected,
          `${log ? "logSoftmax" : "softmax"} backward cols ${cols}`,
          1e-5,
          1e-7,
        );
      }
      t.dispose();
      gt.dispose();
    }
  }
});

Deno.test("wasm GELU (tanh) and its gradient equal the reference", async () => {
  let seed = 201;
  for (const n of [...COLS, 65_537 + 13, 200_003]) {
    for (const magnitude of [1, 8, 1e4]) {
      const x = randomData(n, seed++).map((v) => v * magnitude);
      if (n > 3) x.set([NaN, Infinity, -Infinity, -0], n - 4);
      const g = randomData(n, seed++);
      const t = tensor(x, [n]);
      const gt = tensor(g, [n]);
      const f = (p: Tensor) => gelu(p, { approximate: "tanh" });
      const expected = await reference(() => f(t));
      const out = new Float32Array(n);
      assert.ok(wasmGeluTanh(x, out));
      // Within 2 ulp of max(|x|, 1), absolute (1 + tanh cancels for x < -2).
      const atol = 2.4e-7 * Math.max(1, magnitude * 2);
      expectClose(out, expected, `gelu n ${n} x${magnitude}`, 1e-6, atol);
      const dExpected = await referenceGrad(f, t, gt);
      const dOut = new Float32Array(n);
      assert.ok(wasmGeluTanhBackward(x, g, dOut));
      expectClose(dOut, dExpected, `gelu backward n ${n} x${magnitude}`, 1e-6, atol);
      t.dispose();
      gt.dispose();
    }
  }
});

Deno.test("wasm cross-entropy losses and gradient equal the reference", async () => {
  let seed = 301;
  for (const cols of COLS) {
    for (const [magnitude, smoothing] of [[1, 0], [30, 0.1], [1e3, 0], [1e-3, 0.2]]) {
      const rows = 9;
      const x = rowsData(rows, cols, seed++, magnitude);
      // Row 6 and 7 target a masked logit (loss +inf); row 8 is ignored.
      const ids = Array.from({ length: rows }, (_, r) => (r * 7 + seed) % cols);
      x[6 * cols + ids[6]] = -Infinity;
      ids[8] = -100;
      const targets = new Int32Array(ids.map((v) => (v === -100 ? -1 : v)));
      const t = tensor(x, [rows, cols]);
      const it = tensor(new Int32Array(ids), [rows]);
      const opts = { reduction: "none" as const, labelSmoothing: smoothing };
      const expected = await reference(() => crossEntropy(t, it, opts));
      const losses = new Float32Array(rows);
      assert.ok(wasmCrossEntropyLosses(x, rows, cols, targets, smoothing, losses));
      const what = `crossEntropy cols ${cols} x${magnitude} smoothing ${smoothing}`;
      expectClose(losses, expected, what, 1e-5, 1e-5 * Math.max(1, magnitude));
      const w = randomData(rows, seed++);
      w[8] = 0;
      const wt = tensor(w, [rows]);
      const dExpected = await referenceGrad((p) => crossEntropy(p, it, opts), t, wt);
      const dOut = new Float32Array(x.length);
      assert.ok(wasmCrossEntropyGrad(x, rows, cols, targets, w, smoothing, dOut));
      expectClose(dOut, dExpected, `${what} gradient`, 4e-6, 1e-9);
      for (const d of [t, it, wt]) d.dispose();
    }
  }
});

/** `f` on the reference backend and on the wasm backend (the registered kernel entries). */
async function bothPaths(f: () => Tensor): Promise<[Float32Array, Float32Array]> {
  const expected = await reference(f);
  const t = f();
  const actual = new Float32Array(await t.data());
  t.dispose();
  return [actual, expected];
}

Deno.test("softmax, logSoftmax, gelu and biasGelu ops on the wasm backend equal the reference", async () => {
  const x = tensor(rowsData(6, 257, 401, 4), [2, 3, 257]);
  for (const dim of [-1, 1]) {
    const [s, se] = await bothPaths(() => softmax(x, { dim, scale: 0.5 }));
    expectClose(s, se, `softmax dim ${dim}`, 4e-6, 1e-9);
    const [l, le] = await bothPaths(() => logSoftmax(x, { dim }));
    expectClose(l, le, `logSoftmax dim ${dim}`, 4e-6, 1e-6);
  }
  const y = tensor(randomData(3 * 1031, 402).map((v) => v * 4), [3, 1031]);
  const [gl, gle] = await bothPaths(() => gelu(y, { approximate: "tanh" }));
  expectClose(gl, gle, "gelu op", 1e-6, 2e-6);
  const bias = tensor(randomData(1031, 403), [1031]);
  const [bg, bge] = await bothPaths(() => biasGelu(y, bias, "tanh"));
  expectClose(bg, bge, "biasGelu op", 1e-6, 2e-6);
  const g = tensor(randomData(3 * 1031, 404), [3, 1031]);
  for (const f of [(p: Tensor) => gelu(p, { approximate: "tanh" }), (p: Tensor) => softmax(p)]) {
    const expected = await referenceGrad(f, y, g);
    const { value, grads } = valueAndGrad((p: Tensor) => sum(mul(f(p), g)))(y);
    expectClose(new Float32Array(await grads.data()), expected, "gradient", 1e-5, 2e-6);
    value.dispose();
    grads.dispose();
  }
  for (const t of [x, y, bias, g]) t.dispose();
});

/** The largest finite |v| (for absolute tolerances relative to the data's scale). */
function scaleOf(values: Float32Array): number {
  let m = 0;
  for (const v of values) if (Number.isFinite(v)) m = Math.max(m, Math.abs(v));
  return m;
}

/** {@linkcode expectClose} row by row, atol relative to each expected row's scale. */
function expectRowsClose(
  actual: Float32Array,
  expected: Float32Array,
  cols: number,
  what: string,
  rtol: number,
  atolFactor: number,
): void {
  for (let r = 0; r * cols < expected.length; r++) {
    const e = expected.subarray(r * cols, (r + 1) * cols);
    const a = actual.subarray(r * cols, (r + 1) * cols);
    expectClose(a, e, `${what} row ${r}`, rtol, atolFactor * scaleOf(e));
  }
}

Deno.test("wasm layer norm backward equals the reference (large means and NaN rows too)", async () => {
  let seed = 501;
  for (const cols of COLS) {
    const rows = 4;
    const x = randomData(rows * cols, seed++);
    // Row 1: a large mean with small deviations; row 2: large values; row 3: a NaN.
    for (let j = 0; j < cols; j++) x[cols + j] = 1000 + x[cols + j] * 0.01;
    for (let j = 0; j < cols; j++) x[2 * cols + j] *= 1e4;
    x[3 * cols + (cols >> 1)] = NaN;
    const w = randomData(cols, seed++);
    const b = randomData(cols, seed++);
    const g = randomData(rows * cols, seed++);
    const [xt, wt, bt, gt] = [
      tensor(x, [rows, cols]),
      tensor(w, [cols]),
      tensor(b, [cols]),
      tensor(
        g,
        [rows, cols],
      ),
    ];
    const loss = (p: { x: Tensor; w: Tensor; b: Tensor }) => sum(mul(layerNorm(p.x, p.w, p.b), gt));
    const grads = async (backend: "wasm" | "reference") => {
      setCpuBackend(backend);
      try {
        const { value, grads } = valueAndGrad(loss)({ x: xt, w: wt, b: bt });
        const out = await Promise.all([grads.x, grads.w, grads.b].map(async (t) => {
          const d = new Float32Array(await t.data());
          t.dispose();
          return d;
        }));
        value.dispose();
        return out;
      } finally {
        setCpuBackend("wasm");
      }
    };
    const expected = await grads("reference");
    const actual = await grads("wasm");
    // dx row by row (each row's own scale); dscale and dshift sum over rows.
    expectRowsClose(actual[0], expected[0], cols, `layerNorm dx cols ${cols}`, 1e-5, 1e-6);
    for (const i of [1, 2]) {
      const what = `layerNorm ${i === 1 ? "dscale" : "dshift"} cols ${cols}`;
      expectClose(actual[i], expected[i], what, 1e-5, 1e-6 * scaleOf(expected[i]));
    }
    // The kernel itself, row by row (the NaN row stays NaN).
    const dx = new Float32Array(x.length), gxhat = new Float32Array(x.length);
    assert.ok(wasmLayerNormBackward(x, w, g, dx, gxhat, cols, 1e-5));
    expectRowsClose(dx, expected[0], cols, `layerNorm kernel dx cols ${cols}`, 1e-5, 1e-6);
    assert.ok(dx.subarray(3 * cols).every(Number.isNaN));
    for (const t of [xt, wt, bt, gt]) t.dispose();
  }
});

Deno.test("crossEntropy and its gradient on the wasm backend equal the reference", async () => {
  const rows = 9, cols = 257;
  const x = rowsData(rows, cols, 601, 5);
  x.fill(-Infinity, 2 * cols, 3 * cols - 1); // row 2: one finite logit left
  const logits = tensor(x, [rows, cols]);
  const ids = [3, 0, 256, 7, 9, 100, -100, 5, 0];
  for (const targets of [tensor(new Int32Array(ids), [rows]), tensor(ids, [rows])]) {
    for (const reduction of ["mean", "sum", "none"] as const) {
      for (const labelSmoothing of [0, 0.1]) {
        const opts = { reduction, labelSmoothing };
        const [l, le] = await bothPaths(() => crossEntropy(logits, targets, opts));
        expectClose(l, le, `crossEntropy ${reduction} ${labelSmoothing}`, 1e-5, 1e-5);
        const w = tensor(randomData(rows, 603), [rows]);
        const f = (p: Tensor) =>
          reduction === "none"
            ? sum(mul(crossEntropy(p, targets, opts), w))
            : crossEntropy(p, targets, opts);
        const [d, de] = await bothPaths(() => {
          const { value, grads } = valueAndGrad(f)(logits);
          value.dispose();
          return grads;
        });
        expectClose(d, de, `crossEntropy ${reduction} ${labelSmoothing} gradient`, 4e-6, 1e-9);
        w.dispose();
      }
    }
    targets.dispose();
  }
  // Rows without NaN or +inf: the finite rows' values, not just NaN matching NaN.
  const clean = tensor(randomData(3 * cols, 602), [3, cols]);
  const t3 = tensor(new Int32Array([1, 2, 3]), [3]);
  const [c, ce] = await bothPaths(() => crossEntropy(clean, t3));
  assert.ok(Number.isFinite(c[0]));
  expectClose(c, ce, "crossEntropy clean rows", 1e-6, 1e-6);
  // A bad target throws the reference's error on the wasm backend too.
  const bad = tensor(new Int32Array([1, cols, 3]), [3]);
  assert.throws(() => crossEntropy(clean, bad), ArgumentError);
  for (const t of [logits, clean, t3, bad]) t.dispose();
});

Deno.test("row kernels over several memory blocks equal the reference", async () => {
  // 600 rows of 257 and 40 rows of 5003 floats span several 256 KiB blocks.
  const x = tensor(rowsData(600, 257, 701, 3), [600, 257]);
  const [s, se] = await bothPaths(() => softmax(x, { scale: 0.7 }));
  expectClose(s, se, "softmax blocks", 4e-6, 1e-9);
  const logits = tensor(randomData(40 * 5003, 702).map((v) => v * 5), [40, 5003]);
  const targets = tensor(new Int32Array(40).map((_, i) => i * 97), [40]);
  const [c, ce] = await bothPaths(() => crossEntropy(logits, targets, { reduction: "none" }));
  expectClose(c, ce, "crossEntropy blocks", 1e-5, 1e-5);
  const [d, de] = await bothPaths(() => {
    const { value, grads } = valueAndGrad((p: Tensor) => crossEntropy(p, targets))(logits);
    value.dispose();
    return grads;
  });
  expectClose(d, de, "crossEntropy gradient blocks", 4e-6, 1e-9);
  const g = randomData(600 * 257, 704);
  const out = new Float32Array(g.length);
  assert.ok(wasmSoftmaxBackwardRows(s, g, out, 600, 257, 0.7, false));
  const gt = tensor(g, [600, 257]);
  const expected = await referenceGrad((p) => softmax(p, { scale: 0.7 }), x, gt);
  expectClose(out, expected, "softmax backward blocks", 1e-5, 1e-7);
  for (const t of [x, logits, targets, gt]) t.dispose();
});

Deno.test("one softmax row of 2^20 values: sums in float64 do not drift", async () => {
  const n = 2 ** 20;
  const x = tensor(randomData(n, 801), [1, n]);
  const [s, se] = await bothPaths(() => softmax(x));
  expectClose(s, se, "softmax of a long row", 1e-6, 0);
  const [l, le] = await bothPaths(() => logSoftmax(x));
  expectClose(l, le, "logSoftmax of a long row", 1e-6, 0);
  x.dispose();
});

Deno.test("row kernels decline on the reference backend and write nothing", () => {
  setCpuBackend("reference");
  try {
    const out = new Float32Array(4).fill(7);
    assert.equal(wasmSoftmaxRows(new Float32Array(4), out, 2, 2, 1, false), false);
    assert.equal(wasmGeluTanh(new Float32Array(4), out), false);
    assert.deepEqual([...out], [7, 7, 7, 7]);
  } finally {
    setCpuBackend("wasm");
  }
});

Deno.test("softmax's gradient on the wasm backend agrees with the reference rule", async () => {
  let seed = 4000;
  for (const shape of [[1, 1], [3, 17], [2, 5, 257], [4, 1031]]) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = randomData(n, seed++);
    if (n > 4) data[2] = -Infinity; // a masked score: its gradient is exactly 0
    const x = tensor(data, shape);
    const g = tensor(randomData(n, seed++), shape);
    const f = (p: Tensor) => softmax(p, { scale: 0.5 });
    const expected = await referenceGrad(f, x, g);
    const { value, grads } = valueAndGrad((p: Tensor) => sum(mul(f(p), g)))(x);
    const actual = new Float32Array(await grads.data());
    expectClose(actual, expected, `softmax gradient [${shape}]`, 1e-5, 1e-7);
    if (n > 4) assert.equal(Math.abs(actual[2]), 0);
    value.dispose();
    grads.dispose();
  }
});

Deno.test("exp and tanh ops on the wasm backend are within 1 ulp of the reference", async () => {
  const data = randomData(4099, 4100).map((v) => v * 20);
  data.set([0, -0, NaN, Infinity, -Infinity, 88.8, -104, 1e-30, -1e-30], 0);
  const x = tensor(data, [4099]);
  for (const [name, f] of [["exp", exp], ["tanh", tanh]] as const) {
    const expected = await reference(() => f(x));
    const actual = new Float32Array(await f(x).data());
    for (let i = 0; i < data.length; i++) {
      const [a, e] = [actual[i], expected[i]];
      if (Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e))) continue;
      const ulp = Math.abs(e) * 2 ** -23 + 2 ** -149;
      assert.ok(Math.abs(a - e) <= ulp, `${name}(${data[i]}): ${a} (wasm), reference ${e}`);
    }
  }
});
