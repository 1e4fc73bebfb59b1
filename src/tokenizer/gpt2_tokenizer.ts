/**
 * GPT-2's byte-level BPE tokenizer, built from the files that come with the
 * weights (`vocab.json` + `merges.txt`, or `tokenizer.json`), with no
 * dependency. Encodes as tiktoken's `gpt2` encoding does.
 *
 * @module
 */

import { ArgumentError } from "../errors.ts";
import { describe } from "../ops/checks.ts";
import { bpe, type MergeRanks } from "./bpe.ts";
import { BYTE_TO_CHAR, charsToBytes } from "./bytes_to_unicode.ts";
import { GPT2_PATTERN } from "./pretokenize.ts";

/**
 * Which special tokens `encode` may produce, as tiktoken's
 * `encode(text, allowed_special=..., disallowed_special=...)`.
 *
 * @example
 * ```ts
 * import type { Gpt2EncodeOptions } from "@tessera/core";
 * const o: Gpt2EncodeOptions = { allowedSpecial: ["<|endoftext|>"] };
 * ```
 */
export interface Gpt2EncodeOptions {
  /**
   * Special tokens encoded as their single id when they appear in the text:
   * `"all"` or a list. Default none.
   */
  allowedSpecial?: "all" | readonly string[] | ReadonlySet<string>;
  /**
   * Special tokens whose appearance in the text is an error: `"all"` (the
   * default: every special token not allowed) or a list. Pass `[]` to encode
   * the rest as plain text.
   */
  disallowedSpecial?: "all" | readonly string[] | ReadonlySet<string>;
}

/**
 * A GPT-2 tokenizer (see {@linkcode gpt2Tokenizer}).
 *
 * @example
 * ```ts ignore
 * import type { Gpt2Tokenizer } from "@tessera/core";
 * declare const tok: Gpt2Tokenizer;
 * console.log(tok.encode("Hello, I am")); // [15496, 11, 314, 716]
 * ```
 */
export interface Gpt2Tokenizer {
  /** Number of ids: the largest id plus one (50257 for GPT-2). */
  readonly vocabSize: number;
  /** Special tokens (`<|endoftext|>` -> 50256 for GPT-2). */
  readonly specialTokens: ReadonlyMap<string, number>;
  /** The id of `<|endoftext|>`, when the vocabulary has it. */
  readonly endOfTextId: number | undefined;
  /**
   * Text to ids. A special token in the text throws an `ArgumentError`
   * unless `allowedSpecial` lists it (then it becomes its id) or
   * `disallowedSpecial` leaves it out (then it is encoded as plain text).
   * Lone UTF-16 surrogates (not valid Unicode) are encoded as U+FFFD.
   */
  encode(text: string, options?: Gpt2EncodeOptions): number[];
  /** Text to ids with special tokens treated as plain text (tiktoken's `encode_ordinary`). */
  encodeOrdinary(text: string): number[];
  /**
   * Ids to text. Byte sequences that are not valid UTF-8 (a multi-byte
   * character split across a cut) become U+FFFD, as tiktoken's
   * `decode(errors="replace")`.
   */
  decode(ids: Iterable<number>): string;
  /** Ids to the raw bytes they stand for. */
  decodeBytes(ids: Iterable<number>): Uint8Array;
}

/**
 * What {@linkcode gpt2Tokenizer} is built from: the parsed `vocab.json` and
 * the text of `merges.txt`, or the parsed (or raw) `tokenizer.json`.
 *
 * @example
 * ```ts
 * import type { Gpt2TokenizerSource } from "@tessera/core";
 * const s: Gpt2TokenizerSource = { vocab: { a: 0, b: 1, ab: 2 }, merges: "#version: 0.2\na b\n" };
 * ```
 */
export type Gpt2TokenizerSource =
  | {
    /** `vocab.json` (`encoder.json`): token spelled in GPT-2's byte characters -> id. */
    vocab: Record<string, number>;
    /** `merges.txt` (`vocab.bpe`): one `left right` merge per line, best first. */
    merges: string;
    /**
     * Special tokens; default `<|endoftext|>` with its id in `vocab`, when
     * `vocab` has it.
     */
    specialTokens?: Record<string, number>;
  }
  | {
    /** Hugging Face's `tokenizer.json`, parsed or as text. */
    tokenizerJson: unknown;
  };

