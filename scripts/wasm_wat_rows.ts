/**
 * The WebAssembly text of the cpu device's row kernels (softmax, logSoftmax
 * and their backward rules, GELU with the tanh approximation and its
 * gradient, cross-entropy statistics and gradient), as pure functions that
 * `renderWat` (scripts/wasm_wat.ts) appends to the module.
 *
 * Policy (src/cpu/backend.ts): f32x4 lanes, 4 adjacent columns per lane
 * group, a scalar tail per row, and reductions in a fixed order (lanes
 * first, then `(l0 + l1) + (l2 + l3)`, then the tail), so results do not
 * depend on the thread count; they agree with the TypeScript reference within
 * float32 tolerances, with the reference's NaN and infinity rules.
 *
 * WebAssembly has no exp or tanh: `$exp4` reduces `x = n ln2 + r` with a
 * Cody-Waite split of ln2, evaluates Cephes' degree-6 polynomial and scales
 * by 2^n built from exponent bits in two steps (so subnormal results and
 * n = 128 work); `$tanh4` uses an odd polynomial below 0.625 and
 * `1 - 2 / (e^2|x| + 1)` above, with the sign copied back (tanh(-0) = -0).
 *
 * @module
 */

/** The float32 bits of `v` as a signed 32-bit integer. */
function f32Bits(v: number): number {
  return new Int32Array(new Float32Array([v]).buffer)[0];
}

/** An f32x4 constant with `v` (rounded to float32) in every lane, exact through its bits. */
function splat(v: number): string {
  const b = f32Bits(v);
  return `(v128.const i32x4 ${b} ${b} ${b} ${b})`;
}

/** A scalar f32 constant, exact through its bits. */
function f32c(v: number): string {
  return `(f32.reinterpret_i32 (i32.const ${f32Bits(v)}))`;
}

const get = (name: string) => `(local.get $${name})`;
const set = (name: string, value: string) => `(local.set $${name} ${value})`;
const at = (ptr: string) => `(i32.add (local.get $${ptr}) (local.get $j4))`;
const op = (name: string, ...args: string[]) => `(${name} ${args.join(" ")})`;
const mul = (a: string, b: string) => op("f32x4.mul", a, b);
const add = (a: string, b: string) => op("f32x4.add", a, b);
const sub = (a: string, b: string) => op("f32x4.sub", a, b);

const FLT_MAX = 3.4028234663852886e38;
const ALL = "(v128.const i32x4 -1 -1 -1 -1)";
const LANE0 = "(v128.const i32x4 -1 0 0 0)";
const ZERO = "(v128.const i32x4 0 0 0 0)";
const INF = splat(Infinity);

/**
 * Loads, stores and the live-lane mask of one step of a row pass: a whole
 * f32x4 in the vector loop; one column splatted to every lane in the tail
 * (so maxima and flags need no mask; sums `and` with `keep`).
 */
interface Access {
  load(ptr: string): string;
  store(ptr: string, value: string): string;
  keep: string;
  /** The columns of the lanes, as i32x4. */
  col: string;
}

const VECTOR: Access = {
  load: (ptr) => `(v128.load ${at(ptr)})`,
  store: (ptr, value) => `(v128.store ${at(ptr)} ${value})`,
  keep: ALL,
  col: "(i32x4.add (i32x4.splat (i32.shr_u (local.get $j4) (i32.const 2))) " +
    "(v128.const i32x4 0 1 2 3))",
};

const TAIL: Access = {
  load: (ptr) => `(v128.load32_splat ${at(ptr)})`,
  store: (ptr, value) => `(v128.store32_lane 0 ${at(ptr)} ${value})`,
  keep: LANE0,
  col: "(i32x4.splat (i32.shr_u (local.get $j4) (i32.const 2)))",
};

/**
 * One pass over a row: `$j4` (the byte offset in the row) steps 16 bytes
 * while 4 columns remain, then 4 bytes through the tail. Needs the locals
 * `$j4`, `$vecBytes` and `$rowBytes`.
 */
