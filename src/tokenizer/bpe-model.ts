/**
 * The BPE model of a tokenizer.json: a vocabulary of symbol strings and ranked merges.
 * A word (one pre-token, as byte-level characters) starts as single characters; the
 * adjacent pair of lowest rank is merged everywhere in the word, left to right, until
 * no adjacent pair has a rank.
 */
const MAX_CACHE = 65536;

export class BpeModel {
  /** Merge rank by "left right" (byte-level symbols never hold a space). */
  private readonly ranks = new Map<string, number>();
  private readonly cache = new Map<string, number[]>();

  constructor(
    readonly vocab: ReadonlyMap<string, number>,
    merges: ReadonlyArray<readonly [string, string]>,
    /** Llama 3 style: a word found whole in the vocabulary is one token, whatever the merges. */
    private readonly ignoreMerges = false,
  ) {
    merges.forEach(([a, b], rank) => this.ranks.set(`${a} ${b}`, rank));
  }

  /** Token ids of one word; throws a RangeError naming a symbol missing from the vocabulary. */
  encodeWord(word: string): number[] {
    const cached = this.cache.get(word);
    if (cached) return cached;
    const ids = this.merge(word).map((symbol) => {
      const id = this.vocab.get(symbol);
      if (id === undefined) throw new RangeError(`symbol ${JSON.stringify(symbol)} is not in the vocabulary`);
      return id;
    });
    if (this.cache.size >= MAX_CACHE) this.cache.clear();
    this.cache.set(word, ids);
    return ids;
  }

  private merge(word: string): string[] {
    if (this.ignoreMerges && this.vocab.has(word)) return [word];
    let symbols = Array.from(word);
    while (symbols.length > 1) {
      let bestRank = Infinity;
      let best = -1;
      for (let i = 0; i + 1 < symbols.length; i++) {
        const rank = this.ranks.get(`${symbols[i]} ${symbols[i + 1]}`);
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          best = i;
        }
      }
      if (best < 0) break;
      symbols = mergePair(symbols, symbols[best], symbols[best + 1]);
    }
    return symbols;
  }
}

function mergePair(symbols: string[], left: string, right: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < symbols.length; i++) {
    if (i + 1 < symbols.length && symbols[i] === left && symbols[i + 1] === right) {
      out.push(left + right);
      i++;
    } else {
      out.push(symbols[i]);
    }
  }
  return out;
}
