/**
 * The WebAssembly text of Tessera's CPU kernels (src/cpu/), as a pure
 * function so that the staleness test can render it without the assembler.
 * `scripts/gen_wasm.ts` assembles it and embeds the bytes.
 *
 * Every kernel computes in f32x4 lanes (four floats per v128) in a fixed
 * order that depends only on the shapes, never on the thread count: a run
 * repeats its bits exactly. The order differs from the TypeScript
 * reference's f64 loops, so results agree with it within float32 tolerance
 * (policy in src/cpu/backend.ts). Rows are unrolled here at generation time
 * (registers cannot be indexed); loops over k stay loops.
 *
 * @module
 */

import { add, get, i32, set } from "./wat.ts";

import { f16Kernels } from "./wasm_wat_f16.ts";
import { fmadd, gemvTKernel, type WeightFormat } from "./wasm_wat_gemv.ts";
import { rowKernels } from "./wasm_wat_rows.ts";

/** Rows of one full micro-kernel tile. */
export const MATMUL_MR = 4;
/** k steps per iteration of a micro-kernel's loop. */
export const MATMUL_KU = 2;
/** f32x4 vectors per tile row: a tile is MATMUL_MR x (4 * MATMUL_NV) outputs. */
export const MATMUL_NV = 2;
/** f32x4 accumulators of `gemv_n` (4 * this many adjacent columns per strip). */
export const GEMV_N_VECTORS = 8;
/** Rows of the weight `gemv_t` takes per pass (one f32x4 accumulator each). */
export const GEMV_T_ROWS = 8;
/** Bytes at the start of memory kept for a partial tile's staging. */
export const SCRATCH_BYTES = 1024;

/**
 * The micro-kernels with fused multiply-adds (`f32x4.relaxed_madd`, relaxed
 * SIMD), as a module of their own that imports the main module's memory
 * (`env.memory`; `shared`: the workers' shared one): runtimes without
 * relaxed SIMD (Node 20) keep the main module's multiply-then-add kernels.
 */
export function renderFmaWat(shared = false): string {
  const kernels: string[] = [];
  for (let rows = 1; rows <= MATMUL_MR; rows++) kernels.push(microKernel(rows, MATMUL_NV, true));
  return [
    "(module",
    `  (import "env" "memory" (memory 1 65536${shared ? " shared" : ""}))`,
    ...kernels,
    ")",
    "",
  ].join("\n");
}

/**
 * Every text `deno task gen:wasm` assembles, in one string: what the
 * generated module's hash covers.
 */
export function renderAllWat(): string {
  return renderWat() + renderWat(MATMUL_MR, MATMUL_NV, true) + renderFmaWat() +
    renderFmaWat(true);
}

/**
 * Renders the whole module. `shared`: the variant for worker threads, which
 * imports one shared memory (`env.memory`) instead of exporting its own.
 */
export function renderWat(mr = MATMUL_MR, nv = MATMUL_NV, shared = false): string {
  const kernels: string[] = [];
  for (let rows = 1; rows <= mr; rows++) kernels.push(microKernel(rows, nv));
  kernels.push(gemvN(GEMV_N_VECTORS), gemvTKernel("gemv_t", GEMV_T_ROWS, F32_WEIGHTS), layerNorm());
  kernels.push(...rowKernels());
  kernels.push(...f16Kernels());
  return [
    "(module",
    shared
      ? '  (import "env" "memory" (memory 1 65536 shared))'
      : '  (memory (export "memory") 1 65536)',
    ...kernels,
    ")",
    "",
  ].join("\n");
}

/**
 * `mk<rows>(pa, pb, k, c, ldc, alpha, nvalid)`: C[rows, nr] = alpha * (A @ B)
 * for one packed A panel (k steps of `rows` f32) and one packed B panel (k
 * steps of nr = 4 * nv f32, zero padded); C rows are `ldc` bytes apart.
 * Only the first `nvalid` columns are written (a partial tile is staged at
 * address 0 and copied).
 */
