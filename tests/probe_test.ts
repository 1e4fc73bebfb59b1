// The probe suite: every public function, called the way a hostile or
// careless user would (wrong types, NaN / fractional / negative sizes,
// disposed tensors), must throw (or reject with) a TesseraError whose message
// names the function. CPU only; no GPU device is ever opened.
//
// PROBES is an explicit, reviewed table of argument kinds per export. A new
// export without an entry fails "every export has a probe entry" until
// someone adds one (or lists it in EXCLUDED with a reason).

import assert from "node:assert/strict";
import * as api from "../mod.ts";
import { nn, tensor, TesseraError } from "../mod.ts";

type Fn = (...args: unknown[]) => unknown;

/** A bad value for an argument, with the label shown in failures. */
type Bad = readonly [label: string, make: () => unknown];

function disposedTensor(): api.Tensor {
  const t = tensor([[1, 2], [3, 4]]);
  t.dispose();
  return t;
}

function disposedModule(): unknown {
  const m = nn.linear.init({ inFeatures: 2, outFeatures: 2 });
  m.params.weight.dispose();
  return m;
}

const WRONG_TYPES: readonly Bad[] = [
  ["undefined", () => undefined],
  ["a string", () => "oops"],
  ["a plain object", () => ({})],
  ["null", () => null],
];
const OPTIONAL_WRONG_TYPES: readonly Bad[] = [
  ["a string", () => "oops"],
  ["null", () => null],
];
const BAD_INTEGERS: readonly Bad[] = [
  ["NaN", () => NaN],
  ["1.5", () => 1.5],
  ["Infinity", () => Infinity],
];

/**
 * Argument kinds. Each maps to the bad values probed in that position; an
 * optional argument (`?`) is not probed with `undefined`, which means "the
 * default".
 */
