/** Incremental detokenization: bytes are buffered until they complete a UTF-8 character. */
import type { TokenDecoder } from '../engine/tokenizer.js';

/** Returns the bytes a token stands for, or null to emit nothing for it (a skipped special token). */
export type TokenBytes = (id: number) => Uint8Array | null;

export function createStreamDecoder(tokenBytes: TokenBytes): TokenDecoder {
  const utf8 = new TextDecoder('utf-8', { fatal: false });
  return {
    push(token: number): string {
      const bytes = tokenBytes(token);
      return bytes ? utf8.decode(bytes, { stream: true }) : '';
    },
    /** All the tokens' bytes decoded in one call (the same text as push() one by one, joined). */
    pushAll(tokens: ArrayLike<number>): string {
      let length = 0;
      for (let i = 0; i < tokens.length; i++) length += tokenBytes(tokens[i])?.length ?? 0;
      const all = new Uint8Array(length);
      let at = 0;
      for (let i = 0; i < tokens.length; i++) {
        const bytes = tokenBytes(tokens[i]);
        if (bytes === null) continue;
        if (bytes.length === 1) all[at++] = bytes[0];
        else {
          all.set(bytes, at);
          at += bytes.length;
        }
      }
      return utf8.decode(all, { stream: true });
    },
    /** Bytes left of an unfinished character come out as U+FFFD. */
    flush(): string {
      return utf8.decode();
    },
  };
}
