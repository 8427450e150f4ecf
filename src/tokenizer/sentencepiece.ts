/**
 * SentencePiece-style BPE (Llama 2, Mistral v1, TinyLlama; GGUF tokenizer.ggml.model
 * "llama"): spaces become '▁' (U+2581) and a '▁' is prepended to the text; the text is
 * merged as one word (mergeSymbols), by token score (GGUF) or merge rank (tokenizer.json);
 * a character missing from the vocabulary falls back to its UTF-8 bytes as <0xNN> tokens.
 * Special tokens written in the text are matched first and never merged across.
 */
import type { TokenDecoder, Tokenizer } from '../engine/tokenizer.js';
import { mergeSymbols, type PairScore } from './sentencepiece-merge.js';
import { AddedTokenMatcher, type AddedToken } from './added-tokens.js';
import { createStreamDecoder } from './stream-decoder.js';

export const SPACE = '\u2581';

/** GGUF token_type values 1..6, by name. */
export type SpTokenType = 'normal' | 'unknown' | 'control' | 'user' | 'unused' | 'byte';

export interface SentencePieceSpec {
  tokens: readonly string[];
  types: readonly SpTokenType[];
  pairScore: PairScore;
  unkId?: number;
  bosId?: number;
  eosTokenIds?: number[];
  /** Prepend BOS in encode() unless told otherwise (GGUF add_bos_token; a tokenizer.json post-processor that adds it). */
  addBos: boolean;
  /** Prepend '▁' to each run of text between special tokens ('always', llama.cpp and HF's legacy normalizer), only at the start ('first'), or never. */
  prefix: 'always' | 'first' | 'never';
  /** Metaspace split: every '▁' starts a new word (merges never cross it). */
  splitWords?: boolean;
  /** HF's Metaspace: no '▁' is prepended to a run that already starts with a space. */
  prefixUnlessSpaced?: boolean;
  /** tokenizer.json's added tokens with their lstrip / rstrip / single_word flags (absent: plain matching of control and user tokens). */
  addedTokens?: readonly AddedToken[];
}

export interface SpEncodeOptions {
  /** Recognize control tokens (<s>, </s>) written in the text. Default true; user-defined tokens always are. */
  allowSpecial?: boolean;
  /** Prepend the BOS token. Default: the tokenizer's addBos. */
  addBos?: boolean;
  /** false: no BOS whatever addBos says (HF's add_special_tokens=False, as for a rendered chat). */
  addSpecialTokens?: boolean;
}

