// Node smoke test of the packed npm package (run by scripts/node_smoke.sh from
// a temporary project that installed the tarball): the seed notebook's causal
// attention on the CPU prints exactly what PyTorch printed, and webgpu()
// without navigator.gpu rejects with WebGpuUnavailableError.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import {
  format,
  manualSeed,
  nn,
  stack,
  tensor,
  webgpu,
  WebGpuUnavailableError,
} from "@tessera/core";
import { causalAttention } from "@tessera/core/nn";
import {
  parseSafetensors,
  readSafetensorsFile,
  serializeSafetensors,
  writeSafetensorsFile,
} from "@tessera/core/safetensors";

const failures = [];
function check(ok, message) {
  if (!ok) failures.push(message);
}

// Deno globals must not be needed, nor be present by accident.
check(typeof globalThis.Deno === "undefined", "globalThis.Deno exists under Node");

// 1. The seed notebook on the CPU.
const EXPECTED = `tensor([[[-0.4519,  0.2216],
         [-0.5874,  0.0058],
         [-0.6300, -0.0632],
         [-0.5675, -0.0843],
         [-0.5526, -0.0981],
         [-0.5299, -0.1081]],

        [[-0.4519,  0.2216],
         [-0.5874,  0.0058],
         [-0.6300, -0.0632],
         [-0.5675, -0.0843],
         [-0.5526, -0.0981],
         [-0.5299, -0.1081]]])`;

manualSeed(123);
const inputs = tensor([
  [0.43, 0.15, 0.89],
  [0.55, 0.87, 0.66],
  [0.57, 0.85, 0.64],
  [0.22, 0.58, 0.33],
  [0.77, 0.25, 0.10],
  [0.05, 0.80, 0.55],
]);
const batch = stack([inputs, inputs]);
const attention = nn.causalAttention.init({ dIn: 3, dOut: 2, contextLength: 6, dropout: 0 });
const out = nn.causalAttention.apply(attention, batch);
check(out.device.name === "cpu", `output is on ${out.device.name}, not cpu`);
const printed = await format(out);
check(
  printed === EXPECTED,
  `causal attention output differs from the seed notebook:\n--- expected\n${EXPECTED}\n` +
    `--- got\n${printed}`,
);

// 2. Subpath exports resolve to the same modules.
check(causalAttention === nn.causalAttention, '"@tessera/core/nn" is not the root\'s nn');
const bytes = serializeSafetensors([["w", { shape: [2], data: new Float32Array([1, 2]) }]]);
const parsed = parseSafetensors(bytes).tensors.get("w");
check(
  parsed?.shape.join(",") === "2" && parsed.data.join(",") === "1,2",
  `"@tessera/core/safetensors" round trip gave ${JSON.stringify(parsed)}`,
);

// The file helpers fall back to Node's fs/promises where there is no Deno.
const dir = await mkdtemp(join(tmpdir(), "tessera-node-smoke-"));
try {
  const file = join(dir, "bias.safetensors");
  await writeSafetensorsFile(file, [["b", { shape: [2], data: new Float32Array([0.5, -1]) }]]);
  const back = (await readSafetensorsFile(file)).tensors.get("b");
  check(
    back?.data.join(",") === "0.5,-1",
    `safetensors file round trip gave ${JSON.stringify(back)}`,
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}

// 3. webgpu() without navigator.gpu says how to bring a device.
check(globalThis.navigator?.gpu === undefined, "navigator.gpu exists under this Node");
try {
  const device = await webgpu();
  failures.push(`webgpu() resolved to ${device.name} instead of rejecting`);
} catch (error) {
  check(
    error instanceof WebGpuUnavailableError,
    `webgpu() rejected with ${error?.name}: ${error?.message}, not WebGpuUnavailableError`,
  );
  check(
    String(error?.message).includes("webgpu({ device })"),
    `WebGpuUnavailableError does not say how to pass a device: ${error?.message}`,
  );
}

// 4. The cpu device's WebAssembly kernels run under Node and agree with the
// TypeScript reference within float32 error: a small GPT forward on both paths.
{
  const { cpuBackend, cpuThreads, setCpuBackend } = await import("@tessera/core");
  check(cpuBackend() === "wasm", `cpuBackend() is ${cpuBackend()}, not wasm`);
  const cores = (await import("node:os")).availableParallelism();
  check(
    cpuThreads() === Math.min(cores, 8),
    `cpuThreads() is ${cpuThreads()} on ${cores} cores, not one per core by default`,
  );
  manualSeed(7);
  const gpt = nn.gptModel.init({
    vocabSize: 50,
    contextLength: 8,
    embDim: 16,
    nHeads: 2,
    nLayers: 2,
    dropRate: 0,
    qkvBias: false,
  });
  const ids = tensor([[6, 3, 6, 5, 1], [6, 1, 2, 7, 9]], undefined, { dtype: "int32" });
  const fast = await nn.gptModel.apply(gpt, ids).data();
  setCpuBackend("reference");
  const reference = await nn.gptModel.apply(gpt, ids).data();
  setCpuBackend("wasm");
  const worst = fast.reduce((m, v, i) => Math.max(m, Math.abs(v - reference[i])), 0);
  check(
    fast.length === 2 * 5 * 50 && fast.every((v, i) => Math.abs(v - reference[i]) <= 1e-5),
    `GPT forward on the wasm path differs from the reference path by ${worst}`,
  );
  // float32 SIMD sums round differently from the reference's float64 ones: identical
  // logits would mean the kernels never ran (the entry points failed to register them).
  check(worst > 0, "GPT forward on the wasm path gave the reference's bits: no kernel ran");
  // Worker threads on a product large enough to use them (left running: the
  // workers are unref'd, so the process still exits).
  const { matmul, setCpuThreads } = await import("@tessera/core");
  const a = tensor(Float32Array.from({ length: 129 * 257 }, (_, i) => Math.sin(i)), [129, 257]);
  const b = tensor(Float32Array.from({ length: 257 * 300 }, (_, i) => Math.cos(i)), [257, 300]);
  await setCpuThreads(1);
  const single = await matmul(a, b).data();
  await setCpuThreads(2);
  const threaded = await matmul(a, b).data();
  check(
    threaded.every((v, i) => Object.is(v, single[i])),
    "matmul on 2 cpu threads differs from one thread",
  );
}

if (failures.length > 0) {
  console.error(`node smoke: FAILED (${process.version})\n- ${failures.join("\n- ")}`);
  process.exit(1);
}
console.log(`node smoke: ok (${process.version})`);