function pass(name: string, body: (a: Access) => string[]): string {
  return `
        ${set("j4", "(i32.const 0)")}
        (block $${name}_vdone
          (loop $${name}_v
            (br_if $${name}_vdone (i32.ge_u (local.get $j4) (local.get $vecBytes)))
            ${body(VECTOR).join("\n            ")}
            ${set("j4", "(i32.add (local.get $j4) (i32.const 16))")}
            (br $${name}_v)))
        (block $${name}_tdone
          (loop $${name}_t
            (br_if $${name}_tdone (i32.ge_u (local.get $j4) (local.get $rowBytes)))
            ${body(TAIL).join("\n            ")}
            ${set("j4", "(i32.add (local.get $j4) (i32.const 4))")}
            (br $${name}_t)))`;
}

/** The loop over rows: sets `$p<i>` to row r of each pointer parameter, runs `body`. */
function rowLoop(pointers: string[], body: string): string {
  return `
    ${set("rowBytes", "(i32.shl (local.get $cols) (i32.const 2))")}
    ${set("vecBytes", "(i32.and (local.get $rowBytes) (i32.const -16))")}
    ${set("r", "(i32.const 0)")}
    (block $rows_done
      (loop $rows
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $rows)))
        ${
    pointers.map((p) =>
      set(`${p}`, `(i32.add (local.get $${p}0) (i32.mul (local.get $r) (local.get $rowBytes)))`)
    ).join("\n        ")
  }
        (block $row_done
          ${body})
        ${set("r", "(i32.add (local.get $r) (i32.const 1))")}
        (br $rows)))`;
}

/** `(l0 + l1) + (l2 + l3)` of an f32x4. */
function hsum(v: string): string {
  const lane = (i: number) => `(f32x4.extract_lane ${i} ${v})`;
  return `(f32.add (f32.add ${lane(0)} ${lane(1)}) (f32.add ${lane(2)} ${lane(3)}))`;
}

/** The largest lane of an f32x4 (no NaN lanes). */
function hmax(v: string): string {
  const lane = (i: number) => `(f32x4.extract_lane ${i} ${v})`;
  return `(f32.max (f32.max ${lane(0)} ${lane(1)}) (f32.max ${lane(2)} ${lane(3)}))`;
}

/** Lanes that are finite (not NaN, not +-Infinity): all ones there. */
const finite = (v: string) => `(f32x4.lt (f32x4.abs ${v}) ${INF})`;
/** Lanes that are NaN or +Infinity (the reference's whole-row NaN cases). */
const special = (v: string) => `(v128.or (f32x4.ne ${v} ${v}) (f32x4.eq ${v} ${INF}))`;

/**
 * `$exp4(x)`: e^x per lane, within 2 ulp of `Math.fround(Math.exp(x))`
 * (measured in tests/cpu_rows_test.ts); e^-inf = 0, e^inf = inf, NaN stays
 * NaN (wasm's min and max propagate NaN), overflow gives inf and underflow
 * subnormals or 0.
 */
function exp4(): string {
  const poly = [1.98756915e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1];
  let p = splat(poly[0]);
  for (const c of poly.slice(1)) p = add(mul(p, get("r")), splat(c));
  p = add(mul(p, get("r")), splat(5.0000001201e-1));
  const pow2 = (n: string) =>
    `(i32x4.shl (i32x4.add ${n} (v128.const i32x4 127 127 127 127)) (i32.const 23))`;
  return `
  (func $exp4 (param $x v128) (result v128)
    (local $n v128) (local $r v128) (local $i v128) (local $h v128)
    ${set("x", op("f32x4.min", op("f32x4.max", get("x"), splat(-104)), splat(89)))}
    ${set("n", op("f32x4.nearest", mul(get("x"), splat(Math.LOG2E))))}
    ${
    set(
      "r",
      sub(sub(get("x"), mul(get("n"), splat(0.693359375))), mul(get("n"), splat(-2.12194440e-4))),
    )
  }
    ${set("r", add(add(mul(mul(p, get("r")), get("r")), get("r")), splat(1)))}
    ${set("i", op("i32x4.trunc_sat_f32x4_s", get("n")))}
    ${set("h", op("i32x4.shr_s", get("i"), "(i32.const 1)"))}
    ${mul(mul(get("r"), pow2(get("h"))), pow2(op("i32x4.sub", get("i"), get("h"))))}
  )`;
}