const KINDS = {
  tensor: [...WRONG_TYPES, ["a disposed tensor", disposedTensor], ["a number", () => 3]],
  "tensor?": [["a string", () => "oops"], ["a plain object", () => ({})], [
    "a disposed tensor",
    disposedTensor,
  ]],
  tensors: [...WRONG_TYPES, ["[undefined]", () => [undefined]], ["[disposed]", () => [
    disposedTensor(),
  ]]],
  /** A dimension index (negative allowed). */
  dim: [...WRONG_TYPES, ...BAD_INTEGERS, ["out of range 99", () => 99]],
  "dim?": [["a string", () => "oops"], ...BAD_INTEGERS, ["out of range 99", () => 99]],
  "dims?": [["a string", () => "oops"], ...BAD_INTEGERS, ["[1.5]", () => [1.5]], [
    "[NaN]",
    () => [NaN],
  ]],
  /** A count or size: a whole number >= 0. */
  size: [...WRONG_TYPES, ...BAD_INTEGERS, ["-1", () => -1]],
  /** Any whole number (triu's diagonal). */
  "int?": [["a string", () => "oops"], ...BAD_INTEGERS],
  /** A number where NaN and infinities are legitimate values. */
  number: WRONG_TYPES,
  /** A number that must be finite. */
  finite: [...WRONG_TYPES, ["NaN", () => NaN], ["Infinity", () => Infinity]],
  "finite?": [["a string", () => "oops"], ["NaN", () => NaN], ["-Infinity", () => -Infinity]],
  /** A probability in [0, 1). */
  prob: [...WRONG_TYPES, ["NaN", () => NaN], ["-0.5", () => -0.5], ["1.5", () => 1.5]],
  shape: [
    ...WRONG_TYPES,
    ["a bare number 3", () => 3],
    ["[NaN]", () => [NaN]],
    [
      "[1.5]",
      () => [1.5],
    ],
    ["[-1]", () => [-1]],
    ["['2']", () => ["2"]],
  ],
  "shape?": [["a string", () => "oops"], ["null", () => null], ["[NaN]", () => [NaN]], [
    "[1.5]",
    () => [1.5],
  ], ["[-1]", () => [-1]]],
  /** A shape where one dimension may be -1 (inferred). */
  "shape-1": [...WRONG_TYPES, ["[NaN]", () => [NaN]], ["[1.5]", () => [1.5]], [
    "[-2]",
    () => [-2],
  ]],
  /** A shape or a bare size. */
  shapeLike: [["a string", () => "oops"], ["null", () => null], ["NaN", () => NaN], [
    "[1.5]",
    () => [1.5],
  ], ["[-1]", () => [-1]]],
  range: [["a string", () => "oops"], ["[NaN, 1]", () => [NaN, 1]], ["[0, 1.5]", () => [0, 1.5]]],
  "options?": OPTIONAL_WRONG_TYPES,
  module: [...WRONG_TYPES, ["a module with a disposed parameter", disposedModule]],
  /** A module only walked for names, never computed with: disposed tensors are fine. */
  moduleRecord: WRONG_TYPES,
  /** A list of dimensions (a permutation). */
  dimList: [...WRONG_TYPES, ["[0, 1.5]", () => [0, 1.5]], ["[0, NaN]", () => [0, NaN]], [
    "[0, 0]",
    () => [0, 0],
  ]],
  /** A WebGPU device (never opened here). */
  device: WRONG_TYPES,
  "device?": [["a string", () => "oops"], ["a plain object", () => ({})]],
  fn: WRONG_TYPES,
  bytes: WRONG_TYPES,
  dict: [...WRONG_TYPES, [
    "a dict with an undefined entry",
    () => new Map([["weight", undefined], ["bias", undefined]]),
  ]],
  seed: [...WRONG_TYPES, ...BAD_INTEGERS],
  values: [...WRONG_TYPES, ["a disposed tensor", disposedTensor]],
  /** A config record: wrong types and NaN / fractional / negative sizes. */
  linearConfig: [...WRONG_TYPES, ["NaN inFeatures", () => ({ inFeatures: NaN, outFeatures: 2 })], [
    "1.5 outFeatures",
    () => ({ inFeatures: 2, outFeatures: 1.5 }),
  ], ["-1 inFeatures", () => ({ inFeatures: -1, outFeatures: 2 })]],
  attentionConfig: [
    ...WRONG_TYPES,
    [
      "NaN dIn",
      () => ({ dIn: NaN, dOut: 2, contextLength: 4, dropout: 0 }),
    ],
    ["1.5 dOut", () => ({ dIn: 2, dOut: 1.5, contextLength: 4, dropout: 0 })],
    [
      "-1 contextLength",
      () => ({ dIn: 2, dOut: 2, contextLength: -1, dropout: 0 }),
    ],
    ["NaN dropout", () => ({ dIn: 2, dOut: 2, contextLength: 4, dropout: NaN })],
  ],
  optimizerOptions: [...WRONG_TYPES, ["lr NaN", () => ({ lr: NaN })], ["lr -1", () => ({
    lr: -1,
  })]],
  webgpuOptions: [["null", () => null], ["maxCachedBytes NaN", () => ({ maxCachedBytes: NaN })], [
    "maxCachedBytes -1",
    () => ({ maxCachedBytes: -1 }),
  ]],
  /** Accepts anything (a tree walk over any value): not probed. */
  any: [],
} satisfies Record<string, readonly Bad[]>;

type Kind = keyof typeof KINDS;

interface Probe {
  /** Argument kinds in order. */
  kinds: readonly Kind[];
  /** Valid arguments; every probe replaces one of them. */
  valid: () => unknown[];
  /** The name the message must contain (defaults to the export's name). */
  name?: string;
  /** Call with `new` (a class). */
  construct?: boolean;
  /** The valid call needs a GPU, so it is not run as a baseline here. */
  gpuOnly?: boolean;
}

const t23 = () => tensor([[1, 2, 3], [4, 5, 6]]);
const t22 = () => tensor([[1, 2], [3, 4]]);
const ids = () => tensor([0, 2], undefined, { dtype: "int32" });
const linearModule = () => nn.linear.init({ inFeatures: 3, outFeatures: 2 });
const attentionConfig = { dIn: 3, dOut: 2, contextLength: 4, dropout: 0 };
const attention = () => nn.causalAttention.init(attentionConfig);
const x3 = () => tensor([[[1, 2, 3], [4, 5, 6]]]);

