/**
 * Argument checks shared by the ops: devices first (so the user sees the
 * device story, not a confusing shape error), then shapes.
 *
 * @module
 */

import { DeviceMismatchError, ShapeError } from "../errors.ts";
import type { Tensor } from "../tensor.ts";

/** A tensor with the name errors should call it. */
export type Named = readonly [string, Tensor];

/** Throws `DeviceMismatchError` unless all tensors share the first one's device. */
export function assertSameDevice(op: string, first: Named, ...others: Named[]): void {
  for (const other of others) {
    if (other[1].device !== first[1].device) {
      throw new DeviceMismatchError(
        op,
        [first[0], first[1].device.name],
        [other[0], other[1].device.name],
      );
    }
  }
}

/** Formats a shape as `[2, 3]`. */
export function showShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/** NumPy broadcasting of two shapes; throws `ShapeError` naming both. */
export function broadcastShapes(op: string, a: Named, b: Named): number[] {
  const sa = a[1].shape;
  const sb = b[1].shape;
  const rank = Math.max(sa.length, sb.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = sa[sa.length - rank + i] ?? 1;
    const db = sb[sb.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(
        `${op}: ${a[0]} ${showShape(sa)} and ${b[0]} ${showShape(sb)} cannot be broadcast ` +
          `together (dimension ${i}: ${da} vs ${db})`,
      );
    }
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Row-major strides of a shape. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

/** Strides that read `shape` as broadcast to `outShape` (0 on broadcast dims). */
export function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const own = contiguousStrides(shape);
  const lead = outShape.length - shape.length;
  return outShape.map((d, i) => {
    const k = i - lead;
    if (k < 0) return 0;
    return shape[k] === 1 && d !== 1 ? 0 : own[k];
  });
}

/** Resolves a possibly negative dimension index; throws naming the op. */
export function normalizeDim(op: string, dim: number, rank: number): number {
  const d = dim < 0 ? dim + rank : dim;
  if (!Number.isInteger(d) || d < 0 || d >= rank) {
    throw new RangeError(
      `${op}: dimension ${dim} is out of range for a tensor of rank ${rank}`,
    );
  }
  return d;
}
