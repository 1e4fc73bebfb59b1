/**
 * The WebAssembly text of the cpu device's row kernels (softmax, logSoftmax
 * and their backward rules, GELU with the tanh approximation and its
 * gradient, cross-entropy statistics and gradient, layer norm backward), as
 * pure functions that `renderWat` (scripts/wasm_wat.ts) appends to the
 * module. src/cpu/rows.ts wraps them.
 *
 * Policy (src/cpu/backend.ts): f32x4 lanes, 4 adjacent columns per lane
 * group, a scalar tail per row, and reductions in a fixed order (lanes,
 * the tail into lane 0, then `(l0 + l1) + (l2 + l3)`), so results do not
 * depend on the thread count; sums accumulate in f64x2 pairs, as the
 * reference's float64 sums do; they agree with the TypeScript reference within
 * float32 tolerances, with the reference's NaN and infinity rules.
 *
 * WebAssembly has no exp or tanh: {@linkcode exp4} reduces `x = n ln2 + r`
 * with a Cody-Waite split of ln2, evaluates Cephes' degree-6 polynomial and
 * scales by 2^n built from exponent bits in two steps (so subnormal results
 * and n = 128 work); {@linkcode tanh4} uses an odd polynomial below 0.625 and
 * `1 - 2 / (e^2|x| + 1)` above, with the sign copied back (tanh(-0) = -0).
 * Both are inline blocks, their constants in locals set once per call.
 *
 * @module
 */

import { get, set } from "./wat.ts";

/** The float32 bits of `v` as a signed 32-bit integer. */
function f32Bits(v: number): number {
  return new Int32Array(new Float32Array([v]).buffer)[0];
}

/** An f32x4 constant with `v` (rounded to float32) in every lane, exact through its bits. */
function splat(v: number): string {
  const b = f32Bits(v);
  return `(v128.const i32x4 ${b} ${b} ${b} ${b})`;
}

const at = (ptr: string) => `(i32.add (local.get $${ptr}) (local.get $j4))`;
const op = (name: string, ...args: string[]) => `(${name} ${args.join(" ")})`;
const mul = (a: string, b: string) => op("f32x4.mul", a, b);
const add = (a: string, b: string) => op("f32x4.add", a, b);
const sub = (a: string, b: string) => op("f32x4.sub", a, b);

const FLT_MAX = 3.4028234663852886e38;
/** 1.5 * 2^23: adding it to |v| < 2^22 rounds v to an integer held in the low mantissa bits. */
const MAGIC = 12582912;
const ALL = "(v128.const i32x4 -1 -1 -1 -1)";
const LANE0 = "(v128.const i32x4 -1 0 0 0)";
const ZERO = "(v128.const i32x4 0 0 0 0)";

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
  keep: "(local.get $k_lane0)",
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
    ${MATH_INIT}
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

/** The largest lane of an f32x4 (no NaN lanes). */
function hmax(v: string): string {
  const lane = (i: number) => `(f32x4.extract_lane ${i} ${v})`;
  return `(f32.max (f32.max ${lane(0)} ${lane(1)}) (f32.max ${lane(2)} ${lane(3)}))`;
}

/**
 * Sums accumulate in float64, as the reference's do (a float32 lane sum of a
 * row of millions drifts by 1e-4): `$name` holds lanes 0-1 and `$name_hi`
 * lanes 2-3 as f64x2; `$w64` is scratch.
 */
function zero64(name: string): string {
  return `${set(name, ZERO)} ${set(`${name}_hi`, ZERO)}`;
}

/** Adds the f32x4 `value` to the float64 accumulator `name`. */
function add64(name: string, value: string): string {
  const hi =
    "(i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $w64) (local.get $w64))";
  return `${set("w64", value)} ` +
    set(name, `(f64x2.add (local.get $${name}) (f64x2.promote_low_f32x4 (local.get $w64)))`) +
    " " + set(`${name}_hi`, `(f64x2.add (local.get $${name}_hi) (f64x2.promote_low_f32x4 ${hi}))`);
}

/** The accumulator's total as f64: `(l0 + l1) + (l2 + l3)`. */
function hsum64(name: string): string {
  const lane = (v: string, i: number) => `(f64x2.extract_lane ${i} (local.get $${v}))`;
  return `(f64.add (f64.add ${lane(name, 0)} ${lane(name, 1)}) ` +
    `(f64.add ${lane(`${name}_hi`, 0)} ${lane(`${name}_hi`, 1)}))`;
}

/** The accumulator's total rounded to f32. */
const hsumF = (name: string) => `(f32.demote_f64 ${hsum64(name)})`;

