/**
 * Incremental text with stop strings: text that could still turn into a stop string is
 * held back until it is decided, so a stop string never reaches the stream.
 */
import type { TokenDecoder } from './tokenizer.js';

export class TextStream {
  private pending = '';
  isStopped = false;

  constructor(private readonly decoder: TokenDecoder, private readonly stops: readonly string[]) {}

  /** Adds a token; returns the text now safe to emit (possibly ''). Sets isStopped when a stop string appeared. */
  push(token: number): string {
    return this.release(this.decoder.push(token), false);
  }

  /** Adds several tokens at once; returns the text now safe to emit (as push() one by one would, joined). */
  pushAll(tokens: ArrayLike<number>): string {
    if (this.stops.length > 0 || !this.decoder.pushAll) {
      let out = '';
      for (let i = 0; i < tokens.length && !this.isStopped; i++) out += this.push(tokens[i]);
      return out;
    }
    return this.release(this.decoder.pushAll(tokens), false);
  }

  /** Ends the stream; returns the rest of the text (never part of a stop string). */
  finish(): string {
    if (this.isStopped) return '';
    return this.release(this.decoder.flush(), true);
  }

  private release(piece: string, isFinal: boolean): string {
    if (this.isStopped) return '';
    if (this.stops.length === 0) return piece;
    this.pending += piece;
    const cut = this.firstStop();
    if (cut >= 0) {
      this.isStopped = true;
      const out = this.pending.slice(0, cut);
      this.pending = '';
      return out;
    }
    const keep = isFinal ? 0 : this.undecidedTail();
    const out = this.pending.slice(0, this.pending.length - keep);
    this.pending = this.pending.slice(this.pending.length - keep);
    return out;
  }

  /** Length of the longest tail of pending text that is the start of some stop string. */
  private undecidedTail(): number {
    let keep = 0;
    for (const stop of this.stops) {
      for (let n = Math.min(stop.length - 1, this.pending.length); n > keep; n--) {
        if (this.pending.endsWith(stop.slice(0, n))) {
          keep = n;
          break;
        }
      }
    }
    return keep;
  }

  private firstStop(): number {
    let best = -1;
    for (const stop of this.stops) {
      const at = this.pending.indexOf(stop);
      if (at >= 0 && (best < 0 || at < best)) best = at;
    }
    return best;
  }
}
