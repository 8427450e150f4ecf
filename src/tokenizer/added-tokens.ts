/**
 * Finds a tokenizer.json's added tokens in text, as HF tokenizers does: leftmost-longest
 * matches, non-overlapping; `single_word` tokens only where no word character touches them;
 * `lstrip` / `rstrip` tokens swallow the whitespace beside them. Tokens with `normalized: false`
 * are matched on the raw text, those with `normalized: true` on each normalized remainder.
 */
export interface AddedToken {
  id: number;
  content: string;
  special: boolean;
  singleWord?: boolean;
  lstrip?: boolean;
  rstrip?: boolean;
  normalized?: boolean;
}

/** A piece of text: an added token's id, or plain text to normalize / pre-tokenize. */
export type Segment = { id: number } | { text: string };

const WORD = /[\p{L}\p{N}_]/u;
const SPACE = /\s/u;

export class AddedTokenMatcher {
  private readonly pattern: RegExp | null;
  private readonly byContent: Map<string, AddedToken>;

  constructor(tokens: readonly AddedToken[]) {
    this.byContent = new Map(tokens.map((t) => [t.content, t]));
    // Longest first, so the alternation finds the longest token at the leftmost position.
    const contents = tokens.map((t) => t.content).filter((c) => c.length > 0).sort((a, b) => b.length - a.length);
    this.pattern = contents.length ? new RegExp(contents.map(escapeRegex).join('|'), 'gu') : null;
  }

  /** Splits text into added tokens and the plain text between them. */
  split(text: string): Segment[] {
    const out: Segment[] = [];
    let done = 0; // end of the last token (plain text before it already emitted)
    if (this.pattern) {
      for (const m of text.matchAll(this.pattern)) {
        const token = this.byContent.get(m[0])!;
        let start = m.index;
        let stop = start + m[0].length;
        if (start < done) continue; // inside what an rstrip swallowed
        if (token.singleWord && (isWordAt(text, start - 1) || isWordAt(text, stop))) continue;
        if (token.lstrip) while (start > done && SPACE.test(text[start - 1])) start--;
        if (token.rstrip) while (stop < text.length && SPACE.test(text[stop])) stop++;
        if (start > done) out.push({ text: text.slice(done, start) });
        out.push({ id: token.id });
        done = stop;
      }
    }
    if (done < text.length) out.push({ text: text.slice(done) });
    return out;
  }
}

function isWordAt(text: string, i: number): boolean {
  return i >= 0 && i < text.length && WORD.test(text[i]);
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
