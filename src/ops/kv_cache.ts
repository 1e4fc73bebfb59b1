/**
 * Kernels of a KV cache (the book's `cache_k` / `cache_v` buffers), used by
 * `nn.gptModel.step`: writing a step's keys and values into preallocated
 * caches in place, the attention of one new query row over the cached
 * prefix (shaders/attention_decode*.wgsl), and the device-held fill
 * position. Caches are `[batch, heads, maxTokens, headDim]`; the position is
 * an int32 `[1]` tensor holding the number of filled slots, read by the
 * kernels on the device so that a decode step's uniforms, bind groups and
 * grid never change.
 *
 * These write into their `cache` / `position` arguments: callers own those
 * tensors exclusively (the cached module record consumes them step by step).
 *
 * Caches, keys, values and queries share the model's floating dtype
 * (float32, or float16 for a model moved with `{ dtype: "float16" }`): a
 * float16 cache halves its bytes; the attention widens what it loads and
 * computes in float32, rounding its output once to float16.
 *
 * @module
 */

import { runtimeOf, type WebGpuDevice } from "../device.ts";
import { ELEMENTWISE_WG, launch, words } from "../gpu/launch.ts";
import { type ShaderName, SHADERS } from "../gpu/shaders.generated.ts";
import { fromF16Bits } from "../f16.ts";
import {
  cpuData,
  cpuHalf,
  cpuInts,
  cpuRaw,
  type DType,
  gpuBuffer,
  type Tensor,
} from "../tensor.ts";
import {
  cpuFloatTensor,
  type FloatDType,
  floatDType,
  storageSnippet,
  widened,
} from "./float_dtype.ts";
import { gpuOf, type KernelTable, kernelTable } from "./kernel_table.ts";

/** Invocations per workgroup of the decode attention (its `WG`). */
const DECODE_WG = 64;

/** Keys each invocation of the decode attention scores (its `KEYS`). */
const DECODE_KEYS_PER_LANE = 4;

/**
 * Keys per workgroup of the decode attention (`WG * KEYS`): several keys per
 * lane, so that a chunk's reductions and barriers serve more keys.
 *
 * @example
 * ```ts
 * import { DECODE_KEYS_PER_CHUNK } from "./kv_cache.ts";
 * console.log(DECODE_KEYS_PER_CHUNK); // 256
 * ```
 */
export const DECODE_KEYS_PER_CHUNK: number = DECODE_WG * DECODE_KEYS_PER_LANE;

/**
 * Longest cache the decode attention takes: its combine pass loops once per
 * chunk of 256 keys (16 iterations), and its invocations loop at most
 * 4096 times per pass over a chunk.
 *
 * @example
 * ```ts
 * import { MAX_DECODE_TOKENS } from "./kv_cache.ts";
 * console.log(MAX_DECODE_TOKENS); // 4096
 * ```
 */
export const MAX_DECODE_TOKENS = 4096;

/**
 * Largest head size the decode attention takes on webgpu: an invocation
 * loops over the head for each of its 4 keys (the dot products) and over one
 * chunk's 256 keys per channel it owns (d / 64 channels, 4 at a time when d
 * is a multiple of 4), so a head of d costs at most about 8 d iterations.
 *
 * @example
 * ```ts
 * import { MAX_DECODE_HEAD_SIZE } from "./kv_cache.ts";
 * console.log(MAX_DECODE_HEAD_SIZE); // 1024
 * ```
 */
export const MAX_DECODE_HEAD_SIZE = 1024;

/** Records one dispatch whose storage `targets` are written in place (bound after `inputs`). */
function dispatchInPlace(
  device: WebGpuDevice,
  op: string,
  shader: ShaderName,
  includes: readonly ShaderName[],
  constants: Record<string, number>,
  uniforms: Uint32Array,
  inputs: readonly [string, Tensor, DType][],
  targets: readonly [string, Tensor, DType][],
  workgroups: number,
): void {
  const runtime = runtimeOf(device);
  runtime.ensureAlive(op);
  const handles = [...inputs, ...targets].map(([name, t, dtype]) => {
    const h = gpuBuffer(t, op, name, [dtype]);
    if (!h) throw new RangeError(`${op}: ${name} is empty`);
    return h;
  });
  const code = [...includes, shader].map((name) => SHADERS[name]).join("\n");
  const pipeline = runtime.pipeline({ name: `${shader}.wgsl`, code, constants });
  runtime.dispatch(op, pipeline, handles, uniforms, workgroups);
}