function microKernel(rows: number, nv: number, fma = false): string {
  const nr = 4 * nv;
  const acc = (r: number, v: number) => `$acc${r}_${v}`;
  const locals: string[] = [];
  for (let r = 0; r < rows; r++) {
    for (let v = 0; v < nv; v++) locals.push(`(local ${acc(r, v)} v128)`);
  }
  for (let v = 0; v < nv; v++) locals.push(`(local $b${v} v128)`);
  // One k step; `step` selects the step within an unrolled pair.
  const kStep = (step: number): string[] => {
    const out: string[] = [];
    for (let v = 0; v < nv; v++) {
      out.push(
        `(local.set $b${v} (v128.load offset=${16 * v + 4 * nr * step} (local.get $pb)))`,
      );
    }
    for (let r = 0; r < rows; r++) {
      out.push(
        `(local.set $a (v128.load32_splat offset=${4 * r + 4 * rows * step} (local.get $pa)))`,
      );
      for (let v = 0; v < nv; v++) {
        out.push(
          fma
            ? `(local.set ${acc(r, v)} (f32x4.relaxed_madd (local.get $a) (local.get $b${v}) ` +
              `(local.get ${acc(r, v)})))`
            : `(local.set ${acc(r, v)} (f32x4.add (local.get ${acc(r, v)}) ` +
              `(f32x4.mul (local.get $a) (local.get $b${v}))))`,
        );
      }
    }
    return out;
  };
  const body = Array.from({ length: MATMUL_KU }, (_, step) => kStep(step)).flat();
  const single = kStep(0);
  const stores: string[] = [];
  for (let r = 0; r < rows; r++) {
    const row = `(i32.add (local.get $dst) (i32.mul (local.get $ld) (i32.const ${r})))`;
    for (let v = 0; v < nv; v++) {
      stores.push(
        `(v128.store offset=${16 * v} ${row} (f32x4.mul (local.get $al) (local.get ${acc(r, v)})))`,
      );
    }
  }
  return `
  (func $mk${rows} (export "mk${rows}")
    (param $pa i32) (param $pb i32) (param $k i32) (param $c i32) (param $ldc i32)
    (param $alpha f32) (param $nvalid i32)
    (local $a v128) (local $al v128) (local $dst i32) (local $ld i32) (local $r i32) (local $j i32)
    ${locals.join(" ")}
    (if (i32.ge_s (local.get $k) (i32.const ${MATMUL_KU}))
      (then
        (loop $k_loop
          ${body.join("\n          ")}
          (local.set $pa (i32.add (local.get $pa) (i32.const ${4 * rows * MATMUL_KU})))
          (local.set $pb (i32.add (local.get $pb) (i32.const ${4 * nr * MATMUL_KU})))
          (local.set $k (i32.sub (local.get $k) (i32.const ${MATMUL_KU})))
          (br_if $k_loop (i32.ge_s (local.get $k) (i32.const ${MATMUL_KU}))))))
    (block $k_tail_done
      (loop $k_tail
        (br_if $k_tail_done (i32.le_s (local.get $k) (i32.const 0)))
        ${single.join("\n        ")}
        (local.set $pa (i32.add (local.get $pa) (i32.const ${4 * rows})))
        (local.set $pb (i32.add (local.get $pb) (i32.const ${4 * nr})))
        (local.set $k (i32.sub (local.get $k) (i32.const 1)))
        (br $k_tail)))
    (local.set $al (f32x4.splat (local.get $alpha)))
    (local.set $dst (local.get $c))
    (local.set $ld (local.get $ldc))
    (if (i32.lt_s (local.get $nvalid) (i32.const ${nr}))
      (then
        (local.set $dst (i32.const 0))
        (local.set $ld (i32.const ${4 * nr}))))
    ${stores.join("\n    ")}
    (if (i32.lt_s (local.get $nvalid) (i32.const ${nr}))
      (then
        (local.set $r (i32.const 0))
        (loop $rows
          (local.set $j (i32.const 0))
          (loop $cols
            (f32.store
              (i32.add (i32.mul (local.get $r) (local.get $ldc))
                (i32.add (local.get $c) (i32.shl (local.get $j) (i32.const 2))))
              (f32.load
                (i32.add (i32.mul (local.get $r) (i32.const ${4 * nr}))
                  (i32.shl (local.get $j) (i32.const 2)))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br_if $cols (i32.lt_s (local.get $j) (local.get $nvalid))))
          (local.set $r (i32.add (local.get $r) (i32.const 1)))
          (br_if $rows (i32.lt_s (local.get $r) (i32.const ${rows}))))))
  )`;
}

