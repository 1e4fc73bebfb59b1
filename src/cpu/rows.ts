/**
 * The `cpu` device's WebAssembly row kernels (scripts/wasm_wat_rows.ts):
 * softmax and logSoftmax with their backward rules, GELU (tanh
 * approximation) and its gradient, cross-entropy losses and gradient, layer
 * norm backward. Rows are copied into WebAssembly memory a block at a time,
 * computed on the calling thread in f32x4 lanes in a fixed order (sums in
 * float64), and copied back; results agree with the TypeScript reference
 * within float32 tolerance, NaN and infinities included (policy in
 * src/cpu/backend.ts). The kernels take contiguous rows only.
 *
 * Every function returns false, writing nothing, when the reference must run:
 * backend `"reference"`, kernels unavailable, or memory refused.
 *
 * @module
 */

import { chosenCpuBackend } from "./backend.ts";
import { WASM_SCRATCH_BYTES } from "./wasm_kernels.generated.ts";
import {
  align64,
  reserveWasmBytes,
  trimWasmMemory,
  WASM_MAX_BYTES,
  type WasmKernels,
  wasmKernels,
} from "./wasm_runtime.ts";

/** Bytes of each array per block (a block's arrays stay cache-sized). */
const BLOCK_BYTES = 256 * 1024;
/** Elements per call of the elementwise kernels. */
const CHUNK = BLOCK_BYTES / 4;

function kernels(): WasmKernels | null {
  if (chosenCpuBackend() !== "wasm") return null;
  return wasmKernels();
}

/**
 * Runs `call` over blocks of rows: `inputs` (each `rows * cols`) copied in,
 * `outputs` (each `rows * cols`) copied out, plus `extraBytes(block)` of
 * per-block scratch; `call(ptrs, extra, r0, n)` gets the addresses of inputs
 * then outputs, and of the scratch. False when memory is refused.
 */
function blocked(
  k: WasmKernels,
  rows: number,
  cols: number,
  inputs: Float32Array[],
  outputs: Float32Array[],
  extraBytes: (block: number) => number,
  call: (ptrs: number[], extra: number, r0: number, n: number) => void,
): boolean {
  const rowBytes = cols * 4;
  const block = Math.max(1, Math.min(rows, Math.floor(BLOCK_BYTES / Math.max(1, rowBytes))));
  const arrays = inputs.length + outputs.length;
  const ptrs: number[] = [];
  let end = WASM_SCRATCH_BYTES;
  for (let i = 0; i < arrays; i++) {
    ptrs.push(end);
    end = align64(end + block * rowBytes);
  }
  const extra = end;
  end = align64(end + extraBytes(block));
  if (end > WASM_MAX_BYTES) return false;
  const buffer = reserveWasmBytes(k, end);
  if (buffer === null) return false;
  const views = ptrs.map((p) => new Float32Array(buffer, p, block * cols));
  for (let r0 = 0; r0 < rows; r0 += block) {
    const n = Math.min(block, rows - r0);
    inputs.forEach((a, i) => views[i].set(a.subarray(r0 * cols, (r0 + n) * cols)));
    call(ptrs, extra, r0, n);
    outputs.forEach((a, i) => a.set(views[inputs.length + i].subarray(0, n * cols), r0 * cols));
  }
  trimWasmMemory(k);
  return true;
}

/** An elementwise kernel over `n` floats of each input, in chunks. */
function elementwise(
  inputs: Float32Array[],
  out: Float32Array,
  pick: (k: WasmKernels) => (...ptrs: number[]) => void,
): boolean {
  const k = kernels();
  if (k === null) return false;
  const n = out.length;
  const cols = Math.min(n, CHUNK);
  if (n === 0) return true;
  const rows = Math.ceil(n / cols);
  const kernel = pick(k);
  // The last chunk may be short: run whole chunks blocked, the rest alone.
  const whole = Math.floor(n / cols);
  const ok = blocked(k, whole, cols, inputs, [out], () => 0, (ptrs, _e, _r0, m) => {
    for (let i = 0; i < m; i++) kernel(...ptrs.map((p) => p + i * cols * 4), cols);
  });
  if (!ok || whole === rows) return ok;
  const start = whole * cols;
  return blocked(
    k,
    1,
    n - start,
    inputs.map((a) => a.subarray(start)),
    [out.subarray(start)],
    () => 0,
    (ptrs) => kernel(...ptrs, n - start),
  );
}

/**
 * Softmax (or, with `log`, logSoftmax) of `alpha * src` over each of `rows`
 * contiguous rows of `cols`, into `out`: src/ops/softmax.ts's rules
 * (`-Infinity` weighs 0, a fully masked softmax row gives zeros, NaN or
 * `+Infinity` makes the row NaN). Returns false when the reference must run.
 *
 * @example
 * ```ts
 * import { wasmSoftmaxRows } from "./rows.ts";
 * const out = new Float32Array(4);
 * wasmSoftmaxRows(new Float32Array([0, 0, 1, -Infinity]), out, 2, 2, 1, false);
 * console.log(out); // [0.5, 0.5, 1, 0]
 * ```
 */
