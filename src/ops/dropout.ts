/**
 * Dropout with a counter-based generator (Philox4x32-10), implemented
 * identically in TypeScript and WGSL: the same seed drops the same elements
 * on cpu and webgpu. The backward rule is kept here, beside the op.
 *
 * @module
 */

import { type Backward, record } from "../autograd/recording.ts";
import { ELEMENTWISE_WG, launch, words } from "../gpu/launch.ts";
import { dropoutMask, dropoutSeedWords, dropoutThreshold } from "../philox.ts";
import { ArgumentError } from "../errors.ts";
import { Generator, globalGenerator } from "../random.ts";
import { checkDType, cpuData, cpuTensor, type Tensor } from "../tensor.ts";
import { checkInteger, checkNumber, checkOptions, checkTensor, describe } from "./checks.ts";
import { throughFloat32 } from "./through_float32.ts";
import { gpuOf, type KernelTable, kernelTable } from "./kernel_table.ts";

/**
 * Options for {@linkcode dropout}.
 *
 * @example
 * ```ts
 * import type { DropoutOptions } from "@tessera/core";
 * const o: DropoutOptions = { seed: 1234, offset: 0 };
 * ```
 */
export interface DropoutOptions {
  /** Philox key; drawn from `generator` when omitted. */
  seed?: number | bigint;
  /** Philox counter offset, to draw independent masks from one seed. */
  offset?: number;
  /** Generator to draw the seed from; defaults to the global one (`manualSeed`). */
  generator?: Generator;
}

/**
 * Zeroes each element with probability `p` and scales the kept ones by
 * `1 / (1 - p)`, like `torch.nn.functional.dropout` in training mode (the
 * random stream differs from PyTorch's: Tessera's is counter-based so that
 * cpu and webgpu agree bit for bit). As in PyTorch, which multiplies by the
 * mask, a dropped NaN or infinity gives NaN, not zero.
 *
 * @example
 * ```ts
 * import { dropout, ones } from "@tessera/core";
 * const y = dropout(ones([8]), 0.5, { seed: 42 });
 * console.log(await y.toArray()); // each entry 0 or 2
 * ```
 */
export function dropout(x: Tensor, p: number, options: DropoutOptions = {}): Tensor {
  checkTensor("dropout", "input", x);
  checkDType("dropout", "input", x, ["float32", "float16"]);
  checkNumber("dropout", "p", p);
  if (!(p >= 0 && p <= 1)) {
    throw new ArgumentError(`dropout: p must be a probability in [0, 1], but got ${describe(p)}`);
  }
  checkOptions("dropout", options);
  const offset = checkInteger("dropout", "options.offset", options.offset ?? 0, {
    min: 0,
    max: 2 ** 32 - 1,
  });
  if (options.generator !== undefined && !(options.generator instanceof Generator)) {
    throw new ArgumentError(
      `dropout: options.generator must be a Generator, but got ${describe(options.generator)}`,
    );
  }
  // Resolved once, so the backward pass redraws the very same mask.
  const seed = options.seed === undefined
    ? seedFrom(options.generator ?? globalGenerator())
    : checkSeed(options.seed);
  // float16: the float32 mask and scale on the widened values, rounded once.
  if (x.dtype === "float16") return throughFloat32([x], ([w]) => dropout(w, p, { seed, offset }));
  const out = masked(x, p, seed, offset);
  return record("dropout", [x], out, dropoutBackward(p, seed, offset));
}

/**
 * The backward rule of `dropout(x, p, { seed, offset })` with the seed it
 * resolved: the counter-based mask is a pure function of (seed, offset,
 * index), so the backward pass redraws exactly the forward mask instead of
 * storing it, and scales kept entries by the same factor.
 */
function dropoutBackward(p: number, seed: number | bigint, offset: number): Backward {
  return (g: Tensor) => [masked(g, p, seed, offset)];
}

function masked(x: Tensor, p: number, seed: number | bigint, offset: number): Tensor {
  return dropoutKernels.for(x)(x, p, seed, offset);
}

/** A dropout mask-and-scale implementation: the Philox mask of (seed, offset, index). */
export type DropoutImpl = (x: Tensor, p: number, seed: number | bigint, offset: number) => Tensor;

function referenceDropout(x: Tensor, p: number, seed: number | bigint, offset: number): Tensor {
  const keepScale = p >= 1 ? 0 : Math.fround(1 / (1 - p));
  const src = cpuData(x, "dropout", "input");
  const keep = dropoutMask(src.length, p, seed, offset);
  const out = new Float32Array(src.length);
  // x * 0 as in PyTorch's x * mask * scale: a dropped NaN or infinity gives NaN.
  for (let i = 0; i < src.length; i++) out[i] = keep[i] ? src[i] * keepScale : src[i] * 0;
  return cpuTensor(out, x.shape);
}

function webgpuDropout(x: Tensor, p: number, seed: number | bigint, offset: number): Tensor {
  const threshold = dropoutThreshold(p);
  const [seedLo, seedHi] = dropoutSeedWords(seed);
  const keepScale = p >= 1 ? 0 : Math.fround(1 / (1 - p));
  const device = gpuOf(x);
  return launch(device, {
    op: "dropout",
    shader: "dropout",
    includes: ["philox"],
    uniforms: words(x.size, seedLo, seedHi, offset, threshold, { f32: keepScale }, 0, 0),
    inputs: [["input", x]],
    outShape: x.shape,
    workgroups: Math.ceil(x.size / ELEMENTWISE_WG),
  });
}

/** Dropout's masking, per backend (src/ops/kernel_table.ts). */
export const dropoutKernels: KernelTable<DropoutImpl> = kernelTable<DropoutImpl>("dropout", {
  reference: referenceDropout,
  webgpu: webgpuDropout,
});

/** A Philox key: a whole number (or bigint) in [0, 2^64). */
function checkSeed(seed: unknown): number | bigint {
  const whole = (typeof seed === "number" && Number.isSafeInteger(seed)) ||
    typeof seed === "bigint";
  if (
    !whole || BigInt(seed as number | bigint) < 0n || BigInt(seed as number | bigint) >= 2n ** 64n
  ) {
    throw new ArgumentError(
      `dropout: options.seed must be a whole number or bigint in [0, 2^64), but got ` +
        describe(seed),
    );
  }
  return seed as number | bigint;
}

function seedFrom(generator: Generator): bigint {
  // Two 32-bit draws make a 64-bit Philox key.
  return (BigInt(generator.random()) << 32n) | BigInt(generator.random());
}