/** `$tanh4(x)`: tanh per lane, within 2 ulp of `Math.fround(Math.tanh(x))`, tanh(+-0) = +-0. */
function tanh4(): string {
  const poly = [-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1];
  let p = splat(poly[0]);
  for (const c of poly.slice(1)) p = add(mul(p, get("z")), splat(c));
  p = add(mul(p, get("z")), splat(-3.33332819422e-1));
  const small = add(mul(mul(p, get("z")), get("a")), get("a"));
  const e = "(call $exp4 (f32x4.add (local.get $a) (local.get $a)))";
  const big = sub(splat(1), op("f32x4.div", splat(2), add(e, splat(1))));
  return `
  (func $tanh4 (param $x v128) (result v128)
    (local $a v128) (local $z v128)
    ${set("a", op("f32x4.abs", get("x")))}
    ${set("z", mul(get("a"), get("a")))}
    (v128.bitselect
      (v128.bitselect ${small} ${big} (f32x4.lt (local.get $a) ${splat(0.625)}))
      (local.get $x)
      (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff))
  )`;
}

/**
 * `$log64(x)`: the natural log in double precision for x >= 0 (0 gives -inf,
 * NaN and inf pass through): x = 2^k m, m in [sqrt(1/2), sqrt(2)), and
 * log m = 2 atanh(s), s = (m - 1) / (m + 1), to eight terms (|s| < 0.172).
 */
function log64(): string {
  let p = "(f64.const 0.06666666666666667)"; // 1/15
  for (const d of [13, 11, 9, 7, 5, 3, 1]) {
    p = `(f64.add (f64.mul ${p} (local.get $z)) (f64.const ${1 / d}))`;
  }
  return `
  (func $log64 (param $x f64) (result f64)
    (local $b i64) (local $k f64) (local $m f64) (local $s f64) (local $z f64)
    (if (f64.ne (local.get $x) (local.get $x)) (then (return (local.get $x))))
    (if (f64.eq (local.get $x) (f64.const 0)) (then (return (f64.const -inf))))
    (if (f64.eq (local.get $x) (f64.const inf)) (then (return (local.get $x))))
    ${set("b", "(i64.reinterpret_f64 (local.get $x))")}
    ${
    set(
      "k",
      "(f64.convert_i64_s (i64.sub (i64.shr_u (local.get $b) (i64.const 52)) (i64.const 1023)))",
    )
  }
    ${
    set(
      "m",
      "(f64.reinterpret_i64 (i64.or (i64.and (local.get $b) (i64.const 0xfffffffffffff)) " +
        "(i64.const 0x3ff0000000000000)))",
    )
  }
    (if (f64.gt (local.get $m) (f64.const ${Math.SQRT2}))
      (then
        ${set("m", "(f64.mul (local.get $m) (f64.const 0.5))")}
        ${set("k", "(f64.add (local.get $k) (f64.const 1))")}))
    ${
    set(
      "s",
      "(f64.div (f64.sub (local.get $m) (f64.const 1)) (f64.add (local.get $m) (f64.const 1)))",
    )
  }
    ${set("z", "(f64.mul (local.get $s) (local.get $s))")}
    (f64.add (f64.mul (local.get $k) (f64.const ${Math.LN2}))
      (f64.mul (f64.mul (f64.const 2) (local.get $s)) ${p}))
  )`;
}

/** `map_exp(src, out, n)` and `map_tanh(src, out, n)`: for the accuracy tests. */
function maps(): string[] {
  return ["exp", "tanh"].map((name) => `
  (func $map_${name} (export "map_${name}") (param $src0 i32) (param $out0 i32) (param $cols i32)
    (local $r i32) (local $rows i32) (local $j4 i32) (local $rowBytes i32) (local $vecBytes i32)
    (local $src i32) (local $out i32)
    ${set("rows", "(i32.const 1)")}
    ${
    rowLoop(
      ["src", "out"],
      pass("map", (a) => [a.store("out", `(call $${name}4 ${a.load("src")})`)]),
    )
  }
  )`);
}

/** Locals of the row kernels. */
const ROW_LOCALS = "(local $r i32) (local $j4 i32) (local $rowBytes i32) (local $vecBytes i32)";

/**
 * `softmax_rows(src, out, rows, cols, alpha, log)`: src/ops/softmax.ts's
 * `normaliseRow` for contiguous rows: max of `alpha x` over finite x
 * (from -FLT_MAX), a NaN or +inf anywhere makes the row NaN, `-inf` entries
 * weigh 0 (logSoftmax: -inf, or NaN when every entry is -inf), a fully
 * masked softmax row gives zeros. Softmax stores e^(alpha x - max) in the
 * second pass and divides by the total in the third.
 */