export function wasmSoftmaxRows(
  src: Float32Array,
  out: Float32Array,
  rows: number,
  cols: number,
  alpha: number,
  log: boolean,
): boolean {
  const k = kernels();
  if (k === null) return false;
  const a = Math.fround(alpha);
  return blocked(k, rows, cols, [src], [out], () => 0, ([s, o], _e, _r0, n) => {
    k.rows.softmax(s, o, n, cols, a, log ? 1 : 0);
  });
}

/**
 * The softmax rule `alpha * y * (g - sum(g * y))` per row from the saved
 * output y, or with `log` logSoftmax's `alpha * (g - y * sum(g))` where y is
 * the softmax of the input (not its log). Returns false when the reference
 * must run.
 *
 * @example
 * ```ts
 * import { wasmSoftmaxBackwardRows } from "./rows.ts";
 * const dx = new Float32Array(2);
 * wasmSoftmaxBackwardRows(new Float32Array([0.5, 0.5]), new Float32Array([1, 0]), dx, 1, 2, 1, false);
 * console.log(dx); // [0.25, -0.25]
 * ```
 */
export function wasmSoftmaxBackwardRows(
  y: Float32Array,
  g: Float32Array,
  out: Float32Array,
  rows: number,
  cols: number,
  alpha: number,
  log: boolean,
): boolean {
  const k = kernels();
  if (k === null) return false;
  const a = Math.fround(alpha);
  return blocked(k, rows, cols, [y, g], [out], () => 0, ([py, pg, o], _e, _r0, n) => {
    k.rows.softmaxBackward(py, pg, o, n, cols, a, log ? 1 : 0);
  });
}

/**
 * GELU with the tanh approximation, `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`,
 * elementwise into `out` (same length). Returns false when the reference must run.
 *
 * @example
 * ```ts
 * import { wasmGeluTanh } from "./rows.ts";
 * const out = new Float32Array(1);
 * wasmGeluTanh(new Float32Array([1]), out);
 * console.log(out[0]); // ≈ 0.841192
 * ```
 */
export function wasmGeluTanh(src: Float32Array, out: Float32Array): boolean {
  return elementwise([src], out, (k) => k.rows.geluTanh as (...p: number[]) => void);
}

/**
 * The gradient of {@linkcode wasmGeluTanh} at inputs `x` times `g`,
 * elementwise into `out`. Returns false when the reference must run.
 *
 * @example
 * ```ts
 * import { wasmGeluTanhBackward } from "./rows.ts";
 * const out = new Float32Array(1);
 * wasmGeluTanhBackward(new Float32Array([0]), new Float32Array([2]), out);
 * console.log(out[0]); // 1
 * ```
 */
export function wasmGeluTanhBackward(x: Float32Array, g: Float32Array, out: Float32Array): boolean {
  return elementwise([x, g], out, (k) => k.rows.geluTanhBackward as (...p: number[]) => void);
}

/**
 * e^x elementwise in f32x4 lanes (the kernels' exp, for accuracy tests).
 *
 * @example
 * ```ts
 * import { wasmExp } from "./rows.ts";
 * const out = new Float32Array(2);
 * wasmExp(new Float32Array([0, -Infinity]), out);
 * console.log(out); // [1, 0]
 * ```
 */
export function wasmExp(src: Float32Array, out: Float32Array): boolean {
  return elementwise([src], out, (k) => k.rows.exp as (...p: number[]) => void);
}

/**
 * tanh elementwise in f32x4 lanes (the kernels' tanh, for accuracy tests).
 *
 * @example
 * ```ts
 * import { wasmTanh } from "./rows.ts";
 * const out = new Float32Array(2);
 * wasmTanh(new Float32Array([0, 100]), out);
 * console.log(out); // [0, 1]
 * ```
 */
export function wasmTanh(src: Float32Array, out: Float32Array): boolean {
  return elementwise([src], out, (k) => k.rows.tanh as (...p: number[]) => void);
}

/**
 * Per-row cross-entropy statistics of `x` `[rows, cols]` into `stats`
 * `[rows, 4]`: the largest finite logit (-inf when none), the sum of
 * e^(x - max) over finite logits, 1 when the row holds a NaN or +inf (else
 * 0), and the sum of the row. Returns false when the reference must run.
 *
 * @example
 * ```ts
 * import { wasmCrossEntropyStats } from "./rows.ts";
 * const stats = new Float32Array(4);
 * wasmCrossEntropyStats(new Float32Array([0, 0]), 1, 2, stats);
 * console.log(stats); // [0, 2, 0, 0]
 * ```
 */
export function wasmCrossEntropyStats(
  x: Float32Array,
  rows: number,
  cols: number,
  stats: Float32Array,
): boolean {
  const k = kernels();
  if (k === null) return false;
  return blocked(k, rows, cols, [x], [], (block) => block * 16, ([s], extra, r0, n) => {
    k.rows.ceStats(s, extra, n, cols);
    stats.set(new Float32Array(k.memory.buffer, extra, n * 4), r0 * 4);
  });
}