/**
 * Writes the keys and values of `T` new tokens into the caches at slots
 * `position .. position + T - 1` (in place). `src` is `[batch, T, stride]`:
 * token t's keys of head h are `src[b, t, kOffset + h * headDim ...]`, its
 * values likewise from `vOffset` (a packed `q | k | v` projection has
 * `stride = 3 * heads * headDim`, offsets `heads * headDim` and twice that).
 * `cpuPosition` must equal the device-held `position` (cpu reads it from the
 * host array; webgpu from the buffer).
 *
 * @example
 * ```ts
 * import { tensor, zeros } from "@tessera/core";
 * import { writeKv } from "./kv_cache.ts";
 * const cacheK = zeros([1, 1, 4, 2]);
 * const cacheV = zeros([1, 1, 4, 2]);
 * const qkv = tensor([[[1, 2, 3, 4, 5, 6]]]); // [1, 1, 3 * 2]: q | k | v
 * writeKv(qkv, 2, 4, tensor([1], undefined, { dtype: "int32" }), cacheK, cacheV);
 * console.log(await cacheK.toArray()); // [[[[0, 0], [3, 4], [0, 0], [0, 0]]]]
 * ```
 */
export function writeKv(
  src: Tensor,
  kOffset: number,
  vOffset: number,
  position: Tensor,
  cacheK: Tensor,
  cacheV: Tensor,
): void {
  const op = "gptModel.step";
  // One dtype throughout: the write is a copy (float16 bits stay as they are).
  const dtype = floatDType(op, ["keys and values", src], ["cache_k", cacheK], ["cache_v", cacheV]);
  writeKvKernels.for(src)(src, kOffset, vOffset, position, cacheK, cacheV, dtype);
}

/**
 * A KV cache write implementation: keys and values of `src` (at channel
 * offsets kOffset and vOffset) into the caches at the device-held position.
 */
export type WriteKvImpl = (
  src: Tensor,
  kOffset: number,
  vOffset: number,
  position: Tensor,
  cacheK: Tensor,
  cacheV: Tensor,
  dtype: FloatDType,
) => void;

function referenceWriteKv(
  src: Tensor,
  kOffset: number,
  vOffset: number,
  position: Tensor,
  cacheK: Tensor,
  cacheV: Tensor,
  _dtype: FloatDType,
): void {
  const op = "gptModel.step";
  const [batch, tokens, stride] = src.shape;
  const [, heads, maxTokens, headDim] = cacheK.shape;
  const width = heads * headDim;
  const from = cpuRaw(src, op, "keys and values");
  const base = cpuInts(position, op, "cache position")[0];
  const ks = cpuRaw(cacheK, op, "cache_k");
  const vs = cpuRaw(cacheV, op, "cache_v");
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < tokens && base + t < maxTokens; t++) {
      const row = (b * tokens + t) * stride;
      for (let ch = 0; ch < width; ch++) {
        const h = Math.floor(ch / headDim);
        const dst = ((b * heads + h) * maxTokens + base + t) * headDim + (ch % headDim);
        ks[dst] = from[row + kOffset + ch];
        vs[dst] = from[row + vOffset + ch];
      }
    }
  }
}

function webgpuWriteKv(
  src: Tensor,
  kOffset: number,
  vOffset: number,
  position: Tensor,
  cacheK: Tensor,
  cacheV: Tensor,
  dtype: FloatDType,
): void {
  const op = "gptModel.step";
  const [batch, tokens, stride] = src.shape;
  const [, heads, maxTokens, headDim] = cacheK.shape;
  const width = heads * headDim;
  dispatchInPlace(
    gpuOf(src),
    op,
    "kv_cache_write",
    [storageSnippet(dtype)],
    { WG: ELEMENTWISE_WG },
    words(batch, tokens, heads, headDim, maxTokens, stride, kOffset, vOffset),
    [["keys", src, dtype], ["values", src, dtype], ["cache position", position, "int32"]],
    [["cache_k", cacheK, dtype], ["cache_v", cacheV, dtype]],
    Math.ceil((batch * tokens * width) / ELEMENTWISE_WG),
  );
}

/** KV cache writes, per backend (src/ops/kernel_table.ts). */
export const writeKvKernels: KernelTable<WriteKvImpl> = kernelTable<WriteKvImpl>("writeKv", {
  reference: referenceWriteKv,
  webgpu: webgpuWriteKv,
});

