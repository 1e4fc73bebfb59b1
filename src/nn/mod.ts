/**
 * Layers as `init`/`apply` pairs over plain module records.
 *
 * @example
 * ```ts
 * import { nn } from "@tessera/core";
 * const m = nn.causalAttention.init({ dIn: 3, dOut: 2, contextLength: 6, dropout: 0 });
 * console.log(Object.keys(m.params)); // ["W_query", "W_key", "W_value"]
 * ```
 *
 * @module
 */

export {
  type ApplyOptions,
  type AttentionStages,
  type CausalAttention,
  causalAttention,
  type CausalAttentionBuffers,
  type CausalAttentionConfig,
  type CausalAttentionParams,
  type CoreOptions,
} from "./causal_attention.ts";
export {
  type InitOptions,
  type Linear,
  linear,
  type LinearConfig,
  type LinearParams,
} from "./linear.ts";
