import assert from "node:assert/strict";
import fx from "./fixtures/format.json" with { type: "json" };
import {
  formatFloatFixed,
  formatFloatScientific,
  type FormatOptions,
  formatTensorValues,
} from "../src/format_values.ts";
import { ShapeError } from "../src/errors.ts";

interface FixtureCase {
  name: string;
  shape: number[];
  data: string;
  expected: string;
  options?: FormatOptions;
  suffixes?: string[];
}

/** Fixture data is base64 of little-endian float32 bit patterns (see scripts/gen_format_fixtures.py). */
function decode(b64: string): Float32Array {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const view = new DataView(bytes.buffer);
  const out = new Float32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

const cases = fx.cases as FixtureCase[];

Deno.test("format fixtures cover the required shapes", () => {
  const shapes = new Set(cases.map((c) => JSON.stringify(c.shape)));
  for (const s of ["[]", "[0]", "[0,3]", "[1]", "[7]", "[100]", "[2000]", "[40,40]", "[3,500]"]) {
    assert.ok(shapes.has(s), `missing shape ${s}`);
  }
  for (const s of ["[2,3,4]", "[2,1,1,3]", "[1,1,1]", "[2,6,2]"]) {
    assert.ok(shapes.has(s), `missing shape ${s}`);
  }
  assert.ok(cases.length >= 40);
});

for (const c of cases) {
  Deno.test(`matches torch ${fx.torch}: ${c.name}`, () => {
    const got = formatTensorValues(decode(c.data), c.shape, c.suffixes ?? [], c.options ?? {});
    assert.equal(got, c.expected);
  });
}

const seedBlock = "[[-0.4519,  0.2216],\n" +
  "         [-0.5874,  0.0058],\n" +
  "         [-0.6300, -0.0632],\n" +
  "         [-0.5675, -0.0843],\n" +
  "         [-0.5526, -0.0981],\n" +
  "         [-0.5299, -0.1081]]";
const seedRows = [
  [-0.4519, 0.2216],
  [-0.5874, 0.0058],
  [-0.63, -0.0632],
  [-0.5675, -0.0843],
  [-0.5526, -0.0981],
  [-0.5299, -0.1081],
];

Deno.test("seed notebook tensors print like torch", () => {
  const data = new Float32Array([...seedRows.flat(), ...seedRows.flat()]);
  const body = `tensor([${seedBlock},\n\n        ${seedBlock}]`;
  assert.equal(formatTensorValues(data, [2, 6, 2], []), `${body})`);
  assert.equal(
    formatTensorValues(data, [2, 6, 2], ["device='webgpu:0'"]),
    `${body}, device='webgpu:0')`,
  );
});

Deno.test("seed notebook tensor from unrounded float32 values", () => {
  // Values that are not the printed decimals but round to them.
  const data = new Float32Array(
    [...seedRows.flat(), ...seedRows.flat()].map((v, i) => v + (i % 2 ? 3e-5 : -3e-5)),
  );
  assert.equal(
    formatTensorValues(data, [2, 6, 2], ["device='webgpu:0'"]),
    `tensor([${seedBlock},\n\n        ${seedBlock}], device='webgpu:0')`,
  );
});

Deno.test("formatFloatFixed matches Python '{:.Nf}'", () => {
  const table: [number, number, string][] = [
    [0.125, 2, "0.12"],
    [0.5, 0, "0"],
    [1.5, 0, "2"],
    [2.5, 0, "2"],
    [-0.00001, 4, "-0.0000"],
    [-0, 4, "-0.0000"],
    [9.99995, 4, "10.0000"],
    [99999.5, 0, "100000"],
    [0.0001, 4, "0.0001"],
    [1e-45, 4, "0.0000"],
    [-9.99995e-5, 4, "-0.0001"],
    [5e-324, 2, "0.00"],
    [0.3, 17, "0.29999999999999999"],
    [1e25, 4, "10000000000000000905969664.0000"],
    [NaN, 4, "nan"],
    [Infinity, 4, "inf"],
    [-Infinity, 0, "-inf"],
  ];
  for (const [v, p, want] of table) assert.equal(formatFloatFixed(v, p), want, `${v} .${p}f`);
});

Deno.test("formatFloatScientific matches Python '{:.Ne}'", () => {
  const table: [number, number, string][] = [
    [0.125, 2, "1.25e-01"],
    [0.5, 0, "5e-01"],
    [2.5, 0, "2e+00"],
    [-0.00001, 4, "-1.0000e-05"],
    [9.99995, 4, "1.0000e+01"],
    [99999.5, 0, "1e+05"],
    [0.0001, 4, "1.0000e-04"],
    [1e-45, 4, "1.0000e-45"],
    [3.4028234663852886e38, 4, "3.4028e+38"],
    [-9.99995e-5, 4, "-9.9999e-05"],
    [5e-324, 2, "4.94e-324"],
    [1e100, 3, "1.000e+100"],
    [0.3, 17, "2.99999999999999989e-01"],
    [0, 4, "0.0000e+00"],
    [-0, 4, "-0.0000e+00"],
    [NaN, 4, "nan"],
  ];
  for (const [v, p, want] of table) assert.equal(formatFloatScientific(v, p), want, `${v} .${p}e`);
});

Deno.test("empty tensors put size= after the device suffix", () => {
  const empty = new Float32Array(0);
  assert.equal(formatTensorValues(empty, [0], []), "tensor([])");
  assert.equal(formatTensorValues(empty, [2, 0], []), "tensor([], size=(2, 0))");
  assert.equal(
    formatTensorValues(empty, [0, 3], ["device='webgpu:0'", "requires_grad=True"]),
    "tensor([], device='webgpu:0', size=(0, 3), requires_grad=True)",
  );
});

Deno.test("rejects data that does not fit the shape", () => {
  assert.throws(() => formatTensorValues(new Float32Array(5), [2, 3], []), ShapeError);
  assert.throws(() => formatTensorValues(new Float32Array(0), [-1], []), ShapeError);
  assert.throws(
    () => formatTensorValues(new Float32Array(1), [], [], { precision: -1 }),
    RangeError,
  );
});
