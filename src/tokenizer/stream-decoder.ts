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
    /** Bytes left of an unfinished character come out as U+FFFD. */
    flush(): string {
      return utf8.decode();
    },
  };
}
