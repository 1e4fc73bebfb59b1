/**
 * Next-token selection for text generation: from the logits of each
 * sequence's last position pick a token id, greedily (argmax) or by
 * temperature and top-k sampling with a host-drawn uniform per row (inverse
 * CDF). On WebGPU the whole choice runs in WGSL (shaders/select_*.wgsl) and
 * only the ids come out; the CPU path repeats the kernels' float32 steps in
 * the same order, so one seed picks the same tokens on both devices.
 *
 * @module
 */

import type { WebGpuDevice } from "../device.ts";
import { ArgumentError } from "../errors.ts";
import { launch, words } from "../gpu/launch.ts";
import type { ShaderName } from "../gpu/shaders.generated.ts";
import { checkDType, cpuData, cpuTensor, fromHost, type Tensor } from "../tensor.ts";
import { showShape } from "./checks.ts";
import {
  CHUNK,
  MAX_CHUNKS,
  PER,
  type RowLayout,
  SELECT_WG,
  selectGreedyCpu,
  selectSampleCpu,
} from "./select_token_cpu.ts";
import { type KernelTable, kernelTable } from "./kernel_table.ts";

/**
 * How {@linkcode selectTokens} chooses the next token.
 *
 * @example
 * ```ts
 * import type { SelectOptions } from "./select_token.ts";
 * const o: SelectOptions = { temperature: 1.4, topK: 25, draws: new Float32Array([0.3]) };
 * ```
 */
export interface SelectOptions {
  /** 0 for greedy (argmax); otherwise logits are divided by it before softmax. */
  temperature: number;
  /** Keep only logits >= the k-th largest of the row (sampling only). */
  topK?: number;
  /** One uniform draw in [0, 1) per row (float32 values); required when sampling. */
  draws?: Float32Array;
}

/**
 * The largest row (vocabulary) the selection kernels take: 2048 chunks of
 * 4096, so that every per-invocation loop stays within 4096 steps.
 *
 * @example
 * ```ts
 * import { MAX_SELECT_ROW } from "./select_token.ts";
 * console.log(MAX_SELECT_ROW); // 8388608
 * ```
 */
export const MAX_SELECT_ROW: number = CHUNK * MAX_CHUNKS;

/**
 * Picks one token id per sequence from `logits` `[batch, tokens, vocab]`
 * (the last position of each sequence), on the logits' device. Returns int32
 * `[batch]`; a row that cannot be sampled (a NaN or infinite maximum, where
 * `torch.multinomial` raises) gets the id -1, for the caller to report.
 * Greedy picks the first maximum, and a NaN counts as the maximum, like
 * `torch.argmax`.
 *
 * @example
 * ```ts
 * import { tensor } from "@tessera/core";
 * import { selectTokens } from "./select_token.ts";
 * const logits = tensor([[[0, 5, 1], [3, 1, 2]]]); // [1, 2, 3]
 * console.log(await selectTokens("demo", logits, { temperature: 0 }).toArray()); // [0]
 * ```
 */
export function selectTokens(op: string, logits: Tensor, options: SelectOptions): Tensor {
  checkDType(op, "logits", logits, ["float32"]);
  if (logits.shape.length !== 3 || logits.shape.some((d) => d === 0)) {
    throw new ArgumentError(
      `${op}: logits must have shape [batch, tokens, vocab] with no empty dimension, ` +
        `but got ${showShape(logits.shape)}`,
    );
  }
  const [rows, tokens, n] = logits.shape;
  if (n > MAX_SELECT_ROW) {
    throw new ArgumentError(
      `${op}: logits have ${n} entries per row (shape ${showShape(logits.shape)}), ` +
        `over the ${MAX_SELECT_ROW} the selection kernels take`,
    );
  }
  const { temperature, topK, draws } = options;
  const sampling = temperature > 0;
  if (sampling && (!draws || draws.length !== rows)) {
    throw new ArgumentError(`${op}: sampling needs one uniform draw per row (${rows})`);
  }
  if (topK !== undefined && (topK < 1 || topK > n)) {
    throw new ArgumentError(
      `${op}: topK must be in [1, ${n}] for logits of shape ${showShape(logits.shape)}, ` +
        `but got ${topK}`,
    );
  }
  const layout = { rows, n, rowStride: tokens * n, rowOffset: (tokens - 1) * n };
  return selectKernels.for(logits)(op, logits, layout, options);
}

/**
 * A token selection implementation: int32 ids `[layout.rows]` from the
 * last position of each row (options already checked by the op).
 */
export type SelectImpl = (
  op: string,
  logits: Tensor,
  layout: RowLayout,
  options: SelectOptions,
) => Tensor;

function referenceSelect(
  op: string,
  logits: Tensor,
  layout: RowLayout,
  { temperature, topK, draws }: SelectOptions,
): Tensor {
  const data = cpuData(logits, op, "logits");
  const ids = temperature > 0
    ? selectSampleCpu(data, layout, temperature, topK, draws!)
    : selectGreedyCpu(data, layout);
  return cpuTensor(ids, [layout.rows]);
}

function webgpuSelect(
  op: string,
  logits: Tensor,
  layout: RowLayout,
  { temperature, topK, draws }: SelectOptions,
): Tensor {
  return temperature > 0
    ? sampleGpu(op, logits, layout, temperature, topK, draws!)
    : argmaxGpu(op, logits, layout, 0);
}

