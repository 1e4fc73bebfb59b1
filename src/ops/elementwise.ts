/**
 * Elementwise ops with NumPy broadcasting: add, sub, mul, div, scale.
 *
 * @module
 */

import { binaryBackward, scaleBackward } from "../autograd/backward/elementwise.ts";
import { record } from "../autograd/recording.ts";
import { dims8, ELEMENTWISE_WG, launch, words } from "../gpu/launch.ts";
import { cpuData, cpuTensor, numel, type Tensor } from "../tensor.ts";
import { assertSameDevice, broadcastShapes, broadcastStrides } from "./checks.ts";

const BINARY_OPS = {
  add: { code: 0, fn: (x: number, y: number) => x + y },
  sub: { code: 1, fn: (x: number, y: number) => x - y },
  mul: { code: 2, fn: (x: number, y: number) => x * y },
  div: { code: 3, fn: (x: number, y: number) => x / y },
} as const;

function binary(op: keyof typeof BINARY_OPS, a: Tensor, b: Tensor): Tensor {
  assertSameDevice(op, ["a", a], ["b", b]);
  const outShape = broadcastShapes(op, ["a", a], ["b", b]);
  const aStrides = broadcastStrides(a.shape, outShape);
  const bStrides = broadcastStrides(b.shape, outShape);
  const n = numel(outShape);
  const same = a.shape.length === b.shape.length && a.size === n && b.size === n;
  if (a.device.kind === "cpu") {
    const x = cpuData(a, op, "a");
    const y = cpuData(b, op, "b");
    const out = new Float32Array(n);
    const fn = BINARY_OPS[op].fn;
    if (same) {
      for (let i = 0; i < n; i++) out[i] = fn(x[i], y[i]);
    } else {
      const rank = outShape.length;
      for (let i = 0; i < n; i++) {
        let rest = i, ia = 0, ib = 0;
        for (let d = rank - 1; d >= 0; d--) {
          const index = rest % outShape[d];
          rest = Math.floor(rest / outShape[d]);
          ia += index * aStrides[d];
          ib += index * bStrides[d];
        }
        out[i] = fn(x[ia], y[ib]);
      }
    }
    return cpuTensor(out, outShape);
  }
  return launch(a.device, {
    op,
    shader: "binary",
    constants: { OP: BINARY_OPS[op].code, BROADCAST: same ? 0 : 1 },
    uniforms: words(
      n,
      outShape.length,
      0,
      0,
      ...dims8(outShape),
      ...dims8(aStrides),
      ...dims8(bStrides),
    ),
    inputs: [["a", a], ["b", b]],
    outShape,
    workgroups: Math.ceil(n / ELEMENTWISE_WG),
  });
}

/**
 * `a + b` with broadcasting (a bias `[N]` adds to every row of `[..., N]`).
 *
 * @example
 * ```ts
 * import { add, tensor } from "@tessera/core";
 * console.log(await add(tensor([[1, 2], [3, 4]]), tensor([10, 20])).toArray());
 * // [[11, 22], [13, 24]]
 * ```
 */
export function add(a: Tensor, b: Tensor): Tensor {
  return record("add", [a, b], binary("add", a, b), binaryBackward("add"));
}

/**
 * `a - b` with broadcasting.
 *
 * @example
 * ```ts
 * import { sub, tensor } from "@tessera/core";
 * console.log(await sub(tensor([3, 4]), tensor([1, 1])).toArray()); // [2, 3]
 * ```
 */
export function sub(a: Tensor, b: Tensor): Tensor {
  return record("sub", [a, b], binary("sub", a, b), binaryBackward("sub"));
}

/**
 * `a * b` elementwise with broadcasting.
 *
 * @example
 * ```ts
 * import { mul, tensor } from "@tessera/core";
 * console.log(await mul(tensor([1, 2, 3]), tensor([2])).toArray()); // [2, 4, 6]
 * ```
 */
export function mul(a: Tensor, b: Tensor): Tensor {
  return record("mul", [a, b], binary("mul", a, b), binaryBackward("mul"));
}

/**
 * `a / b` elementwise with broadcasting.
 *
 * @example
 * ```ts
 * import { div, tensor } from "@tessera/core";
 * console.log(await div(tensor([1, 2]), tensor([4])).toArray()); // [0.25, 0.5]
 * ```
 */
export function div(a: Tensor, b: Tensor): Tensor {
  return record("div", [a, b], binary("div", a, b), binaryBackward("div"));
}

/**
 * `x * factor`, computed in float32 on both devices.
 *
 * @example
 * ```ts
 * import { scale, tensor } from "@tessera/core";
 * console.log(await scale(tensor([1, 2]), 0.5).toArray()); // [0.5, 1]
 * ```
 */
export function scale(x: Tensor, factor: number): Tensor {
  return record("scale", [x], scaled(x, factor), scaleBackward(factor));
}

function scaled(x: Tensor, factor: number): Tensor {
  const alpha = Math.fround(factor);
  if (x.device.kind === "cpu") {
    const src = cpuData(x, "scale", "input");
    const out = new Float32Array(src.length);
    for (let i = 0; i < src.length; i++) out[i] = alpha * src[i];
    return cpuTensor(out, x.shape);
  }
  return launch(x.device, {
    op: "scale",
    shader: "unary",
    constants: { OP: 0 },
    uniforms: words(x.size, { f32: alpha }, { f32: 0 }, 0),
    inputs: [["input", x]],
    outShape: x.shape,
    workgroups: Math.ceil(x.size / ELEMENTWISE_WG),
  });
}
