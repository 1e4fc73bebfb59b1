/**
 * The WebAssembly text of Tessera's CPU kernels (src/cpu/), as a pure
 * function so that the staleness test can render it without the assembler.
 * `scripts/gen_wasm.ts` assembles it and embeds the bytes.
 *
 * Matmul micro-kernels accumulate in f64x2 lanes, one output per lane, k in
 * ascending order from +0: exactly the TypeScript reference's `acc += a * b`
 * on JavaScript numbers (an f32 * f32 product is exact in f64), so the fast
 * path gives the reference's bits. Rows are unrolled here at generation time
 * (registers cannot be indexed); the loop over k stays a loop.
 *
 * @module
 */

/** Rows of one full micro-kernel tile. */
export const MATMUL_MR = 4;
/** f64x2 vectors per tile row: a tile is MATMUL_MR x (2 * MATMUL_NV) outputs. */
export const MATMUL_NV = 2;
/** f64x2 accumulators of `gemv_n` (2 * this many adjacent columns per strip). */
export const GEMV_N_VECTORS = 8;
/** f64x2 accumulators of `gemv_t` (2 * this many rows of the weight per pass). */
export const GEMV_T_VECTORS = 4;
/** Bytes at the start of memory kept for a partial tile's staging. */
export const SCRATCH_BYTES = 1024;

/**
 * Renders the whole module. `shared`: the variant for worker threads, which
 * imports one shared memory (`env.memory`) instead of exporting its own.
 */
