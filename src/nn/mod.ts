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

// The cpu device's WebAssembly kernels join the kernel tables (src/cpu/register.ts).
import "../cpu/register.ts";

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
export {
  type Embedding,
  embedding,
  type EmbeddingConfig,
  type EmbeddingParams,
} from "./embedding.ts";
export {
  type FeedForward,
  feedForward,
  type FeedForwardConfig,
  type FeedForwardParams,
} from "./feed_forward.ts";
export { type Gelu, gelu, type GeluConfig } from "./gelu.ts";
export {
  GPT_CONFIG_124M,
  type GptBuffers,
  type GptConfig,
  type GptModel,
  gptModel,
  type GptModelApplyOptions,
  type GptParams,
} from "./gpt_model.ts";
export {
  type GptCacheAttentionBuffers,
  type GptCacheBuffers,
  type GptCachedModel,
  type GptCacheOptions,
  type GptCacheState,
  type GptStepResult,
} from "./gpt_cache.ts";
export {
  type LayerNorm,
  layerNorm,
  type LayerNormConfig,
  type LayerNormParams,
} from "./layer_norm.ts";
export {
  type GptApplyOptions,
  type MultiHeadAttention,
  multiHeadAttention,
  type MultiHeadAttentionBuffers,
  type MultiHeadAttentionConfig,
  type MultiHeadAttentionParams,
} from "./multi_head_attention.ts";
export {
  type TransformerBlock,
  transformerBlock,
  type TransformerBlockBuffers,
  type TransformerBlockConfig,
  type TransformerBlockParams,
} from "./transformer_block.ts";
