/**
 * GPT-2's pre-tokenization: the text is cut into pieces by a regex before
 * byte-pair merging, and merges never cross a piece boundary.
 *
 * @module
 */

// `\s` spelled out as Unicode's White_Space, as in Rust's regex crate that
// tiktoken uses (JavaScript's `\s` also takes U+FEFF and leaves out U+0085).
const WS = "\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";

/**
 * tiktoken's `gpt2` / `r50k_base` pattern (the same as GPT-2's `encoder.py`):
 * contractions, letters, numbers and other symbols each with an optional
 * leading space, then whitespace runs, keeping one space for the next word.
 */
export const GPT2_PATTERN: RegExp = new RegExp(
  `'(?:[sdmt]|ll|ve|re)| ?\\p{L}+| ?\\p{N}+| ?[^${WS}\\p{L}\\p{N}]+|[${WS}]+(?![^${WS}])|[${WS}]+`,
  "gu",
);

/** Cuts `text` into GPT-2's pre-token pieces; concatenated they give `text` back. */
export function pretokenize(text: string): string[] {
  return text.match(new RegExp(GPT2_PATTERN)) ?? [];
}