function softmaxRows(): string {
  const t = (a: Access) => sub(mul(get("al"), a.load("src")), get("mk"));
  return `
  (func $softmax_rows (export "softmax_rows")
    (param $src0 i32) (param $out0 i32) (param $rows i32) (param $cols i32) (param $alpha f32)
    (param $log i32)
    ${ROW_LOCALS} (local $src i32) (local $out i32)
    (local $al v128) (local $v v128) (local $mx v128) (local $bad v128) (local $sum v128)
    (local $mk v128) (local $fill v128) (local $tot v128) (local $total f32)
    ${set("al", "(f32x4.splat (local.get $alpha))")}
    ${
    rowLoop(
      ["src", "out"],
      `
        ${set("mx", splat(-FLT_MAX))}
        ${set("bad", ZERO)}
        ${
        pass("max", (a) => [
          set("v", a.load("src")),
          set("bad", op("v128.or", get("bad"), special(get("v")))),
          set(
            "mx",
            op(
              "f32x4.max",
              get("mx"),
              op("v128.bitselect", mul(get("al"), get("v")), splat(-FLT_MAX), finite(get("v"))),
            ),
          ),
        ])
      }
        (if (v128.any_true (local.get $bad))
          (then
            ${pass("nan", (a) => [a.store("out", splat(NaN))])}
            (br $row_done)))
        ${set("mk", `(f32x4.splat ${hmax(get("mx"))})`)}
        ${set("sum", ZERO)}
        (if (local.get $log)
          (then
            ${
        pass("lsum", (a) => [
          set("v", a.load("src")),
          set(
            "sum",
            add(
              get("sum"),
              op("v128.and", `(call $exp4 ${t(a)})`, op("v128.and", finite(get("v")), a.keep)),
            ),
          ),
        ])
      })
          (else
            ${
        pass("sum", (a) => [
          set("v", a.load("src")),
          set("v", op("v128.and", `(call $exp4 ${t(a)})`, finite(get("v")))),
          a.store("out", get("v")),
          set("sum", add(get("sum"), op("v128.and", get("v"), a.keep))),
        ])
      }))
        ${set("total", hsum(get("sum")))}
        (if (local.get $log)
          (then
            ${
        set(
          "tot",
          "(f32x4.splat (f32.demote_f64 (call $log64 (f64.promote_f32 (local.get $total)))))",
        )
      }
            ${
        set(
          "fill",
          `(select ${splat(-Infinity)} ${splat(NaN)} ` +
            "(f32.gt (local.get $total) (f32.const 0)))",
        )
      }
            ${
        pass("log", (a) => [
          set("v", a.load("src")),
          a.store(
            "out",
            op("v128.bitselect", sub(t(a), get("tot")), get("fill"), finite(get("v"))),
          ),
        ])
      })
          (else
            ${set("tot", "(f32x4.splat (local.get $total))")}
            ${
        pass("div", (a) => [
          a.store(
            "out",
            op(
              "v128.bitselect",
              op("f32x4.div", a.load("out"), get("tot")),
              ZERO,
              finite(a.load("src")),
            ),
          ),
        ])
      }))`,
    )
  }
  )`;
}

/**
 * `softmax_backward_rows(y, g, out, rows, cols, alpha, log)`: softmax's rule
 * `alpha (y (g - sum(g y)))` with each product rounded as the reference's
 * elementwise kernels do; `log` = 1: logSoftmax's `alpha (g - y sum(g))`
 * with y the softmax (not its log).
 */
function softmaxBackwardRows(): string {
  return `
  (func $softmax_backward_rows (export "softmax_backward_rows")
    (param $y0 i32) (param $g0 i32) (param $out0 i32) (param $rows i32) (param $cols i32)
    (param $alpha f32) (param $log i32)
    ${ROW_LOCALS} (local $y i32) (local $g i32) (local $out i32)
    (local $al v128) (local $sum v128) (local $dot v128)
    ${set("al", "(f32x4.splat (local.get $alpha))")}
    ${
    rowLoop(
      ["y", "g", "out"],
      `
        ${set("sum", ZERO)}
        (if (local.get $log)
          (then
            ${
        pass("gsum", (a) => [
          set("sum", add(get("sum"), op("v128.and", a.load("g"), a.keep))),
        ])
      })
          (else
            ${
        pass("gydot", (a) => [
          set("sum", add(get("sum"), op("v128.and", mul(a.load("g"), a.load("y")), a.keep))),
        ])
      }))
        ${set("dot", `(f32x4.splat ${hsum(get("sum"))})`)}
        (if (local.get $log)
          (then
            ${
        pass("lgrad", (a) => [
          a.store("out", mul(sub(a.load("g"), mul(a.load("y"), get("dot"))), get("al"))),
        ])
      })
          (else
            ${
        pass("grad", (a) => [
          a.store("out", mul(mul(a.load("y"), sub(a.load("g"), get("dot"))), get("al"))),
        ])
      }))`,
    )
  }
  )`;
}

