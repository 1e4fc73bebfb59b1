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
  /** Argument kinds in order (a kind's name, or a list of bad values of its own). */
  kinds: readonly (Kind | readonly Bad[])[];
  /** Valid arguments; every probe replaces one of them. */
  valid: () => unknown[];
  /** The name the message must contain (defaults to the export's name). */
  name?: string;
  /** Call with `new` (a class). */
  construct?: boolean;
  /** The valid call needs a GPU, so it is not run as a baseline here. */
  gpuOnly?: boolean;
}

/**
 * Bad variants of a layer config: wrong types, then NaN, fractional and
 * negative values in each whole-number field of the valid config.
 */
function configKind(valid: Record<string, unknown>, sizes: readonly string[]): Bad[] {
  const out: Bad[] = [...WRONG_TYPES];
  for (const field of sizes) {
    for (const bad of [NaN, 1.5, -1]) {
      out.push([`${field} ${bad}`, () => ({ ...valid, [field]: bad })]);
    }
  }
  return out;
}

/** A tiny GPT-2 checkpoint in Hugging Face's layout: vocab 5, context 4, 4 features, 1 block. */
function gpt2Weights(): Map<string, api.HostTensor> {
  const shapes: Record<string, number[]> = {
    "wte.weight": [5, 4],
    "wpe.weight": [4, 4],
    "ln_f.weight": [4],
    "ln_f.bias": [4],
  };
  for (
    const [k, shape] of Object.entries({
      "ln_1.weight": [4],
      "ln_1.bias": [4],
      "attn.c_attn.weight": [4, 12],
      "attn.c_attn.bias": [12],
      "attn.c_proj.weight": [4, 4],
      "attn.c_proj.bias": [4],
      "ln_2.weight": [4],
      "ln_2.bias": [4],
      "mlp.c_fc.weight": [4, 16],
      "mlp.c_fc.bias": [16],
      "mlp.c_proj.weight": [16, 4],
      "mlp.c_proj.bias": [4],
    })
  ) shapes[`h.0.${k}`] = shape;
  return new Map(
    Object.entries(shapes).map(([k, shape]) => [k, {
      shape,
      data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(0.5),
    }]),
  );
}
const gpt2Config = {
  vocabSize: 5,
  contextLength: 4,
  embDim: 4,
  nHeads: 2,
  nLayers: 1,
  dropRate: 0,
  qkvBias: true,
};

const t23 = () => tensor([[1, 2, 3], [4, 5, 6]]);
const t22 = () => tensor([[1, 2], [3, 4]]);
const ids = () => tensor([0, 2], undefined, { dtype: "int32" });
const linearModule = () => nn.linear.init({ inFeatures: 3, outFeatures: 2 });
const attentionConfig = { dIn: 3, dOut: 2, contextLength: 4, dropout: 0 };
const attention = () => nn.causalAttention.init(attentionConfig);
const x3 = () => tensor([[[1, 2, 3], [4, 5, 6]]]);
const x4 = () => tensor([[[1, 2, 3, 4], [4, 5, 6, 7], [0, 1, 0, 1]]]); // [1, 3, 4]
const embeddingConfig = { numEmbeddings: 5, embeddingDim: 3 };
const mhaConfig = { dIn: 4, dOut: 4, contextLength: 4, dropout: 0, numHeads: 2 };
const blockConfig = { embDim: 4, contextLength: 4, nHeads: 2, dropRate: 0 };
const gptConfig = {
  vocabSize: 10,
  contextLength: 4,
  embDim: 4,
  nHeads: 2,
  nLayers: 1,
  dropRate: 0,
  qkvBias: false,
};
const gpt = () => nn.gptModel.init(gptConfig);
/** Options of the GPT layers' apply: booleans must be booleans. */
const gptApplyOptions: readonly Bad[] = [
  ...OPTIONAL_WRONG_TYPES,
  ["training 'yes'", () => ({ training: "yes" })],
  ["fused 1", () => ({ fused: 1 })],
  ["generator {}", () => ({ generator: {} })],
];
const tokens = () => tensor([[1, 2, 3]], undefined, { dtype: "int32" });

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
  cpuBackend: "takes no arguments",
  cpuThreads: "takes no arguments",
  nn: "a namespace: its members are probed as nn.<layer>.<function>",
};