/**
 * Causal attention of one new query row per batch entry and head over the
 * cached keys and values `0 .. position` (the new token's own keys already
 * written): `softmax(scale * q K^T) V` with `mask[position][j] != 0` masking
 * key j, read in place from the caches. `queries` is `[batch, 1, stride]`
 * with head h's query at `h * headDim` (a packed projection's `q` part).
 * Returns the heads merged, `[batch, 1, heads * headDim]`. On webgpu: two
 * dispatches (per chunk of 64 keys, then a merge) whose grid covers the
 * whole cache, so nothing about them changes from step to step.
 *
 * @example
 * ```ts
 * import { tensor } from "@tessera/core";
 * import { decodeAttention } from "./kv_cache.ts";
 * const k = tensor([[[[1, 0], [0, 1]]]]); // [1, 1, 2, 2]
 * const v = tensor([[[[1, 2], [3, 4]]]]);
 * const q = tensor([[[0, 0]]]); // equal scores
 * const pos = tensor([1], undefined, { dtype: "int32" });
 * console.log(await decodeAttention(q, k, v, undefined, pos, 1).toArray()); // [[[2, 3]]]
 * ```
 */
export function decodeAttention(
  queries: Tensor,
  cacheK: Tensor,
  cacheV: Tensor,
  mask: Tensor | undefined,
  position: Tensor,
  scale: number,
): Tensor {
  const op = "gptModel.step";
  const floats: [string, Tensor][] = [["queries", queries], ["cache_k", cacheK], [
    "cache_v",
    cacheV,
  ]];
  if (mask) floats.push(["mask", mask]);
  const dtype = floatDType(op, ...floats);
  return decodeKernels.for(queries)(queries, cacheK, cacheV, mask, position, scale, dtype);
}

/**
 * A one-row causal attention implementation over the caches (see
 * {@linkcode decodeAttention}); the output has `dtype`.
 */
export type DecodeImpl = (
  queries: Tensor,
  cacheK: Tensor,
  cacheV: Tensor,
  mask: Tensor | undefined,
  position: Tensor,
  scale: number,
  dtype: FloatDType,
) => Tensor;

function referenceDecode(
  queries: Tensor,
  cacheK: Tensor,
  cacheV: Tensor,
  mask: Tensor | undefined,
  position: Tensor,
  scale: number,
  _dtype: FloatDType,
): Tensor {
  return cpuDecode(queries, cacheK, cacheV, mask, position, scale);
}

function webgpuDecode(
  queries: Tensor,
  cacheK: Tensor,
  cacheV: Tensor,
  mask: Tensor | undefined,
  position: Tensor,
  scale: number,
  dtype: FloatDType,
): Tensor {
  const op = "gptModel.step";
  const [batch, , stride] = queries.shape;
  const [, heads, maxTokens, headDim] = cacheK.shape;
  const device = gpuOf(queries);
  const nan = 0x7fc00000;
  const chunks = Math.ceil(maxTokens / DECODE_KEYS_PER_CHUNK);
  // Rows of 4k channels are read 4 at a time (the caches bound twice: a
  // vec4 view beside the scalar one); the staged query holds 1024 channels.
  const vec4 = headDim % 4 === 0 && headDim <= 1024;
  const partials = launch(device, {
    op,
    shader: "attention_decode",
    includes: [storageSnippet(dtype), "workgroup_reduce"],
    constants: {
      WG: DECODE_WG,
      KEYS: DECODE_KEYS_PER_LANE,
      USE_MASK: mask ? 1 : 0,
      VEC4: vec4 ? 1 : 0,
    },
    uniforms: words(
      heads,
      headDim,
      maxTokens,
      chunks,
      { f32: scale },
      stride,
      mask ? mask.shape[1] : 0,
      nan,
    ),
    inputs: [
      ["queries", queries],
      ["cache_k", cacheK],
      ["cache_v", cacheV],
      ["mask", mask ?? queries],
      ["cache position", position],
      ["cache_k", cacheK],
      ["cache_v", cacheV],
    ],
    // The partials are float32 whatever the storage dtype.
    dtypes: ["float32", dtype, "int32"],
    outShape: [batch * heads, chunks, headDim + 2],
    workgroups: [chunks, batch * heads, 1],
  });
  const out = launch(device, {
    op,
    shader: "attention_decode_combine",
    includes: [storageSnippet(dtype)],
    constants: { WG: 64 },
    uniforms: words(batch * heads, headDim, chunks, nan),
    inputs: [["partials", partials]],
    dtypes: [dtype, "float32"],
    outShape: [batch, 1, heads * headDim],
    workgroups: Math.ceil((batch * heads * headDim) / 64),
  });
  partials.dispose();
  return out;
}

