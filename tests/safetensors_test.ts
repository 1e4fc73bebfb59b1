import assert from "node:assert/strict";
import {
  type SafetensorsErrorCode,
  SafetensorsFormatError,
  UnsupportedDtypeError,
  UnsupportedFormatError,
} from "../src/io/checkpoint_errors.ts";
import {
  assertNotPickle,
  type HostTensor,
  parseSafetensors,
  serializeSafetensors,
} from "../src/io/safetensors_format.ts";
import { TesseraError } from "../src/errors.ts";
import f32File from "./fixtures/safetensors/f32.safetensors" with { type: "bytes" };
import f16File from "./fixtures/safetensors/f16.safetensors" with { type: "bytes" };
import bf16File from "./fixtures/safetensors/bf16.safetensors" with { type: "bytes" };
import tesseraFile from "./fixtures/safetensors/written_by_tessera.safetensors" with {
  type: "bytes",
};
import expected from "./fixtures/safetensors/expected.json" with { type: "json" };
import tesseraSpec from "./fixtures/safetensors/written_by_tessera.json" with { type: "json" };

const encoder = new TextEncoder();

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function u64(n: bigint | number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  return out;
}

/** A file from header bytes (or text, or a value to JSON-encode) and a data section. */
function craft(
  header: Uint8Array | string | object,
  data: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const bytes = header instanceof Uint8Array
    ? header
    : encoder.encode(typeof header === "string" ? header : JSON.stringify(header));
  return concat(u64(bytes.length), bytes, data);
}

function f32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}

function bitsOf(data: Float32Array | Int32Array | Uint16Array): number[] {
  if (data instanceof Uint16Array) return [...data];
  return [...new Uint32Array(data.buffer, data.byteOffset, data.length)];
}