export class SentencePieceTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly eosTokenIds: readonly number[];
  readonly bosTokenId?: number;
  readonly addBos: boolean;
  private readonly vocab = new Map<string, number>();
  private readonly byteIds = new Int32Array(256).fill(-1);
  private readonly pieces: Uint8Array[];
  /** Control and user-defined tokens, longest first; user-defined ones only. */
  private readonly specialPattern: RegExp | null;
  private readonly userPattern: RegExp | null;
  /** With tokenizer.json's flags: all added tokens, and the non-special ones (allowSpecial false). */
  private readonly addedMatcher?: AddedTokenMatcher;
  private readonly userMatcher?: AddedTokenMatcher;

  constructor(private readonly spec: SentencePieceSpec) {
    const { tokens, types } = spec;
    if (types.length !== tokens.length) throw new TypeError(`${tokens.length} tokens but ${types.length} token types`);
    this.vocabSize = tokens.length;
    this.eosTokenIds = spec.eosTokenIds ?? [];
    this.bosTokenId = spec.bosId;
    this.addBos = spec.addBos && spec.bosId !== undefined;
    tokens.forEach((t, id) => this.vocab.set(t, id));
    const utf8 = new TextEncoder();
    this.pieces = tokens.map((text, id) => {
      const byte = /^<0x([0-9A-Fa-f]{2})>$/.exec(text);
      if (types[id] === 'byte' && byte) {
        this.byteIds[parseInt(byte[1], 16)] = id;
        return Uint8Array.of(parseInt(byte[1], 16));
      }
      if (types[id] === 'control' || types[id] === 'unused') return new Uint8Array(0);
      if (types[id] === 'unknown') return utf8.encode('\u2585');
      return utf8.encode(types[id] === 'user' ? text : text.replaceAll(SPACE, ' '));
    });
    if (spec.addedTokens) {
      this.addedMatcher = new AddedTokenMatcher(spec.addedTokens);
      this.userMatcher = new AddedTokenMatcher(spec.addedTokens.filter((t) => !t.special));
    }
    this.specialPattern = alternation(tokens.filter((t, id) => types[id] === 'control' || types[id] === 'user'));
    this.userPattern = alternation(tokens.filter((t, id) => types[id] === 'user'));
  }

  /** The same tokenizer with other end-of-generation tokens. */
  withEosTokenIds(eosTokenIds: number[]): SentencePieceTokenizer {
    return new SentencePieceTokenizer({ ...this.spec, eosTokenIds });
  }

  encode(text: string, options: SpEncodeOptions = {}): number[] {
    const ids: number[] = [];
    if (options.addSpecialTokens !== false && (options.addBos ?? this.addBos)) ids.push(this.bosTokenId!);
    let isFirst = true;
    for (const fragment of this.splitSpecial(text, options.allowSpecial ?? true)) {
      if (typeof fragment === 'number') ids.push(fragment);
      else this.encodeRaw(fragment, isFirst, ids);
      isFirst = false;
    }
    return ids;
  }

  /** Decodes as Hugging Face does: '▁' -> ' ', byte tokens fused into UTF-8, and the one leading space the prefix added, stripped. */
  decode(ids: ArrayLike<number>, options: { skipSpecial?: boolean } = {}): string {
    const decoder = this.createDecoder(options);
    let text = '';
    for (let i = 0; i < ids.length; i++) text += decoder.push(ids[i]);
    text += decoder.flush();
    return this.spec.prefix !== 'never' && text.startsWith(' ') ? text.slice(1) : text;
  }

  /** Streams the text of a continuation token by token (no leading space is stripped). Control tokens decode to nothing. */
  createDecoder(options: { skipSpecial?: boolean } = {}): TokenDecoder {
    void options; // control tokens carry no text in SentencePiece vocabularies
    return createStreamDecoder((id) => this.pieces[id] ?? null);
  }

  /** The bytes a token adds to generated text; null for control and unused tokens. */
  tokenBytes(id: number): Uint8Array | null {
    const piece = this.pieces[id];
    return piece && piece.length > 0 ? piece : null;
  }

  tokenToId(token: string): number | undefined {
    return this.vocab.get(token);
  }

  isSpecial(id: number): boolean {
    return this.spec.types[id] === 'control';
  }

  /** Text runs and special-token ids, in order. */
  private splitSpecial(text: string, allowControl: boolean): Array<string | number> {
    const matcher = allowControl ? this.addedMatcher : this.userMatcher;
    if (matcher) return matcher.split(text).map((segment) => ('id' in segment ? segment.id : segment.text));
    const pattern = allowControl ? this.specialPattern : this.userPattern;
    if (!pattern) return text.length ? [text] : [];
    const out: Array<string | number> = [];
    let last = 0;
    for (const m of text.matchAll(pattern)) {
      if (m.index > last) out.push(text.slice(last, m.index));
      out.push(this.vocab.get(m[0])!);
      last = m.index + m[0].length;
    }
    if (last < text.length) out.push(text.slice(last));
    return out;
  }

  private encodeRaw(raw: string, isFirst: boolean, ids: number[]): void {
    const isPrefixed = (this.spec.prefix === 'always' || (this.spec.prefix === 'first' && isFirst)) &&
      !(this.spec.prefixUnlessSpaced && raw.startsWith(' '));
    const escaped = (isPrefixed ? ' ' + raw : raw).replaceAll(' ', SPACE);
    const words = this.spec.splitWords ? escaped.split(new RegExp(`(?=${SPACE})`, 'u')) : [escaped];
    for (const word of words) {
      for (const symbol of mergeSymbols(word, this.spec.pairScore)) this.pushSymbol(symbol, ids);
    }
  }

  /** A symbol's id, else its UTF-8 bytes as byte tokens, else the unknown token. */
  private pushSymbol(symbol: string, ids: number[]): void {
    const id = this.vocab.get(symbol);
    if (id !== undefined) {
      ids.push(id);
      return;
    }
    for (const b of new TextEncoder().encode(symbol)) {
      const byteId = this.byteIds[b] >= 0 ? this.byteIds[b] : this.spec.unkId;
      if (byteId === undefined) throw new RangeError(`symbol ${JSON.stringify(symbol)} is not in the vocabulary and there is no byte or unknown token for it`);
      ids.push(byteId);
    }
  }
}

/** GGUF / llama.cpp pair scoring: two symbols merge when their concatenation is a token; its score ranks the merge. */
export function scorePairsByToken(tokens: readonly string[], scores: ArrayLike<number>): PairScore {
  const scoreOf = new Map<string, number>();
  tokens.forEach((t, id) => scoreOf.set(t, scores[id]));
  return (left, right) => scoreOf.get(left + right);
}

/** tokenizer.json pair scoring: merges listed earlier rank higher. */
export function scorePairsByRank(merges: ReadonlyArray<readonly [string, string]>): PairScore {
  const rank = new Map<string, number>();
  merges.forEach(([a, b], i) => {
    const key = `${a}\u0000${b}`;
    if (!rank.has(key)) rank.set(key, -i);
  });
  return (left, right) => rank.get(`${left}\u0000${right}`);
}

function alternation(texts: string[]): RegExp | null {
  const sorted = texts.filter((t) => t.length > 0).sort((a, b) => b.length - a.length);
  return sorted.length ? new RegExp(sorted.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g') : null;
}
