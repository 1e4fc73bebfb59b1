/**
 * GPU kernels of the causal attention core, `softmax(scale * Q K^T, causal) V`:
 * the fused single-pass kernel (shaders/attention_fused.wgsl) and the
 * one-pass attention weights (mask + softmax + dropout) of the unfused path.
 * The CPU reference is the step-by-step composition in
 * `nn.causalAttention`; these launch on webgpu only.
 *
 * @module
 */

import { runtimeOf, type WebGpuDevice } from "../device.ts";
import { launch, words } from "../gpu/launch.ts";
import { attentionTiles } from "../gpu/tuning.ts";
import { dropoutSeedWords, dropoutThreshold } from "../philox.ts";
import { checkDType, type Tensor } from "../tensor.ts";
import { castKernel } from "./cast.ts";
import { type FloatDType, floatDType, storageSnippet } from "./float_dtype.ts";

const OP = "causalAttention";

/**
 * Largest head size the fused kernel keeps in registers (its `D4` is at
 * most 16); larger heads take the unfused path.
 *
 * @example
 * ```ts
 * import { FUSED_MAX_HEAD_SIZE } from "./attention.ts";
 * console.log(FUSED_MAX_HEAD_SIZE); // 64
 * ```
 */
export const FUSED_MAX_HEAD_SIZE = 64;

/**
 * Longest sequence the fused kernel takes: an invocation loops once per key,
 * and llvmpipe stops shader loops after 65,535 iterations.
 */
const FUSED_MAX_TOKENS = 4096;

/** Threads per row of the attention-weights kernel (its `WG`). */
const WEIGHTS_WG = 64;

/**
 * Whether the fused kernel can run `[batch, T, d]` attention on `device`
 * (`batch` counts batch entries times heads: one workgroup column each):
 * the head fits its registers, T is at most 4096, and the grid fits the
 * device's limits.
 *
 * @example
 * ```ts ignore
 * import { webgpu } from "@tessera/core";
 * import { fusedAttentionSupported } from "./attention.ts";
 * console.log(fusedAttentionSupported(await webgpu(), 4, 256, 64)); // true
 * ```
 */
export function fusedAttentionSupported(
  device: WebGpuDevice,
  batch: number,
  tokens: number,
  headSize: number,
): boolean {
  const { wg, rows } = attentionTiles(device);
  const limit = runtimeOf(device).maxWorkgroupsPerDimension;
  return headSize >= 1 && headSize <= FUSED_MAX_HEAD_SIZE && batch >= 1 && batch <= limit &&
    tokens <= FUSED_MAX_TOKENS && Math.ceil(tokens / (wg * rows)) <= limit;
}

/**
 * Causal attention in one dispatch, with no `[T, T]` intermediate:
 * `softmax(scale * q k^T) v` over `[batch, T, d]` inputs where key j is
 * visible to query i iff `j <= i` (and, with `mask`, `mask[i][j] == 0`: the
 * `[:T, :T]` corner of a `[context, context]` buffer, read in place).
 * `q`, `k`, `v` are all float32 or all float16 (else `DTypeError`); float16
 * runs the same kernel on f16 storage: loads widen to f32, the math is f32,
 * and each output rounds once, so it equals the float32 kernel on the
 * widened inputs, rounded. The mask may have either floating dtype.
 * Callers check {@linkcode fusedAttentionSupported} and devices first.
 *
 * @example
 * ```ts ignore
 * import { ones, toDevice, webgpu } from "@tessera/core";
 * import { fusedAttention } from "./attention.ts";
 * const x = await toDevice(ones([1, 4, 8]), await webgpu());
 * console.log(await fusedAttention(x, x, x, undefined, 1 / Math.sqrt(8)).toArray());
 * ```
 */
export function fusedAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  mask: Tensor | undefined,
  scale: number,
): Tensor {
  const headSize = q.shape[2];
  return launchFused([q, k, v], headSize, headSize, [0, 0, 0], mask, scale);
}

/**
 * {@linkcode fusedAttention} reading queries, keys and values from one packed
 * projection `[batch, T, 3 * heads * headSize]` (each row is `q | k | v`, as
 * computed by a single `linear` with the three weights stacked), so a forward
 * pass projects with one matmul instead of three. With `heads > 1` each of
 * `q`, `k`, `v` holds the heads side by side (the book's
 * `view(b, T, heads, headSize)`); head h reads its columns in place and
 * writes columns `h * headSize ...` of the merged `[batch, T, heads *
 * headSize]` output, so no head split or merge copies are made.
 *
 * @example
 * ```ts ignore
 * import { ones, toDevice, webgpu } from "@tessera/core";
 * import { fusedAttentionPacked } from "./attention.ts";
 * const qkv = await toDevice(ones([1, 4, 24]), await webgpu());
 * console.log(fusedAttentionPacked(qkv, 8, undefined, 1 / Math.sqrt(8)).shape); // [1, 4, 8]
 * ```
 */
export function fusedAttentionPacked(
  qkv: Tensor,
  headSize: number,
  mask: Tensor | undefined,
  scale: number,
  heads = 1,
): Tensor {
  const width = heads * headSize;
  return launchFused(
    [qkv, qkv, qkv],
    headSize,
    3 * width,
    [0, width, 2 * width],
    mask,
    scale,
    heads,
  );
}

