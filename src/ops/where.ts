/**
 * `where(condition, a, b)`: elementwise selection with broadcasting among
 * all three tensors, like `torch.where`. Its backward rule lives here too.
 *
 * @module
 */

import { record } from "../autograd/recording.ts";
import { ShapeError } from "../errors.ts";
import { dims8, ELEMENTWISE_WG, launch, words } from "../gpu/launch.ts";
import { checkDType, cpuData, cpuRaw, cpuTensor, fromHost, numel, type Tensor } from "../tensor.ts";
import {
  assertSameDevice,
  broadcastStrides,
  checkRank,
  checkTensor,
  type Named,
  showShape,
} from "./checks.ts";
import { floatDType } from "./float_dtype.ts";
import { sumTo } from "./reduce.ts";
import { throughFloat32 } from "./through_float32.ts";
import { gpuOf, type KernelTable, kernelTable } from "./kernel_table.ts";

/**
 * Picks `a` where `condition` is nonzero and `b` elsewhere, like
 * `torch.where(condition != 0, a, b)`. The condition is int32 or float32
 * (for floats, NaN counts as true and -0 as false); a and b are both float32
 * or both float16 (the result's dtype). The
 * three broadcast together (NumPy rules). Gradients flow to a and b.
 *
 * @example
 * ```ts
 * import { tensor, where } from "@tessera/core";
 * const mask = tensor([1, 0, 1], undefined, { dtype: "int32" });
 * console.log(await where(mask, tensor([1, 2, 3]), tensor([0])).toArray()); // [1, 0, 3]
 * ```
 */
export function where(condition: Tensor, a: Tensor, b: Tensor): Tensor {
  checkTensor("where", "condition", condition);
  checkTensor("where", "a", a);
  checkTensor("where", "b", b);
  assertSameDevice("where", ["a", a], ["condition", condition], ["b", b]);
  checkDType("where", "condition", condition, ["int32", "float32", "float16"]);
  const dtype = floatDType("where", ["a", a], ["b", b]);
  const outShape = broadcast3("where", ["condition", condition], ["a", a], ["b", b]);
  // float16 values widen and round back exactly: the selection keeps their bits.
  if (dtype === "float16" || condition.dtype === "float16") {
    return throughFloat32([condition, a, b], ([c, x, y]) => where(c, x, y), dtype);
  }
  const out = select(condition, a, b, outShape);
  return record("where", [condition, a, b], out, (g, s) => {
    const [cond, sa, sb] = s.inputs;
    const zero = fromHost(new Float32Array(1), [], g.device, "where", "gradient");
    const da = s.needs[1] ? sumDown(select(cond, g, zero, g.shape), sa.shape) : null;
    const db = s.needs[2] ? sumDown(select(cond, zero, g, g.shape), sb.shape) : null;
    zero.dispose();
    return [null, da, db];
  });
}

function sumDown(t: Tensor, shape: readonly number[]): Tensor {
  if (showShape(t.shape) === showShape(shape)) return t;
  const out = sumTo(t, shape);
  t.dispose();
  return out;
}

function broadcast3(op: string, ...named: Named[]): number[] {
  for (const [name, t] of named) checkRank(op, name, t.shape);
  const rank = Math.max(...named.map(([, t]) => t.shape.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    let size = 1;
    for (const [, t] of named) {
      const d = t.shape[t.shape.length - rank + i] ?? 1;
      if (d !== 1 && size !== 1 && d !== size) {
        const shapes = named.map(([n, u]) => `${n} ${showShape(u.shape)}`).join(", ");
        throw new ShapeError(`${op}: ${shapes} cannot be broadcast together (dimension ${i})`);
      }
      if (d !== 1) size = d;
    }
    out.push(size);
  }
  return out;
}

function select(cond: Tensor, a: Tensor, b: Tensor, outShape: readonly number[]): Tensor {
  const n = numel(outShape);
  const cs = broadcastStrides(cond.shape, outShape);
  const as = broadcastStrides(a.shape, outShape);
  const bs = broadcastStrides(b.shape, outShape);
  return whereKernels.for(cond)(cond, a, b, outShape, { cs, as, bs }, n);
}

/** Strides of cond, a and b over where's output (0 where broadcast). */
export interface WhereStrides {
  cs: number[];
  as: number[];
  bs: number[];
}

/** A where implementation: strides of cond, a and b over the output (0 where broadcast). */
export type WhereImpl = (
  cond: Tensor,
  a: Tensor,
  b: Tensor,
  outShape: readonly number[],
  strides: WhereStrides,
  n: number,
) => Tensor;

function referenceWhere(
  cond: Tensor,
  a: Tensor,
  b: Tensor,
  outShape: readonly number[],
  { cs, as, bs }: WhereStrides,
  n: number,
): Tensor {
  const c = cpuRaw(cond, "where", "condition");
  const x = cpuData(a, "where", "a");
  const y = cpuData(b, "where", "b");
  const out = new Float32Array(n);
  const rank = outShape.length;
  for (let i = 0; i < n; i++) {
    let rest = i, ic = 0, ia = 0, ib = 0;
    for (let d = rank - 1; d >= 0; d--) {
      const index = rest % outShape[d];
      rest = Math.floor(rest / outShape[d]);
      ic += index * cs[d];
      ia += index * as[d];
      ib += index * bs[d];
    }
    // NaN !== 0 and -0 === 0, as torch.where(condition != 0, ...) decides.
    out[i] = c[ic] !== 0 ? x[ia] : y[ib];
  }
  return cpuTensor(out, outShape);
}

function webgpuWhere(
  cond: Tensor,
  a: Tensor,
  b: Tensor,
  outShape: readonly number[],
  { cs, as, bs }: WhereStrides,
  n: number,
): Tensor {
  const device = gpuOf(cond);
  return launch(device, {
    op: "where",
    shader: "where",
    includes: ["elementwise_header", "broadcast_index", "elementwise_main"],
    constants: { COND_FLOAT: cond.dtype === "float32" ? 1 : 0 },
    uniforms: words(
      n,
      outShape.length,
      0,
      0,
      ...dims8(outShape),
      ...dims8(cs),
      ...dims8(as),
      ...dims8(bs),
    ),
    inputs: [["condition", cond], ["a", a], ["b", b]],
    // Output float32 (first); int32 is let through for the condition only,
    // a and b were checked above.
    dtypes: ["float32", "int32"],
    outShape,
    workgroups: Math.ceil(n / ELEMENTWISE_WG),
  });
}

/** `where(cond, a, b)` selection, per backend (src/ops/kernel_table.ts). */
export const whereKernels: KernelTable<WhereImpl> = kernelTable<WhereImpl>("where", {
  reference: referenceWhere,
  webgpu: webgpuWhere,
});