/** Things exported but not callable with arguments worth probing. */
const EXCLUDED: Record<string, string> = {
  ArgumentError: "error class: its only argument is a message",
  AssertCloseError: "error class",
  DTypeError: "error class",
  DeviceLimitError: "error class",
  DeviceLostError: "error class",
  DeviceMismatchError: "error class",
  GpuError: "error class",
  PermissionError: "error class",
  SafetensorsFormatError: "error class",
  ShapeError: "error class",
  StateDictError: "error class",
  TesseraError: "error class",
  UnsupportedDtypeError: "error class",
  UnsupportedFormatError: "error class",
  UseAfterDisposeError: "error class",
  WebGpuUnavailableError: "error class",
  Tensor: "class without a public constructor (tensor() and ops create tensors)",
  DEFAULT_SEED: "a constant",
  TOPK_GPU_MAX_K: "a constant",
  cpu: "a constant (the CPU device)",
  globalGenerator: "takes no arguments",
  nn: "a namespace: its members are probed as nn.<layer>.<function>",
};

const PROBES: Record<string, Probe> = {
  // Creation.
  tensor: { kinds: ["values", "shape?", "options?"], valid: () => [[1, 2], [2], {}] },
  full: { kinds: ["shape", "number", "options?"], valid: () => [[2], 1, {}] },
  zeros: { kinds: ["shape", "options?"], valid: () => [[2], {}] },
  ones: { kinds: ["shape", "options?"], valid: () => [[2], {}] },
  arange: { kinds: ["finite", "finite?", "finite?", "options?"], valid: () => [0, 3, 1, {}] },
  // Random.
  Generator: { kinds: ["seed"], valid: () => [1], construct: true },
  manualSeed: { kinds: ["seed"], valid: () => [1] },
  rand: { kinds: ["shapeLike", "options?"], valid: () => [[2], {}] },
  randn: { kinds: ["shapeLike", "options?"], valid: () => [[2], {}] },
  uniform: { kinds: ["shapeLike", "finite", "finite", "options?"], valid: () => [[2], 0, 1, {}] },
  // Trees, modules, state dicts.
  dispose: { kinds: ["any"], valid: () => [{ a: tensor([1]) }] },
  treeLeaves: { kinds: ["any"], valid: () => [{ a: tensor([1]) }] },
  mapTree: { kinds: ["any", "fn"], valid: () => [{ a: tensor([1]) }, (t: api.Tensor) => t] },
  toDevice: { kinds: ["any", "device"], valid: () => [{ a: tensor([1]) }, api.cpu] },
  namedParameters: { kinds: ["moduleRecord"], valid: () => [linearModule()] },
  namedBuffers: { kinds: ["moduleRecord"], valid: () => [linearModule()] },
  checkModuleRecord: {
    kinds: ["any", "moduleRecord"],
    valid: () => ["checkModuleRecord", linearModule()],
  },
  checkModule: {
    kinds: ["any", "module", "device?"],
    valid: () => ["checkModule", linearModule(), api.cpu],
  },
  stateDict: { kinds: ["moduleRecord"], valid: () => [linearModule()] },
  markNonPersistent: { kinds: ["moduleRecord"], valid: () => [attention(), "mask"] },
  loadStateDict: {
    kinds: ["module", "dict", "options?"],
    valid: () => {
      const m = linearModule();
      return [linearModule(), api.stateDict(m), {}];
    },
  },
  format: { kinds: ["tensor", "options?"], valid: () => [t22(), {}] },
  assertClose: { kinds: ["values", "values", "options?"], valid: () => [t22(), t22(), {}] },
  // Elementwise, layout, masking.
  add: { kinds: ["tensor", "tensor"], valid: () => [t22(), t22()] },
  sub: { kinds: ["tensor", "tensor"], valid: () => [t22(), t22()] },
  mul: { kinds: ["tensor", "tensor"], valid: () => [t22(), t22()] },
  div: { kinds: ["tensor", "tensor"], valid: () => [t22(), t22()] },
  scale: { kinds: ["tensor", "number"], valid: () => [t22(), 2] },
  matmul: { kinds: ["tensor", "tensor", "options?"], valid: () => [t22(), t22(), {}] },
  linear: {
    kinds: ["tensor", "tensor", "tensor?"],
    valid: () => [t23(), t23(), tensor([1, 2])],
  },
  reshape: { kinds: ["tensor", "shape-1"], valid: () => [t23(), [3, 2]] },
  transpose: { kinds: ["tensor", "dim?", "dim?"], valid: () => [t23(), 0, 1] },
  slice: { kinds: ["tensor", "range"], valid: () => [t23(), [0, 1]] },
  stack: { kinds: ["tensors", "dim?"], valid: () => [[t22(), t22()], 0] },
  cat: { kinds: ["tensors", "dim?"], valid: () => [[t22(), t22()], 0] },
  squeeze: { kinds: ["tensor", "dim?"], valid: () => [tensor([[1, 2]]), 0] },
  unsqueeze: { kinds: ["tensor", "dim"], valid: () => [t22(), 0] },
  permute: { kinds: ["tensor", "dimList"], valid: () => [t23(), [1, 0]] },
  broadcastTo: { kinds: ["tensor", "shape"], valid: () => [tensor([1, 2]), [2, 2]] },
  sumTo: { kinds: ["tensor", "shape"], valid: () => [t22(), [2]] },
  maskedFill: { kinds: ["tensor", "tensor", "number"], valid: () => [t22(), t22(), 0] },
  triu: { kinds: ["tensor", "int?"], valid: () => [t22(), 1] },
  tril: { kinds: ["tensor", "int?"], valid: () => [t22(), 1] },
  // Reductions, softmax, losses, dropout.
  sum: { kinds: ["tensor", "dims?", "options?"], valid: () => [t23(), 1, {}] },
  mean: { kinds: ["tensor", "dims?", "options?"], valid: () => [t23(), 1, {}] },
  max: { kinds: ["tensor", "dim", "options?"], valid: () => [t23(), 1, {}] },
  argmax: { kinds: ["tensor", "dim?", "options?"], valid: () => [t23(), 1, {}] },
  topk: { kinds: ["tensor", "size", "options?"], valid: () => [t23(), 2, {}] },
  softmax: { kinds: ["tensor", "options?"], valid: () => [t23(), {}] },
  dropout: { kinds: ["tensor", "prob", "options?"], valid: () => [t23(), 0.5, {}] },
  mse: { kinds: ["tensor", "tensor"], valid: () => [t22(), t22()] },
  crossEntropy: { kinds: ["tensor", "tensor"], valid: () => [t23(), ids()] },
  // Memory scopes.
  tidy: { kinds: ["fn"], valid: () => [() => tensor([1])] },
  keep: { kinds: ["tensor"], valid: () => [t22()] },
  // Autograd and optimizers.
  grad: { kinds: ["fn"], valid: () => [(p: api.Tensor) => api.sum(p)] },
  valueAndGrad: { kinds: ["fn"], valid: () => [(p: api.Tensor) => api.sum(p)] },
  sgd: { kinds: ["optimizerOptions"], valid: () => [{ lr: 0.1 }] },
  adamw: { kinds: ["optimizerOptions"], valid: () => [{ lr: 0.1 }] },
  // Checkpoints.
  safetensorsToStateDict: {
    kinds: ["bytes", "device?"],
    valid: () => [api.serializeSafetensors(new Map()), api.cpu],
  },
  stateDictToSafetensors: {
    kinds: ["dict"],
    valid: () => [new Map([["w", tensor([1])]])],
  },
  parseSafetensors: {
    kinds: ["bytes", "options?"],
    valid: () => [api.serializeSafetensors(new Map()), {}],
  },
  serializeSafetensors: { kinds: ["any"], valid: () => [new Map()] },
  assertNotPickle: { kinds: ["bytes"], valid: () => [new Uint8Array([1, 2, 3])] },
  // GPU only: never run for real here, only refused arguments.
  webgpu: { kinds: ["webgpuOptions"], valid: () => [{}], gpuOnly: true },
  gpuStats: { kinds: ["device"], valid: () => [], gpuOnly: true },
  resetPeakBytes: { kinds: ["device"], valid: () => [], gpuOnly: true },
  releaseCachedMemory: { kinds: ["device"], valid: () => [], gpuOnly: true },
  compileKernel: { kinds: ["device"], valid: () => [], gpuOnly: true },
  setMaxCachedBytes: { kinds: ["device"], valid: () => [], gpuOnly: true },
  // Layers.
  "nn.linear.init": {
    kinds: ["linearConfig", "options?"],
    valid: () => [{ inFeatures: 3, outFeatures: 2 }, {}],
  },
  "nn.linear.apply": { kinds: ["module", "tensor"], valid: () => [linearModule(), t23()] },
  "nn.causalAttention.init": {
    kinds: ["attentionConfig", "options?"],
    valid: () => [attentionConfig, {}],
  },
  "nn.causalAttention.apply": {
    kinds: ["module", "tensor", "options?"],
    valid: () => [attention(), x3(), {}],
  },
  "nn.causalAttention.stages": {
    kinds: ["module", "tensor", "options?"],
    valid: () => [attention(), x3(), {}],
  },
  "nn.causalAttention.forward": {
    kinds: ["any", "tensor", "tensor", "any", "options?"],
    valid: () => {
      const m = attention();
      return [m.params, m.buffers.mask, x3(), { dropout: 0 }, {}];
    },
  },
  "nn.causalAttention.core": {
    kinds: ["tensor", "tensor", "tensor", "options?"],
    valid: () => [x3(), x3(), x3(), {}],
  },
  "nn.causalAttention.causalMask": { kinds: ["size"], valid: () => [4] },
};

