/**
 * The book's multi-head attention (chapter 3.6.2) on the seed's inputs:
 *
 *   deno run examples/mha.ts
 *
 * `torch.manual_seed(123)`, `MultiHeadAttention(d_in=3, d_out=2,
 * context_length=6, dropout=0.0, num_heads=2)` on the batch of two copies of
 * "Your journey starts with one step", printed like PyTorch prints it, on cpu
 * and then on webgpu (where the two heads run as one fused kernel).
 */

import { format, manualSeed, nn, stack, tensor, toDevice, webgpu } from "../mod.ts";

manualSeed(123);

const inputs = tensor([
  [0.43, 0.15, 0.89], // Your     (x^1)
  [0.55, 0.87, 0.66], // journey  (x^2)
  [0.57, 0.85, 0.64], // starts   (x^3)
  [0.22, 0.58, 0.33], // with     (x^4)
  [0.77, 0.25, 0.10], // one      (x^5)
  [0.05, 0.80, 0.55], // step     (x^6)
]);

const batch = stack([inputs, inputs]); // [2, 6, 3]
const [, contextLength, dIn] = batch.shape;
const dOut = 2;
const mha = nn.multiHeadAttention.init({ dIn, dOut, contextLength, dropout: 0.0, numHeads: 2 });

const contextVecs = nn.multiHeadAttention.apply(mha, batch); // [2, 6, 2]
console.log(await format(contextVecs));
console.log(`context_vecs.shape: torch.Size([${contextVecs.shape.join(", ")}])`);

const gpu = await webgpu();
const onGpu = nn.multiHeadAttention.apply(await toDevice(mha, gpu), await toDevice(batch, gpu));
console.log(await format(onGpu));
