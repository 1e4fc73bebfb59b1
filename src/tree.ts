/**
 * Trees: nested records and arrays whose leaves may be tensors. A module is a
 * tree, so moving, disposing and naming its tensors are tree walks.
 *
 * @module
 */

import type { Device } from "./device.ts";
import { ArgumentError } from "./errors.ts";
import { describe } from "./ops/checks.ts";
import { castKernel } from "./ops/cast.ts";
import { type DType, fromHost, hostData, Tensor } from "./tensor.ts";

/**
 * Options for {@linkcode toDevice}.
 *
 * @example
 * ```ts
 * import { type ToDeviceOptions } from "@tessera/core";
 * const half: ToDeviceOptions = { dtype: "float16" };
 * ```
 */
export interface ToDeviceOptions {
  /**
   * Converts floating tensors (float32, float16) to this floating dtype on
   * the way (float16 halves the bytes of weights); int32 tensors (token ids,
   * targets) are never converted.
   */
  dtype?: "float32" | "float16";
}

/**
 * Visits every tensor leaf of a tree in key order, with its dotted path
 * (`params.W_query.weight`, `layers.0.bias`). Non-tensor leaves are skipped.
 *
 * @example
 * ```ts
 * import { tensor, treeLeaves } from "@tessera/core";
 * const tree = { w: tensor([1]), nested: { b: tensor([2]) }, note: "kept" };
 * for (const [path] of treeLeaves(tree)) console.log(path); // "w", "nested.b"
 * ```
 */
export function* treeLeaves(tree: unknown, prefix = ""): Generator<[string, Tensor]> {
  if (tree instanceof Tensor) {
    yield [prefix, tree];
  } else if (Array.isArray(tree)) {
    for (let i = 0; i < tree.length; i++) yield* treeLeaves(tree[i], join(prefix, String(i)));
  } else if (isRecord(tree)) {
    for (const key of Object.keys(tree)) yield* treeLeaves(tree[key], join(prefix, key));
  }
}

/**
 * Returns a tree of the same shape with every tensor leaf replaced by
 * `fn(leaf, path)`. Non-tensor leaves are passed through untouched; the
 * result type keeps the input's keys.
 *
 * @example
 * ```ts
 * import { mapTree, tensor } from "@tessera/core";
 * const tree = { a: tensor([1, 2]), b: { c: tensor([3]) }, n: 4 };
 * const shapes = mapTree(tree, (t) => t); // same structure, same tensors
 * console.log(shapes.n); // 4
 * ```
 */
export function mapTree<T>(tree: T, fn: (leaf: Tensor, path: string) => Tensor): T {
  if (typeof fn !== "function") {
    throw new ArgumentError(`mapTree: fn must be a function, but got ${describe(fn)}`);
  }
  return mapAt(tree, fn, "") as T;
}

function mapAt(tree: unknown, fn: (leaf: Tensor, path: string) => Tensor, path: string): unknown {
  if (tree instanceof Tensor) return fn(tree, path);
  if (Array.isArray(tree)) return tree.map((v, i) => mapAt(v, fn, join(path, String(i))));
  if (isRecord(tree)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(tree)) {
      Object.defineProperty(out, key, {
        value: mapAt(tree[key], fn, join(path, key)),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return tree;
}

/**
 * Moves every tensor of a tree (a module's params AND buffers, or any nested
 * record) to `device`, returning a tree of the same shape. Tensors already
 * there (in the requested dtype) are kept as they are; non-tensor leaves pass
 * through. `{ dtype }` converts floating tensors, never int32 ones (moving
 * float16 onto a WebGPU device without `shader-f16` throws `DTypeError`).
 *
 * It is atomic: if one tensor fails to move, every tensor already created for
 * the new tree is disposed, the input is unchanged, and the error message
 * names the failing tensor's path (e.g. `buffers.mask`).
 *
 * @example
 * ```ts ignore
 * import { nn, toDevice, webgpu } from "@tessera/core";
 * const gpu = await webgpu();
 * const m = nn.causalAttention.init({ dIn: 3, dOut: 2, contextLength: 6, dropout: 0 });
 * const mGpu = await toDevice(m, gpu);
 * console.log(mGpu.buffers.mask.device.name); // "webgpu:0"
 * const half = await toDevice(m, gpu, { dtype: "float16" });
 * console.log(half.params.W_query.weight.dtype); // "float16"
 * ```
 */
export async function toDevice<T>(
  tree: T,
  device: Device,
  options: ToDeviceOptions = {},
): Promise<T> {
  if (
    device === null || typeof device !== "object" ||
    (device.kind !== "cpu" && device.kind !== "webgpu")
  ) {
    throw new ArgumentError(
      `toDevice: device must be cpu or a device from webgpu(), but got ${describe(device)}`,
    );
  }
  if (options === null || typeof options !== "object") {
    throw new ArgumentError(
      `toDevice: options must be an object like { dtype }, but got ${describe(options)}`,
    );
  }
  const dtype = options.dtype;
  if (dtype !== undefined && dtype !== "float32" && dtype !== "float16") {
    throw new ArgumentError(
      `toDevice: options.dtype must be "float32" or "float16", but got ${describe(dtype)}`,
    );
  }
  const target = (t: Tensor): DType => dtype !== undefined && t.dtype !== "int32" ? dtype : t.dtype;
  const moved = new Map<Tensor, Tensor>();
  try {
    for (const [path, leaf] of treeLeaves(tree)) {
      if (moved.has(leaf) || (leaf.device === device && leaf.dtype === target(leaf))) continue;
      try {
        moved.set(leaf, await moveTensor(leaf, device, target(leaf)));
      } catch (error) {
        if (error instanceof Error) {
          error.message = `toDevice: cannot move ${path || "tensor"} [${
            leaf.shape.join(", ")
          }] from ${leaf.device.name} to ${device.name}: ${error.message}`;
        }
        throw error;
      }
    }
  } catch (error) {
    for (const created of moved.values()) created.dispose();
    throw error;
  }
  return mapTree(tree, (leaf) => moved.get(leaf) ?? leaf);
}

async function moveTensor(t: Tensor, device: Device, dtype: DType): Promise<Tensor> {
  // Convert where it is cheapest: on the GPU when the source is there, so a
  // float32 -> float16 move reads back half the bytes; on the host otherwise.
  const converted = t.dtype === dtype ? t : castKernel("toDevice", t, dtype);
  try {
    // Only a dtype change on the same device lands here (moves skip the rest).
    if (converted.device === device) return converted;
    // hostData copies, so a CPU destination owns its values.
    const host = await hostData(converted, "toDevice", "tensor");
    return fromHost(host, t.shape, device, "toDevice", "tensor");
  } finally {
    if (converted !== t && converted.device !== device) converted.dispose();
  }
}

/**
 * Disposes every tensor in a tree, releasing GPU memory. Disposing a tensor
 * twice is harmless.
 *
 * @example
 * ```ts
 * import { dispose, tensor } from "@tessera/core";
 * const tree = { a: tensor([1]), b: [tensor([2])] };
 * dispose(tree);
 * console.log(tree.a.isDisposed); // true
 * ```
 */
export function dispose(tree: unknown): void {
  for (const [, leaf] of treeLeaves(tree)) leaf.dispose();
}

function join(prefix: string, key: string): string {
  return prefix ? `${prefix}.${key}` : key;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object") return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
