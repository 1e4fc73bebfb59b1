/**
 * Tessera: neural-network compute on WebGPU for Deno, with modules as plain
 * records of `params` (trained) and `buffers` (not trained, like a causal
 * mask) that move to the GPU together.
 *
 * ```ts ignore
 * import { format, nn, stack, tensor, toDevice, webgpu } from "@tessera/core";
 *
 * const inputs = tensor([[0.43, 0.15, 0.89], [0.55, 0.87, 0.66], [0.57, 0.85, 0.64]]);
 * const batch = stack([inputs, inputs]); // [2, 3, 3]
 * const attn = nn.causalAttention.init({ dIn: 3, dOut: 2, contextLength: 3, dropout: 0 });
 * console.log(await format(nn.causalAttention.apply(attn, batch))); // on cpu
 *
 * const gpu = await webgpu();
 * const attnGpu = await toDevice(attn, gpu); // params AND the mask buffer move
 * const out = nn.causalAttention.apply(attnGpu, await toDevice(batch, gpu));
 * console.log(await format(out)); // tensor([...], device='webgpu:0')
 * ```
 *
 * @module
 */

// The cpu device's WebAssembly kernels join the kernel tables (src/cpu/register.ts).
import "./src/cpu/register.ts";

export {
  cpu,
  type CpuDevice,
  type Device,
  gpuStats,
  releaseCachedMemory,
  resetPeakBytes,
  setMaxCachedBytes,
  webgpu,
  type WebGpuDevice,
  type WebGpuOptions,
} from "./src/device.ts";
export type { GpuCounters } from "./src/gpu/counters.ts";
export type { CacheLimits } from "./src/gpu/runtime.ts";
export { type CpuBackend, cpuBackend, setCpuBackend } from "./src/cpu/backend.ts";
export { cpuThreads, setCpuThreads } from "./src/cpu/threads.ts";
export {
  ArgumentError,
  DeviceLimitError,
  DeviceLostError,
  DeviceMismatchError,
  DTypeError,
  GpuError,
  ShapeError,
  TesseraError,
  UseAfterDisposeError,
  WebGpuUnavailableError,
} from "./src/errors.ts";
export { type DType, type HostArray, type NestedArray, Tensor } from "./src/tensor.ts";
export { arange, type CreateOptions, full, ones, tensor, zeros } from "./src/creation.ts";
export { dispose, mapTree, toDevice, type ToDeviceOptions, treeLeaves } from "./src/tree.ts";
export { f16Bits, f16Value, fromF16Bits, roundF16, toF16Bits } from "./src/f16.ts";
export { cast } from "./src/ops/cast.ts";
export {
  checkModule,
  checkModuleRecord,
  type Module,
  namedBuffers,
  namedParameters,
} from "./src/module.ts";
export { format } from "./src/format.ts";
export type { FormatOptions } from "./src/format_values.ts";
export { add, div, mul, scale, sub } from "./src/ops/elementwise.ts";
export {
  abs,
  clamp,
  type ClampOptions,
  exp,
  gelu,
  type GeluOptions,
  log,
  neg,
  pow,
  relu,
  rsqrt,
  sigmoid,
  sqrt,
  tanh,
} from "./src/ops/unary.ts";
export { where } from "./src/ops/where.ts";
export { linear, matmul, type MatmulOptions } from "./src/ops/matmul.ts";
export { embedding } from "./src/ops/embedding.ts";
export {
  cat,
  permute,
  reshape,
  slice,
  squeeze,
  stack,
  transpose,
  unsqueeze,
} from "./src/ops/layout.ts";
export { maskedFill, tril, triu } from "./src/ops/mask.ts";
export { logSoftmax, softmax, type SoftmaxOptions } from "./src/ops/softmax.ts";
export { dropout, type DropoutOptions } from "./src/ops/dropout.ts";
export { layerNorm } from "./src/ops/layer_norm.ts";
export {
  DEFAULT_SEED,
  Generator,
  globalGenerator,
  manualSeed,
  rand,
  randn,
  type RandomOptions,
  type ShapeLike,
  uniform,
} from "./src/random.ts";
export * as nn from "./src/nn/mod.ts";
export { assertClose, AssertCloseError, type CloseValues, type Tolerance } from "./src/testing.ts";
export {
  loadStateDict,
  type LoadStateDictOptions,
  type LoadStateDictResult,
  markNonPersistent,
  type StateDict,
  stateDict,
  StateDictError,
} from "./src/state_dict.ts";
// The file helpers (loadSafetensors, saveSafetensors, ...) live in the
// `@tessera/core/safetensors` subpath: they import Node's file-system
// modules, which would break a browser bundle of the root.
export { safetensorsToStateDict, stateDictToSafetensors } from "./src/io/checkpoint.ts";
export {
  PermissionError,
  type SafetensorsErrorCode,
  SafetensorsFormatError,
  UnsupportedDtypeError,
  UnsupportedFormatError,
} from "./src/io/checkpoint_errors.ts";
export {
  assertNotPickle,
  type HostTensor,
  type ParsedSafetensors,
  parseSafetensors,
  type ParseSafetensorsOptions,
  type SafetensorsDtype,
  serializeSafetensors,
} from "./src/io/safetensors_format.ts";
export {
  compileKernel,
  type Kernel,
  type KernelBackward,
  type KernelLaunch,
  type KernelSpec,
} from "./src/gpu/custom_kernel.ts";
export { keep, tidy } from "./src/scope.ts";
export { broadcastTo, mean, type ReduceOptions, sum, sumTo } from "./src/ops/reduce.ts";
export { variance, type VarianceOptions } from "./src/ops/variance.ts";
export {
  argmax,
  max,
  type MaxOptions,
  topk,
  TOPK_GPU_MAX_K,
  type TopkOptions,
  type ValuesIndices,
} from "./src/ops/extrema.ts";
export { crossEntropy, type CrossEntropyOptions, mse } from "./src/ops/loss.ts";
export { grad, type ValueAndGrad, valueAndGrad } from "./src/autograd/grad.ts";
export type { Optimizer } from "./src/optim/optimizer.ts";
export { sgd, type SgdOptions, type SgdState } from "./src/optim/sgd.ts";
export { adamw, type AdamWOptions, type AdamWState } from "./src/optim/adamw.ts";
export {
  clipGradNorm,
  type ClipGradNormOptions,
  type ClipGradNormResult,
} from "./src/optim/clip_grad_norm.ts";
export {
  constantLr,
  cosineDecay,
  type CosineDecayOptions,
  linearWarmup,
  type LinearWarmupOptions,
  type LrSchedule,
  warmupCosine,
  type WarmupCosineOptions,
} from "./src/optim/schedule.ts";
export {
  loadOptimizerState,
  optimizerStateDict,
  type OptimizerStateOptions,
  splitStateDict,
} from "./src/optim/state_io.ts";
export {
  type Batch,
  batches,
  type BatchesOptions,
  type TokenDataset,
  tokenDataset,
  type TokenDatasetOptions,
} from "./src/data/token_dataset.ts";
export { generate, type GenerateOptions, type LanguageModel } from "./src/generate.ts";
// generate's signature names it; also reachable as nn.GptModel.
export type { GptModel } from "./src/nn/gpt_model.ts";
export {
  type Gpt2EncodeOptions,
  type Gpt2Tokenizer,
  gpt2Tokenizer,
  type Gpt2TokenizerSource,
} from "./src/tokenizer/gpt2_tokenizer.ts";
export {
  gpt2ConfigFromWeights,
  type Gpt2ConfigOptions,
  type Gpt2Weights,
  loadGpt2Weights,
  type LoadGpt2WeightsOptions,
} from "./src/io/gpt2_weights.ts";
