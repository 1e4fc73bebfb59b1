/**
 * Byte-pair merging of one pre-token piece, by merge rank: the lowest-ranked
 * adjacent pair merges first, the leftmost among equals (GPT-2's `bpe()`).
 *
 * @module
 */

/** Merge ranks keyed `"left right"` (a line of `merges.txt`). */
export type MergeRanks = ReadonlyMap<string, number>;

// Short pieces (nearly all) take the quadratic scan, which allocates least;
// longer ones a heap, so a megabyte without spaces stays O(n log n).
const SHORT = 48;

/** Merges `symbols` (GPT-2 byte characters, left unchanged); returns the merged parts. */
export function bpe(symbols: string[], ranks: MergeRanks): string[] {
  return symbols.length <= SHORT ? bpeScan(symbols.slice(), ranks) : bpeHeap(symbols, ranks);
}

function bpeScan(parts: string[], ranks: MergeRanks): string[] {
  while (parts.length > 1) {
    let best = Infinity;
    let at = -1;
    for (let i = 0; i + 1 < parts.length; i++) {
      const r = ranks.get(parts[i] + " " + parts[i + 1]);
      if (r !== undefined && r < best) {
        best = r;
        at = i;
      }
    }
    if (at < 0) break;
    parts.splice(at, 2, parts[at] + parts[at + 1]);
  }
  return parts;
}

function bpeHeap(symbols: string[], ranks: MergeRanks): string[] {
  const n = symbols.length;
  const sym = symbols.slice();
  const prev = new Int32Array(n);
  const next = new Int32Array(n);
  const alive = new Uint8Array(n).fill(1);
  for (let i = 0; i < n; i++) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  const heap = new PairHeap();
  const push = (left: number, right: number) => {
    const r = ranks.get(sym[left] + " " + sym[right]);
    if (r !== undefined) heap.push(r, left);
  };
  for (let i = 0; i + 1 < n; i++) push(i, i + 1);
  while (heap.size > 0) {
    const [rank, i] = heap.pop();
    const j = next[i];
    // Stale entries: the left part merged away or either side changed since.
    if (!alive[i] || j < 0 || ranks.get(sym[i] + " " + sym[j]) !== rank) continue;
    sym[i] += sym[j];
    alive[j] = 0;
    next[i] = next[j];
    if (next[j] >= 0) prev[next[j]] = i;
    if (prev[i] >= 0) push(prev[i], i);
    if (next[i] >= 0) push(i, next[i]);
  }
  const parts: string[] = [];
  for (let i = 0; i >= 0; i = next[i]) parts.push(sym[i]);
  return parts;
}

/** A binary min-heap of (rank, position) pairs, ordered by rank then position. */
class PairHeap {
  #ranks: number[] = [];
  #pos: number[] = [];

  get size(): number {
    return this.#ranks.length;
  }

  #less(a: number, b: number): boolean {
    const ra = this.#ranks[a];
    const rb = this.#ranks[b];
    return ra < rb || (ra === rb && this.#pos[a] < this.#pos[b]);
  }

  #swap(a: number, b: number): void {
    [this.#ranks[a], this.#ranks[b]] = [this.#ranks[b], this.#ranks[a]];
    [this.#pos[a], this.#pos[b]] = [this.#pos[b], this.#pos[a]];
  }

  push(rank: number, pos: number): void {
    this.#ranks.push(rank);
    this.#pos.push(pos);
    let i = this.#ranks.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(i, parent)) break;
      this.#swap(i, parent);
      i = parent;
    }
  }

  pop(): [number, number] {
    const top: [number, number] = [this.#ranks[0], this.#pos[0]];
    const last = this.#ranks.length - 1;
    this.#swap(0, last);
    this.#ranks.pop();
    this.#pos.pop();
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < last && this.#less(l, m)) m = l;
      if (r < last && this.#less(r, m)) m = r;
      if (m === i) break;
      this.#swap(i, m);
      i = m;
    }
    return top;
  }
}
