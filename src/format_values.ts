/**
 * Character-for-character reproduction of PyTorch 1.13's `repr(tensor)` for
 * float32 and int32 data (`torch/_tensor_str.py`), so that printed Tessera tensors can be
 * diffed against notebooks produced with torch.
 *
 * @module
 */

import { ShapeError } from "./errors.ts";

/**
 * Print options, named and defaulted like `torch.set_printoptions`.
 *
 * @example
 * ```ts
 * import { type FormatOptions, formatTensorValues } from "./format_values.ts";
 * const opts: FormatOptions = { precision: 2, linewidth: 40 };
 * console.log(formatTensorValues(new Float32Array([1.25, 2]), [2], [], opts));
 * // tensor([1.25, 2.00])
 * ```
 */
export interface FormatOptions {
  /** Digits after the decimal point (default 4). */
  precision?: number;
  /** Element count above which the tensor is summarized with `...` (default 1000). */
  threshold?: number;
  /** Items kept at each end of a summarized dimension (default 3). */
  edgeitems?: number;
  /** Characters per line used to wrap the last dimension (default 80). */
  linewidth?: number;
  /** Force (`true`) or forbid (`false`) scientific notation; `undefined` lets the data decide. */
  sciMode?: boolean | undefined;
}

/**
 * Formats a number like Python's `'{:.<precision>f}'.format(value)`: exact
 * decimal expansion of the double, rounded half-to-even, with `nan`, `inf`,
 * `-inf` and a kept minus sign on `-0.0` and on negatives that round to zero.
 *
 * @example
 * ```ts
 * import { formatFloatFixed } from "./format_values.ts";
 * console.log(formatFloatFixed(0.125, 2)); // "0.12" (JS toFixed gives "0.13")
 * console.log(formatFloatFixed(-0, 4)); // "-0.0000"
 * console.log(formatFloatFixed(1e25, 0)); // "10000000000000000905969664"
 * ```
 */
