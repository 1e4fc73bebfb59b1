// The register-blocked matmul kernel (shaders/matmul.wgsl) in every variant
// the launcher can pick: each tile size, transposes, aligned (vec4) and
// unaligned loads, broadcast batches, alpha, and M/N/K of 1, 3, 7, 65, 257
// (never a multiple of the tile, K rarely of 4). Checked against the CPU
// reference within the sqrt(K)-scaled float32 dot-product bound.

import assert from "node:assert/strict";
import { matmul, type Tensor, tensor, toDevice, webgpu } from "../../mod.ts";
import { type MatmulTiles, planMatmul, setTuningOverride } from "../../src/gpu/tuning.ts";
import { randomTensor } from "../helpers.ts";

async function absolute(t: Tensor): Promise<Tensor> {
  return tensor((await t.data()).map(Math.abs), t.shape);
}

interface Case {
  M: number;
  N: number;
  K: number;
  ta: boolean;
  tb: boolean;
  /** Which operands carry the batch dimension. */
  batch: "both" | "a" | "b" | "none";
}

/** |error| <= 4 sqrt(K) 2^-24 (|A||B|)_ij + 1e-6, the float32 dot-product bound. */
async function check(c: Case, seed: number, alpha = 0.75): Promise<void> {
  const device = await webgpu();
  const B = 2;
  const aShape = [
    ...(c.batch === "both" || c.batch === "a" ? [B] : []),
    ...(c.ta ? [c.K, c.M] : [c.M, c.K]),
  ];
  const bShape = [
    ...(c.batch === "both" || c.batch === "b" ? [B] : []),
    ...(c.tb ? [c.N, c.K] : [c.K, c.N]),
  ];
  const a = randomTensor(aShape, seed);
  const b = randomTensor(bShape, seed + 1);
  const opts = { transposeA: c.ta, transposeB: c.tb, alpha };
  const expected = await matmul(a, b, opts).data();
  const bound = await matmul(await absolute(a), await absolute(b), {
    ...opts,
    alpha: Math.abs(alpha),
  }).data();
  const actual = await matmul(await toDevice(a, device), await toDevice(b, device), opts).data();
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    const tol = 4 * Math.sqrt(c.K) * 2 ** -24 * bound[i] + 1e-6;
    if (!(Math.abs(actual[i] - expected[i]) <= tol)) {
      assert.fail(
        `matmul ${JSON.stringify(c)} at ${i}: ${actual[i]} vs ${expected[i]} (tolerance ${tol})`,
      );
    }
  }
}

const SIZES = [1, 3, 7, 65, 257];
const TRANSPOSES = [[false, false], [false, true], [true, false], [true, true]] as const;

Deno.test("matmul: M, N, K in {1, 3, 7, 65, 257}, all transposes, with the adapter's tiles", async () => {
  let seed = 1;
  for (const M of SIZES) {
    for (const N of SIZES) {
      for (const K of SIZES) {
        // A third of the grid (rotating) keeps the run short; every size and transpose appears.
        if ((M + 2 * N + 3 * K + seed) % 3 !== 0) {
          seed++;
          continue;
        }
        const [ta, tb] = TRANSPOSES[seed % 4];
        await check({ M, N, K, ta, tb, batch: "both" }, seed += 2);
      }
    }
  }
});

Deno.test("matmul: aligned shapes take the vec4 paths and agree with the reference", async () => {
  let seed = 1000;
  // K % 4 == 0 and N % 4 == 0 (vec4 A and B rows), M % 4 == 0 (vec4 transposed A),
  // plus one ragged dimension each, which turns one operand back to scalar loads.
  for (
    const [M, N, K] of [[64, 64, 64], [8, 12, 16], [65, 64, 64], [64, 65, 64], [64, 64, 65], [
      4,
      4,
      4,
    ]]
  ) {
    for (const [ta, tb] of TRANSPOSES) {
      await check({ M, N, K, ta, tb, batch: "both" }, seed += 2);
    }
  }
});

Deno.test("matmul: a batch stride of 0 broadcasts either operand", async () => {
  let seed = 2000;
  for (const batch of ["a", "b", "none"] as const) {
    for (const [ta, tb] of TRANSPOSES) {
      await check({ M: 7, N: 9, K: 65, ta, tb, batch }, seed += 2);
      await check({ M: 16, N: 16, K: 32, ta, tb, batch }, seed += 2);
    }
  }
});

Deno.test("matmul: every tile configuration the kernel supports gives the same products", async () => {
  const device = await webgpu();
  const tiles: MatmulTiles[] = [];
  for (const tm of [1, 2, 4, 8] as const) {
    for (const tn of [4, 8] as const) tiles.push({ tm, tn, wx: tm === 8 ? 4 : 8, wy: 8 });
  }
  let seed = 3000;
  try {
    for (const t of tiles) {
      setTuningOverride(device, { matmul: t });
      for (const [M, N, K] of [[17, 33, 7], [64, 64, 64], [3, 5, 257]]) {
        const [ta, tb] = TRANSPOSES[seed % 4];
        await check({ M, N, K, ta, tb, batch: "both" }, seed += 3, -1.5);
      }
    }
  } finally {
    setTuningOverride(device, undefined);
  }
});

Deno.test("matmul: alpha scales inside the kernel, K = 0 gives zeros, a 1x1x1 product is exact", async () => {
  const device = await webgpu();
  const a = await toDevice(tensor([[3]]), device);
  assert.deepEqual(await matmul(a, a, { alpha: 0.5 }).toArray(), [[4.5]]);
  const empty = await toDevice(tensor(new Float32Array(0), [2, 0]), device);
  const emptyT = await toDevice(tensor(new Float32Array(0), [0, 3]), device);
  assert.deepEqual(await matmul(empty, emptyT).toArray(), [[0, 0, 0], [0, 0, 0]]);
});

Deno.test("planMatmul shrinks tiles for thin matrices and uses vec4 only on aligned rows", () => {
  const tiles: MatmulTiles = { tm: 8, tn: 8, wx: 8, wy: 8 };
  const p = (M: number, N: number, K: number, ta = false, tb = false) =>
    planMatmul(tiles, M, N, K, 3, ta, tb);
  assert.deepEqual([p(1, 1, 1).constants.TM, p(1, 1, 1).constants.TN], [1, 4]);
  assert.equal(p(2, 64, 64).constants.TM, 2);
  assert.equal(p(3, 64, 64).constants.TM, 4);
  assert.equal(p(64, 64, 64).constants.TM, 8);
  assert.deepEqual(p(64, 64, 64).grid, [1, 1, 3]);
  assert.deepEqual(p(65, 65, 64).grid, [2, 2, 3]);
  // Not transposed: A rows need K % 4, B rows need N % 4.
  assert.deepEqual([p(5, 8, 12).constants.VEC_A, p(5, 8, 12).constants.VEC_B], [1, 1]);
  assert.deepEqual([p(5, 6, 7).constants.VEC_A, p(5, 6, 7).constants.VEC_B], [0, 0]);
  // Transposed: A rows run along M (and the tile must hold whole vec4 groups), B rows along K.
  assert.equal(p(8, 8, 7, true).constants.VEC_A, 1);
  assert.equal(p(2, 8, 8, true).constants.VEC_A, 0); // TM = 2 cannot take 4 rows at once
  assert.equal(p(6, 8, 8, true).constants.VEC_A, 0);
  assert.equal(p(6, 6, 8, false, true).constants.VEC_B, 1);
  assert.equal(p(6, 8, 6, false, true).constants.VEC_B, 0);
});