const PROBES: Record<string, Probe> = {
  // The cpu device's implementation (src/cpu/backend.ts).
  setCpuBackend: { kinds: [[...WRONG_TYPES, ["a number", () => 1]]], valid: () => ["wasm"] },
  setCpuThreads: {
    kinds: [[
      ...WRONG_TYPES,
      ["0", () => 0],
      ["1.5", () => 1.5],
      ["65", () => 65],
      ...BAD_INTEGERS,
    ]],
    valid: () => [1],
  },
  // float16 (src/f16.ts, src/ops/cast.ts).
  cast: {
    kinds: ["tensor", [["undefined", () => undefined], ["a string", () => "oops"], [
      "null",
      () => null,
    ]]],
    valid: () => [t23(), "float16"],
  },
  f16Bits: { kinds: ["number"], valid: () => [1] },
  roundF16: { kinds: ["number"], valid: () => [1] },
  f16Value: {
    kinds: [[...WRONG_TYPES, ["1.5", () => 1.5], ["-1", () => -1], ["65536", () => 65536]]],
    valid: () => [0x3c00],
  },
  toF16Bits: { kinds: [WRONG_TYPES], valid: () => [[1, 2]] },
  fromF16Bits: {
    kinds: [[...WRONG_TYPES, ["a Float32Array", () => new Float32Array(2)]]],
    valid: () => [new Uint16Array(2)],
  },
  // Creation.
  tensor: { kinds: ["values", "shape?", "options?"], valid: () => [[1, 2], [2], {}] },
  full: { kinds: ["shape", "number", "options?"], valid: () => [[2], 1, {}] },
  zeros: { kinds: ["shape", "options?"], valid: () => [[2], {}] },
  ones: { kinds: ["shape", "options?"], valid: () => [[2], {}] },
  arange: { kinds: ["finite", "finite?", "finite?", "options?"], valid: () => [0, 3, 1, {}] },
  // Random.
  // The seed of `new Generator()` is optional (undefined means DEFAULT_SEED).
  Generator: {
    kinds: [[...KINDS.seed.filter(([label]) => label !== "undefined"), [
      "2n ** 64n",
      () => 2n ** 64n,
    ]]],
    valid: () => [1],
    construct: true,
  },
  manualSeed: {
    kinds: [[...KINDS.seed, ["-(2n ** 63n) - 1n", () => -(2n ** 63n) - 1n]]],
    valid: () => [1],
  },
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
  // Unary ops.
  exp: { kinds: ["tensor"], valid: () => [t22()] },
  log: { kinds: ["tensor"], valid: () => [t22()] },
  sqrt: { kinds: ["tensor"], valid: () => [t22()] },
  rsqrt: { kinds: ["tensor"], valid: () => [t22()] },
  tanh: { kinds: ["tensor"], valid: () => [t22()] },
  sigmoid: { kinds: ["tensor"], valid: () => [t22()] },
  relu: { kinds: ["tensor"], valid: () => [t22()] },
  neg: { kinds: ["tensor"], valid: () => [t22()] },
  abs: { kinds: ["tensor"], valid: () => [t22()] },
  gelu: { kinds: ["tensor", "options?"], valid: () => [t22(), {}] },
  pow: { kinds: ["tensor", "number"], valid: () => [t22(), 2] },
  clamp: {
    kinds: ["tensor", [...WRONG_TYPES, ["min 'a'", () => ({ min: "a" })]]],
    valid: () => [t22(), { min: 0, max: 1 }],
  },
  where: {
    kinds: ["tensor", "tensor", "tensor"],
    valid: () => [tensor([[1], [0]], undefined, { dtype: "int32" }), t23(), t23()],
  },
  // Reductions, softmax, losses, dropout.
  sum: { kinds: ["tensor", "dims?", "options?"], valid: () => [t23(), 1, {}] },
  mean: { kinds: ["tensor", "dims?", "options?"], valid: () => [t23(), 1, {}] },
  max: { kinds: ["tensor", "dim", "options?"], valid: () => [t23(), 1, {}] },
  argmax: { kinds: ["tensor", "dim?", "options?"], valid: () => [t23(), 1, {}] },
  topk: { kinds: ["tensor", "size", "options?"], valid: () => [t23(), 2, {}] },
  softmax: { kinds: ["tensor", "options?"], valid: () => [t23(), {}] },
  logSoftmax: { kinds: ["tensor", "options?"], valid: () => [t23(), {}] },
  variance: { kinds: ["tensor", "dims?", "options?"], valid: () => [t23(), 1, {}] },
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
  // Training utilities.
  clipGradNorm: {
    kinds: ["any", [...WRONG_TYPES, ["NaN", () => NaN], ["-1", () => -1]], [
      ...OPTIONAL_WRONG_TYPES,
      ["normType 'l2'", () => ({ normType: "l2" })],
      ["errorIfNonfinite 1", () => ({ errorIfNonfinite: 1 })],
    ]],
    valid: () => [{ w: tensor([3, 4]) }, 1, {}],
  },
  constantLr: {
    kinds: [[...WRONG_TYPES, ["NaN", () => NaN], ["-1", () => -1], ["Infinity", () => Infinity]]],
    valid: () => [1e-3],
  },
  linearWarmup: {
    kinds: [[
      ...WRONG_TYPES,
      ["peakLr NaN", () => ({ peakLr: NaN, warmupSteps: 2 })],
      ["peakLr -1", () => ({ peakLr: -1, warmupSteps: 2 })],
      ["warmupSteps 1.5", () => ({ peakLr: 1, warmupSteps: 1.5 })],
      ["warmupSteps -1", () => ({ peakLr: 1, warmupSteps: -1 })],
      ["initialLr NaN", () => ({ peakLr: 1, warmupSteps: 2, initialLr: NaN })],
    ]],
    valid: () => [{ peakLr: 1, warmupSteps: 2 }],
  },
  cosineDecay: {
    kinds: [[
      ...WRONG_TYPES,
      ["peakLr NaN", () => ({ peakLr: NaN, decaySteps: 2 })],
      ["decaySteps 1.5", () => ({ peakLr: 1, decaySteps: 1.5 })],
      ["decaySteps -1", () => ({ peakLr: 1, decaySteps: -1 })],
      ["minLr -1", () => ({ peakLr: 1, decaySteps: 2, minLr: -1 })],
    ]],
    valid: () => [{ peakLr: 1, decaySteps: 2 }],
  },
  warmupCosine: {
    kinds: [[
      ...WRONG_TYPES,
      ["peakLr NaN", () => ({ peakLr: NaN, warmupSteps: 2, totalSteps: 10 })],
      ["warmupSteps 1.5", () => ({ peakLr: 1, warmupSteps: 1.5, totalSteps: 10 })],
      ["totalSteps NaN", () => ({ peakLr: 1, warmupSteps: 2, totalSteps: NaN })],
      ["totalSteps -1", () => ({ peakLr: 1, warmupSteps: 2, totalSteps: -1 })],
      ["minLr NaN", () => ({ peakLr: 1, warmupSteps: 2, totalSteps: 10, minLr: NaN })],
    ]],
    valid: () => [{ peakLr: 1, warmupSteps: 2, totalSteps: 10 }],
  },
  optimizerStateDict: {
    kinds: [WRONG_TYPES, [...OPTIONAL_WRONG_TYPES, ["prefix 3", () => ({ prefix: 3 })]]],
    valid: () => [api.adamw({ lr: 1e-3 }).init({ w: tensor([1, 2]) }), {}],
  },
  loadOptimizerState: {
    kinds: [WRONG_TYPES, WRONG_TYPES, [...OPTIONAL_WRONG_TYPES, ["prefix 3", () => ({
      prefix: 3,
    })]]],
    valid: () => {
      const state = api.adamw({ lr: 1e-3 }).init({ w: tensor([1, 2]) });
      return [state, api.optimizerStateDict(state), {}];
    },
  },
  splitStateDict: {
    kinds: [
      [
        ["undefined", () => undefined],
        ["a string", () => "oops"],
        ["null", () => null],
        ["a record holding a number", () => ({ w: 3 })],
      ],
      [["null", () => null], ["3", () => 3], ["an empty string", () => ""]],
    ],
    valid: () => [new Map([["w", tensor([1])], ["optimizer.step", tensor([3])]]), "optimizer."],
  },
  tokenDataset: {
    kinds: [[...WRONG_TYPES, ["[1.5, 2, 3]", () => [1.5, 2, 3]], [
      "[NaN, 2, 3]",
      () => [NaN, 2, 3],
    ]], [
      ...WRONG_TYPES,
      ["contextLength NaN", () => ({ contextLength: NaN })],
      ["contextLength 1.5", () => ({ contextLength: 1.5 })],
      ["contextLength 0", () => ({ contextLength: 0 })],
      ["stride -1", () => ({ contextLength: 2, stride: -1 })],
    ]],
    valid: () => [[1, 2, 3, 4, 5], { contextLength: 2 }],
  },
  batches: {
    kinds: [WRONG_TYPES, [
      ...OPTIONAL_WRONG_TYPES,
      ["batchSize NaN", () => ({ batchSize: NaN })],
      ["batchSize 0", () => ({ batchSize: 0 })],
      ["batchSize 1.5", () => ({ batchSize: 1.5 })],
      ["shuffle 'yes'", () => ({ shuffle: "yes" })],
      ["generator {}", () => ({ shuffle: true, generator: {} })],
      ["device 'gpu'", () => ({ device: "gpu" })],
    ]],
    valid: () => [api.tokenDataset([1, 2, 3, 4, 5, 6, 7], { contextLength: 2 }), { batchSize: 2 }],
  },
  // GPU only: never run for real here, only refused arguments.
  webgpu: { kinds: ["webgpuOptions"], valid: () => [{}], gpuOnly: true },
  gpuStats: { kinds: ["device"], valid: () => [], gpuOnly: true },
  resetPeakBytes: { kinds: ["device"], valid: () => [], gpuOnly: true },
  releaseCachedMemory: { kinds: ["device"], valid: () => [], gpuOnly: true },
  compileKernel: { kinds: ["device"], valid: () => [], gpuOnly: true },
  setMaxCachedBytes: { kinds: ["device"], valid: () => [], gpuOnly: true },
  // GPT pieces.
  embedding: {
    kinds: ["tensor", "tensor"],
    valid: () => [tensor([[1, 2], [3, 4], [5, 6]]), ids()],
  },
  layerNorm: {
    kinds: ["tensor", "tensor", "tensor", "finite?"],
    valid: () => [t23(), tensor([1, 1, 1]), tensor([0, 0, 0]), 1e-5],
  },
  generate: {
    kinds: ["module", "tensor", [
      ...WRONG_TYPES,
      ["maxNewTokens NaN", () => ({ maxNewTokens: NaN })],
      ["maxNewTokens 1.5", () => ({ maxNewTokens: 1.5 })],
      ["maxNewTokens -1", () => ({ maxNewTokens: -1 })],
      ["useCache 'yes'", () => ({ maxNewTokens: 1, useCache: "yes" })],
    ]],
    valid: () => [gpt(), tokens(), { maxNewTokens: 2 }],
  },
  // GPT-2 checkpoints and tokenizer.
  gpt2Tokenizer: {
    kinds: [[
      ...WRONG_TYPES,
      ["merges 3", () => ({ vocab: { a: 0 }, merges: 3 })],
      ["vocab id -1", () => ({ vocab: { a: -1 }, merges: "" })],
      ["tokenizerJson null", () => ({ tokenizerJson: null })],
    ]],
    valid: () => [{ vocab: { a: 0, b: 1, ab: 2 }, merges: "a b\n" }],
  },
  gpt2ConfigFromWeights: {
    kinds: [WRONG_TYPES, [
      ...WRONG_TYPES,
      ["nHeads NaN", () => ({ nHeads: NaN })],
      ["nHeads 1.5", () => ({ nHeads: 1.5 })],
      ["nHeads -1", () => ({ nHeads: -1 })],
      ["nHeads 3 (does not divide 4)", () => ({ nHeads: 3 })],
    ]],
    valid: () => [gpt2Weights(), { nHeads: 2 }],
  },
  loadGpt2Weights: {
    kinds: [
      [...WRONG_TYPES, ["nHeads NaN", () => ({ ...gpt2Config, nHeads: NaN })]],
      WRONG_TYPES,
      [...OPTIONAL_WRONG_TYPES, ["device 'gpu'", () => ({ device: "gpu" })]],
    ],
    valid: () => [gpt2Config, gpt2Weights(), {}],
  },
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
  "nn.embedding.init": {
    kinds: [configKind(embeddingConfig, ["numEmbeddings", "embeddingDim"]), "options?"],
    valid: () => [embeddingConfig, {}],
  },
  "nn.embedding.apply": {
    kinds: ["module", "tensor"],
    valid: () => [nn.embedding.init(embeddingConfig), ids()],
  },
  "nn.feedForward.init": {
    kinds: [configKind({ embDim: 4 }, ["embDim"]), "options?"],
    valid: () => [{ embDim: 4 }, {}],
  },
  "nn.feedForward.apply": {
    kinds: ["module", "tensor"],
    valid: () => [nn.feedForward.init({ embDim: 4 }), x4()],
  },
  "nn.gelu.init": {
    kinds: [[["a string", () => "oops"], ["null", () => null], ["approximate 'nope'", () => ({
      approximate: "nope",
    })]]],
    valid: () => [{}],
  },
  "nn.gelu.apply": { kinds: ["module", "tensor"], valid: () => [nn.gelu.init(), x4()] },
  "nn.layerNorm.init": {
    kinds: [configKind({ embDim: 4 }, ["embDim"]), "options?"],
    valid: () => [{ embDim: 4 }, {}],
  },
  "nn.layerNorm.apply": {
    kinds: ["module", "tensor"],
    valid: () => [nn.layerNorm.init({ embDim: 4 }), x4()],
  },
  "nn.multiHeadAttention.init": {
    kinds: [configKind(mhaConfig, ["dIn", "dOut", "contextLength", "numHeads"]), "options?"],
    valid: () => [mhaConfig, {}],
  },
  "nn.multiHeadAttention.apply": {
    kinds: ["module", "tensor", gptApplyOptions],
    valid: () => [nn.multiHeadAttention.init(mhaConfig), x4(), {}],
  },
  "nn.transformerBlock.init": {
    kinds: [configKind(blockConfig, ["embDim", "contextLength", "nHeads"]), "options?"],
    valid: () => [blockConfig, {}],
  },
  "nn.transformerBlock.apply": {
    kinds: ["module", "tensor", gptApplyOptions],
    valid: () => [nn.transformerBlock.init(blockConfig), x4(), {}],
  },
  "nn.gptModel.init": {
    kinds: [
      configKind(gptConfig, ["vocabSize", "contextLength", "embDim", "nHeads", "nLayers"]),
      "options?",
    ],
    valid: () => [gptConfig, {}],
  },
  "nn.gptModel.apply": {
    kinds: ["module", "tensor", [...gptApplyOptions, ["lastPosition 'no'", () => ({
      lastPosition: "no",
    })]]],
    valid: () => [gpt(), tokens(), {}],
  },
  "nn.gptModel.withCache": {
    kinds: ["module", [
      ...WRONG_TYPES,
      ["batch NaN", () => ({ batch: NaN })],
      ["batch 1.5", () => ({ batch: 1.5 })],
      ["maxTokens 0", () => ({ batch: 1, maxTokens: 0 })],
      ["maxTokens past the context", () => ({ batch: 1, maxTokens: 5 })],
    ]],
    valid: () => [gpt(), { batch: 1 }],
  },
  "nn.gptModel.step": {
    kinds: [
      [...WRONG_TYPES, ["a module without a cache", gpt], [
        "a module with a disposed parameter",
        disposedModule,
      ]],
      [
        ...KINDS.tensor,
        ["float ids", () => tensor([[1, 2]])],
        ["a batch of 2", () => tensor([[1], [2]], undefined, { dtype: "int32" })],
        [
          "more tokens than the cache holds",
          () => tensor([[1, 2, 3, 1, 2]], undefined, { dtype: "int32" }),
        ],
      ],
    ],
    valid: () => [nn.gptModel.withCache(gpt(), { batch: 1 }), tokens()],
  },
  "nn.gptModel.resetCache": {
    kinds: [[...WRONG_TYPES, ["a module without a cache", gpt], [
      "a module with a disposed parameter",
      disposedModule,
    ]]],
    valid: () => [nn.gptModel.withCache(gpt(), { batch: 1 })],
  },
  "nn.gptModel.dropCache": {
    kinds: [[...WRONG_TYPES, ["a module without a cache", gpt]]],
    valid: () => [nn.gptModel.withCache(gpt(), { batch: 1 })],
  },
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
      const kind = probe.kinds[i];
      const bads: readonly Bad[] = typeof kind === "string" ? KINDS[kind] : kind;
      for (const [label, make] of bads) {
        const args = probe.valid();
        args[i] = make();
        const what = `${name} with argument ${i} (${
          typeof kind === "string" ? kind : "config"
        }) = ${label}`;
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

// The hostile-user audit's cases on cpu, with their exact messages (the same
// cases run on both devices in tests/gpu/numerics_test.ts).

function throwsWith(fn: () => unknown, kind: new (...a: never[]) => Error, text: string): void {
  assert.throws(fn, (e: Error) => {
    assert.ok(e instanceof kind, `${e.name}: ${e.message}`);
    assert.ok(e.message.includes(text), `"${e.message}" lacks "${text}"`);
    return true;
  });
}

Deno.test("audit: tensor() names what is wrong and where, and takes Float64Array", async () => {
  throwsWith(() => tensor(["a"] as never), api.ArgumentError, `values[0] must be a number`);
  throwsWith(() => tensor(null as never), api.ArgumentError, "tensor: values must be a number");
  throwsWith(() => tensor(undefined as never), api.ArgumentError, "but got undefined");
  throwsWith(() => tensor([[1], [true]] as never), api.ArgumentError, "values[1][0]");
  throwsWith(() => tensor([[1, 2], [3]]), api.ShapeError, "ragged");
  throwsWith(() => tensor([1, 2], [3]), api.ShapeError, "holds 3 elements");
  const t = tensor(new Float64Array([1.5, 2 ** 40, NaN]));
  assert.equal(t.dtype, "float32");
  const values = await t.data();
  assert.deepEqual([values[0], values[1]], [1.5, 2 ** 40]);
  assert.ok(Number.isNaN(values[2]));
  assert.deepEqual(await tensor(new Float64Array([3, -4]), [2], { dtype: "int32" }).toArray(), [
    3,
    -4,
  ]);
});

Deno.test("audit: shapes and sizes are checked before any allocation", () => {
  throwsWith(
    () => api.zeros(3 as never),
    api.ArgumentError,
    "zeros: shape must be an array of whole numbers >= 0, but got 3",
  );
  throwsWith(() => api.ones([2, NaN]), api.ArgumentError, "ones: shape must be");
  throwsWith(() => api.full([-1], 0), api.ArgumentError, "full: shape must be");
  throwsWith(() => api.zeros([2 ** 26, 2 ** 26]), api.DeviceLimitError, "zeros: cannot allocate");
  throwsWith(() => api.zeros([2 ** 40]), api.DeviceLimitError, "4398046511104 bytes");
  throwsWith(() => api.arange(NaN), api.ArgumentError, "arange: end must be a finite number");
  throwsWith(() => api.arange(0, Infinity), api.ArgumentError, "arange: end must be a finite");
  throwsWith(() => api.arange(-Infinity, 0), api.ArgumentError, "arange: start must be");
  throwsWith(
    () => api.arange(0, 1, 0),
    api.ArgumentError,
    "arange: step must be a finite non-zero",
  );
  throwsWith(() => api.arange(0, 1e300, 1e-300), api.ArgumentError, "more than any array");
});

Deno.test("audit: loadStateDict refuses an undefined entry in strict and lax mode", async () => {
  const m = nn.linear.init({ inFeatures: 3, outFeatures: 2 });
  const dict = new Map<string, api.Tensor>([
    ["weight", api.zeros([2, 3])],
    ["bias", undefined as unknown as api.Tensor],
  ]);
  for (const strict of [true, false]) {
    await assert.rejects(api.loadStateDict(m, dict, { strict }), (e: Error) => {
      assert.ok(e instanceof api.StateDictError);
      assert.match(e.message, /loadStateDict: .*value of key "bias" is undefined, not a Tensor/s);
      return true;
    });
  }
});

Deno.test("audit: maskedFill and triu / tril on cpu", async () => {
  const x = tensor([[1, 2, 3], [4, 5, 6]]);
  assert.deepEqual(await api.maskedFill(x, tensor([NaN, 0, -0]), 9).toArray(), [[9, 2, 3], [
    9,
    5,
    6,
  ]]);
  const rows = tensor([[0], [7]], undefined, { dtype: "int32" });
  const filled = await api.maskedFill(x, rows, NaN).data();
  assert.deepEqual(Array.from(filled.slice(0, 3)), [1, 2, 3]);
  assert.ok(filled.slice(3).every(Number.isNaN));
  throwsWith(() => api.triu(x, 0.5), api.ArgumentError, "triu: diagonal must be a whole number");
  assert.deepEqual(await api.triu(x, -(2 ** 32)).toArray(), [[1, 2, 3], [4, 5, 6]]);
  assert.deepEqual(await api.tril(x, 2 ** 32).toArray(), [[1, 2, 3], [4, 5, 6]]);
  assert.deepEqual(await api.triu(x, 2 ** 32).toArray(), [[0, 0, 0], [0, 0, 0]]);
});

Deno.test("audit: rank-9 broadcasting is refused on cpu as on webgpu", () => {
  const a = api.ones([1, 1, 1, 1, 1, 1, 1, 1, 2]);
  throwsWith(() => api.add(a, a), api.ShapeError, "add: a has 9 dimensions");
  throwsWith(() => api.maskedFill(a, a, 0), api.ShapeError, "at most 8");
});

Deno.test("audit: checkModule names the path of a disposed parameter", () => {
  const m = nn.causalAttention.init({ dIn: 3, dOut: 2, contextLength: 4, dropout: 0 });
  api.checkModule("causalAttention.apply", m, api.cpu);
  m.params.W_query.weight.dispose();
  throwsWith(
    () => api.checkModule("causalAttention.apply", m),
    api.UseAfterDisposeError,
    "causalAttention.apply: params.W_query.weight was disposed",
  );
});