export function formatFloatFixed(value: number, precision: number): string {
  const special = nonFiniteString(value);
  if (special !== undefined) return special;
  const sign = isNegative(value) ? "-" : "";
  let scaled = 0n;
  if (value !== 0) {
    const [num, den] = exactFraction(value);
    scaled = roundHalfEven(num * pow10(precision), den);
  }
  const digits = scaled.toString().padStart(precision + 1, "0");
  if (precision === 0) return sign + digits;
  const point = digits.length - precision;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

/**
 * Formats a number like Python's `'{:.<precision>e}'.format(value)`: exact
 * half-to-even rounding and an exponent of at least two digits with an
 * explicit sign (`1.2346e+05`, where JS `toExponential` gives `1.2346e+5`).
 *
 * @example
 * ```ts
 * import { formatFloatScientific } from "./format_values.ts";
 * console.log(formatFloatScientific(123456, 4)); // "1.2346e+05"
 * console.log(formatFloatScientific(0, 4)); // "0.0000e+00"
 * ```
 */
export function formatFloatScientific(value: number, precision: number): string {
  const special = nonFiniteString(value);
  if (special !== undefined) return special;
  const sign = isNegative(value) ? "-" : "";
  let mantissa = 0n;
  let exponent = 0;
  if (value !== 0) {
    const [num, den] = exactFraction(value);
    // log10 can be off by one near powers of ten; the exact checks settle it.
    exponent = Math.floor(Math.log10(Math.abs(value)));
    while (!atLeastPow10(num, den, exponent)) exponent--;
    while (atLeastPow10(num, den, exponent + 1)) exponent++;
    const shift = precision - exponent;
    mantissa = shift >= 0
      ? roundHalfEven(num * pow10(shift), den)
      : roundHalfEven(num, den * pow10(-shift));
    // Rounding 9.99995 up carries into a new leading digit.
    if (mantissa === pow10(precision + 1)) {
      mantissa = pow10(precision);
      exponent++;
    }
  }
  const digits = mantissa.toString().padStart(precision + 1, "0");
  const head = precision === 0 ? digits : `${digits[0]}.${digits.slice(1)}`;
  const expSign = exponent < 0 ? "-" : "+";
  return `${sign}${head}e${expSign}${String(Math.abs(exponent)).padStart(2, "0")}`;
}

/**
 * Renders float32 values exactly as PyTorch 1.13 prints a float32 tensor of
 * that shape (an `Int32Array` prints as an integer tensor: values as written,
 * no trailing dot; the caller adds the `dtype=torch.int32` suffix): `tensor(` + body + suffixes + `)`. `suffixes` are the extra
 * `key=value` parts torch appends, in torch's order (`device=...` first, then
 * e.g. `requires_grad=True`); for empty tensors that are not 1-D the
 * `size=(...)` suffix is added here, after a leading `device=` suffix, as
 * torch does.
 *
 * @example
 * ```ts
 * import { formatTensorValues } from "./format_values.ts";
 * const data = new Float32Array([-0.4519, 0.2216, -0.5874, 0.0058]);
 * console.log(formatTensorValues(data, [2, 2], ["device='webgpu:0'"]));
 * // tensor([[-0.4519,  0.2216],
 * //         [-0.5874,  0.0058]], device='webgpu:0')
 * console.log(formatTensorValues(new Float32Array(0), [0, 3], []));
 * // tensor([], size=(0, 3))
 * ```
 */
export function formatTensorValues(
  data: Float32Array | Int32Array,
  shape: readonly number[],
  suffixes: string[],
  options: FormatOptions = {},
): string {
  const opts = resolveOptions(options);
  let numel = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new ShapeError(`formatTensorValues: invalid shape [${shape.join(", ")}]`);
    }
    numel *= d;
  }
  if (data.length !== numel) {
    throw new ShapeError(
      `formatTensorValues: shape [${shape.join(", ")}] needs ${numel} values, got ${data.length}`,
    );
  }

  const prefix = "tensor(";
  const indent = prefix.length;
  const allSuffixes = [...suffixes];
  let body: string;
  if (numel === 0) {
    body = "[]";
    // torch shows the shape unless it is (0,), to match NumPy; it comes right
    // after the device suffix because _str_intern appends device first.
    if (shape.length !== 1) {
      const at = allSuffixes.length > 0 && allSuffixes[0].startsWith("device=") ? 1 : 0;
      allSuffixes.splice(at, 0, `size=${pythonTuple(shape)}`);
    }
  } else {
    const strides = new Array<number>(shape.length);
    let stride = 1;
    for (let i = shape.length - 1; i >= 0; i--) {
      strides[i] = stride;
      stride *= shape[i];
    }
    const view: View = { data, shape, strides, opts, summarize: numel > opts.threshold };
    const shown: number[] = [];
    collectShown(view, 0, 0, shown);
    const formatter = data instanceof Int32Array
      ? intFormatter(shown, opts)
      : makeFormatter(shown, opts);
    body = tensorStr(view, formatter, 0, 0, indent);
  }
  return addSuffixes(prefix + body, allSuffixes, indent, opts.linewidth);
}

interface ResolvedOptions {
  precision: number;
  threshold: number;
  edgeitems: number;
  linewidth: number;
  sciMode: boolean | undefined;
}

interface View {
  data: Float32Array | Int32Array;
  shape: readonly number[];
  strides: number[];
  opts: ResolvedOptions;
  summarize: boolean;
}

interface Formatter {
  /** An integer dtype: values print as `'{}'.format(value)`, no trailing dot. */
  integer?: boolean;
  intMode: boolean;
  sciMode: boolean;
  maxWidth: number;
  precision: number;
}

function resolveOptions(options: FormatOptions): ResolvedOptions {
  const opts: ResolvedOptions = {
    precision: options.precision ?? 4,
    threshold: options.threshold ?? 1000,
    edgeitems: options.edgeitems ?? 3,
    linewidth: options.linewidth ?? 80,
    sciMode: options.sciMode,
  };
  // Python's format() rejects these too; failing early beats a garbled string.
  if (!Number.isInteger(opts.precision) || opts.precision < 0) {
    throw new RangeError(`formatTensorValues: precision must be a non-negative integer`);
  }
  if (!Number.isInteger(opts.edgeitems) || opts.edgeitems < 0) {
    throw new RangeError(`formatTensorValues: edgeitems must be a non-negative integer`);
  }
  if (Number.isNaN(opts.threshold) || Number.isNaN(opts.linewidth)) {
    throw new RangeError(`formatTensorValues: threshold and linewidth must be numbers`);
  }
  return opts;
}