function launchFused(
  [q, k, v]: readonly [Tensor, Tensor, Tensor],
  headSize: number,
  stride: number,
  offsets: readonly [number, number, number],
  mask: Tensor | undefined,
  scale: number,
  heads = 1,
): Tensor {
  const dtype = floatDType(OP, ["queries", q], ["keys", k], ["values", v]);
  const device = q.device as WebGpuDevice;
  const [batch, tokens] = q.shape;
  const { wg, rows } = attentionTiles(device);
  const maskStore = maskAs(mask, dtype);
  // Head h starts h * headSize floats into its row: aligned when headSize is.
  const aligned = [headSize, stride, ...offsets].every((n) => n % 4 === 0);
  try {
    return launch(device, {
      op: OP,
      shader: "attention_fused",
      includes: [storageSnippet(dtype)],
      dtypes: [dtype],
      constants: {
        WG: wg,
        R: rows,
        D4: Math.ceil(headSize / 4),
        VEC: aligned ? 1 : 0,
        USE_MASK: mask ? 1 : 0,
      },
      uniforms: words(
        tokens,
        headSize,
        mask ? mask.shape[1] : 0,
        { f32: scale },
        stride,
        ...offsets,
        heads,
        heads * headSize,
        0x7fc00000,
        0,
      ),
      // Without a mask any read-only buffer fills the binding; the kernel never reads it.
      inputs: [["queries", q], ["keys", k], ["values", v], ["mask", maskStore ?? q]],
      outShape: [batch, tokens, heads * headSize],
      workgroups: [batch * heads, Math.ceil(tokens / (wg * rows)), 1],
    });
  } finally {
    if (maskStore !== mask) maskStore?.dispose();
  }
}

/**
 * The mask in the kernel's storage dtype. Mask buffers are only compared with
 * 0, so either floating dtype is accepted; a float32 mask read by a float16
 * kernel is rounded first, one extra pass (non-zero values of magnitude
 * 2^-25 or less would then read as 0).
 */
function maskAs(mask: Tensor | undefined, dtype: FloatDType): Tensor | undefined {
  if (mask === undefined) return undefined;
  checkDType(OP, "mask", mask, ["float32", "float16"]);
  return mask.dtype === dtype ? mask : castKernel(OP, mask, dtype);
}

/**
 * Dropout applied to the attention weights inside {@linkcode attentionWeights}.
 *
 * @example
 * ```ts
 * import type { WeightsDropout } from "./attention.ts";
 * const drop: WeightsDropout = { p: 0.1, seed: 1234n };
 * ```
 */
export interface WeightsDropout {
  /** Probability of zeroing a weight. */
  p: number;
  /** Philox key (offset 0), as in `dropout(weights, p, { seed })`. */
  seed: number | bigint;
}

/**
 * The attention weights of already scaled scores `[batch, T, T]` in one
 * pass: masked positions (`causal`: column past row; `mask`: non-zero in its
 * `[:T, :T]` corner) get exact zeros, the rest a row softmax, then dropout.
 * Bit-identical to `maskedFill` + `softmax` + `dropout` on the same device
 * for float32. float16 scores give float16 weights computed in f32 and
 * rounded once (the float32 pass on the widened scores, rounded; with
 * dropout this can differ by one rounding from the stages, which round
 * before and after the dropout scale).
 *
 * @example
 * ```ts ignore
 * import { tensor, toDevice, webgpu } from "@tessera/core";
 * import { attentionWeights } from "./attention.ts";
 * const s = await toDevice(tensor([[[1, 2], [3, 4]]]), await webgpu());
 * console.log(await attentionWeights(s, { causal: true }).toArray()); // [[[1, 0], [~0.27, ~0.73]]]
 * ```
 */
export function attentionWeights(
  scores: Tensor,
  options: { causal?: boolean; mask?: Tensor; dropout?: WeightsDropout },
): Tensor {
  const dtype = floatDType(OP, ["scores", scores]);
  const device = scores.device as WebGpuDevice;
  const tokens = scores.shape.at(-1) ?? 0;
  const rows = tokens === 0 ? 0 : scores.size / tokens;
  const { mask, dropout } = options;
  const [seedLo, seedHi] = dropout ? dropoutSeedWords(dropout.seed) : [0, 0];
  const threshold = dropout ? dropoutThreshold(dropout.p) : 0;
  const keepScale = !dropout ? 1 : dropout.p >= 1 ? 0 : Math.fround(1 / (1 - dropout.p));
  const maskStore = maskAs(mask, dtype);
  try {
    return launch(device, {
      op: OP,
      shader: "attention_softmax",
      includes: [
        storageSnippet(dtype),
        "philox",
        "workgroup_reduce",
        "softmax_rules",
        "workgroup_job",
      ],
      dtypes: [dtype],
      constants: {
        WG: WEIGHTS_WG,
        CAUSAL: options.causal ? 1 : 0,
        USE_MASK: mask ? 1 : 0,
        DROPOUT: dropout ? 1 : 0,
      },
      uniforms: words(
        rows,
        tokens,
        mask ? mask.shape[1] : 0,
        seedLo,
        seedHi,
        threshold,
        { f32: keepScale },
        0x7fc00000,
        0xff800000,
        0,
        0,
        0,
      ),
      inputs: [["scores", scores], ["mask", maskStore ?? scores]],
      outShape: scores.shape,
      workgroups: rows,
    });
  } finally {
    if (maskStore !== mask) maskStore?.dispose();
  }
}