function throwsFormat(fn: () => unknown, code: SafetensorsErrorCode, pattern?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SafetensorsFormatError, `expected SafetensorsFormatError, got ${e}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, /^Cannot (parse|serialize) safetensors/);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

function info(dtype: string, shape: number[], offsets: number[]): object {
  return { dtype, shape, data_offsets: offsets };
}

// --- fixtures written by Python ---

for (
  const [file, bytes] of [
    ["f32.safetensors", f32File],
    ["f16.safetensors", f16File],
    ["bf16.safetensors", bf16File],
  ] as const
) {
  Deno.test(`fixture ${file} written by Python loads bit-exact`, () => {
    const want = expected[file];
    const parsed = parseSafetensors(bytes);
    assert.deepEqual(Object.fromEntries(parsed.metadata), want.metadata);
    assert.deepEqual([...parsed.tensors.keys()].sort(), Object.keys(want.tensors).sort());
    for (const [name, t] of Object.entries(want.tensors)) {
      const got = parsed.tensors.get(name)!;
      assert.equal(got.dtype, t.dtype);
      assert.deepEqual(got.shape, t.shape);
      assert.deepEqual(bitsOf(got.data), t.bits, `${file} ${name}`);
    }
  });
}

// --- a file written by Tessera, checked by Python (see scripts/gen_safetensors_fixtures.py) ---

function specTensors(): [string, HostTensor][] {
  return Object.entries(tesseraSpec.tensors).map(([name, t]) => [
    name,
    { shape: t.shape, data: new Float32Array(new Uint32Array(t.bits).buffer) },
  ]);
}

Deno.test("serializer output equals the committed file that Python verified", () => {
  const bytes = serializeSafetensors(specTensors(), tesseraSpec.metadata);
  assert.deepEqual(bytes, tesseraFile);
});

Deno.test("the committed Tessera file parses back to its input, bit for bit", () => {
  const parsed = parseSafetensors(tesseraFile);
  assert.deepEqual(Object.fromEntries(parsed.metadata), tesseraSpec.metadata);
  for (const [name, t] of Object.entries(tesseraSpec.tensors)) {
    const got = parsed.tensors.get(name)!;
    assert.equal(got.dtype, "F32");
    assert.deepEqual(got.shape, t.shape);
    assert.deepEqual(bitsOf(got.data), t.bits, name);
  }
});

// --- R1-R3: the length prefix ---

Deno.test("R1: fewer than 8 bytes is HeaderTooSmall", () => {
  for (let n = 0; n < 8; n++) {
    throwsFormat(() => parseSafetensors(new Uint8Array(n)), "HeaderTooSmall", /is \d bytes/);
  }
});

Deno.test("R2: a header length above 100,000,000 is HeaderTooLarge, compared without rounding", () => {
  throwsFormat(
    () => parseSafetensors(u64(123456789012)),
    "HeaderTooLarge",
    /header length 123456789012 exceeds the limit of 100000000 bytes/,
  );
  throwsFormat(() => parseSafetensors(u64(100_000_001)), "HeaderTooLarge", /100000001/);
  throwsFormat(() => parseSafetensors(u64(2n ** 63n)), "HeaderTooLarge", /9223372036854775808/);
  // 2^53 + 1 has no Number form: the message shows the exact value read.
  throwsFormat(() => parseSafetensors(u64(2n ** 53n + 1n)), "HeaderTooLarge", /9007199254740993/);
  throwsFormat(() => parseSafetensors(u64(2n ** 64n - 1n)), "HeaderTooLarge");
  // The limit itself is allowed; this short input then fails on its length.
  throwsFormat(() => parseSafetensors(u64(100_000_000)), "InvalidHeaderLength");
});

Deno.test("R3: a header length past the end of the input is InvalidHeaderLength", () => {
  const bytes = concat(u64(16), encoder.encode("{}        "));
  throwsFormat(() => parseSafetensors(bytes), "InvalidHeaderLength", /needs 24 bytes.* 18 bytes/);
  throwsFormat(() => parseSafetensors(u64(1)), "InvalidHeaderLength");
});

// --- R4-R6: the header text ---

Deno.test("R4: a header that is not UTF-8 is InvalidHeader", () => {
  const bad = [
    [0xff],
    [0xc0, 0xaf], // overlong "/"
    [0xed, 0xa0, 0x80], // an encoded surrogate
    [0xe2, 0x82], // truncated sequence
  ];
  for (const seq of bad) {
    const header = concat(encoder.encode('{"a":"'), new Uint8Array(seq), encoder.encode('"}'));
    throwsFormat(() => parseSafetensors(craft(header)), "InvalidHeader", /not valid UTF-8/);
  }
});

Deno.test("R5: a header that is not a JSON object is InvalidHeaderDeserialization", () => {
  for (const text of ["{", "{'a':1}", '{"a":1,}', "", "   ", "\uFEFF{}", "{}{}", "NaN"]) {
    throwsFormat(() => parseSafetensors(craft(text)), "InvalidHeaderDeserialization", /JSON/);
  }
  for (
    const [text, kind] of [["[]", "an array"], ["3", "a number"], ['"x"', "a string"], [
      "null",
      "null",
    ]]
  ) {
    throwsFormat(
      () => parseSafetensors(craft(text)),
      "InvalidHeaderDeserialization",
      new RegExp(`must be a JSON object, but it is ${kind}`),
    );
  }
});

Deno.test("R6: whitespace around the header JSON is accepted", () => {
  const header = ` \n\t{"w":${JSON.stringify(info("F32", [1], [0, 4]))}}\r\n   `;
  const parsed = parseSafetensors(craft(header, f32Bytes([1.5])));
  assert.deepEqual([...parsed.tensors.get("w")!.data], [1.5]);
});

// --- R7-R8: header entries ---

Deno.test("R7: __metadata__ must be an object of strings", () => {
  for (const metadata of [null, [], "x", 1, { a: 1 }, { a: null }, { a: {} }, { a: ["x"] }]) {
    throwsFormat(
      () => parseSafetensors(craft({ __metadata__: metadata })),
      "InvalidMetadata",
      /__metadata__/,
    );
  }
  const parsed = parseSafetensors(craft({ __metadata__: { format: "pt", "": "empty" } }));
  assert.deepEqual([...parsed.metadata], [["format", "pt"], ["", "empty"]]);
  assert.equal(parsed.tensors.size, 0);
});

Deno.test("R8: each tensor entry must be exactly {dtype, shape, data_offsets}", () => {
  const bad: [unknown, RegExp][] = [
    [null, /must be an object.*but it is null/],
    [[], /but it is an array/],
    ["F32", /but it is a string/],
    [{ dtype: "F32", shape: [1] }, /misses data_offsets/],
    [{ shape: [1], data_offsets: [0, 4] }, /misses dtype/],
    [{ ...info("F32", [1], [0, 4]), offsets: [0, 4] }, /unknown fields "offsets"/],
    [info("F128", [1], [0, 4]), /dtype "F128", which is not a safetensors dtype/],
    [info("f32", [1], [0, 4]), /dtype "f32"/],
    [info(32 as unknown as string, [1], [0, 4]), /dtype 32/],
    [{ dtype: "F32", shape: 1, data_offsets: [0, 4] }, /shape 1/],
    [info("F32", [-1], [0, 4]), /shape \[-1\]/],
    [info("F32", [1.5], [0, 4]), /shape \[1.5\]/],
    [info("F32", [2 ** 53], [0, 4]), /non-negative safe integers/],
    [{ dtype: "F32", shape: ["1"], data_offsets: [0, 4] }, /shape \["1"\]/],
    [info("F32", [1], [4]), /data_offsets \[4\]/],
    [info("F32", [1], [0, 4, 8]), /data_offsets \[0,4,8\]/],
    [info("F32", [1], [-4, 0]), /data_offsets/],
    [info("F32", [1], [0, 4.5]), /data_offsets/],
    [info("F32", [1], [0, 2 ** 53]), /data_offsets/],
    [{ dtype: "F32", shape: [1], data_offsets: { 0: 0, 1: 4 } }, /data_offsets/],
  ];
  for (const [entry, pattern] of bad) {
    throwsFormat(
      () => parseSafetensors(craft({ w: entry }, new Uint8Array(4))),
      "InvalidTensorInfo",
      pattern,
    );
  }
});

Deno.test("R8: a shape dimension beyond 2^53 is refused, not rounded", () => {
  // JSON.parse reads 9007199254740993 as 2^53, which is not a safe integer.
  const header = '{"w":{"dtype":"F32","shape":[9007199254740993],"data_offsets":[0,4]}}';
  throwsFormat(() => parseSafetensors(craft(header, new Uint8Array(4))), "InvalidTensorInfo");
});

// --- R9: dtypes ---

const UNSUPPORTED: [string, number[], number][] = [
  ["BOOL", [3], 3],
  ["F4", [4], 2],
  ["F6_E2M3", [4], 3],
  ["F6_E3M2", [4], 3],
  ["U8", [3], 3],
  ["I8", [3], 3],
  ["F8_E5M2", [3], 3],
  ["F8_E4M3", [3], 3],
  ["F8_E8M0", [3], 3],
  ["F8_E4M3FNUZ", [3], 3],
  ["F8_E5M2FNUZ", [3], 3],
  ["I16", [3], 6],
  ["U16", [3], 6],
  ["U32", [3], 12],
  ["C64", [3], 24],
  ["F64", [3], 24],
  ["I64", [3], 24],
  ["U64", [3], 24],
];

Deno.test("R9: every known dtype besides F32, F16, BF16, I32 is UnsupportedDtypeError", () => {
  for (const [dtype, shape, nbytes] of UNSUPPORTED) {
    const bytes = craft({ ids: info(dtype, shape, [0, nbytes]) }, new Uint8Array(nbytes));
    assert.throws(() => parseSafetensors(bytes), (e: unknown) => {
      assert.ok(e instanceof UnsupportedDtypeError, String(e));
      assert.equal(e.tensorName, "ids");
      assert.equal(e.dtype, dtype);
      assert.deepEqual(e.supported, ["F32", "F16", "BF16", "I32"]);
      assert.equal(
        e.message,
        `Cannot load tensor "ids": dtype ${dtype} is not supported; ` +
          `supported dtypes are F32, F16, BF16, I32`,
      );
      return true;
    });
  }
});

Deno.test("R9: a broken file with an unsupported dtype reports the structural error", () => {
  const gap = craft({ ids: info("I64", [1], [8, 16]) }, new Uint8Array(16));
  throwsFormat(() => parseSafetensors(gap), "InvalidOffset");
  const short = craft({ ids: info("I64", [2], [0, 16]) }, new Uint8Array(8));
  throwsFormat(() => parseSafetensors(short), "MetadataIncompleteBuffer");
  const later = craft(
    { ids: info("I64", [1], [0, 8]), w: info("F32", [1], [8, 12]), x: { dtype: "F32" } },
    new Uint8Array(12),
  );
  throwsFormat(() => parseSafetensors(later), "InvalidTensorInfo");
});

// --- R10: duplicate keys ---

Deno.test("R10: a repeated key is DuplicateKey, at any depth", () => {
  const w = JSON.stringify(info("F32", [1], [0, 4]));
  const cases: [string, RegExp][] = [
    [`{"w":${w},"w":${w}}`, /key "w" appears more than once at the top level/],
    [`{"w":${w}, "\\u0077" :${w}}`, /key "w"/],
    [`{"__metadata__":{},"w":${w},"__metadata__":{}}`, /key "__metadata__"/],
    [`{"w":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, /"dtype".*"w"/],
    [`{"__metadata__":{"a":"1","a":"2"},"w":${w}}`, /key "a".*inside "__metadata__"/],
  ];
  for (const [header, pattern] of cases) {
    throwsFormat(
      () => parseSafetensors(craft(header, new Uint8Array(4))),
      "DuplicateKey",
      pattern,
    );
  }
});