const f = Math.fround;
const GELU_BETA = f(Math.SQRT2 * (2 / Math.sqrt(Math.PI)) * 0.5);
const GELU_KAPPA = f(0.044715);

/**
 * `gelu_tanh(src, out, n)`: `(0.5 x) (1 + tanh(beta (x + kappa x^3)))` with
 * the reference's float32 steps (src/ops/unary_kernels.ts `tanhGelu`).
 */
function geluTanh(): string {
  const x = get("v");
  const cube = mul(mul(x, x), x);
  const inner = mul(splat(GELU_BETA), add(x, mul(splat(GELU_KAPPA), cube)));
  return `
  (func $gelu_tanh (export "gelu_tanh") (param $src0 i32) (param $out0 i32) (param $cols i32)
    ${ROW_LOCALS} (local $rows i32) (local $src i32) (local $out i32) (local $v v128)
    ${set("rows", "(i32.const 1)")}
    ${
    rowLoop(
      ["src", "out"],
      pass("gelu", (a) => [
        set("v", a.load("src")),
        a.store("out", mul(mul(splat(0.5), x), add(splat(1), `(call $tanh4 ${inner})`))),
      ]),
    )
  }
  )`;
}

/** `gelu_tanh_backward(x, g, out, n)`: the reference's `geluTanh` gradient steps. */
function geluTanhBackward(): string {
  const v = get("v");
  return `
  (func $gelu_tanh_backward (export "gelu_tanh_backward")
    (param $x0 i32) (param $g0 i32) (param $out0 i32) (param $cols i32)
    ${ROW_LOCALS} (local $rows i32) (local $x i32) (local $g i32) (local $out i32)
    (local $v v128) (local $sq v128) (local $t v128)
    ${set("rows", "(i32.const 1)")}
    ${
    rowLoop(
      ["x", "g", "out"],
      pass("dgelu", (a) => [
        set("v", a.load("x")),
        set("sq", mul(v, v)),
        set(
          "t",
          `(call $tanh4 ${
            mul(splat(GELU_BETA), add(v, mul(splat(GELU_KAPPA), mul(get("sq"), v))))
          })`,
        ),
        // leftDerivative + (left * tanhDerivative) * innerDerivative
        a.store(
          "out",
          mul(
            a.load("g"),
            add(
              mul(splat(0.5), add(splat(1), get("t"))),
              mul(
                mul(mul(splat(0.5), v), sub(splat(1), mul(get("t"), get("t")))),
                mul(splat(GELU_BETA), add(splat(1), mul(splat(f(3 * GELU_KAPPA)), get("sq")))),
              ),
            ),
          ),
        ),
      ]),
    )
  }
  )`;
}

/**
 * The stats pass shared by the cross-entropy kernels: `$m` the largest
 * finite x (-inf when none), `$total` the sum of e^(x - m) over finite x,
 * `$bad` whether a NaN or +inf occurs.
 */
function ceStats(): string {
  return `
        ${set("mx", splat(-Infinity))}
        ${set("bad", ZERO)}
        ${set("sx", ZERO)}
        ${
    pass("cmax", (a) => [
      set("v", a.load("src")),
      set("bad", op("v128.or", get("bad"), special(get("v")))),
      set("sx", add(get("sx"), op("v128.and", get("v"), a.keep))),
      set(
        "mx",
        op(
          "f32x4.max",
          get("mx"),
          op("v128.bitselect", get("v"), splat(-Infinity), finite(get("v"))),
        ),
      ),
    ])
  }
        ${set("m", hmax(get("mx")))}
        ${set("mk", "(f32x4.splat (local.get $m))")}
        ${set("sum", ZERO)}
        ${
    pass("csum", (a) => [
      set("v", a.load("src")),
      set(
        "sum",
        add(
          get("sum"),
          op(
            "v128.and",
            `(call $exp4 ${sub(get("v"), get("mk"))})`,
            op("v128.and", finite(get("v")), a.keep),
          ),
        ),
      ),
    ])
  }
        ${set("total", hsum(get("sum")))}`;
}