/** Every public callable: root exports and `nn.<layer>.<function>`. */
function publicFunctions(): Map<string, Fn> {
  const out = new Map<string, Fn>();
  for (const [name, value] of Object.entries(api)) {
    if (name in EXCLUDED) continue;
    if (typeof value === "function") out.set(name, value as Fn);
    else out.set(name, undefined as unknown as Fn); // a non-function export needs an entry too
  }
  for (const [layer, value] of Object.entries(nn)) {
    if (value === null || typeof value !== "object") continue;
    for (const [fn, member] of Object.entries(value)) {
      if (typeof member === "function") {
        out.set(`nn.${layer}.${fn}`, (member as Fn).bind(value));
      }
    }
  }
  return out;
}

/** Calls and settles: awaits promises and drains generators, where errors may surface late. */
async function settle(call: () => unknown): Promise<unknown> {
  const result = await call();
  if (
    result !== null && typeof result === "object" && !(result instanceof api.Tensor) &&
    typeof (result as Generator).next === "function" &&
    typeof (result as Iterable<unknown>)[Symbol.iterator] === "function"
  ) {
    return [...(result as Iterable<unknown>)];
  }
  return result;
}

function invoke(fn: Fn, probe: Probe, args: unknown[]): () => unknown {
  // deno-lint-ignore no-explicit-any
  return () => probe.construct ? new (fn as any)(...args) : fn(...args);
}