/** Cached decode attention, per backend (src/ops/kernel_table.ts). */
export const decodeKernels: KernelTable<DecodeImpl> = kernelTable<DecodeImpl>(
  "decodeAttention",
  { reference: referenceDecode, webgpu: webgpuDecode },
);

/** The cpu reference: the book's steps (scores, masked softmax, `@ V`) for one row, in float64. */
function cpuDecode(
  queries: Tensor,
  cacheK: Tensor,
  cacheV: Tensor,
  mask: Tensor | undefined,
  position: Tensor,
  scale: number,
): Tensor {
  const op = "gptModel.step";
  const [batch, , stride] = queries.shape;
  const [, heads, maxTokens, headDim] = cacheK.shape;
  // float16 is widened exactly; the math is the float32 path's, rounded once at the end.
  // Only what this step reads is widened: positions 0..pos of each head, one mask row.
  const span = (t: Tensor, name: string, start: number, count: number): Float32Array =>
    t.dtype === "float16"
      ? fromF16Bits(cpuHalf(t, op, name).subarray(start, start + count))
      : cpuData(t, op, name).subarray(start, start + count);
  const q = widened(queries, op, "queries");
  const pos = cpuInts(position, op, "cache position")[0];
  const m = mask ? span(mask, "mask", pos * mask.shape[1], pos + 1) : undefined;
  const out = new Float32Array(batch * heads * headDim);
  const scores = new Float64Array(pos + 1);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const qb = b * stride + h * headDim;
      const bh = (b * heads + h) * maxTokens;
      const ks = span(cacheK, "cache_k", bh * headDim, (pos + 1) * headDim);
      const vs = span(cacheV, "cache_v", bh * headDim, (pos + 1) * headDim);
      let max = -Infinity;
      for (let j = 0; j <= pos; j++) {
        let dot = 0;
        for (let c = 0; c < headDim; c++) dot += q[qb + c] * ks[j * headDim + c];
        // masked_fill(-inf), as the uncached path; softmax then scales.
        const s = m && m[j] !== 0 ? -Infinity : Math.fround(dot);
        scores[j] = s;
        max = Number.isNaN(s) || Number.isNaN(max) ? NaN : Math.max(max, s);
      }
      let total = 0;
      for (let j = 0; j <= pos; j++) {
        scores[j] = Math.exp((scores[j] - max) * scale);
        total += scores[j];
      }
      const o = (b * heads + h) * headDim;
      for (let j = 0; j <= pos; j++) {
        const w = Math.fround(scores[j] / total);
        for (let c = 0; c < headDim; c++) out[o + c] += w * vs[j * headDim + c];
      }
    }
  }
  return cpuFloatTensor(out, [batch, 1, heads * headDim], queries.dtype);
}

/**
 * Sets the device-held fill position to `position * keep + add` in place
 * (`keep` 1, `add` T after a step of T tokens; `keep` 0, `add` 0 to reset),
 * in stream order with the kernels that read it.
 *
 * @example
 * ```ts
 * import { tensor } from "@tessera/core";
 * import { advancePosition } from "./kv_cache.ts";
 * const pos = tensor([3], undefined, { dtype: "int32" });
 * advancePosition(pos, 1, 1);
 * console.log(await pos.toArray()); // [4]
 * ```
 */
export function advancePosition(position: Tensor, keep: 0 | 1, add: number): void {
  advanceKernels.for(position)(position, keep, add);
}

/** Sets the int32 fill position to `position * keep + add` in place. */
export type AdvanceImpl = (position: Tensor, keep: 0 | 1, add: number) => void;

function referenceAdvance(position: Tensor, keep: 0 | 1, add: number): void {
  const p = cpuInts(position, "gptModel.step", "cache position");
  p[0] = p[0] * keep + add;
}

function webgpuAdvance(position: Tensor, keep: 0 | 1, add: number): void {
  dispatchInPlace(
    gpuOf(position),
    "gptModel.step",
    "kv_position",
    [],
    {},
    words(keep, add),
    [],
    [["cache position", position, "int32"]],
    1,
  );
}

/** KV cache position updates, per backend (src/ops/kernel_table.ts). */
export const advanceKernels: KernelTable<AdvanceImpl> = kernelTable<AdvanceImpl>(
  "advancePosition",
  { reference: referenceAdvance, webgpu: webgpuAdvance },
);