/** Lanes that are finite (not NaN, not +-Infinity): all ones there. */
const finite = (v: string) => `(f32x4.lt (f32x4.abs ${v}) (local.get $k_inf))`;
/** Lanes that are NaN or +Infinity (the reference's whole-row NaN cases). */
const special = (v: string) => `(v128.or (f32x4.ne ${v} ${v}) (f32x4.eq ${v} (local.get $k_inf)))`;

/**
 * Constants the kernels keep in v128 locals, set once per call: V8 builds
 * a `v128.const` with several instructions at every use, a local is one load.
 */
const GELU_BETA = Math.fround(Math.SQRT2 * (2 / Math.sqrt(Math.PI)) * 0.5);
const GELU_KAPPA = Math.fround(0.044715);

const K: Record<string, string> = {
  lo: splat(-104),
  hi: splat(89),
  log2e: splat(Math.LOG2E),
  magic: splat(MAGIC),
  c1: splat(0.693359375),
  c2: splat(-2.12194440e-4),
  p0: splat(1.98756915e-4),
  p1: splat(1.3981999507e-3),
  p2: splat(8.3334519073e-3),
  p3: splat(4.1665795894e-2),
  p4: splat(1.6666665459e-1),
  p5: splat(5.0000001201e-1),
  one: splat(1),
  two: splat(2),
  half: splat(0.5),
  bias: "(v128.const i32x4 127 127 127 127)",
  abs: "(v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff)",
  t0: splat(-5.70498872745e-3),
  t1: splat(2.06390887954e-2),
  t2: splat(-5.37397155531e-2),
  t3: splat(1.33314422036e-1),
  t4: splat(-3.33332819422e-1),
  tsmall: splat(0.625),
  inf: splat(Infinity),
  negmax: splat(-FLT_MAX),
  lane0: LANE0,
  neginf: splat(-Infinity),
  beta: splat(GELU_BETA),
  kappa: splat(GELU_KAPPA),
  kappa3: splat(Math.fround(3 * GELU_KAPPA)),
};
const k = (name: keyof typeof K) => `(local.get $k_${name})`;
const MATH_LOCALS = Object.keys(K).map((n) => `(local $k_${n} v128)`).join(" ") +
  " (local $ex v128) (local $en v128) (local $ei v128) (local $er v128) (local $eh v128)" +
  " (local $ta v128) (local $tz v128) (local $tx v128)";
const MATH_INIT = Object.entries(K).map(([n, c]) => set(`k_${n}`, c)).join("\n    ");

/**
 * e^x per lane, as an inline block (V8 does not inline wasm calls here):
 * within 1 ulp of `Math.fround(Math.exp(x))` (measured in
 * tests/cpu_rows_test.ts); e^-inf = 0, e^inf = inf, NaN stays NaN (pmin and
 * pmax keep a NaN first operand), overflow gives inf and underflow
 * subnormals or 0. Adding 1.5 * 2^23 rounds `x log2 e` to the nearest
 * integer n and leaves n in the low mantissa bits; 2^n is applied as two
 * halves so that n = -150 (subnormals) and n = 128 work.
 */
function exp4(x: string): string {
  let p = k("p0");
  for (const c of ["p1", "p2", "p3", "p4", "p5"] as const) p = add(mul(p, get("er")), k(c));
  const pow2 = (n: string) => `(i32x4.shl (i32x4.add ${n} ${k("bias")}) (i32.const 23))`;
  return `(block (result v128)
      ${set("ex", op("f32x4.pmin", op("f32x4.pmax", x, k("lo")), k("hi")))}
      ${set("en", add(mul(get("ex"), k("log2e")), k("magic")))}
      ${set("ei", op("i32x4.sub", get("en"), k("magic")))}
      ${set("en", sub(get("en"), k("magic")))}
      ${set("er", sub(sub(get("ex"), mul(get("en"), k("c1"))), mul(get("en"), k("c2"))))}
      ${set("er", add(add(mul(mul(p, get("er")), get("er")), get("er")), k("one")))}
      ${set("eh", op("i32x4.shr_s", get("ei"), "(i32.const 1)"))}
      ${mul(mul(get("er"), pow2(get("eh"))), pow2(op("i32x4.sub", get("ei"), get("eh"))))})`;
}

/**
 * tanh per lane, as an inline block: within 1 ulp of
 * `Math.fround(Math.tanh(x))`, tanh(+-0) = +-0, +-1 for large |x|: an odd
 * polynomial below 0.625 (where tanh x ~ x), `1 - 2 / (e^2|x| + 1)` above,
 * the sign copied back.
 */