const zeros = "(v128.const f64x2 0 0)";

/**
 * `gemv_n(x, b, K, N, ldb, c, alpha)`: c[n] = alpha * sum_k x[k] * B[k, n]
 * for one row x (K f32) and B (K rows, `ldb` bytes apart, f32), no packing:
 * strips of 4 * nv adjacent columns (one f32 lane per output, k ascending),
 * then strips of 4, then single columns in the same order.
 */
function gemvN(nv: number): string {
  const accs = Array.from({ length: nv }, (_, v) => `$acc${v}`);
  const strip = (name: string, count: number, lanes: "v128" | "f32") => {
    const width = lanes === "v128" ? 4 * count : 1;
    const used = accs.slice(0, count);
    const load = (v: number) =>
      lanes === "v128"
        ? `(v128.load offset=${16 * v} (local.get $p))`
        : "(f32x4.splat (f32.load (local.get $p)))";
    const store = (v: number) =>
      lanes === "v128"
        ? `(v128.store offset=${16 * v} (local.get $cp) (f32x4.mul (local.get $al) ` +
          `(local.get ${used[v]})))`
        : `(f32.store (local.get $cp) (f32x4.extract_lane 0 (f32x4.mul (local.get $al) ` +
          `(local.get ${used[v]}))))`;
    return `
    (block $${name}_done
      (loop $${name}
        (br_if $${name}_done (i32.gt_s (i32.add (local.get $n) (i32.const ${width})) (local.get $N)))
        ${used.map((a) => `(local.set ${a} ${zeros})`).join(" ")}
        ${set("p", add(get("b"), "(i32.shl (local.get $n) (i32.const 2))"))}
        ${set("xp", get("x"))}
        ${set("k", get("K"))}
        (block $${name}_k_done
          (loop $${name}_k
            (br_if $${name}_k_done (i32.le_s (local.get $k) (i32.const 0)))
            ${set("xv", "(v128.load32_splat (local.get $xp))")}
            ${used.map((a, v) => fmadd(a, get("xv"), load(v))).join("\n            ")}
            ${set("xp", add(get("xp"), i32(4)))}
            ${set("p", add(get("p"), get("ldb")))}
            ${set("k", "(i32.sub (local.get $k) (i32.const 1))")}
            (br $${name}_k)))
        ${set("cp", add(get("c"), "(i32.shl (local.get $n) (i32.const 2))"))}
        ${used.map((_, v) => store(v)).join("\n        ")}
        ${set("n", add(get("n"), i32(width)))}
        (br $${name})))`;
  };
  return `
  (func $gemv_n (export "gemv_n")
    (param $x i32) (param $b i32) (param $K i32) (param $N i32) (param $ldb i32) (param $c i32)
    (param $alpha f32)
    (local $n i32) (local $k i32) (local $p i32) (local $xp i32) (local $cp i32)
    (local $xv v128) (local $al v128) ${accs.map((a) => `(local ${a} v128)`).join(" ")}
    ${set("al", "(f32x4.splat (local.get $alpha))")}
    ${strip("wide", nv, "v128")}
    ${strip("quad", 1, "v128")}
    ${strip("single", 1, "f32")}
  )`;
}

/**
 * float32 weights for {@linkcode gemvTKernel}: `gemv_t`.
 *
 * @example
 * ```ts
 * import { F32_WEIGHTS } from "./wasm_wat.ts";
 * console.log(F32_WEIGHTS.bytes); // 4
 * ```
 */
export const F32_WEIGHTS: WeightFormat = {
  bytes: 4,
  locals: "",
  setup: "",
  accumulate: (acc, ptr, count) =>
    fmadd(acc, get("x0"), `(v128.load ${ptr})`) +
    (count === 8 ? " " + fmadd(acc, get("x1"), `(v128.load offset=16 ${ptr})`) : ""),
  scalar: (ptr) => ({ stmts: "", value: `(f32.load ${ptr})` }),
};