Deno.test("R10: equal strings that are not sibling keys are not duplicates", () => {
  const header = JSON.stringify({
    __metadata__: { w: "w", note: '{"w":1,"w":2}', "a\\": "\\" },
    dtype: info("F32", [1], [0, 4]),
    w: info("F32", [1], [4, 8]),
  });
  const parsed = parseSafetensors(craft(header, f32Bytes([1, 2])));
  assert.deepEqual([...parsed.tensors.keys()], ["dtype", "w"]);
  assert.equal(parsed.metadata.get("note"), '{"w":1,"w":2}');
});

// --- R11: sizes ---

Deno.test("R11: a size past Number.MAX_SAFE_INTEGER is ValidationOverflow", () => {
  for (const shape of [[2 ** 26, 2 ** 26, 2 ** 26], [2 ** 53 - 1], new Array(64).fill(2 ** 40)]) {
    throwsFormat(
      () => parseSafetensors(craft({ w: info("F32", shape, [0, 4]) }, new Uint8Array(4))),
      "ValidationOverflow",
      /exceeds 9007199254740991/,
    );
  }
  // A zero dimension makes the tensor empty whatever the other dimensions are.
  const parsed = parseSafetensors(craft({ w: info("F32", [2 ** 53 - 1, 0, 2 ** 53 - 1], [0, 0]) }));
  assert.equal(parsed.tensors.get("w")!.data.length, 0);
});