/**
 * Cross-entropy loss of each row into `losses` `[rows]`, as
 * src/ops/loss.ts's `rowLoss` (PyTorch's special values and label
 * smoothing), formed in float64 from {@linkcode wasmCrossEntropyStats}.
 * `targets[r]` is the class of row r, or -1 for an ignored row (loss 0);
 * targets must already be checked. Returns false when the reference must run.
 *
 * @example
 * ```ts
 * import { wasmCrossEntropyLosses } from "./rows.ts";
 * const losses = new Float32Array(1);
 * wasmCrossEntropyLosses(new Float32Array([0, 0]), 1, 2, new Int32Array([0]), 0, losses);
 * console.log(losses[0]); // ≈ 0.693147
 * ```
 */
export function wasmCrossEntropyLosses(
  x: Float32Array,
  rows: number,
  cols: number,
  targets: Int32Array,
  smoothing: number,
  losses: Float32Array,
): boolean {
  const stats = new Float32Array(rows * 4);
  if (!wasmCrossEntropyStats(x, rows, cols, stats)) return false;
  for (let r = 0; r < rows; r++) {
    const t = targets[r];
    if (t < 0) {
      losses[r] = 0;
      continue;
    }
    const max = stats[4 * r], total = stats[4 * r + 1], sum = stats[4 * r + 3];
    if (stats[4 * r + 2] !== 0) {
      losses[r] = NaN;
      continue;
    }
    const v = x[r * cols + t];
    const lse = max + Math.log(total);
    const nll = v === -Infinity ? Infinity : lse - v;
    losses[r] = smoothing === 0
      ? nll
      : (1 - smoothing) * nll + (smoothing / cols) * (cols * lse - sum);
  }
  return true;
}

/**
 * The cross-entropy gradient of the logits `x` `[rows, cols]` into `out`:
 * per row `w[r] * ((p - (j == t[r] ? 1 - s : 0)) - s / cols)` with p the
 * row's softmax (NaN throughout when the row holds a NaN or +inf) and s the
 * label smoothing; `targets[r]` = -1 marks no target (pass weight 0 for an
 * ignored row). Returns false when the reference must run.
 *
 * @example
 * ```ts
 * import { wasmCrossEntropyGrad } from "./rows.ts";
 * const out = new Float32Array(2);
 * wasmCrossEntropyGrad(new Float32Array([0, 0]), 1, 2, new Int32Array([0]), new Float32Array([1]), 0, out);
 * console.log(out); // [-0.5, 0.5]
 * ```
 */
export function wasmCrossEntropyGrad(
  x: Float32Array,
  rows: number,
  cols: number,
  targets: Int32Array,
  weights: Float32Array,
  smoothing: number,
  out: Float32Array,
): boolean {
  const k = kernels();
  if (k === null) return false;
  const eps = Math.fround(smoothing);
  const hit = Math.fround(1 - eps);
  const off = Math.fround(eps / cols);
  return blocked(k, rows, cols, [x], [out], (block) => block * 8, ([s, o], extra, r0, n) => {
    const buffer = k.memory.buffer;
    new Float32Array(buffer, extra, n).set(weights.subarray(r0, r0 + n));
    new Int32Array(buffer, extra + n * 4, n).set(targets.subarray(r0, r0 + n));
    k.rows.ceBackward(s, o, n, cols, extra, extra + n * 4, hit, off);
  });
}

/**
 * Layer norm backward per row of `cols` (src/ops/layer_norm.ts's rule): `dx`
 * and `g * xhat` from x, the weight w `[cols]` and the output's gradient g.
 * Returns false when the reference must run.
 *
 * @example
 * ```ts
 * import { wasmLayerNormBackward } from "./rows.ts";
 * const dx = new Float32Array(2), gxhat = new Float32Array(2);
 * const x = new Float32Array([1, 3]), w = new Float32Array([1, 1]);
 * wasmLayerNormBackward(x, w, new Float32Array([1, 0]), dx, gxhat, 2, 1e-5);
 * console.log(gxhat); // ≈ [-1, 0]
 * ```
 */
export function wasmLayerNormBackward(
  x: Float32Array,
  w: Float32Array,
  g: Float32Array,
  dx: Float32Array,
  gxhat: Float32Array,
  cols: number,
  eps: number,
): boolean {
  const k = kernels();
  if (k === null) return false;
  const rows = cols === 0 ? 0 : x.length / cols;
  const e = Math.fround(eps);
  return blocked(
    k,
    rows,
    cols,
    [x, g],
    [dx, gxhat],
    () => cols * 4,
    ([px, pg, pd, pgx], pw, _r0, n) => {
      new Float32Array(k.memory.buffer, pw, cols).set(w);
      k.rows.layerNormBackward(px, pw, pg, pd, pgx, n, cols, e);
    },
  );
}
