// Bit-exact checks of src/random.ts against PyTorch 1.13 (CPU, AVX2 kernels).
// Fixtures come from scripts/gen_random_fixtures.py.
import assert from "node:assert/strict";
import fx from "./fixtures/random.json" with { type: "json" };
import {
  DEFAULT_SEED,
  Generator,
  globalGenerator,
  kaimingUniformBound,
  linearInitValues,
  manualSeed,
  rand,
  randn,
  uniform,
} from "../src/random.ts";
import { TesseraError } from "../src/errors.ts";

interface Summary {
  n: number;
  head: number[];
  fnv: number;
}

// Mirrors fnv1a32 in the generator script: FNV-1a over little-endian bytes.
function fnv1a32(words: Uint32Array): number {
  let h = 0x811c9dc5;
  const bytes = new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}

function bitsOf(values: Float32Array): Uint32Array {
  return new Uint32Array(values.buffer, values.byteOffset, values.length);
}

function assertMatches(values: Float32Array, expected: Summary, what: string): void {
  const bits = bitsOf(values);
  assert.equal(bits.length, expected.n, `${what}: length`);
  assert.deepEqual(Array.from(bits.subarray(0, expected.head.length)), expected.head, what);
  assert.equal(fnv1a32(bits), expected.fnv, `${what}: hash of all bit patterns`);
}

const seedOf = (s: number | string): bigint => BigInt(s);

Deno.test("fixtures come from the AVX2 kernels this port reproduces", () => {
  assert.equal(fx.cpuCapability, "AVX2");
});

Deno.test("mt19937 matches the C++ standard's reference outputs", () => {
  const g = new Generator(5489);
  assert.equal(g.random(), 3499211612);
  for (let i = 2; i < 10000; i++) g.random();
  // [rand.predef]: the 10000th output of a default-seeded mt19937.
  assert.equal(g.random(), 4123659995);
});

Deno.test("seeds use only their low 32 bits and wrap negatives like torch", () => {
  const first = (s: number | bigint): number => new Generator(s).random();
  assert.equal(first(2 ** 32 + 5), first(5));
  assert.equal(first(2n ** 40n), first(0));
  assert.equal(new Generator(-1).initialSeed(), 2n ** 64n - 1n);
  assert.equal(first(-1), first(2n ** 64n - 1n));
  assert.equal(new Generator().initialSeed(), DEFAULT_SEED);
  assert.throws(() => new Generator(2n ** 64n), TesseraError);
  assert.throws(() => new Generator(0.5), TesseraError);
});

Deno.test("rand matches torch.rand", () => {
  for (const c of fx.rand) {
    const g = new Generator(seedOf(c.seed));
    assertMatches(rand(c.shape, { generator: g }), c, `rand seed=${c.seed}`);
  }
});

Deno.test("uniform matches torch uniform_, including nn.Linear's bounds", () => {
  for (const c of fx.uniform) {
    const g = new Generator(c.seed);
    const got = uniform(c.n, c.low, c.high, { generator: g });
    assertMatches(got, c, `uniform(${c.low}, ${c.high}) seed=${c.seed}`);
  }
});

Deno.test("random64 puts the first draw in the high word (float64 uniform_)", () => {
  const { seed, values } = fx.doubleUniform;
  const g = new Generator(seed);
  const peek = g.clone();
  for (const v of values) assert.equal(g.nextDouble(), v);
  const r = peek.random64();
  assert.equal(Number(r & ((1n << 53n) - 1n)) * 2 ** -53, values[0]);
});

Deno.test("randn matches torch.randn for small (double) and large (AVX2) sizes", () => {
  for (const c of fx.randn) {
    const g = new Generator(seedOf(c.seed));
    assertMatches(randn(c.shape, { generator: g }), c, `randn ${c.shape} seed=${c.seed}`);
  }
});

Deno.test("randn carries torch's cached normal sample across calls", () => {
  for (const s of fx.randnSequences) {
    const g = new Generator(s.seed);
    s.sizes.forEach((n, i) => {
      const got = Array.from(bitsOf(randn(n, { generator: g })));
      assert.deepEqual(got, s.values[i], `seed=${s.seed} call ${i} (n=${n})`);
    });
  }
});

Deno.test("manualSeed resets the cached normal sample", () => {
  const g = new Generator(4);
  const first = randn(1, { generator: g })[0];
  randn(1, { generator: g.manualSeed(4) }); // leaves a cached sine half behind
  assert.equal(randn(1, { generator: g.manualSeed(4) })[0], first);
});

Deno.test("kaimingUniformBound reproduces torch's Python doubles exactly", () => {
  for (const c of fx.kaimingBounds) {
    assert.equal(kaimingUniformBound(c.fanIn), c.bound, `fan_in=${c.fanIn}`);
    assert.equal(1 / Math.sqrt(c.fanIn), c.biasBound);
  }
  assert.throws(() => kaimingUniformBound(0), TesseraError);
});

Deno.test("linearInitValues matches successive nn.Linear layers", () => {
  for (const c of fx.linear) {
    const g = new Generator(seedOf(c.seed));
    for (let k = 0; k < c.count; k++) {
      const what = `Linear(${c.dIn}, ${c.dOut}, bias=${c.bias}) #${k} seed=${c.seed}`;
      const got = linearInitValues(c.dIn, c.dOut, c.bias, g);
      assertMatches(got.weight, c.weights[k], `${what} weight`);
      if (c.biases) assertMatches(got.bias!, c.biases[k], `${what} bias`);
      else assert.equal(got.bias, undefined);
    }
  }
});

Deno.test("global generator: manualSeed then default-generator sampling", () => {
  const attention = fx.linear[0];
  assert.equal(manualSeed(attention.seed), globalGenerator());
  for (const w of attention.weights) {
    assertMatches(linearInitValues(3, 2, false).weight, w, "W_query/W_key/W_value");
  }
  const c = fx.rand[1];
  manualSeed(seedOf(c.seed));
  assertMatches(rand(c.shape), c, "rand on the global generator");
});

Deno.test("clone continues the same stream independently", () => {
  const g = new Generator(11);
  randn(3, { generator: g }); // leaves a cached normal in the state
  const h = g.clone();
  assert.deepEqual(randn(5, { generator: h }), randn(5, { generator: g }));
});

Deno.test("invalid shapes and ranges throw TesseraError", () => {
  assert.throws(() => rand([2, -1]), TesseraError);
  assert.throws(() => randn([1.5]), TesseraError);
  assert.throws(() => uniform(2, 1, 0), TesseraError);
  assert.throws(() => uniform(2, 0, Infinity), TesseraError);
  assert.equal(rand([0, 4]).length, 0);
});