const EOT = "<|endoftext|>";
const CACHE_LIMIT = 1 << 16;

/**
 * Builds GPT-2's byte-level BPE tokenizer from `vocab.json` + `merges.txt`
 * or from `tokenizer.json`. Encoding equals tiktoken's `gpt2` encoding:
 * GPT-2's pre-tokenization regex, then rank-ordered merges within each
 * piece (cached per piece). `<|endoftext|>` is special: `encode` throws
 * when it appears in the text unless allowed, as tiktoken does;
 * `encodeOrdinary` treats it as text.
 *
 * @example
 * ```ts
 * import { gpt2Tokenizer } from "@tessera/core";
 * // A toy vocabulary: the 256 byte characters would be needed for any text.
 * const tok = gpt2Tokenizer({
 *   vocab: { h: 0, i: 1, hi: 2, "<|endoftext|>": 3 },
 *   merges: "#version: 0.2\nh i\n",
 * });
 * console.log(tok.encode("hi<|endoftext|>", { allowedSpecial: "all" })); // [2, 3]
 * console.log(tok.decode([2, 3])); // "hi<|endoftext|>"
 * ```
 */
export function gpt2Tokenizer(source: Gpt2TokenizerSource): Gpt2Tokenizer {
  const op = "gpt2Tokenizer";
  if (source === null || typeof source !== "object") {
    throw new ArgumentError(
      `${op}: expected { vocab, merges } or { tokenizerJson }, but got ${describe(source)}`,
    );
  }
  if ("tokenizerJson" in source) return fromTokenizerJson(op, source.tokenizerJson);
  const { vocab, merges, specialTokens } = source as {
    vocab: unknown;
    merges: unknown;
    specialTokens?: unknown;
  };
  const vocabMap = checkVocab(op, "vocab", vocab);
  if (typeof merges !== "string") {
    throw new ArgumentError(
      `${op}: merges must be the text of merges.txt, but got ${describe(merges)}`,
    );
  }
  const mergeList = merges.split("\n").map((line, i) => ({ line: line.replace(/\r$/, ""), i }))
    .filter(({ line, i }) => line !== "" && !(i === 0 && line.startsWith("#version")));
  const pairs = mergeList.map(({ line, i }) => {
    const parts = line.split(" ");
    if (parts.length !== 2 || parts[0] === "" || parts[1] === "") {
      throw new ArgumentError(
        `${op}: merges line ${i + 1} must be two tokens separated by one space, but got ` +
          JSON.stringify(line),
      );
    }
    return parts as [string, string];
  });
  let specials: Map<string, number>;
  if (specialTokens === undefined) {
    specials = new Map(vocabMap.has(EOT) ? [[EOT, vocabMap.get(EOT)!]] : []);
  } else {
    specials = checkVocab(op, "specialTokens", specialTokens);
  }
  return build(op, vocabMap, pairs, specials);
}

function fromTokenizerJson(op: string, json: unknown): Gpt2Tokenizer {
  let parsed = json;
  if (typeof json === "string") {
    try {
      parsed = JSON.parse(json);
    } catch (error) {
      throw new ArgumentError(
        `${op}: tokenizerJson is not valid JSON (${(error as Error).message})`,
      );
    }
  }
  const model = (parsed as { model?: unknown } | null)?.model as
    | { type?: unknown; vocab?: unknown; merges?: unknown }
    | undefined;
  if (model === null || typeof model !== "object") {
    throw new ArgumentError(
      `${op}: tokenizerJson must be Hugging Face's tokenizer.json with a "model" object, but got ` +
        describe(parsed),
    );
  }
  if (model.type !== undefined && model.type !== "BPE") {
    throw new ArgumentError(
      `${op}: tokenizerJson.model.type is ${JSON.stringify(model.type)}, but GPT-2 is "BPE"`,
    );
  }
  const vocab = checkVocab(op, "tokenizerJson.model.vocab", model.vocab);
  if (!Array.isArray(model.merges)) {
    throw new ArgumentError(
      `${op}: tokenizerJson.model.merges must be an array, but got ${describe(model.merges)}`,
    );
  }
  // Older files spell a merge "a b", newer ones ["a", "b"].
  const pairs = (model.merges as unknown[]).map((m, i) => {
    const parts = typeof m === "string" ? m.split(" ") : m;
    if (
      !Array.isArray(parts) || parts.length !== 2 || typeof parts[0] !== "string" ||
      typeof parts[1] !== "string"
    ) {
      throw new ArgumentError(
        `${op}: tokenizerJson.model.merges[${i}] must be "left right" or [left, right], ` +
          `but got ${JSON.stringify(m)}`,
      );
    }
    return parts as [string, string];
  });
  const specials = new Map<string, number>();
  const added = (parsed as { added_tokens?: unknown }).added_tokens;
  if (Array.isArray(added)) {
    for (const t of added as { id?: unknown; content?: unknown; special?: unknown }[]) {
      if (t?.special === true && typeof t.content === "string" && typeof t.id === "number") {
        specials.set(t.content, t.id);
        vocab.set(t.content, t.id);
      }
    }
  }
  if (specials.size === 0 && vocab.has(EOT)) specials.set(EOT, vocab.get(EOT)!);
  return build(op, vocab, pairs, specials);
}