Deno.test("R11: data_offsets that disagree with dtype and shape are TensorInvalidInfo", () => {
  throwsFormat(
    () => parseSafetensors(craft({ w: info("F32", [2], [0, 12]) }, new Uint8Array(12))),
    "TensorInvalidInfo",
    /tensor "w" \(dtype F32, shape \[2\]\) needs 8 bytes, but its data_offsets \[0, 12\] span 12/,
  );
  throwsFormat(
    () => parseSafetensors(craft({ w: info("BF16", [3], [0, 4]) }, new Uint8Array(4))),
    "TensorInvalidInfo",
  );
  // Three 4-bit values do not fill whole bytes.
  throwsFormat(
    () => parseSafetensors(craft({ w: info("F4", [3], [0, 2]) }, new Uint8Array(2))),
    "TensorInvalidInfo",
    /whole number of bytes/,
  );
});

// --- R12: offsets ---

Deno.test("R12: gaps, overlaps and reversed offsets are InvalidOffset naming the tensor", () => {
  const cases: [object, number, RegExp][] = [
    [{ a: info("F32", [1], [4, 8]) }, 8, /tensor "a".*first tensor must start at 0.*gap of 4/],
    [
      { a: info("F32", [1], [0, 4]), b: info("F32", [1], [8, 12]) },
      12,
      /tensor "b".*must start at 4.*gap of 4 bytes/,
    ],
    [
      { a: info("F32", [2], [0, 8]), b: info("F32", [1], [4, 8]) },
      8,
      /tensor "b".*overlaps the previous tensor by 4 bytes/,
    ],
    [
      { a: info("F32", [1], [0, 4]), b: info("F32", [1], [4, 0]) },
      4,
      /tensor "b".*ends before it starts/,
    ],
  ];
  for (const [header, size, pattern] of cases) {
    throwsFormat(
      () => parseSafetensors(craft(header, new Uint8Array(size))),
      "InvalidOffset",
      pattern,
    );
  }
});