export function renderWat(mr = MATMUL_MR, nv = MATMUL_NV, shared = false): string {
  const kernels: string[] = [];
  for (let rows = 1; rows <= mr; rows++) kernels.push(microKernel(rows, nv));
  kernels.push(gemvN(GEMV_N_VECTORS), gemvT(GEMV_T_VECTORS), layerNorm());
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
 * for one packed A panel (k steps of `rows` f64) and one packed B panel (k
 * steps of nr = 2 * nv f64, zero padded); C rows are `ldc` bytes apart.
 * Only the first `nvalid` columns are written (a partial tile is staged at
 * address 0 and copied).
 */
function microKernel(rows: number, nv: number): string {
  const nr = 2 * nv;
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
        `(local.set $b${v} (v128.load offset=${16 * v + 8 * nr * step} (local.get $pb)))`,
      );
    }
    for (let r = 0; r < rows; r++) {
      out.push(
        `(local.set $a (v128.load64_splat offset=${8 * r + 8 * rows * step} (local.get $pa)))`,
      );
      for (let v = 0; v < nv; v++) {
        out.push(
          `(local.set ${acc(r, v)} (f64x2.add (local.get ${acc(r, v)}) ` +
            `(f64x2.mul (local.get $a) (local.get $b${v}))))`,
        );
      }
    }
    return out;
  };
  const body = [...kStep(0), ...kStep(1)];
  const single = kStep(0);
  const stores: string[] = [];
  const f32 = (r: number, v: number) => `(f32x4.demote_f64x2_zero (local.get ${acc(r, v)}))`;
  for (let r = 0; r < rows; r++) {
    const row = `(i32.add (local.get $dst) (i32.mul (local.get $ld) (i32.const ${r})))`;
    for (let v = 0; v + 1 < nv; v += 2) {
      stores.push(
        `(v128.store offset=${8 * v} ${row} (f32x4.mul (local.get $al) ` +
          `(i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 ${f32(r, v)} ${f32(r, v + 1)})))`,
      );
    }
    if (nv % 2 === 1) {
      stores.push(
        `(v128.store64_lane offset=${8 * (nv - 1)} 0 ${row} ` +
          `(f32x4.mul (local.get $al) ${f32(r, nv - 1)}))`,
      );
    }
  }
  return `
  (func $mk${rows} (export "mk${rows}")
    (param $pa i32) (param $pb i32) (param $k i32) (param $c i32) (param $ldc i32)
    (param $alpha f32) (param $nvalid i32)
    (local $a v128) (local $al v128) (local $dst i32) (local $ld i32) (local $r i32) (local $j i32)
    ${locals.join(" ")}
    (if (i32.gt_s (local.get $k) (i32.const 1))
      (then
        (loop $k_loop
          ${body.join("\n          ")}
          (local.set $pa (i32.add (local.get $pa) (i32.const ${16 * rows})))
          (local.set $pb (i32.add (local.get $pb) (i32.const ${16 * nr})))
          (local.set $k (i32.sub (local.get $k) (i32.const 2)))
          (br_if $k_loop (i32.gt_s (local.get $k) (i32.const 1))))))
    (if (i32.eq (local.get $k) (i32.const 1))
      (then
        ${single.join("\n        ")}))
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

const get = (name: string) => `(local.get $${name})`;
const set = (name: string, value: string) => `(local.set $${name} ${value})`;
const add = (a: string, b: string) => `(i32.add ${a} ${b})`;
const i32 = (n: number) => `(i32.const ${n})`;
const zeros = "(v128.const f64x2 0 0)";
/** x[k] as f64 in both lanes. */
const splatX = "(f64x2.splat (f64.promote_f32 (f32.load (local.get $xp))))";

/**
 * Scalar tail shared by both vector kernels: outputs `n .. N - 1`, each the
 * same ascending-k f64 sum, reading B at `b + n * colStep + k * kStep`.
 */
function scalarTail(colStep: string, kStep: string): string {
  return `
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_s (local.get $n) (local.get $N)))
        ${set("p", add(get("b"), `(i32.mul (local.get $n) ${colStep})`))}
        ${set("xp", get("x"))}
        ${set("s", "(f64.const 0)")}
        ${set("k", get("K"))}
        (block $k_done
          (loop $k_loop
            (br_if $k_done (i32.le_s (local.get $k) (i32.const 0)))
            ${
    set(
      "s",
      "(f64.add (local.get $s) (f64.mul (f64.promote_f32 (f32.load (local.get $xp))) " +
        "(f64.promote_f32 (f32.load (local.get $p)))))",
    )
  }
            ${set("xp", add(get("xp"), i32(4)))}
            ${set("p", add(get("p"), kStep))}
            ${set("k", "(i32.sub (local.get $k) (i32.const 1))")}
            (br $k_loop)))
        (f32.store (i32.add (local.get $c) (i32.shl (local.get $n) (i32.const 2)))
          (f32.mul (local.get $alpha) (f32.demote_f64 (local.get $s))))
        ${set("n", add(get("n"), i32(1)))}
        (br $tail)))`;
}

/**
 * `gemv_n(x, b, K, N, ldb, c, alpha)`: c[n] = alpha * sum_k x[k] * B[k, n]
 * for one row x (K f32) and B (K rows, `ldb` bytes apart, f32), no packing:
 * strips of 2 * nv adjacent columns, one f64 lane per output, then a scalar
 * tail.
 */
function gemvN(nv: number): string {
  const accs = Array.from({ length: nv }, (_, v) => `$acc${v}`);
  const width = 2 * nv;
  const inner = accs.map((acc, v) =>
    `(local.set ${acc} (f64x2.add (local.get ${acc}) (f64x2.mul (local.get $xv) ` +
    `(f64x2.promote_low_f32x4 (v128.load64_zero offset=${8 * v} (local.get $p))))))`
  );
  const stores = accs.map((acc, v) =>
    `(v128.store64_lane offset=${8 * v} 0 (local.get $cp) (f32x4.mul (local.get $al) ` +
    `(f32x4.demote_f64x2_zero (local.get ${acc}))))`
  );
  return `
  (func $gemv_n (export "gemv_n")
    (param $x i32) (param $b i32) (param $K i32) (param $N i32) (param $ldb i32) (param $c i32)
    (param $alpha f32)
    (local $n i32) (local $k i32) (local $p i32) (local $xp i32) (local $cp i32) (local $s f64)
    (local $xv v128) (local $al v128) ${accs.map((a) => `(local ${a} v128)`).join(" ")}
    ${set("al", "(f32x4.splat (local.get $alpha))")}
    (block $strips_done
      (loop $strips
        (br_if $strips_done (i32.gt_s (i32.add (local.get $n) (i32.const ${width})) (local.get $N)))
        ${accs.map((a) => `(local.set ${a} ${zeros})`).join(" ")}
        ${set("p", add(get("b"), "(i32.shl (local.get $n) (i32.const 2))"))}
        ${set("xp", get("x"))}
        ${set("k", get("K"))}
        (block $k_done
          (loop $k_loop
            (br_if $k_done (i32.le_s (local.get $k) (i32.const 0)))
            ${set("xv", splatX)}
            ${inner.join("\n            ")}
            ${set("xp", add(get("xp"), i32(4)))}
            ${set("p", add(get("p"), get("ldb")))}
            ${set("k", "(i32.sub (local.get $k) (i32.const 1))")}
            (br $k_loop)))
        ${set("cp", add(get("c"), "(i32.shl (local.get $n) (i32.const 2))"))}
        ${stores.join("\n        ")}
        ${set("n", add(get("n"), i32(width)))}
        (br $strips)))
    ${scalarTail(i32(4), get("ldb"))}
  )`;
}

/**
 * `gemv_t(x, b, K, N, ldb, c, alpha)`: c[n] = alpha * sum_k x[k] * W[n, k]
 * for one row x and W's rows `ldb` bytes apart (a linear layer's weight),
 * no packing: 2 * nv rows at a time, lane pairs gathered from two rows.
 */
function gemvT(nv: number): string {
  const rows = 2 * nv;
  const accs = Array.from({ length: nv }, (_, v) => `$acc${v}`);
  const row = (i: number) => (i === 0 ? get("p") : add(get("p"), get(`o${i}`)));
  const inner = accs.map((acc, v) =>
    `(local.set ${acc} (f64x2.add (local.get ${acc}) (f64x2.mul (local.get $xv) ` +
    `(f64x2.promote_low_f32x4 (v128.load32_lane 1 ${row(2 * v + 1)} ` +
    `(v128.load32_zero ${row(2 * v)}))))))`
  );
  const stores = accs.map((acc, v) =>
    `(v128.store64_lane offset=${8 * v} 0 (local.get $cp) (f32x4.mul (local.get $al) ` +
    `(f32x4.demote_f64x2_zero (local.get ${acc}))))`
  );
  const offsets = Array.from({ length: rows - 1 }, (_, i) => i + 1);
  return `
  (func $gemv_t (export "gemv_t")
    (param $x i32) (param $b i32) (param $K i32) (param $N i32) (param $ldb i32) (param $c i32)
    (param $alpha f32)
    (local $n i32) (local $k i32) (local $p i32) (local $xp i32) (local $cp i32) (local $s f64)
    (local $xv v128) (local $al v128) ${accs.map((a) => `(local ${a} v128)`).join(" ")}
    ${offsets.map((i) => `(local $o${i} i32)`).join(" ")}
    ${set("al", "(f32x4.splat (local.get $alpha))")}
    ${offsets.map((i) => set(`o${i}`, `(i32.mul (local.get $ldb) ${i32(i)})`)).join(" ")}
    (block $strips_done
      (loop $strips
        (br_if $strips_done (i32.gt_s (i32.add (local.get $n) (i32.const ${rows})) (local.get $N)))
        ${accs.map((a) => `(local.set ${a} ${zeros})`).join(" ")}
        ${set("p", add(get("b"), "(i32.mul (local.get $n) (local.get $ldb))"))}
        ${set("xp", get("x"))}
        ${set("k", get("K"))}
        (block $k_done
          (loop $k_loop
            (br_if $k_done (i32.le_s (local.get $k) (i32.const 0)))
            ${set("xv", splatX)}
            ${inner.join("\n            ")}
            ${set("xp", add(get("xp"), i32(4)))}
            ${set("p", add(get("p"), i32(4)))}
            ${set("k", "(i32.sub (local.get $k) (i32.const 1))")}
            (br $k_loop)))
        ${set("cp", add(get("c"), "(i32.shl (local.get $n) (i32.const 2))"))}
        ${stores.join("\n        ")}
        ${set("n", add(get("n"), i32(rows)))}
        (br $strips)))
    ${scalarTail(get("ldb"), i32(4))}
  )`;
}

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
