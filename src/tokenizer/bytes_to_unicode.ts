/**
 * GPT-2's reversible map between bytes and printable characters
 * (`bytes_to_unicode` in OpenAI's `encoder.py`), in which `vocab.json` and
 * `merges.txt` spell their tokens: printable Latin-1 bytes stand for
 * themselves, the other 68 bytes for U+0100 onwards (a space is `Ġ`).
 *
 * @module
 */

/** `BYTE_TO_CHAR[b]` is the character that spells byte `b` in GPT-2's files. */
export const BYTE_TO_CHAR: readonly string[] = buildByteToChar();

/** The inverse of {@linkcode BYTE_TO_CHAR}: character code to byte. */
export const CHAR_TO_BYTE: ReadonlyMap<string, number> = new Map(
  BYTE_TO_CHAR.map((c, b) => [c, b]),
);

function buildByteToChar(): string[] {
  const table = new Array<string>(256);
  const printable = (b: number) =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let next = 256;
  for (let b = 0; b < 256; b++) {
    table[b] = String.fromCharCode(printable(b) ? b : next++);
  }
  return table;
}

/**
 * Spells bytes in GPT-2's characters. `undefined` when the input holds a
 * character outside the 256 of the table.
 */
export function charsToBytes(token: string): Uint8Array | undefined {
  const out = new Uint8Array(token.length);
  for (let i = 0; i < token.length; i++) {
    const b = CHAR_TO_BYTE.get(token[i]);
    if (b === undefined) return undefined;
    out[i] = b;
  }
  return out;
}
