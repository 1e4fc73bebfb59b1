/**
 * A minimal ONNX `ModelProto` writer for the benchmark: enough protobuf to
 * describe small float32 graphs of standard and `com.microsoft` nodes, so
 * that onnxruntime-web can run the same computation as Tessera without an
 * `.onnx` file or the `onnx` Python package.
 *
 * @module
 */

/**
 * One graph node.
 *
 * @example
 * ```ts
 * import type { OnnxNode } from "./bench_onnx.ts";
 * const mha: OnnxNode = {
 *   op: "MultiHeadAttention",
 *   domain: "com.microsoft",
 *   inputs: ["q", "k", "v"],
 *   outputs: ["o"],
 *   attrs: { num_heads: 1, unidirectional: 1 },
 * };
 * ```
 */
export interface OnnxNode {
  /** Operator type, e.g. `MatMul` or `MultiHeadAttention`. */
  op: string;
  /** Input value names. */
  inputs: readonly string[];
  /** Output value names. */
  outputs: readonly string[];
  /** Operator domain; empty for the standard `ai.onnx` operators. */
  domain?: string;
  /** Integer attributes as numbers, float attributes as `{ f }`, int lists as `{ ints }`. */
  attrs?: Readonly<Record<string, number | { f: number } | { ints: readonly number[] }>>;
}

/**
 * A graph input or output: name, static shape and element type (float32
 * unless given).
 *
 * @example
 * ```ts
 * import type { OnnxValue } from "./bench_onnx.ts";
 * const x: OnnxValue = ["x", [4, 256, 64]];
 * ```
 */
export type OnnxValue = readonly [string, readonly number[], ("float32" | "int32")?];

const encoder = new TextEncoder();

function varint(value: number): number[] {
  // Negative int64 values are ten-byte two's complement in protobuf.
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v) byte |= 0x80;
    out.push(byte);
  } while (v);
  return out;
}

function concat(parts: readonly (Uint8Array | number[])[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

const bytesField = (field: number, bytes: Uint8Array): Uint8Array =>
  concat([varint((field << 3) | 2), varint(bytes.length), bytes]);
const stringField = (field: number, s: string): Uint8Array => bytesField(field, encoder.encode(s));
const intField = (field: number, v: number): Uint8Array => concat([varint(field << 3), varint(v)]);
function floatField(field: number, v: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setFloat32(0, v, true);
  return concat([varint((field << 3) | 5), bytes]);
}

// ValueInfoProto { name = 1, type = 2 { tensor_type = 1 { elem_type = 1, shape = 2 } } }
function valueInfo([name, shape, dtype]: OnnxValue): Uint8Array {
  const dims = shape.map((d) => bytesField(1, intField(1, d)));
  const elemType = dtype === "int32" ? 6 /* INT32 */ : 1; /* FLOAT */
  const tensorType = concat([intField(1, elemType), bytesField(2, concat(dims))]);
  return concat([stringField(1, name), bytesField(2, bytesField(1, tensorType))]);
}

// AttributeProto { name = 1, f = 2, i = 3, ints = 8, type = 20 (FLOAT = 1, INT = 2, INTS = 7) }
function attribute(
  name: string,
  value: number | { f: number } | { ints: readonly number[] },
): Uint8Array {
  if (typeof value === "number") {
    return concat([stringField(1, name), intField(20, 2), intField(3, value)]);
  }
  if ("ints" in value) {
    return concat([
      stringField(1, name),
      intField(20, 7),
      ...value.ints.map((v) => intField(8, v)),
    ]);
  }
  return concat([stringField(1, name), intField(20, 1), floatField(2, value.f)]);
}

// NodeProto { input = 1, output = 2, name = 3, op_type = 4, attribute = 5, domain = 7 }
function node(n: OnnxNode, index: number): Uint8Array {
  return concat([
    ...n.inputs.map((s) => stringField(1, s)),
    ...n.outputs.map((s) => stringField(2, s)),
    stringField(3, `node${index}`),
    stringField(4, n.op),
    ...Object.entries(n.attrs ?? {}).map(([k, v]) => bytesField(5, attribute(k, v))),
    ...(n.domain ? [stringField(7, n.domain)] : []),
  ]);
}

/**
 * Serializes a model (IR version 8, opset 17 plus `com.microsoft` 1) whose
 * graph has the given nodes, inputs and outputs.
 *
 * @example
 * ```ts
 * import { onnxModel } from "./bench_onnx.ts";
 * const bytes = onnxModel(
 *   [{ op: "MatMul", inputs: ["a", "b"], outputs: ["c"] }],
 *   [["a", [2, 3]], ["b", [3, 4]]],
 *   [["c", [2, 4]]],
 * );
 * console.log(bytes.length > 0); // true
 * ```
 */
export function onnxModel(
  nodes: readonly OnnxNode[],
  inputs: readonly OnnxValue[],
  outputs: readonly OnnxValue[],
): Uint8Array {
  // GraphProto { node = 1, name = 2, input = 11, output = 12 }
  const graph = concat([
    ...nodes.map((n, i) => bytesField(1, node(n, i))),
    stringField(2, "bench"),
    ...inputs.map((v) => bytesField(11, valueInfo(v))),
    ...outputs.map((v) => bytesField(12, valueInfo(v))),
  ]);
  // ModelProto { ir_version = 1, opset_import = 8 { domain = 1, version = 2 }, graph = 7 }
  const opset = (domain: string, version: number) =>
    bytesField(8, concat([stringField(1, domain), intField(2, version)]));
  return concat([
    intField(1, 8),
    opset("", 17),
    opset("com.microsoft", 1),
    bytesField(7, graph),
  ]);
}
