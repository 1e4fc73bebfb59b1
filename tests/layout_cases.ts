// Running the PyTorch fixtures of tests/fixtures/layout.json (written by
// scripts/gen_layout_fixtures.py) on any device: shared by the cpu test and
// the webgpu test.

import assert from "node:assert/strict";
import {
  argmax,
  cat,
  max,
  permute,
  slice,
  squeeze,
  type Tensor,
  tensor,
  topk,
  transpose,
  unsqueeze,
} from "../mod.ts";
import fx from "./fixtures/layout.json" with { type: "json" };

/** The fixture cases. */
export const CASES: Case[] = fx.cases as Case[];

/** A fixture tensor as JSON. */
export type Encoded = { shape: number[]; data: (number | string)[] };
/** One fixture case. */
export type Case = (typeof fx.cases)[number] & Record<string, unknown>;

const SPECIAL: Record<string, number> = { nan: NaN, inf: Infinity, "-inf": -Infinity };

/** A fixture tensor: float32, or int32 when `int` is set. */
export function decode(e: Encoded, int = false): Tensor {
  const values = e.data.map((v) => typeof v === "string" ? SPECIAL[v] : v);
  return tensor(int ? new Int32Array(values) : new Float32Array(values), e.shape);
}

/** Runs a layout or extrema fixture case; the result's values, indices (if any). */
export function runCase(c: Case, inputs: Tensor[]): { out: Tensor; indices?: Tensor } {
  const x = inputs[0];
  const dim = c.dim as number | undefined;
  switch (c.op) {
    case "cat":
      return { out: cat(inputs, dim) };
    case "permute":
      return { out: permute(x, c.dims as number[]) };
    case "transpose": {
      const [d0, d1] = c.dims as number[];
      return { out: transpose(x, d0, d1) };
    }
    case "unsqueeze":
      return { out: unsqueeze(x, dim!) };
    case "squeeze":
      return { out: squeeze(x, dim) };
    case "slice":
      return { out: slice(x, ...(c.ranges as [number, number][])) };
    case "max": {
      const r = max(x, dim!);
      return { out: r.values, indices: r.indices };
    }
    case "argmax": {
      const r = argmax(x, dim);
      return { out: r, indices: r };
    }
    case "topk": {
      const r = topk(x, c.k as number, { dim, largest: c.largest as boolean });
      return { out: r.values, indices: r.indices };
    }
  }
  throw new Error(`unknown fixture op ${c.op}`);
}

/**
 * Checks a case's result against PyTorch: values exactly (NaN matches NaN),
 * indices exactly except among tied values, where torch's topk order is
 * unspecified (each index must then point at its value).
 */
export async function checkCase(
  c: Case,
  x: Tensor,
  result: { out: Tensor; indices?: Tensor },
): Promise<void> {
  const what = `${c.op} ${JSON.stringify(c.inputs[0].shape)} ${c.dim ?? ""}`;
  if (c.expected) {
    const expected = decode(c.expected as Encoded, c.int32 === true);
    assert.deepEqual(result.out.shape, expected.shape, what);
    assert.equal(result.out.dtype, expected.dtype, what);
    assert.deepEqual(await result.out.data(), await expected.data(), what);
  }
  if (c.indices && result.indices) {
    const expected = decode(c.indices as Encoded, true);
    assert.deepEqual(result.indices.shape, expected.shape, what);
    assert.equal(result.indices.dtype, "int32", what);
    const actual = await result.indices.data();
    const wanted = await expected.data();
    if (c.op !== "topk") return assert.deepEqual(actual, wanted, what);
    const values = await result.out.data();
    const xs = await x.data();
    const k = c.k as number;
    const shape = c.inputs[0].shape;
    const d = ((c.dim as number) + shape.length) % shape.length;
    const inner = shape.slice(d + 1).reduce((a, b) => a * b, 1);
    const n = shape[d];
    for (let e = 0; e < actual.length; e++) {
      const i = e % inner;
      const o = Math.floor(e / (inner * k));
      const same = (a: number, b: number) => Object.is(a, b) || a === b;
      assert.ok(same(xs[(o * n + actual[e]) * inner + i], values[e]), `${what}: index ${e}`);
      const row = Array.from({ length: k }, (_, t) => values[(o * k + t) * inner + i]);
      const tied = row.filter((v) => same(v, values[e])).length > 1;
      if (!tied) assert.equal(actual[e], wanted[e], `${what}: index ${e}`);
    }
  }
}