Deno.test("R12: entries may be listed in any order; tensors come back in data order", () => {
  const header = { c: info("F32", [1], [8, 12]), a: info("F32", [1], [4, 8]) };
  const parsed = parseSafetensors(
    craft({ ...header, b: info("F32", [1], [0, 4]) }, f32Bytes([1, 2, 3])),
  );
  assert.deepEqual([...parsed.tensors.keys()], ["b", "a", "c"]);
  assert.deepEqual([...parsed.tensors.get("c")!.data], [3]);
});

// --- R13-R14 ---

Deno.test("R13: zero-size and rank-0 tensors load", () => {
  const parsed = parseSafetensors(craft(
    {
      empty: info("F32", [2, 0], [0, 0]),
      scalar: info("F32", [], [0, 4]),
      half: info("F16", [0], [4, 4]),
    },
    f32Bytes([-2.5]),
  ));
  assert.deepEqual(parsed.tensors.get("empty"), {
    dtype: "F32",
    shape: [2, 0],
    data: new Float32Array(0),
  });
  assert.deepEqual(parsed.tensors.get("scalar"), {
    dtype: "F32",
    shape: [],
    data: new Float32Array([-2.5]),
  });
  assert.equal(parsed.tensors.get("half")!.data.length, 0);
  assert.equal(parseSafetensors(craft("{}")).tensors.size, 0);
});

Deno.test("R14: data must end exactly where the last tensor ends", () => {
  const header = { w: info("F32", [1], [0, 4]) };
  throwsFormat(
    () => parseSafetensors(craft(header, new Uint8Array(5))),
    "MetadataIncompleteBuffer",
    /cover 4 bytes of data, but 5 bytes follow the header/,
  );
  throwsFormat(
    () => parseSafetensors(craft({ w: info("F32", [2], [0, 8]) }, new Uint8Array(4))),
    "MetadataIncompleteBuffer",
  );
  throwsFormat(() => parseSafetensors(craft("{}", new Uint8Array(1))), "MetadataIncompleteBuffer");
});

// --- R16: names that are Object.prototype properties ---

