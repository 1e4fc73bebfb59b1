// Shared by the autograd, optimizer and training tests: decoding the PyTorch
// fixtures (tests/fixtures/training.json) and the tiny next-token model of
// examples/train.ts (one-hot -> linear -> causal attention + residual ->
// linear head -> cross-entropy).

import { add, crossEntropy, linear, nn, reshape, type Tensor, tensor, treeLeaves } from "../mod.ts";

/** A fixture tensor: shape and float32 values. */
export interface Encoded {
  shape: number[];
  data: number[];
}

/** A tensor tree decoded from fixture JSON (`{ shape, data }` leaves). */
// deno-lint-ignore no-explicit-any
export type Decoded = any;

/** Turns every `{ shape, data }` leaf of a fixture tree into a CPU tensor. */
export function decode(tree: unknown): Decoded {
  if (tree && typeof tree === "object" && "shape" in tree && "data" in tree) {
    const { shape, data } = tree as Encoded;
    return tensor(new Float32Array(data), shape);
  }
  if (Array.isArray(tree)) return tree.map(decode);
  if (tree && typeof tree === "object") {
    return Object.fromEntries(Object.entries(tree).map(([k, v]) => [k, decode(v)]));
  }
  return tree;
}

/** Dotted paths of a tree's tensor leaves, for comparing structures. */
export function paths(tree: unknown): string[] {
  return [...treeLeaves(tree)].map(([path]) => path);
}

/** Parameters of the tiny next-token model. */
export interface TinyParams {
  embed: { weight: Tensor };
  attention: nn.CausalAttentionParams;
  head: { weight: Tensor; bias: Tensor };
}

/** Forward options of the tiny model. */
export interface TinyOptions {
  dropout?: number;
  training?: boolean;
  seed?: number;
}

/**
 * Mean next-token cross-entropy of the tiny model: tokens arrive one-hot
 * `[B, T, V]`, targets as class indices `[B * T]`; the causal mask is a buffer.
 */
export function tinyLoss(
  params: TinyParams,
  mask: Tensor,
  oneHot: Tensor,
  targets: Tensor,
  options: TinyOptions = {},
): Tensor {
  const h = linear(oneHot, params.embed.weight);
  const attended = nn.causalAttention.forward(
    params.attention,
    mask,
    h,
    { dropout: options.dropout ?? 0 },
    { training: options.training, seed: options.seed },
  );
  const logits = linear(add(h, attended), params.head.weight, params.head.bias);
  return crossEntropy(reshape(logits, [-1, oneHot.shape[2]]), targets);
}

/** One-hot windows of the periodic sequence 0, 1, ..., V-1, 0, ... and their next tokens. */
export function periodicBatch(
  vocab: number,
  tokens: number,
  starts: readonly number[],
): { oneHot: Tensor; targets: Tensor } {
  const oneHot = new Float32Array(starts.length * tokens * vocab);
  const targets = new Float32Array(starts.length * tokens);
  starts.forEach((start, b) => {
    for (let t = 0; t < tokens; t++) {
      const token = (start + t) % vocab;
      oneHot[(b * tokens + t) * vocab + token] = 1;
      targets[b * tokens + t] = (token + 1) % vocab;
    }
  });
  return {
    oneHot: tensor(oneHot, [starts.length, tokens, vocab]),
    targets: tensor(targets, [starts.length * tokens]),
  };
}
