/**
 * Re-tunes the kernel tiles for this machine's adapter: times matmul (and,
 * with `--attention`, the fused attention core) under each candidate
 * configuration through the public ops, and prints the best one as a row
 * for `TUNING_TABLE` in src/gpu/tuning.ts.
 *
 *   deno run -A scripts/tune_matmul.ts [--size=512] [--attention] [--quick]
 *
 * Each candidate runs 1 and 11 chained ops with one readback each, and the
 * difference / 10 is its time per op: the fixed readback cost (~11 ms in
 * Deno) cancels out. The first candidate of a run pays pipeline compiles in
 * its warm-up, not in the timings.
 *
 * @module
 */

import { matmul, nn, type Tensor, tensor, toDevice, webgpu, type WebGpuDevice } from "../mod.ts";
import {
  type AttentionTiles,
  type MatmulTiles,
  setTuningOverride,
  tuningEntry,
} from "../src/gpu/tuning.ts";

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[s.length >> 1];
}

function random(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}

/** Milliseconds per op of `op` chained on `first`, readback cost removed. */
async function perOp(
  first: Tensor,
  op: (x: Tensor) => Tensor,
  reps: number,
): Promise<number> {
  const chain = async (n: number) => {
    const t = performance.now();
    let cur = first;
    for (let i = 0; i < n; i++) {
      const next = op(cur);
      if (cur !== first) cur.dispose();
      cur = next;
    }
    await cur.data();
    cur.dispose();
    return performance.now() - t;
  };
  await chain(2); // compile and warm up
  const diffs: number[] = [];
  for (let r = 0; r < reps; r++) diffs.push(((await chain(11)) - (await chain(1))) / 10);
  return median(diffs);
}

async function tuneMatmul(device: WebGpuDevice, n: number, reps: number): Promise<MatmulTiles> {
  const a = await toDevice(tensor(random(n * n, 1), [n, n]), device);
  const b = await toDevice(
    tensor(random(n * n, 2).map((v) => v * Math.sqrt(12 / n)), [n, n]),
    device,
  );
  const candidates: MatmulTiles[] = [];
  for (const tm of [2, 4, 8] as const) {
    for (const tn of [4, 8] as const) {
      for (const [wx, wy] of [[8, 8], [16, 4], [4, 16], [8, 4], [16, 16]]) {
        candidates.push({ tm, tn, wx, wy });
      }
    }
  }
  const flops = 2 * n ** 3;
  let best: { tiles: MatmulTiles; ms: number } | undefined;
  console.log(`matmul ${n}^3, ${candidates.length} configurations`);
  for (const tiles of candidates) {
    setTuningOverride(device, { matmul: tiles });
    const ms = await perOp(a, (x) => matmul(x, b), reps);
    console.log(
      `  tm=${tiles.tm} tn=${tiles.tn} wg=${tiles.wx}x${tiles.wy}: ${ms.toFixed(2)} ms ` +
        `(${(flops / ms / 1e6).toFixed(1)} GFLOP/s)`,
    );
    if (!best || ms < best.ms) best = { tiles, ms };
  }
  setTuningOverride(device, undefined);
  console.log(`best matmul: ${JSON.stringify(best!.tiles)} at ${best!.ms.toFixed(2)} ms`);
  return best!.tiles;
}

async function tuneAttention(device: WebGpuDevice, reps: number): Promise<AttentionTiles> {
  const [B, T, d] = [4, 256, 64];
  const [q, k, v] = await Promise.all(
    [3, 4, 5].map((s) => toDevice(tensor(random(B * T * d, s), [B, T, d]), device)),
  );
  let best: { tiles: AttentionTiles; ms: number } | undefined;
  console.log(`attention core B=${B} T=${T} d=${d} (large tiles compile for seconds each)`);
  for (const [wg, rows] of [[8, 4], [8, 8], [16, 4], [32, 2], [64, 1], [64, 2]]) {
    const tiles = { wg, rows };
    setTuningOverride(device, { attention: tiles });
    const ms = await perOp(q, (x) => nn.causalAttention.core(x, k, v), reps);
    console.log(`  wg=${wg} rows=${rows}: ${ms.toFixed(2)} ms`);
    if (!best || ms < best.ms) best = { tiles, ms };
  }
  setTuningOverride(device, undefined);
  console.log(`best attention: ${JSON.stringify(best!.tiles)} at ${best!.ms.toFixed(2)} ms`);
  return best!.tiles;
}

if (import.meta.main) {
  const size = Number(Deno.args.find((a) => a.startsWith("--size="))?.slice(7) ?? 512);
  const reps = Deno.args.includes("--quick") ? 3 : 7;
  const device = await webgpu();
  const description = device.adapterInfo.description;
  const current = tuningEntry(description);
  console.log(`adapter: ${description}; table row now: ${current.name}`);
  const matmulBest = await tuneMatmul(device, size, reps);
  const attentionBest = Deno.args.includes("--attention")
    ? await tuneAttention(device, reps)
    : current.attention;
  const literal = (o: object) =>
    `{ ${Object.entries(o).map(([k, v]) => `${k}: ${v}`).join(", ")} }`;
  console.log("\nrow for TUNING_TABLE in src/gpu/tuning.ts:");
  console.log(`  {
    name: ${JSON.stringify(description)},
    match: /${description.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}/,
    matmul: ${literal(matmulBest)},
    attention: ${literal(attentionBest)},
  },`);
}