function checkVocab(op: string, name: string, vocab: unknown): Map<string, number> {
  if (vocab === null || typeof vocab !== "object" || Array.isArray(vocab)) {
    throw new ArgumentError(
      `${op}: ${name} must be an object of token -> id (vocab.json), but got ${describe(vocab)}`,
    );
  }
  const map = new Map<string, number>();
  for (const [token, id] of Object.entries(vocab)) {
    if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 0) {
      throw new ArgumentError(
        `${op}: ${name}[${JSON.stringify(token)}] must be a whole number >= 0, but got ` +
          describe(id),
      );
    }
    map.set(token, id);
  }
  return map;
}

function build(
  op: string,
  vocab: Map<string, number>,
  pairs: [string, string][],
  specials: Map<string, number>,
): Gpt2Tokenizer {
  const ranks = new Map<string, number>();
  pairs.forEach(([a, b], rank) => {
    if (!vocab.has(a + b)) {
      throw new ArgumentError(
        `${op}: merge ${rank} ("${a} ${b}") makes ${JSON.stringify(a + b)}, which is not in ` +
          `the vocabulary`,
      );
    }
    const key = a + " " + b;
    if (!ranks.has(key)) ranks.set(key, rank);
  });
  let vocabSize = 0;
  for (const id of vocab.values()) vocabSize = Math.max(vocabSize, id + 1);
  for (const id of specials.values()) vocabSize = Math.max(vocabSize, id + 1);
  // Decoding table: the bytes each id stands for.
  const bytesOf = new Array<Uint8Array | undefined>(vocabSize);
  const encoder = new TextEncoder();
  for (const [token, id] of vocab) {
    const special = specials.has(token);
    const bytes = special ? encoder.encode(token) : charsToBytes(token);
    if (bytes === undefined) {
      throw new ArgumentError(
        `${op}: vocabulary token ${JSON.stringify(token)} (id ${id}) is not spelled in ` +
          `GPT-2's byte characters; is this a GPT-2 (byte-level BPE) vocabulary?`,
      );
    }
    if (bytesOf[id] === undefined || special) bytesOf[id] = bytes;
  }
  for (const [token, id] of specials) bytesOf[id] = encoder.encode(token);
  const ids = new Map<string, number>();
  for (const [token, id] of vocab) if (!specials.has(token)) ids.set(token, id);
  const cache = new Map<string, number[]>();

  const encodePiece = (piece: string, out: number[]): void => {
    const hit = cache.get(piece);
    if (hit !== undefined) {
      for (const id of hit) out.push(id);
      return;
    }
    const bytes = encoder.encode(piece);
    const symbols = Array.from(bytes, (b) => BYTE_TO_CHAR[b]);
    const parts = bpe(symbols, ranks as MergeRanks);
    const result = parts.map((p) => {
      const id = ids.get(p);
      if (id === undefined) {
        throw new ArgumentError(
          `encode: the vocabulary has no token ${JSON.stringify(p)} (needed for ` +
            `${JSON.stringify(piece)}); every single byte must be in vocab.json`,
        );
      }
      return id;
    });
    // Long pieces rarely repeat; keeping them would only hold memory.
    if (piece.length <= 64) {
      if (cache.size >= CACHE_LIMIT) cache.clear();
      cache.set(piece, result);
    }
    for (const id of result) out.push(id);
  };

  const encodeOrdinaryInto = (text: string, out: number[]): void => {
    const re = new RegExp(GPT2_PATTERN);
    for (let m = re.exec(text); m !== null; m = re.exec(text)) encodePiece(m[0], out);
  };

  const specialList = (
    what: string,
    v: "all" | readonly string[] | ReadonlySet<string> | undefined,
    fallback: "all" | readonly string[],
  ): Set<string> => {
    const value = v ?? fallback;
    if (value === "all") return new Set(specials.keys());
    const list = Array.isArray(value) || value instanceof Set ? [...value] : undefined;
    if (!list || list.some((s) => typeof s !== "string")) {
      throw new ArgumentError(
        `encode: options.${what} must be "all" or an array of strings, but got ${describe(v)}`,
      );
    }
    return new Set(list);
  };

  return {
    vocabSize,
    specialTokens: specials,
    endOfTextId: specials.get(EOT),
    encodeOrdinary(text: string): number[] {
      checkText(text);
      const out: number[] = [];
      encodeOrdinaryInto(text, out);
      return out;
    },
    encode(text: string, options: Gpt2EncodeOptions = {}): number[] {
      checkText(text);
      if (options === null || typeof options !== "object") {
        throw new ArgumentError(`encode: options must be an object, but got ${describe(options)}`);
      }
      const allowed = specialList("allowedSpecial", options.allowedSpecial, []);
      for (const s of allowed) {
        if (!specials.has(s)) {
          throw new ArgumentError(
            `encode: allowedSpecial names ${JSON.stringify(s)}, which is not a special token ` +
              `of this tokenizer (${
                [...specials.keys()].map((k) => JSON.stringify(k)).join(", ")
              })`,
          );
        }
      }
      let disallowed = specialList("disallowedSpecial", options.disallowedSpecial, "all");
      if (options.disallowedSpecial === undefined || options.disallowedSpecial === "all") {
        disallowed = new Set([...disallowed].filter((s) => !allowed.has(s)));
      }
      for (const s of disallowed) {
        if (text.includes(s)) {
          throw new ArgumentError(
            `encode: the text contains the special token ${JSON.stringify(s)}; pass ` +
              `{ allowedSpecial: [${JSON.stringify(s)}] } to encode it as id ${specials.get(s)}, ` +
              `or use encodeOrdinary (or { disallowedSpecial: [] }) to encode it as plain text`,
          );
        }
      }
      const out: number[] = [];
      if (allowed.size === 0) {
        encodeOrdinaryInto(text, out);
        return out;
      }
      // Longest first, so that one special token inside another cannot cut it.
      const alternatives = [...allowed].sort((a, b) => b.length - a.length).map(escapeRegExp);
      const split = new RegExp(alternatives.join("|"), "g");
      let start = 0;
      for (const m of text.matchAll(split)) {
        encodeOrdinaryInto(text.slice(start, m.index), out);
        out.push(specials.get(m[0])!);
        start = m.index + m[0].length;
      }
      encodeOrdinaryInto(text.slice(start), out);
      return out;
    },
    decodeBytes,
    decode(idList: Iterable<number>): string {
      // ignoreBOM keeps a leading U+FEFF that the text had.
      return new TextDecoder("utf-8", { ignoreBOM: true }).decode(decodeBytes(idList));
    },
  };

  function decodeBytes(idList: Iterable<number>): Uint8Array {
    const chunks: Uint8Array[] = [];
    let total = 0;
    if (idList === null || typeof idList !== "object" || !(Symbol.iterator in idList)) {
      throw new ArgumentError(
        `decode: ids must be an array of numbers, but got ${describe(idList)}`,
      );
    }
    let i = 0;
    for (const id of idList) {
      const bytes = Number.isInteger(id) ? bytesOf[id] : undefined;
      if (bytes === undefined) {
        throw new ArgumentError(
          `decode: ids[${i}] is ${describe(id)}, which is not an id of this tokenizer ` +
            `(0..${vocabSize - 1})`,
        );
      }
      chunks.push(bytes);
      total += bytes.length;
      i++;
    }
    const out = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

function checkText(text: unknown): asserts text is string {
  if (typeof text !== "string") {
    throw new ArgumentError(`encode: text must be a string, but got ${describe(text)}`);
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