Deno.test("R16: names like __proto__ load as tensors and pollute nothing", () => {
  const before = Object.getOwnPropertyNames(Object.prototype);
  const names = ["__proto__", "constructor", "hasOwnProperty", "toString", "polluted"];
  // Object.fromEntries defines "__proto__" as an own key, so JSON.stringify keeps it.
  const header = {
    __metadata__: Object.fromEntries([["__proto__", "x"], ["polluted", "yes"]]),
    ...Object.fromEntries(names.map((n, i) => [n, info("F32", [1], [i * 4, i * 4 + 4])])),
  };
  const bytes = craft(JSON.stringify(header), f32Bytes([0, 1, 2, 3, 4]));
  assert.match(new TextDecoder().decode(bytes), /,"__proto__":\{"dtype"/);
  const parsed = parseSafetensors(bytes);
  assert.deepEqual([...parsed.tensors.keys()], names);
  names.forEach((n, i) => assert.deepEqual([...parsed.tensors.get(n)!.data], [i]));
  assert.equal(parsed.metadata.get("__proto__"), "x");
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.deepEqual(Object.getOwnPropertyNames(Object.prototype), before);
  assert.equal(Object.getPrototypeOf(parsed.tensors.get("__proto__")), Object.prototype);
});

// --- data decoding ---

Deno.test("data at an unaligned position is copied and loads correctly", () => {
  const header = { h: info("F16", [1], [0, 2]), w: info("F32", [2], [2, 10]) };
  const file = craft(header, concat(new Uint8Array([0x00, 0x3c]), f32Bytes([1.25, -7])));
  // Also misalign the input itself inside a larger buffer.
  const shifted = new Uint8Array(file.length + 3);
  shifted.set(file, 3);
  for (const bytes of [file, shifted.subarray(3)]) {
    const parsed = parseSafetensors(bytes);
    assert.deepEqual([...parsed.tensors.get("h")!.data], [1]);
    assert.deepEqual([...parsed.tensors.get("w")!.data], [1.25, -7]);
  }
});

Deno.test("loaded data is a copy of the input", () => {
  const bytes = craft({ w: info("F32", [1], [0, 4]) }, f32Bytes([3]));
  const parsed = parseSafetensors(bytes);
  bytes.fill(0);
  assert.deepEqual([...parsed.tensors.get("w")!.data], [3]);
});

function allHalves(dtype: "F16" | "BF16"): Float32Array {
  const halves = new Uint16Array(0x10000).map((_, i) => i);
  const bytes = craft(
    { all: info(dtype, [0x10000], [0, 0x20000]) },
    new Uint8Array(halves.buffer),
  );
  return parseSafetensors(bytes).tensors.get("all")!.data as Float32Array;
}

Deno.test("F16 widens exactly for all 65536 bit patterns", () => {
  const got = new Uint32Array(allHalves("F16").buffer);
  for (let h = 0; h < 0x10000; h++) {
    const sign = h >> 15 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    let want: number;
    if (exponent === 0x1f) {
      // NaN: the payload moves up 13 bits, sign and quiet bit included.
      want = ((h & 0x8000) << 16 | 0x7f800000 | mantissa << 13) >>> 0;
      if (mantissa === 0) assert.equal(new Float32Array(got.buffer)[h], sign * Infinity);
    } else {
      // Computed arithmetically, as an independent reference for the bit twiddling.
      const value = exponent === 0
        ? sign * mantissa * 2 ** -24
        : sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
      want = new Uint32Array(new Float32Array([value]).buffer)[0];
    }
    assert.equal(got[h], want, `half 0x${h.toString(16)}`);
  }
});

Deno.test("BF16 widens exactly for all 65536 bit patterns", () => {
  const got = new Uint32Array(allHalves("BF16").buffer);
  for (let h = 0; h < 0x10000; h++) assert.equal(got[h], (h << 16) >>> 0);
});

// --- pickle and zip checkpoints ---

const TORCH_LEGACY = new Uint8Array([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20]);
const PICKLE_4 = new Uint8Array([0x80, 0x04, 0x95, 0x10, 0, 0, 0, 0, 0, 0, 0, 0x7d, 0x94]);
const TORCH_ZIP = concat(
  encoder.encode("PK\x03\x04"),
  new Uint8Array([0, 0, 8, 8, 0, 0]),
  encoder.encode("archive/data.pkl"),
);

Deno.test("pickle and zip checkpoints are refused with a way out", () => {
  for (const bytes of [TORCH_LEGACY, PICKLE_4, TORCH_ZIP, new Uint8Array([0x80])]) {
    assert.throws(() => parseSafetensors(bytes), (e: unknown) => {
      assert.ok(e instanceof UnsupportedFormatError, String(e));
      assert.match(e.message, /^Cannot load checkpoint: it is a (Python pickle|zip archive)/);
      assert.match(e.message, /can execute arbitrary code/);
      assert.ok(
        e.message.includes(
          '`safetensors.torch.save_file(model.state_dict(), "model.safetensors")`',
        ),
      );
      return true;
    });
  }
  assert.throws(
    () => assertNotPickle(TORCH_LEGACY, "model.pt"),
    /Cannot load "model.pt": it is a Python pickle \(starts with 0x80, protocol 2\)/,
  );
  assert.throws(() => parseSafetensors(TORCH_ZIP, { source: "m.bin" }), /Cannot load "m.bin"/);
});

Deno.test("safetensors files whose length prefix starts like a pickle still load", () => {
  for (const headerLength of [128, 0x0280, 0x0480]) {
    const text = `{"w":${JSON.stringify(info("F32", [1], [0, 4]))}}`.padEnd(headerLength);
    const bytes = craft(text, f32Bytes([5]));
    assert.equal(bytes[0], 0x80);
    assert.deepEqual([...parseSafetensors(bytes).tensors.get("w")!.data], [5]);
  }
  // A 67,324,752-byte header begins "PK\x03\x04".
  const zipLike = new Uint8Array(8 + 0x04034b50);
  zipLike.set(u64(0x04034b50));
  zipLike[8] = 0x7b;
  assert.deepEqual([...zipLike.subarray(0, 4)], [0x50, 0x4b, 0x03, 0x04]);
  assertNotPickle(zipLike);
});

Deno.test("a source option names the input in format errors", () => {
  throwsFormat(
    () => parseSafetensors(new Uint8Array(3), { source: "a/b.safetensors" }),
    "HeaderTooSmall",
    /^Cannot parse safetensors file "a\/b.safetensors": /,
  );
});

// --- serializer ---

function headerLength(bytes: Uint8Array): number {
  return Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
}

function expectedFile(header: string, data: Uint8Array): Uint8Array {
  const padded = header.padEnd(Math.ceil(encoder.encode(header).length / 8) * 8);
  return craft(padded, data);
}

Deno.test("serializer matches the reference implementation's test vectors", () => {
  const data = new Float32Array([0, 1, 2, 3, 4, 5]);
  assert.deepEqual(
    serializeSafetensors([["attn.0", { shape: [1, 2, 3], data }]]),
    expectedFile(
      '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}',
      f32Bytes([...data]),
    ),
  );
  const aligned = serializeSafetensors([["attn0", { shape: [1, 1, 2, 3], data }]]);
  assert.equal(new DataView(aligned.buffer).getBigUint64(0, true), 72n);
  assert.equal(new TextDecoder().decode(aligned.subarray(73, 80)), "       ");
  assert.deepEqual(
    serializeSafetensors([]),
    new Uint8Array([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]),
  );
  assert.deepEqual(
    serializeSafetensors(new Map(), { framework: "pt" }),
    expectedFile('{"__metadata__":{"framework":"pt"}}', new Uint8Array(0)),
  );
});

Deno.test("serializer sorts names by code point, like Python", () => {
  const one = { shape: [1], data: new Float32Array([1]) };
  // In UTF-16 order U+1F600 (a surrogate pair) sorts before U+FB01; by code point, after.
  const bytes = serializeSafetensors([["\u{1F600}", one], ["\uFB01", one], ["B", one], ["a", one]]);
  const text = new TextDecoder().decode(bytes.subarray(8, 8 + headerLength(bytes)));
  const order = [...text.matchAll(/"([^"]+)":\{"dtype"/g)].map((m) => m[1]);
  assert.deepEqual(order, ["B", "a", "\uFB01", "\u{1F600}"]);
});

Deno.test("serialize then parse round-trips values, NaN payloads and metadata", () => {
  const special = new Float32Array(new Uint32Array([0x7fc00001, 0xff800001, 0x80000000, 1]).buffer);
  const tensors = new Map<string, HostTensor>([
    ["w", { shape: [2, 2], data: special }],
    ["b", { shape: [], data: new Float32Array([0.1]) }],
  ]);
  for (const metadata of [{ a: "1", "": "" }, new Map([["a", "1"], ["", ""]])]) {
    const bytes = serializeSafetensors(tensors, metadata);
    assert.equal(headerLength(bytes) % 8, 0);
    const parsed = parseSafetensors(bytes);
    assert.deepEqual(bitsOf(parsed.tensors.get("w")!.data), bitsOf(special));
    assert.deepEqual(parsed.tensors.get("b")!.data, new Float32Array([0.1]));
    assert.deepEqual(Object.fromEntries(parsed.metadata), { a: "1", "": "" });
  }
});

Deno.test("a parsed F16 file can be written back as F32", () => {
  const parsed = parseSafetensors(f16File);
  const again = parseSafetensors(serializeSafetensors(parsed.tensors));
  for (const [name, t] of parsed.tensors) {
    assert.equal(again.tensors.get(name)!.dtype, "F32");
    assert.deepEqual(bitsOf(again.tensors.get(name)!.data), bitsOf(t.data));
  }
});

Deno.test("serializer refuses what it cannot write faithfully", () => {
  const one = { shape: [1], data: new Float32Array([1]) };
  const cases: [() => unknown, SafetensorsErrorCode, RegExp][] = [
    [
      () => serializeSafetensors([["w", { shape: [2], data: new Float32Array(3) }]]),
      "TensorInvalidInfo",
      /shape \[2\] \(2 elements\), but its data holds 3 values/,
    ],
    [
      () => serializeSafetensors([["w", { shape: [-1], data: new Float32Array(0) }]]),
      "InvalidTensorInfo",
      /shape \[-1\]/,
    ],
    [
      () => serializeSafetensors([["w", { shape: [1], data: [1] as unknown as Float32Array }]]),
      "InvalidTensorInfo",
      /Float32Array/,
    ],
    [() => serializeSafetensors([["w", one], ["w", one]]), "DuplicateKey", /"w" repeats/],
    [() => serializeSafetensors([["__metadata__", one]]), "InvalidTensorInfo", /reserved/],
    [() => serializeSafetensors([["\uD800", one]]), "InvalidTensorInfo", /well-formed/],
    [
      () => serializeSafetensors([], { a: 1 as unknown as string }),
      "InvalidMetadata",
      /"a".*a number/,
    ],
    [() => serializeSafetensors([], { a: "\uDC00" }), "InvalidMetadata", /lone surrogate/],
  ];
  for (const [fn, code, pattern] of cases) throwsFormat(fn, code, pattern);
});

Deno.test("errors are TesseraErrors named after their class", () => {
  const errors = [
    new SafetensorsFormatError("InvalidOffset", "Cannot parse safetensors: x"),
    new UnsupportedDtypeError("t", "I8", ["F32"]),
    new UnsupportedFormatError("Cannot load x"),
  ];
  for (const e of errors) {
    assert.ok(e instanceof TesseraError);
    assert.equal(e.name, e.constructor.name);
  }
});
