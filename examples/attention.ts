/**
 * The seed notebook, "Understanding PyTorch Buffers", as a program:
 *
 *   deno run examples/attention.ts
 *
 * 1. Causal attention with its mask kept outside the module record runs on cpu.
 * 2. Moved to webgpu with toDevice, the mask stays behind and the forward fails.
 * 3. Moving the mask by hand fixes it.
 * 4. With the mask registered in `buffers`, toDevice moves it along.
 */

import {
  DeviceMismatchError,
  format,
  manualSeed,
  nn,
  stack,
  tensor,
  toDevice,
  webgpu,
  type WebGpuDevice,
} from "../mod.ts";

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
const contextLength = batch.shape[1];
const dIn = inputs.shape[1];
const dOut = 2;
const config = { dIn, dOut, contextLength, dropout: 0.0 };

// 1. The seed's CausalAttentionWithoutBuffers: the mask is a separate tensor,
//    not part of the record, so nothing that walks the record can see it.
const { params, buffers: { mask } } = nn.causalAttention.init(config);
const caWithoutBuffer = { params, mask };
console.log(await format(nn.causalAttention.forward(params, mask, batch, config)));

let gpu: WebGpuDevice | undefined;
try {
  gpu = await webgpu();
} catch (error) {
  console.log(`\nNo WebGPU device, so the GPU half of the notebook is skipped: ${error}`);
}

if (gpu) {
  console.log("\nMachine has GPU:", gpu.adapterInfo.description || gpu.name);

  // 2. Move the module's params and the input; the separate mask stays behind.
  const batchGpu = await toDevice(batch, gpu);
  caWithoutBuffer.params = await toDevice(caWithoutBuffer.params, gpu);
  try {
    nn.causalAttention.forward(caWithoutBuffer.params, caWithoutBuffer.mask, batchGpu, config);
  } catch (error) {
    if (!(error instanceof DeviceMismatchError)) throw error;
    console.log(`\n${error.name}: ${error.message}`);
  }
  console.log("\nW_query.device:", caWithoutBuffer.params.W_query.weight.device.name);
  console.log("mask.device:", caWithoutBuffer.mask.device.name);

  // 3. Move the mask by hand: same numbers, now on the GPU.
  caWithoutBuffer.mask = await toDevice(caWithoutBuffer.mask, gpu);
  console.log("\nmask.device:", caWithoutBuffer.mask.device.name);
  console.log(
    await format(
      nn.causalAttention.forward(caWithoutBuffer.params, caWithoutBuffer.mask, batchGpu, config),
    ),
  );

  // 4. The seed's CausalAttentionWithBuffer: the mask lives in `buffers`, so
  //    toDevice moves it together with the weights.
  const caWithBuffer = await toDevice(nn.causalAttention.init(config), gpu);
  console.log("\nW_query.device:", caWithBuffer.params.W_query.weight.device.name);
  console.log("mask.device:", caWithBuffer.buffers.mask.device.name);
  console.log(await format(nn.causalAttention.apply(caWithBuffer, batchGpu)));
} else {
  // Without a GPU the buffer lesson still shows on cpu: the second module.
  console.log(await format(nn.causalAttention.apply(nn.causalAttention.init(config), batch)));
}