Deno.test("probe: every export has a probe entry or an explicit exclusion", () => {
  const missing = [...publicFunctions().keys()].filter((name) => !(name in PROBES));
  assert.deepEqual(missing.map((name) => `add a probe entry for ${name}`), []);
  const stale = Object.keys(PROBES).filter((name) => !publicFunctions().has(name));
  assert.deepEqual(stale.map((name) => `remove the probe entry for ${name}`), []);
});

for (const [name, probe] of Object.entries(PROBES)) {
  Deno.test(`probe: ${name}`, async () => {
    const fn = publicFunctions().get(name);
    if (!fn) return; // reported by the entry test above
    const expected = probe.name ?? name.replace(/^nn\./, "");
    if (!probe.gpuOnly) {
      // The table's valid call must work, or the probes prove nothing.
      await settle(invoke(fn, probe, probe.valid()));
    }
    const failures: string[] = [];
    for (let i = 0; i < probe.kinds.length; i++) {
      for (const [label, make] of KINDS[probe.kinds[i]] as readonly Bad[]) {
        const args = probe.valid();
        args[i] = make();
        const what = `${name} with argument ${i} (${probe.kinds[i]}) = ${label}`;
        try {
          await settle(invoke(fn, probe, args));
          failures.push(`${what}: did not throw`);
        } catch (error) {
          if (!(error instanceof TesseraError)) {
            failures.push(
              `${what}: threw ${(error as Error)?.name} (not a TesseraError): ${
                (error as Error)?.message
              }`,
            );
          } else if (!error.message.includes(expected)) {
            failures.push(`${what}: message does not name ${expected}: ${error.message}`);
          }
        }
      }
    }
    assert.deepEqual(failures, []);
  });
}
