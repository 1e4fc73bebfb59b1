// The kernel tables (src/ops/kernel_table.ts): resolution by device and dtype,
// the wasm -> reference and dtype -> "any" fallbacks, the errors, late
// registration, and that every op's table has its reference and webgpu entries.

import assert from "node:assert/strict";
import {
  add,
  ArgumentError,
  cast,
  cpuBackend,
  DeviceLimitError,
  DTypeError,
  setCpuBackend,
  type Tensor,
  tensor,
  where,
} from "../mod.ts";
import { KernelTable, kernelTable, kernelTables } from "../src/ops/kernel_table.ts";
import { gatherKernels } from "../src/ops/gather.ts";
import { layerNormKernels } from "../src/ops/layer_norm.ts";
import { matmulKernels } from "../src/ops/matmul.ts";
import { whereKernels } from "../src/ops/where.ts";

type Probe = (x: Tensor) => string;

const floats = tensor([1, 2, 3]);
const ints = tensor([1, 2, 3], undefined, { dtype: "int32" });

/** Runs `f` with the cpu backend set to `backend`, then restores the previous one. */
function withBackend<T>(backend: "wasm" | "reference", f: () => T): T {
  const before = cpuBackend();
  setCpuBackend(backend);
  try {
    return f();
  } finally {
    setCpuBackend(before);
  }
}

// Where this runtime cannot compile the kernels, "wasm" resolves as "reference".
const wasmAvailable = withBackend("wasm", () => cpuBackend() === "wasm");

Deno.test("a cpu tensor resolves to reference, or to wasm when chosen and registered", () => {
  const table = new KernelTable<Probe>("probe", {
    reference: () => "reference",
    webgpu: () => "webgpu",
  });
  withBackend("wasm", () => assert.equal(table.for(floats)(floats), "reference"));
  table.register("wasm", "float32", () => "wasm");
  withBackend("wasm", () => {
    assert.equal(table.for(floats)(floats), wasmAvailable ? "wasm" : "reference");
  });
  withBackend("reference", () => assert.equal(table.for(floats)(floats), "reference"));
  assert.equal(table.on("webgpu", "float32")(floats), "webgpu");
  assert.equal(table.on("cpu", "float32")(floats), wasmAvailable ? "wasm" : "reference");
});

Deno.test("a dtype without an entry takes the backend's any entry; wasm falls back to reference", () => {
  const table = new KernelTable<Probe>("probe", {
    reference: { float32: () => "reference f32", any: () => "reference any" },
    wasm: { float32: () => "wasm f32" },
    webgpu: { float16: () => "webgpu f16", any: () => "webgpu any" },
  });
  withBackend("wasm", () => {
    assert.equal(table.for(floats)(floats), wasmAvailable ? "wasm f32" : "reference f32");
    // No wasm int32 or any entry: the reference's any entry runs.
    assert.equal(table.for(ints)(ints), "reference any");
  });
  withBackend("reference", () => assert.equal(table.for(ints)(ints), "reference any"));
  assert.equal(table.on("webgpu", "float16")(floats), "webgpu f16");
  assert.equal(table.on("webgpu", "int32")(floats), "webgpu any");
  // A wasm any entry wins over the reference's exact dtype entry.
  table.register("wasm", "any", () => "wasm any");
  withBackend("wasm", () => {
    assert.equal(table.for(ints)(ints), wasmAvailable ? "wasm any" : "reference any");
  });
  assert.deepEqual(table.dtypes("reference"), ["float32", "any"]);
  assert.deepEqual(table.dtypes("wasm"), ["float32", "any"]);
  assert.equal(table.lookup("webgpu", "float32")?.(floats), "webgpu any");
  assert.equal(table.lookup("wasm", "int32")?.(floats), "wasm any");
  assert.equal(new KernelTable<Probe>("empty").lookup("reference", "float32"), undefined);
});

Deno.test("nothing to run is a DTypeError or DeviceLimitError naming op, backend and dtype", () => {
  const table = new KernelTable<Probe>("probe", { reference: { float32: () => "f32" } });
  withBackend("reference", () => {
    assert.throws(
      () => table.for(ints),
      (e: unknown) =>
        e instanceof DTypeError &&
        e.message === "probe: the reference kernels take float32 tensors, but got int32",
    );
  });
  assert.throws(
    () => table.on("webgpu", "float32"),
    (e: unknown) =>
      e instanceof DeviceLimitError &&
      e.message === "probe: no webgpu kernel is registered (got a float32 tensor)",
  );
  const none = new KernelTable<Probe>("nothing", {});
  withBackend("reference", () => {
    assert.throws(() => none.for(floats), DeviceLimitError);
  });
});

