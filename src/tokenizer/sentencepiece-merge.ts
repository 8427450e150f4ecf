/**
 * SentencePiece-style BPE merging of one piece of text: the text starts as single
 * characters; the adjacent pair with the highest score is merged (ties: the leftmost),
 * one merge at a time, until no adjacent pair has a score. A max-heap of candidate pairs
 * with lazy invalidation keeps it O(n log n), as llama.cpp's and Hugging Face's do.
 */

/** Score of merging `left` + `right` (higher merges first), or undefined when they never merge. */
export type PairScore = (left: string, right: string) => number | undefined;

interface Candidate {
  score: number;
  left: number;
  right: number;
  /** Length of the merged text when the pair was scored: a later merge of either side makes it stale. */
  length: number;
}

export function mergeSymbols(text: string, pairScore: PairScore): string[] {
  const symbols = Array.from(text);
  const n = symbols.length;
  if (n < 2) return symbols;
  const prev = Int32Array.from({ length: n }, (_, i) => i - 1);
  const next = Int32Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1));
  const heap = new CandidateHeap();
  const consider = (left: number, right: number): void => {
    if (left < 0 || right < 0) return;
    const score = pairScore(symbols[left], symbols[right]);
    if (score !== undefined) heap.push({ score, left, right, length: symbols[left].length + symbols[right].length });
  };
  for (let i = 0; i + 1 < n; i++) consider(i, i + 1);
  for (let c = heap.pop(); c; c = heap.pop()) {
    const { left, right } = c;
    const isStale = symbols[left] === '' || symbols[right] === '' || next[left] !== right
      || symbols[left].length + symbols[right].length !== c.length;
    if (isStale) continue;
    symbols[left] += symbols[right];
    symbols[right] = '';
    next[left] = next[right];
    if (next[right] >= 0) prev[next[right]] = left;
    consider(prev[left], left);
    consider(left, next[left]);
  }
  const out: string[] = [];
  for (let i = 0; i >= 0; i = next[i]) out.push(symbols[i]);
  return out;
}

/** Binary max-heap: higher score first, then the smaller left index. */
class CandidateHeap {
  private readonly items: Candidate[] = [];

  push(c: Candidate): void {
    const items = this.items;
    items.push(c);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(items[i], items[parent])) break;
      [items[i], items[parent]] = [items[parent], items[i]];
      i = parent;
    }
  }

  pop(): Candidate | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    items[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let best = i;
      if (l < items.length && before(items[l], items[best])) best = l;
      if (r < items.length && before(items[r], items[best])) best = r;
      if (best === i) return top;
      [items[i], items[best]] = [items[best], items[i]];
      i = best;
    }
  }
}

function before(a: Candidate, b: Candidate): boolean {
  return a.score > b.score || (a.score === b.score && a.left < b.left);
}