/** Mirrors `_Formatter.__init__`: chooses int/sci mode and the column width. */
function makeFormatter(values: number[], opts: ResolvedOptions): Formatter {
  const f: Formatter = { intMode: true, sciMode: false, maxWidth: 1, precision: opts.precision };
  const nonzeroFinite = values.filter((v) => Number.isFinite(v) && v !== 0);
  // torch returns before applying the sciMode override here, so an all-zero
  // or all-nonfinite tensor ignores sciMode.
  if (nonzeroFinite.length === 0) return f;

  let min = Infinity;
  let max = 0;
  for (const v of nonzeroFinite) {
    const a = Math.abs(v);
    if (a < min) min = a;
    if (a > max) max = a;
  }
  f.intMode = nonzeroFinite.every((v) => v === Math.ceil(v));
  const wide = max / min > 1000 || max > 1e8;
  let width = 1;
  if (f.intMode) {
    if (wide) {
      f.sciMode = true;
      for (const v of nonzeroFinite) {
        width = Math.max(width, formatFloatScientific(v, opts.precision).length);
      }
    } else {
      // +1 for the trailing "." that marks a float tensor.
      for (const v of nonzeroFinite) width = Math.max(width, formatFloatFixed(v, 0).length + 1);
    }
  } else if (wide || min < 1e-4) {
    f.sciMode = true;
    for (const v of nonzeroFinite) {
      width = Math.max(width, formatFloatScientific(v, opts.precision).length);
    }
  } else {
    for (const v of nonzeroFinite) {
      width = Math.max(width, formatFloatFixed(v, opts.precision).length);
    }
  }
  f.maxWidth = width;
  if (opts.sciMode !== undefined) f.sciMode = opts.sciMode;
  return f;
}

/** Mirrors `_Formatter.__init__` for integer dtypes: the width of the widest shown value. */
function intFormatter(values: number[], opts: ResolvedOptions): Formatter {
  let width = 1;
  for (const v of values) width = Math.max(width, String(v).length);
  return {
    integer: true,
    intMode: true,
    sciMode: false,
    maxWidth: width,
    precision: opts.precision,
  };
}

/** Mirrors `_Formatter.format`; widths come from nonzero finite values only, so nan/inf may overflow. */
function formatValue(f: Formatter, value: number): string {
  let s: string;
  if (f.integer) {
    s = String(value);
  } else if (f.sciMode) {
    s = formatFloatScientific(value, f.precision);
  } else if (f.intMode) {
    s = formatFloatFixed(value, 0);
    if (Number.isFinite(value)) s += ".";
  } else {
    s = formatFloatFixed(value, f.precision);
  }
  return s.padStart(f.maxWidth, " ");
}

/**
 * Indices torch prints along one dimension; `null` marks the `...` slot.
 * A 1-D tail of `self[-0:]` is the whole vector in Python, so edgeitems 0
 * keeps every element after the ellipsis there, while higher dims keep none.
 */
function shownIndices(view: View, dim: number): (number | null)[] {
  const size = view.shape[dim];
  const edge = view.opts.edgeitems;
  const all = Array.from({ length: size }, (_, i) => i);
  if (!view.summarize || size <= 2 * edge) return all;
  const isVector = dim === view.shape.length - 1;
  const tailStart = edge === 0 ? (isVector ? 0 : size) : size - edge;
  return [...all.slice(0, edge), null, ...all.slice(tailStart)];
}

