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
/** Bytes at the start of memory kept for a partial tile's staging. */
export const SCRATCH_BYTES = 1024;

/** Renders the whole module. */
export function renderWat(mr = MATMUL_MR, nv = MATMUL_NV): string {
  const kernels: string[] = [];
  for (let rows = 1; rows <= mr; rows++) kernels.push(microKernel(rows, nv));
  return [
    "(module",
    '  (memory (export "memory") 1 65536)',
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
  const body: string[] = [];
  for (let v = 0; v < nv; v++) {
    body.push(`(local.set $b${v} (v128.load offset=${16 * v} (local.get $pb)))`);
  }
  for (let r = 0; r < rows; r++) {
    body.push(`(local.set $a (v128.load64_splat offset=${8 * r} (local.get $pa)))`);
    for (let v = 0; v < nv; v++) {
      body.push(
        `(local.set ${acc(r, v)} (f64x2.add (local.get ${acc(r, v)}) ` +
          `(f64x2.mul (local.get $a) (local.get $b${v}))))`,
      );
    }
  }
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
    (if (i32.gt_s (local.get $k) (i32.const 0))
      (then
        (loop $k_loop
          ${body.join("\n          ")}
          (local.set $pa (i32.add (local.get $pa) (i32.const ${8 * rows})))
          (local.set $pb (i32.add (local.get $pb) (i32.const ${8 * nr})))
          (local.set $k (i32.sub (local.get $k) (i32.const 1)))
          (br_if $k_loop (i32.gt_s (local.get $k) (i32.const 0))))))
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