/** Greedy and sampled token selection, per backend (src/ops/kernel_table.ts). */
export const selectKernels: KernelTable<SelectImpl> = kernelTable<SelectImpl>("selectTokens", {
  reference: referenceSelect,
  webgpu: webgpuSelect,
});

interface Layout {
  rows: number;
  n: number;
  rowStride: number;
  rowOffset: number;
}

const CONSTANTS = { WG: SELECT_WG, PER };
const INCLUDES: readonly ShaderName[] = ["select_keys", "workgroup_reduce"];
/** For the kernels that run one workgroup per job (shaders/workgroup_job.wgsl). */
const JOB_INCLUDES: readonly ShaderName[] = [...INCLUDES, "workgroup_job"];

/** The row argmax (outKey 0) or the row maximum's key (outKey 1), int32 `[rows]`. */
function argmaxGpu(op: string, logits: Tensor, l: Layout, outKey: 0 | 1): Tensor {
  const device = logits.device as WebGpuDevice;
  const chunks = Math.ceil(l.n / CHUNK);
  const pairs = launch(device, {
    op,
    shader: "select_argmax",
    includes: JOB_INCLUDES,
    constants: CONSTANTS,
    uniforms: words(l.rows, l.n, chunks, l.rowStride, l.rowOffset),
    inputs: [["logits", logits]],
    dtypes: ["int32", "float32"],
    outShape: [l.rows, chunks, 2],
    workgroups: l.rows * chunks,
  });
  try {
    return launch(device, {
      op,
      shader: "select_argmax_final",
      includes: JOB_INCLUDES,
      constants: { ...CONSTANTS, OUT_KEY: outKey },
      uniforms: words(l.rows, chunks),
      inputs: [["argmax partials", pairs]],
      dtypes: ["int32"],
      outShape: [l.rows],
      workgroups: l.rows,
    });
  } finally {
    pairs.dispose();
  }
}

/** Top-k threshold keys by radix select, then the inverse CDF in three passes. */
function sampleGpu(
  op: string,
  logits: Tensor,
  l: Layout,
  temperature: number,
  topK: number | undefined,
  draws: Float32Array,
): Tensor {
  const device = logits.device as WebGpuDevice;
  const chunks = Math.ceil(l.n / CHUNK);
  const t = { f32: temperature };
  const owned: Tensor[] = [];
  const keep = <T extends Tensor>(x: T): T => {
    owned.push(x);
    return x;
  };
  try {
    const maxKey = keep(argmaxGpu(op, logits, l, 1));
    // Per row (threshold key prefix, rank still wanted); key 0 keeps everything.
    const start = new Int32Array(l.rows * 2);
    if (topK !== undefined) { for (let r = 0; r < l.rows; r++) start[r * 2 + 1] = topK; }
    let state = keep(fromHost(start, [l.rows, 2], device, op, "top-k state"));
    if (topK !== undefined) {
      for (const shift of [24, 16, 8, 0]) {
        const hist = keep(launch(device, {
          op,
          shader: "select_topk_hist",
          includes: JOB_INCLUDES,
          constants: CONSTANTS,
          uniforms: words(l.rows, l.n, chunks, l.rowStride, l.rowOffset, shift),
          inputs: [["logits", logits], ["top-k state", state]],
          dtypes: ["int32", "float32"],
          outShape: [l.rows, chunks, 256],
          workgroups: l.rows * chunks,
        }));
        state = keep(launch(device, {
          op,
          shader: "select_topk_scan",
          includes: JOB_INCLUDES,
          constants: CONSTANTS,
          uniforms: words(l.rows, chunks, shift),
          inputs: [["top-k histogram", hist], ["top-k state", state]],
          dtypes: ["int32"],
          outShape: [l.rows, 2],
          workgroups: l.rows,
        }));
      }
    }
    const sums = keep(launch(device, {
      op,
      shader: "select_weights",
      includes: JOB_INCLUDES,
      constants: CONSTANTS,
      uniforms: words(l.rows, l.n, chunks, l.rowStride, l.rowOffset, t),
      inputs: [["logits", logits], ["row maxima", maxKey], ["top-k state", state]],
      dtypes: ["float32", "int32"],
      outShape: [l.rows, chunks],
      workgroups: l.rows * chunks,
    }));
    const u = keep(fromHost(draws, [l.rows], device, op, "draws"));
    const pick = keep(launch(device, {
      op,
      shader: "select_sample_chunk",
      includes: INCLUDES,
      constants: CONSTANTS,
      uniforms: words(l.rows, chunks, t),
      inputs: [["chunk sums", sums], ["row maxima", maxKey], ["draws", u]],
      dtypes: ["int32", "float32"],
      outShape: [l.rows, 2],
      workgroups: Math.ceil(l.rows / 64),
    }));
    return launch(device, {
      op,
      shader: "select_sample",
      includes: JOB_INCLUDES,
      constants: CONSTANTS,
      uniforms: words(l.rows, l.n, l.rowStride, l.rowOffset, t),
      inputs: [
        ["logits", logits],
        ["row maxima", maxKey],
        ["top-k state", state],
        ["chunk pick", pick],
      ],
      dtypes: ["int32", "float32"],
      outShape: [l.rows],
      workgroups: l.rows,
    });
  } finally {
    for (const x of owned) x.dispose();
  }
}