/** Mirrors `get_summarized_data`: the formatter sees only what is printed. */
function collectShown(view: View, dim: number, offset: number, out: number[]): void {
  if (dim === view.shape.length) {
    out.push(view.data[offset]);
    return;
  }
  for (const i of shownIndices(view, dim)) {
    if (i !== null) collectShown(view, dim + 1, offset + i * view.strides[dim], out);
  }
}

/** Mirrors `_tensor_str_with_formatter` and `_vector_str`. */
function tensorStr(view: View, f: Formatter, dim: number, offset: number, indent: number): string {
  const rank = view.shape.length;
  if (rank === 0) return formatValue(f, view.data[offset]);
  const indices = shownIndices(view, dim);
  if (dim === rank - 1) {
    const items = indices.map((i) =>
      i === null ? " ..." : formatValue(f, view.data[offset + i * view.strides[dim]])
    );
    // Each element costs its width plus ", "; torch ignores the "[" and "]".
    const perLine = Math.max(1, Math.floor((view.opts.linewidth - indent) / (f.maxWidth + 2)));
    const lines: string[] = [];
    for (let i = 0; i < items.length; i += perLine) {
      lines.push(items.slice(i, i + perLine).join(", "));
    }
    return `[${lines.join(",\n" + " ".repeat(indent + 1))}]`;
  }
  const slices = indices.map((i) =>
    i === null ? "..." : tensorStr(view, f, dim + 1, offset + i * view.strides[dim], indent + 1)
  );
  // One blank line per dimension below the next, as torch separates blocks.
  const sep = "," + "\n".repeat(rank - dim - 1) + " ".repeat(indent + 1);
  return `[${slices.join(sep)}]`;
}

/** Mirrors `_add_suffixes` (non-sparse, so never forced onto a new line). */
function addSuffixes(
  tensorStr: string,
  suffixes: string[],
  indent: number,
  linewidth: number,
): string {
  const parts = [tensorStr];
  // torch's own arithmetic, including its +1 (+2 without a newline) overcount.
  let lastLineLen = tensorStr.length - tensorStr.lastIndexOf("\n") + 1;
  for (const suffix of suffixes) {
    const len = [...suffix].length;
    if (lastLineLen + len + 2 > linewidth) {
      parts.push(",\n" + " ".repeat(indent) + suffix);
      lastLineLen = indent + len;
    } else {
      parts.push(", " + suffix);
      lastLineLen += len + 2;
    }
  }
  parts.push(")");
  return parts.join("");
}

function pythonTuple(shape: readonly number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
}

function nonFiniteString(value: number): string | undefined {
  if (Number.isNaN(value)) return "nan"; // Python drops a NaN's sign bit
  if (value === Infinity) return "inf";
  if (value === -Infinity) return "-inf";
  return undefined;
}

function isNegative(value: number): boolean {
  return value < 0 || Object.is(value, -0);
}

const f64 = new DataView(new ArrayBuffer(8));

/** `|value|` as an exact fraction `num / den` with `den` a power of two. */
function exactFraction(value: number): [bigint, bigint] {
  f64.setFloat64(0, value);
  const bits = f64.getBigUint64(0);
  const biased = Number((bits >> 52n) & 0x7ffn);
  let mant = bits & ((1n << 52n) - 1n);
  let exp: number;
  if (biased === 0) {
    exp = -1074; // subnormal: no implicit leading bit
  } else {
    mant |= 1n << 52n;
    exp = biased - 1075;
  }
  return exp >= 0 ? [mant << BigInt(exp), 1n] : [mant, 1n << BigInt(-exp)];
}

/** Python's float formatting rounds exact ties to even; JS toFixed rounds them up. */
function roundHalfEven(num: bigint, den: bigint): bigint {
  const q = num / den;
  const twice = 2n * (num - q * den);
  if (twice > den || (twice === den && (q & 1n) === 1n)) return q + 1n;
  return q;
}

function pow10(n: number): bigint {
  return 10n ** BigInt(n);
}

/** Whether `num / den >= 10^exponent`, exactly. */
function atLeastPow10(num: bigint, den: bigint, exponent: number): boolean {
  return exponent >= 0 ? num >= den * pow10(exponent) : num * pow10(-exponent) >= den;
}