const CE_LOCALS = "(local $src i32) (local $v v128) (local $mx v128) (local $bad v128) " +
  "(local $sum v128) (local $sx v128) (local $mk v128) (local $m f32) (local $total f32)";

/**
 * `ce_stats(src, stats, rows, cols)`: per row 4 floats: the largest finite
 * logit (-inf when none), the sum of e^(x - max) over finite logits, 1 when
 * a NaN or +inf occurs (else 0), and the sum of the logits (label
 * smoothing). The loss itself is formed from these in float64 by the caller.
 */
function ceStatsRows(): string {
  return `
  (func $ce_stats (export "ce_stats")
    (param $src0 i32) (param $stats i32) (param $rows i32) (param $cols i32)
    ${ROW_LOCALS} ${CE_LOCALS} (local $st i32)
    ${
    rowLoop(
      ["src"],
      `${ceStats()}
        ${set("st", "(i32.add (local.get $stats) (i32.shl (local.get $r) (i32.const 4)))")}
        (f32.store offset=0 (local.get $st) (local.get $m))
        (f32.store offset=4 (local.get $st) (local.get $total))
        (f32.store offset=8 (local.get $st)
          (select (f32.const 1) (f32.const 0) (v128.any_true (local.get $bad))))
        (f32.store offset=12 (local.get $st) ${hsum(get("sx"))})`,
    )
  }
  )`;
}

/**
 * `ce_backward(src, out, rows, cols, w, t, hit, off)`: per row r, with
 * weight w[r] (f32) and target column t[r] (i32, -1 for none),
 * `w ((p - (j == t ? hit : 0)) - off)` where p is the softmax of the row
 * (NaN throughout when the row holds a NaN or +inf, 0 at -inf logits).
 */
function ceBackwardRows(): string {
  const prob = (a: Access) =>
    op(
      "v128.bitselect",
      op("f32x4.div", `(call $exp4 ${sub(a.load("src"), get("mk"))})`, get("tot")),
      ZERO,
      op("v128.or", finite(a.load("src")), get("bs")),
    );
  return `
  (func $ce_backward (export "ce_backward")
    (param $src0 i32) (param $out0 i32) (param $rows i32) (param $cols i32) (param $w i32)
    (param $t i32) (param $hit f32) (param $off f32)
    ${ROW_LOCALS} ${CE_LOCALS} (local $out i32) (local $tot v128) (local $wv v128)
    (local $tv v128) (local $hv v128) (local $ov v128) (local $bs v128)
    ${set("hv", "(f32x4.splat (local.get $hit))")}
    ${set("ov", "(f32x4.splat (local.get $off))")}
    ${
    rowLoop(
      ["src", "out"],
      `${ceStats()}
        ${set("bs", `(select ${ALL} ${ZERO} (v128.any_true (local.get $bad)))`)}
        ${
        set(
          "tot",
          `(select ${
            splat(NaN)
          } (f32x4.splat (local.get $total)) (v128.any_true (local.get $bad)))`,
        )
      }
        ${
        set(
          "wv",
          "(v128.load32_splat (i32.add (local.get $w) (i32.shl (local.get $r) (i32.const 2))))",
        )
      }
        ${
        set(
          "tv",
          "(v128.load32_splat (i32.add (local.get $t) (i32.shl (local.get $r) (i32.const 2))))",
        )
      }
        ${
        pass("cgrad", (a) => [
          a.store(
            "out",
            mul(
              get("wv"),
              sub(
                sub(prob(a), op("v128.and", get("hv"), op("i32x4.eq", a.col, get("tv")))),
                get("ov"),
              ),
            ),
          ),
        ])
      }`,
    )
  }
  )`;
}

/** Every row kernel's text, for `renderWat`. */
export function rowKernels(): string[] {
  return [
    exp4(),
    tanh4(),
    log64(),
    ...maps(),
    softmaxRows(),
    softmaxBackwardRows(),
    geluTanh(),
    geluTanhBackward(),
    ceStatsRows(),
    ceBackwardRows(),
  ];
}
