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
import { type Generator, globalGenerator } from "../random.ts";
import { cpuData, cpuTensor, type Tensor } from "../tensor.ts";

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
 * cpu and webgpu agree bit for bit).
 *
 * @example
 * ```ts
 * import { dropout, ones } from "@tessera/core";
 * const y = dropout(ones([8]), 0.5, { seed: 42 });
 * console.log(await y.toArray()); // each entry 0 or 2
 * ```
 */
export function dropout(x: Tensor, p: number, options: DropoutOptions = {}): Tensor {
  // Resolved once, so the backward pass redraws the very same mask.
  const seed = options.seed ?? seedFrom(options.generator ?? globalGenerator());
  const offset = options.offset ?? 0;
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
  const threshold = dropoutThreshold(p);
  const [seedLo, seedHi] = dropoutSeedWords(seed);
  const keepScale = p >= 1 ? 0 : Math.fround(1 / (1 - p));
  if (x.device.kind === "cpu") {
    const src = cpuData(x, "dropout", "input");
    const keep = dropoutMask(src.length, p, seed, offset);
    const out = new Float32Array(src.length);
    for (let i = 0; i < src.length; i++) out[i] = keep[i] ? src[i] * keepScale : 0;
    return cpuTensor(out, x.shape);
  }
  return launch(x.device, {
    op: "dropout",
    shader: "dropout",
    includes: ["philox"],
    uniforms: words(x.size, seedLo, seedHi, offset, threshold, { f32: keepScale }, 0, 0),
    inputs: [["input", x]],
    outShape: x.shape,
    workgroups: Math.ceil(x.size / ELEMENTWISE_WG),
  });
}

function seedFrom(generator: Generator): bigint {
  // Two 32-bit draws make a 64-bit Philox key.
  return (BigInt(generator.random()) << 32n) | BigInt(generator.random());
}
