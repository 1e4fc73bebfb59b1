/**
 * Masking ops: `maskedFill`, `triu`, `tril`.
 *
 * @module
 */

import { maskedFillBackward, triangleBackward } from "../autograd/backward/mask.ts";
import { record } from "../autograd/recording.ts";
import { ShapeError } from "../errors.ts";
import { ELEMENTWISE_WG, launch, words } from "../gpu/launch.ts";
import { cpuData, cpuTensor, type Tensor } from "../tensor.ts";
import { assertSameDevice, showShape } from "./checks.ts";

/**
 * Like {@linkcode maskedFill}, but reads the top-left `[rows, cols]` corner
 * of a larger 2-D mask in place: the causal mask buffer sliced to `[:T, :T]`
 * without a copy.
 */
export function maskedFillCorner(
  op: string,
  x: Tensor,
  mask: Tensor,
  value: number,
  names: readonly [string, string] = ["input", "mask"],
): Tensor {
  assertSameDevice(op, [names[0], x], [names[1], mask]);
  const cols = x.shape.at(-1) ?? 1;
  const rows = x.shape.at(-2) ?? 1;
  const [maskRows, maskCols] = mask.shape.length === 2 ? mask.shape : [1, mask.shape[0] ?? 1];
  if (x.shape.length < 1 || mask.shape.length > 2 || maskRows < rows || maskCols < cols) {
    throw new ShapeError(
      `${op}: ${names[1]} ${showShape(mask.shape)} cannot cover the last two dimensions of ` +
        `${names[0]} ${showShape(x.shape)}`,
    );
  }
  const out = cornerFill(op, x, mask, value, names, [rows, cols, maskCols]);
  return record(op, [x, mask], out, maskedFillBackward(op));
}

function cornerFill(
  op: string,
  x: Tensor,
  mask: Tensor,
  value: number,
  names: readonly [string, string],
  [rows, cols, maskCols]: readonly [number, number, number],
): Tensor {
  if (x.device.kind === "cpu") {
    const src = cpuData(x, op, names[0]);
    const m = cpuData(mask, op, names[1]);
    const out = new Float32Array(src.length);
    const fill = Math.fround(value);
    for (let i = 0; i < src.length; i++) {
      const col = i % cols;
      const row = Math.floor(i / cols) % rows;
      out[i] = m[row * maskCols + col] !== 0 ? fill : src[i];
    }
    return cpuTensor(out, x.shape);
  }
  return launch(x.device, {
    op,
    shader: "masked_fill",
    uniforms: words(x.size, rows, cols, maskCols, { f32: value }, 0, 0, 0),
    inputs: [[names[0], x], [names[1], mask]],
    outShape: x.shape,
    workgroups: Math.ceil(x.size / ELEMENTWISE_WG),
  });
}

/**
 * Returns `x` with `value` wherever `mask` is non-zero, like PyTorch's
 * `masked_fill(mask.bool(), value)`. `mask` has the shape of x's last one or
 * two dimensions and broadcasts over the rest. `value` may be `-Infinity`.
 *
 * @example
 * ```ts
 * import { maskedFill, ones, tensor, triu } from "@tessera/core";
 * const scores = tensor([[1, 2], [3, 4]]);
 * console.log(await maskedFill(scores, triu(ones([2, 2]), 1), -Infinity).toArray());
 * // [[1, -Infinity], [3, 4]]
 * ```
 */
export function maskedFill(x: Tensor, mask: Tensor, value: number): Tensor {
  const expected = x.shape.slice(-mask.shape.length);
  if (mask.shape.length > 2 || showShape(expected) !== showShape(mask.shape)) {
    throw new ShapeError(
      `maskedFill: mask ${showShape(mask.shape)} must equal the last one or two dimensions ` +
        `of input ${showShape(x.shape)}`,
    );
  }
  return maskedFillCorner("maskedFill", x, mask, value);
}

function triangle(op: "triu" | "tril", x: Tensor, diagonal: number): Tensor {
  if (x.shape.length < 2) {
    throw new ShapeError(`${op}: expected at least 2 dimensions, but got ${showShape(x.shape)}`);
  }
  const out = triangleValues(op, x, diagonal);
  return record(op, [x], out, triangleBackward(op === "triu", diagonal));
}

function triangleValues(op: "triu" | "tril", x: Tensor, diagonal: number): Tensor {
  const [rows, cols] = x.shape.slice(-2);
  const upper = op === "triu";
  if (x.device.kind === "cpu") {
    const src = cpuData(x, op, "input");
    const out = new Float32Array(src.length);
    for (let i = 0; i < src.length; i++) {
      const offset = (i % cols) - (Math.floor(i / cols) % rows);
      out[i] = (upper ? offset >= diagonal : offset <= diagonal) ? src[i] : 0;
    }
    return cpuTensor(out, x.shape);
  }
  return launch(x.device, {
    op,
    shader: "triangle",
    constants: { UPPER: upper ? 1 : 0 },
    uniforms: words(x.size, rows, cols, diagonal),
    inputs: [["input", x]],
    outShape: x.shape,
    workgroups: Math.ceil(x.size / ELEMENTWISE_WG),
  });
}

/**
 * The upper triangle of the last two dimensions (`j - i >= diagonal`), the
 * rest zeroed, like `torch.triu`. `triu(ones([T, T]), 1)` is the causal mask.
 *
 * @example
 * ```ts
 * import { ones, triu } from "@tessera/core";
 * console.log(await triu(ones([3, 3]), 1).toArray());
 * // [[0, 1, 1], [0, 0, 1], [0, 0, 0]]
 * ```
 */
export function triu(x: Tensor, diagonal = 0): Tensor {
  return triangle("triu", x, diagonal);
}

/**
 * The lower triangle of the last two dimensions (`j - i <= diagonal`), like
 * `torch.tril`.
 *
 * @example
 * ```ts
 * import { ones, tril } from "@tessera/core";
 * console.log(await tril(ones([2, 2])).toArray()); // [[1, 0], [1, 1]]
 * ```
 */
export function tril(x: Tensor, diagonal = 0): Tensor {
  return triangle("tril", x, diagonal);
}