function tanh4(x: string): string {
  let p = k("t0");
  for (const c of ["t1", "t2", "t3"] as const) p = add(mul(p, get("tz")), k(c));
  p = add(mul(p, get("tz")), k("t4"));
  const small = add(mul(mul(p, get("tz")), get("ta")), get("ta"));
  const big = sub(
    k("one"),
    op("f32x4.div", k("two"), add(exp4(add(get("ta"), get("ta"))), k("one"))),
  );
  return `(block (result v128)
      ${set("tx", x)}
      ${set("ta", op("v128.and", get("tx"), k("abs")))}
      ${set("tz", mul(get("ta"), get("ta")))}
      (v128.bitselect
        (v128.bitselect ${small} ${big} (f32x4.lt (local.get $ta) ${k("tsmall")}))
        (local.get $tx)
        ${k("abs")}))`;
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
    ${ROW_LOCALS} (local $rows i32) (local $src i32) (local $out i32)
    ${set("rows", "(i32.const 1)")}
    ${
    rowLoop(
      ["src", "out"],
      pass("map", (a) => [a.store("out", (name === "exp" ? exp4 : tanh4)(a.load("src")))]),
    )
  }
  )`);
}

/** Locals of the row kernels. */
const ROW_LOCALS = "(local $r i32) (local $j4 i32) (local $rowBytes i32) (local $vecBytes i32) " +
  "(local $w64 v128) (local $sum_hi v128) (local $sx_hi v128) " +
  MATH_LOCALS;

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
              "f32x4.pmax",
              get("mx"),
              op("v128.bitselect", mul(get("al"), get("v")), k("negmax"), finite(get("v"))),
            ),
          ),
        ])
      }
        (if (v128.any_true (local.get $bad))
          (then
            ${pass("nan", (a) => [a.store("out", splat(NaN))])}
            (br $row_done)))
        ${set("mk", `(f32x4.splat ${hmax(get("mx"))})`)}
        ${zero64("sum")}
        (if (local.get $log)
          (then
            ${
        pass("lsum", (a) => [
          set("v", a.load("src")),
          add64("sum", op("v128.and", exp4(t(a)), op("v128.and", finite(get("v")), a.keep))),
        ])
      })
          (else
            ${
        pass("sum", (a) => [
          set("v", a.load("src")),
          set("v", op("v128.and", exp4(t(a)), finite(get("v")))),
          a.store("out", get("v")),
          add64("sum", op("v128.and", get("v"), a.keep)),
        ])
      }))
        ${set("total", hsumF("sum"))}
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
        ${zero64("sum")}
        (if (local.get $log)
          (then
            ${
        pass("gsum", (a) => [
          add64("sum", op("v128.and", a.load("g"), a.keep)),
        ])
      })
          (else
            ${
        pass("gydot", (a) => [
          add64("sum", op("v128.and", mul(a.load("g"), a.load("y")), a.keep)),
        ])
      }))
        ${set("dot", `(f32x4.splat ${hsumF("sum")})`)}
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

/**
 * `gelu_tanh(src, out, n)`: `(0.5 x) (1 + tanh(beta (x + kappa x^3)))` with
 * the reference's float32 steps (src/ops/unary_kernels.ts `tanhGelu`).
 */
function geluTanh(): string {
  const x = get("v");
  const cube = mul(mul(x, x), x);
  const inner = mul(k("beta"), add(x, mul(k("kappa"), cube)));
  return `
  (func $gelu_tanh (export "gelu_tanh") (param $src0 i32) (param $out0 i32) (param $cols i32)
    ${ROW_LOCALS} (local $rows i32) (local $src i32) (local $out i32) (local $v v128)
    ${set("rows", "(i32.const 1)")}
    ${
    rowLoop(
      ["src", "out"],
      pass("gelu", (a) => [
        set("v", a.load("src")),
        a.store("out", mul(mul(k("half"), x), add(k("one"), tanh4(inner)))),
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
          tanh4(mul(k("beta"), add(v, mul(k("kappa"), mul(get("sq"), v))))),
        ),
        // leftDerivative + (left * tanhDerivative) * innerDerivative
        a.store(
          "out",
          mul(
            a.load("g"),
            add(
              mul(k("half"), add(k("one"), get("t"))),
              mul(
                mul(mul(k("half"), v), sub(k("one"), mul(get("t"), get("t")))),
                mul(k("beta"), add(k("one"), mul(k("kappa3"), get("sq")))),
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
        ${zero64("sx")}
        ${
    pass("cmax", (a) => [
      set("v", a.load("src")),
      set("bad", op("v128.or", get("bad"), special(get("v")))),
      add64("sx", op("v128.and", get("v"), a.keep)),
      set(
        "mx",
        op(
          "f32x4.pmax",
          get("mx"),
          op("v128.bitselect", get("v"), k("neginf"), finite(get("v"))),
        ),
      ),
    ])
  }
        ${set("m", hmax(get("mx")))}
        ${set("mk", "(f32x4.splat (local.get $m))")}
        ${zero64("sum")}
        ${
    pass("csum", (a) => [
      set("v", a.load("src")),
      add64(
        "sum",
        op("v128.and", exp4(sub(get("v"), get("mk"))), op("v128.and", finite(get("v")), a.keep)),
      ),
    ])
  }
        ${set("total", hsumF("sum"))}`;
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
        (f32.store offset=12 (local.get $st) ${hsumF("sx")})`,
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
      op("f32x4.div", exp4(sub(a.load("src"), get("mk"))), get("tot")),
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

/**
 * `layer_norm_backward(x, w, g, dx, gxhat, rows, cols, eps)`: src/ops/layer_norm.ts's
 * backward per row of `cols`, w per column: mean and the centred sum of
 * squares from x shifted by its first element (so a large mean does not
 * cost the small deviations their bits), rstd = 1 / sqrt(sq / cols + eps);
 * then `dx = rstd ((g w - mean(g w)) - xhat mean(g w xhat))` and
 * `gxhat = g xhat`.
 */
function layerNormBackwardRows(): string {
  const d = (a: Access) => sub(a.load("x"), get("c"));
  return `
  (func $layer_norm_backward (export "layer_norm_backward")
    (param $x0 i32) (param $w i32) (param $g0 i32) (param $dx0 i32) (param $gx0 i32)
    (param $rows i32) (param $cols i32) (param $eps f32)
    ${ROW_LOCALS} (local $x i32) (local $g i32) (local $dx i32) (local $gx i32)
    (local $c v128) (local $s1 v128) (local $sq v128) (local $sh v128) (local $she v128)
    (local $mean v128) (local $rstd v128) (local $mh v128) (local $mhx v128) (local $e v128)
    (local $h v128) (local $xh v128) (local $n f64) (local $rs f64)
    (local $s1_hi v128) (local $sq_hi v128) (local $sh_hi v128) (local $she_hi v128)
    ${set("n", "(f64.convert_i32_u (local.get $cols))")}
    ${
    rowLoop(
      ["x", "g", "dx", "gx"],
      `
        ${set("c", "(v128.load32_splat (local.get $x))")}
        ${zero64("s1")}
        ${pass("lsum", (a) => [add64("s1", op("v128.and", d(a), a.keep))])}
        ${set("mean", `(f32x4.splat (f32.demote_f64 (f64.div ${hsum64("s1")} (local.get $n))))`)}
        ${zero64("sq")}
        ${zero64("sh")}
        ${zero64("she")}
        ${
        pass("lsq", (a) => [
          set("e", op("v128.and", sub(d(a), get("mean")), a.keep)),
          set("h", op("v128.and", mul(a.load("g"), a.load("w")), a.keep)),
          add64("sq", mul(get("e"), get("e"))),
          add64("sh", get("h")),
          add64("she", mul(get("h"), get("e"))),
        ])
      }
        ${
        set(
          "rs",
          `(f64.div (f64.const 1) (f64.sqrt (f64.add (f64.div ${hsum64("sq")} (local.get $n)) ` +
            "(f64.promote_f32 (local.get $eps)))))",
        )
      }
        ${set("rstd", "(f32x4.splat (f32.demote_f64 (local.get $rs)))")}
        ${set("mh", `(f32x4.splat (f32.demote_f64 (f64.div ${hsum64("sh")} (local.get $n))))`)}
        ${
        set(
          "mhx",
          `(f32x4.splat (f32.demote_f64 (f64.div (f64.mul ${hsum64("she")} (local.get $rs)) ` +
            "(local.get $n))))",
        )
      }
        ${
        pass("lout", (a) => [
          set("xh", mul(sub(d(a), get("mean")), get("rstd"))),
          a.store(
            "dx",
            mul(
              get("rstd"),
              sub(sub(mul(a.load("g"), a.load("w")), get("mh")), mul(get("xh"), get("mhx"))),
            ),
          ),
          a.store("gx", mul(a.load("g"), get("xh"))),
        ])
      }`,
    )
  }
  )`;
}

/** Every row kernel's text, for `renderWat`. */
export function rowKernels(): string[] {
  return [
    log64(),
    ...maps(),
    softmaxRows(),
    softmaxBackwardRows(),
    geluTanh(),
    geluTanhBackward(),
    ceStatsRows(),
    ceBackwardRows(),
    layerNormBackwardRows(),
  ];
}