Deno.test("register checks its arguments; unregister removes one entry", () => {
  const table = new KernelTable<Probe>("probe", { reference: () => "reference" });
  assert.throws(
    // @ts-expect-error: not a backend
    () => table.register("cuda", "float32", () => "x"),
    (e: unknown) =>
      e instanceof ArgumentError && /probe kernels: backend must be one of/.test(e.message),
  );
  assert.throws(
    // @ts-expect-error: not a dtype
    () => table.register("wasm", "bfloat16", () => "x"),
    (e: unknown) => e instanceof ArgumentError && /dtype must be one of/.test(e.message),
  );
  assert.throws(
    // @ts-expect-error: not a function
    () => table.register("wasm", "float32", 42),
    (e: unknown) =>
      e instanceof ArgumentError && /must be a function, but got number/.test(e.message),
  );
  assert.throws(() => new KernelTable<Probe>(""), ArgumentError);
  table.register("webgpu", "int32", () => "webgpu");
  assert.equal(table.unregister("webgpu", "int32"), true);
  assert.equal(table.unregister("webgpu", "int32"), false);
  assert.throws(() => table.on("webgpu", "int32"), DeviceLimitError);
});

Deno.test("the signature is the table's: a mismatched entry does not type check", () => {
  const table = new KernelTable<(x: Tensor, k: number) => Tensor>("typed", {
    reference: (x) => x,
  });
  // @ts-expect-error: the parameters do not match the table's signature
  table.register("wasm", "float32", (x: string) => x);
  const misuse = (): unknown =>
    // @ts-expect-error: the call is checked against the signature too
    table.for(floats)("not a tensor", 1);
  assert.equal(typeof misuse, "function");
  assert.equal(table.for(floats)(floats, 1), floats);
});

Deno.test("listed table names are unique", () => {
  assert.throws(
    () => kernelTable<Probe>("matmul", { reference: () => "again" }),
    (e: unknown) =>
      e instanceof ArgumentError && /a table named matmul already exists/.test(e.message),
  );
});

Deno.test("every op's table has a reference and a webgpu entry", () => {
  const tables = kernelTables();
  const names = tables.map((t) => t.op);
  assert.equal(new Set(names).size, names.length);
  for (
    const op of [
      "binary",
      "affine",
      "unary",
      "unary backward",
      "biasGelu",
      "softmax",
      "reduce",
      "gather",
      "where",
      "maskedFill",
      "triangle",
      "dropout",
      "cast",
      "matmul",
      "layerNorm",
      "layerNorm backward",
      "topk",
      "topk backward",
      "embedding",
      "embedding backward",
      "selectTokens",
      "writeKv",
      "decodeAttention",
      "advancePosition",
      "mse",
      "mse backward",
      "crossEntropy",
      "crossEntropy backward",
      "join",
      "slice backward",
      "generate append",
      "causalAttention",
      "adamw.update",
      "sgd.update",
    ]
  ) {
    assert.ok(names.includes(op), `no table named ${op}`);
  }
  for (const table of tables) {
    assert.ok(table.dtypes("reference").length > 0, `${table.op}: no reference entry`);
    assert.ok(table.dtypes("webgpu").length > 0, `${table.op}: no webgpu entry`);
  }
});

Deno.test("the cpu device's WebAssembly kernels are registered as wasm entries", () => {
  // matmul keys its float16 kernels apart (they read float16 weights directly).
  assert.deepEqual(matmulKernels.dtypes("wasm"), ["float32", "float16"]);
  assert.deepEqual(layerNormKernels.dtypes("wasm"), ["any"]);
  const a = tensor([[1, 2], [3, 4]]);
  const h = cast(a, "float16");
  withBackend("wasm", () => {
    assert.notEqual(matmulKernels.for(h), matmulKernels.for(a));
    assert.equal(matmulKernels.for(h), matmulKernels.lookup("wasm", "float16"));
  });
  withBackend("reference", () => {
    assert.equal(matmulKernels.for(a), matmulKernels.lookup("reference", "float32"));
  });
  withBackend("wasm", () => {
    const expected = wasmAvailable ? "wasm" : "reference";
    assert.equal(matmulKernels.for(a), matmulKernels.lookup(expected, "float32"));
  });
});

Deno.test("a wasm entry registered for one op leaves the others as they were", async () => {
  const before = gatherKernels.for(floats);
  let calls = 0;
  whereKernels.register("wasm", "float32", (...args) => {
    calls++;
    return whereKernels.lookup("reference", "float32")!(...args);
  });
  try {
    const cond = tensor([1, 0, 1]);
    const out = withBackend("wasm", () => where(cond, floats, tensor([7, 8, 9])));
    assert.deepEqual(await out.toArray(), [1, 8, 3]);
    assert.equal(calls, wasmAvailable ? 1 : 0);
    // Other ops resolve as before, and an int32 condition keeps the reference.
    withBackend("wasm", () => {
      assert.equal(gatherKernels.for(floats), before);
      const viaInts = where(tensor([0, 1, 0], undefined, { dtype: "int32" }), floats, floats);
      viaInts.dispose();
    });
    assert.equal(calls, wasmAvailable ? 1 : 0);
    assert.deepEqual(await withBackend("wasm", () => add(floats, floats)).toArray(), [2, 4, 6]);
  } finally {
    whereKernels.unregister("wasm", "float32");
  }
  assert.deepEqual(whereKernels.dtypes("wasm"), []);
});

Deno.test("tables made with new KernelTable are not listed", () => {
  const table = new KernelTable<Probe>("unlisted", {});
  assert.equal(table.op, "unlisted");
  assert.ok(!kernelTables().some((t) => t.op === "unlisted"));
});
