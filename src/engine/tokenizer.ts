import { createStreamDecoder } from '../tokenizer/stream-decoder.js';

/** What the engine needs of a tokenizer. Model loaders provide one; the synthetic presets use ByteTokenizer. */
export interface TokenDecoder {
  /** Text completed by this token (never a partial UTF-8 character). */
  push(token: number): string;
  /** Whatever is left at the end. */
  flush(): string;
  /** Optional: the text these tokens complete, exactly what push() one by one gives joined (one call instead of many). */
  pushAll?(tokens: ArrayLike<number>): string;
}

export interface Tokenizer {
  readonly vocabSize: number;
  /** Tokens that end generation unless ignoreEos. */
  readonly eosTokenIds: readonly number[];
  /** addSpecialTokens (default true): the tokenizer's BOS / EOS around the text, as HF's add_special_tokens. */
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  createDecoder(): TokenDecoder;
  /** The bytes a token adds to generated text; null for special and control tokens (constrained decoding needs it). */
  tokenBytes?(id: number): Uint8Array | null;
}

/** Token i's one byte, shared (decoders read it, never write it). */
const BYTES = Array.from({ length: 256 }, (_, i) => Uint8Array.of(i));

/** Bytes 0..255 are tokens 0..255; larger ids (in a bigger synthetic vocabulary) decode to nothing. */
export class ByteTokenizer implements Tokenizer {
  constructor(readonly vocabSize: number, readonly eosTokenIds: readonly number[] = []) {}

  encode(text: string): number[] {
    return Array.from(Buffer.from(text, 'utf8'));
  }

  tokenBytes(id: number): Uint8Array | null {
    return id >= 0 && id <= 255 ? Uint8Array.of(id) : null;
  }

  createDecoder(): TokenDecoder {
    return createStreamDecoder((id) => (id >= 0 && id <= 255 ? BYTES[id] : null));
  }
}
