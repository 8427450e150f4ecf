/** One request's position in its grammar: the allowed-token mask for its next token, and accepting what was sampled. */
import type { GrammarMatcher } from '@mlc-ai/web-xgrammar';

export class GrammarState {
  private isDisposed = false;

  constructor(private readonly matcher: GrammarMatcher) {}

  /** Bit t of word t >> 5 is set when token t may come next (ceil(vocab / 32) words). */
  async nextMask(): Promise<Uint32Array> {
    const mask = await this.matcher.getNextTokenBitmask();
    return new Uint32Array(mask.buffer, mask.byteOffset, mask.length);
  }

  /** Advances past a sampled token; false if the grammar does not allow it. */
  accept(token: number): boolean {
    return this.matcher.acceptToken(token);
  }

  /** The grammar has reached its end (its stop token was accepted, or nothing more can follow). */
  get isTerminated(): boolean {
    return this.matcher.isTerminated();
  }

  dispose(): void {
    if (this.isDisposed) return;
    this.isDisposed = true;
    this.matcher.dispose();
  }
}