/**
 * `layer_norm(x, w, b, out, rows, cols, eps)`: the reference's layer norm
 * (src/ops/layer_norm.ts) with two rows in the two f64 lanes: sum, mean,
 * centred sum of squares and `1 / sqrt(sq / cols + eps)` in the same order,
 * then `w * ((x - mean) * rstd) + b` rounded once. An odd last row fills
 * both lanes (it stores the same value twice).
 */
function layerNorm(): string {
  const xv = "(f64x2.promote_low_f32x4 (v128.load32_lane 1 (i32.add (local.get $p1) " +
    "(local.get $j4)) (v128.load32_zero (i32.add (local.get $p0) (local.get $j4)))))";
  const loopCols = (name: string, body: string[]) => `
    ${set("j4", i32(0))}
    (block $${name}_done
      (loop $${name}
        (br_if $${name}_done (i32.ge_s (local.get $j4) (local.get $rowBytes)))
        ${body.join("\n        ")}
        ${set("j4", add(get("j4"), i32(4)))}
        (br $${name})))`;
  const splatF32 = (ptr: string) =>
    `(f64x2.splat (f64.promote_f32 (f32.load (i32.add (local.get $${ptr}) (local.get $j4)))))`;
  return `
  (func $layer_norm (export "layer_norm")
    (param $x i32) (param $w i32) (param $b i32) (param $out i32) (param $rows i32)
    (param $cols i32) (param $eps f64)
    (local $r i32) (local $j4 i32) (local $rowBytes i32) (local $p0 i32) (local $p1 i32)
    (local $q0 i32) (local $q1 i32)
    (local $n v128) (local $sum v128) (local $mean v128) (local $sq v128) (local $rstd v128)
    (local $c v128) (local $f v128)
    ${set("rowBytes", "(i32.shl (local.get $cols) (i32.const 2))")}
    ${set("n", "(f64x2.splat (f64.convert_i32_s (local.get $cols)))")}
    (block $rows_done
      (loop $rows
        (br_if $rows_done (i32.ge_s (local.get $r) (local.get $rows)))
        ${set("p0", add(get("x"), "(i32.mul (local.get $r) (local.get $rowBytes))"))}
        ${set("q0", add(get("out"), "(i32.mul (local.get $r) (local.get $rowBytes))"))}
        ${set("p1", get("p0"))}
        ${set("q1", get("q0"))}
        (if (i32.lt_s (i32.add (local.get $r) (i32.const 1)) (local.get $rows))
          (then
            ${set("p1", add(get("p0"), get("rowBytes")))}
            ${set("q1", add(get("q0"), get("rowBytes")))}))
        ${set("sum", zeros)}
        ${loopCols("sum", [set("sum", `(f64x2.add (local.get $sum) ${xv})`)])}
        ${set("mean", "(f64x2.div (local.get $sum) (local.get $n))")}
        ${set("sq", zeros)}
        ${
    loopCols("sq", [
      set("c", `(f64x2.sub ${xv} (local.get $mean))`),
      set("sq", "(f64x2.add (local.get $sq) (f64x2.mul (local.get $c) (local.get $c)))"),
    ])
  }
        ${
    set(
      "rstd",
      "(f64x2.div (f64x2.splat (f64.const 1)) (f64x2.sqrt (f64x2.add " +
        "(f64x2.div (local.get $sq) (local.get $n)) (f64x2.splat (local.get $eps)))))",
    )
  }
        ${
    loopCols("norm", [
      set("c", `(f64x2.mul (f64x2.sub ${xv} (local.get $mean)) (local.get $rstd))`),
      set("c", `(f64x2.add (f64x2.mul ${splatF32("w")} (local.get $c)) ${splatF32("b")})`),
      set("f", "(f32x4.demote_f64x2_zero (local.get $c))"),
      "(v128.store32_lane 0 (i32.add (local.get $q0) (local.get $j4)) (local.get $f))",
      "(v128.store32_lane 1 (i32.add (local.get $q1) (local.get $j4)) (local.get $f))",
    ])
  }
        ${set("r", add(get("r"), i32(2)))}
        (br $rows)))
  )`;
}
