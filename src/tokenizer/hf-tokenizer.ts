/**
 * A Hugging Face tokenizer.json of byte-level BPE (GPT-2, Llama 3, Qwen2, Mistral Nemo,
 * nano-serving's default model): normalizer, pre-tokenizer, BPE merges, added tokens (with
 * their special / normalized / lstrip / rstrip / single_word flags), and the special tokens
 * the post-processor adds (encode's addSpecialTokens, HF's add_special_tokens).
 */
import type { TokenDecoder, Tokenizer } from '../engine/tokenizer.js';
import { BpeModel } from './bpe-model.js';
import { BYTE_TO_CHAR, symbolsToBytes, textToSymbols } from './byte-level.js';
import {
  buildNormalizer, buildPreTokenizer, isByteLevel, UnsupportedTokenizerError, type Normalize, type PreTokenize,
} from './pre-tokenizer.js';
import { AddedTokenMatcher, type AddedToken } from './added-tokens.js';
import { specialsFor, type SpecialAround, type TokenizerConfigFlags } from './post-processor.js';
import { createStreamDecoder } from './stream-decoder.js';

export type { AddedToken } from './added-tokens.js';

export interface EncodeOptions {
  /** Recognize added tokens (<|endoftext|>) written in the text, as Hugging Face does. Default true. */
  allowSpecial?: boolean;
  /** Put the post-processor's special tokens around the text (Llama 3's BOS), as HF's add_special_tokens. Default true. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Leave special tokens out of the text. Default: false for decode(), true for createDecoder(). */
  skipSpecial?: boolean;
}

interface TokenizerJson {
  model?: { type?: string; vocab?: Record<string, number>; merges?: Array<string | [string, string]>; byte_fallback?: boolean; ignore_merges?: boolean };
  added_tokens?: Array<{ id: number; content: string; special?: boolean; single_word?: boolean; lstrip?: boolean; rstrip?: boolean; normalized?: boolean }>;
  normalizer?: { type?: string } | null;
  pre_tokenizer?: { type?: string } | null;
  post_processor?: { type?: string } | null;
}

export class HfTokenizer implements Tokenizer {
  /** Ids 0..vocabSize-1 (the model's vocabulary and the added tokens). */
  readonly vocabSize: number;
  readonly eosTokenIds: readonly number[];
  readonly addedTokens: readonly AddedToken[];
  private readonly idToBytes: (Uint8Array | null)[];
  private readonly specialIds: Set<number>;
  private readonly addedByContent: Map<string, number>;
  /** Added tokens matched on the raw text, and those matched after normalization. */
  private readonly rawMatcher: AddedTokenMatcher;
  private readonly normalizedMatcher: AddedTokenMatcher;

  private constructor(
    private readonly model: BpeModel,
    private readonly normalize: Normalize,
    private readonly preTokenize: PreTokenize,
    addedTokens: AddedToken[],
    eosTokenIds: number[],
    private readonly around: SpecialAround,
  ) {
    this.addedTokens = addedTokens;
    this.eosTokenIds = eosTokenIds;
    this.specialIds = new Set(addedTokens.filter((t) => t.special).map((t) => t.id));
    this.addedByContent = new Map(addedTokens.map((t) => [t.content, t.id]));
    this.rawMatcher = new AddedTokenMatcher(addedTokens.filter((t) => !t.normalized));
    this.normalizedMatcher = new AddedTokenMatcher(addedTokens.filter((t) => t.normalized));
    let size = 0;
    const maxId = model.vocab.size + addedTokens.length + 1024; // ids may have small gaps, never huge ones
    for (const id of [...model.vocab.values(), ...addedTokens.map((t) => t.id)]) {
      if (!Number.isInteger(id) || id < 0 || id >= maxId) throw new TypeError(`token id ${id} is out of range for a vocabulary of ${model.vocab.size + addedTokens.length} entries`);
      size = Math.max(size, id + 1);
    }
    for (const char of BYTE_TO_CHAR) {
      if (!model.vocab.has(char)) throw new TypeError(`byte-level vocabulary lacks the byte symbol ${JSON.stringify(char)}`);
    }
    this.vocabSize = size;
    this.idToBytes = new Array(size).fill(null);
    for (const [symbols, id] of model.vocab) this.idToBytes[id] = symbolsToBytes(symbols);
    // As HF's ByteLevel decoder: an added token whose characters are all byte symbols decodes as those
    // bytes (so "café" gives c a f 0xE9, invalid UTF-8 alone), any other as its own UTF-8.
    for (const t of addedTokens) this.idToBytes[t.id] = symbolsToBytes(t.content) ?? new TextEncoder().encode(t.content);
  }

  /** Builds from a parsed tokenizer.json; throws UnsupportedTokenizerError or TypeError on what it cannot follow. */
  static fromJson(json: unknown, options: { eosTokenIds?: number[]; flags?: TokenizerConfigFlags } = {}): HfTokenizer {
    const spec = json as TokenizerJson;
    const model = spec?.model;
    if (!model || model.type !== 'BPE') throw new UnsupportedTokenizerError(`model.type must be "BPE", got ${JSON.stringify(model?.type)}`);
    if (!isByteLevel(spec.pre_tokenizer)) throw new UnsupportedTokenizerError('only byte-level BPE is supported (pre_tokenizer has no ByteLevel step)');
    if (!model.vocab || typeof model.vocab !== 'object') throw new TypeError('model.vocab is missing');
    if (!Array.isArray(model.merges)) throw new TypeError('model.merges is missing');
    const merges = model.merges.map((m, i): [string, string] => {
      const pair = typeof m === 'string' ? splitMerge(m) : m;
      if (!Array.isArray(pair) || pair.length !== 2) throw new TypeError(`merge ${i} is not a pair: ${JSON.stringify(m)}`);
      return [pair[0], pair[1]];
    });
    const added = (spec.added_tokens ?? []).map((t): AddedToken => ({
      id: t.id, content: t.content, special: t.special ?? false, singleWord: t.single_word ?? false,
      lstrip: t.lstrip ?? false, rstrip: t.rstrip ?? false, normalized: t.normalized ?? !(t.special ?? false),
    }));
    const vocab = new Map(Object.entries(model.vocab));
    const idOf = (text: string | undefined): number | undefined =>
      text === undefined ? undefined : (added.find((t) => t.content === text)?.id ?? vocab.get(text));
    const flags = options.flags ?? {};
    const around = specialsFor(spec.post_processor, { ...flags, bosId: flags.bosId ?? idOf(flags.bosToken), eosId: flags.eosId ?? idOf(flags.eosToken) });
    const bpe = new BpeModel(vocab, merges, model.ignore_merges ?? false);
    return new HfTokenizer(bpe, buildNormalizer(spec.normalizer), buildPreTokenizer(spec.pre_tokenizer), added, options.eosTokenIds ?? [], around);
  }

  /** The same tokenizer with other end-of-generation tokens. */
  withEosTokenIds(eosTokenIds: number[]): HfTokenizer {
    return new HfTokenizer(this.model, this.normalize, this.preTokenize, [...this.addedTokens], eosTokenIds, this.around);
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const ids: number[] = [];
    const withSpecial = options.addSpecialTokens ?? true;
    if (withSpecial) ids.push(...this.around.prefix);
    if (options.allowSpecial === false) this.encodePlain(text, ids, false);
    else {
      for (const segment of this.rawMatcher.split(text)) {
        if ('id' in segment) ids.push(segment.id);
        else this.encodePlain(segment.text, ids, true);
      }
    }
    if (withSpecial) ids.push(...this.around.suffix);
    return ids;
  }

  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    const decoder = createStreamDecoder((id) => this.bytesOf(id, options.skipSpecial ?? false));
    let text = '';
    for (let i = 0; i < ids.length; i++) text += decoder.push(ids[i]);
    return text + decoder.flush();
  }

  /** Streams text token by token; a multi-byte character split over tokens comes out whole, once complete. */
  createDecoder(options: DecodeOptions = {}): TokenDecoder {
    return createStreamDecoder((id) => this.bytesOf(id, options.skipSpecial ?? true));
  }

  /** The id of an added token or vocabulary entry, written as it appears in tokenizer.json. */
  tokenToId(token: string): number | undefined {
    return this.addedByContent.get(token) ?? this.model.vocab.get(token);
  }

  /** The bytes a token adds to generated text; null for special tokens. */
  tokenBytes(id: number): Uint8Array | null {
    return this.bytesOf(id, true);
  }

  isSpecial(id: number): boolean {
    return this.specialIds.has(id);
  }

  /** Ids outside the tokenizer (a model vocabulary padded past it) decode to nothing. */
  private bytesOf(id: number, skipSpecial: boolean): Uint8Array | null {
    if (skipSpecial && this.specialIds.has(id)) return null;
    return this.idToBytes[id] ?? null;
  }

  /** Normalizes text, matches the normalized added tokens in it (unless told not to), then BPE over the pre-tokens. */
  private encodePlain(text: string, ids: number[], matchAdded: boolean): void {
    if (text.length === 0) return;
    const normalized = this.normalize(text);
    const segments = matchAdded ? this.normalizedMatcher.split(normalized) : [{ text: normalized }];
    for (const segment of segments) {
      if ('id' in segment) {
        ids.push(segment.id);
        continue;
      }
      for (const piece of this.preTokenize(segment.text)) {
        for (const id of this.model.encodeWord(textToSymbols(piece))) ids.push(id);
      }
    }
  }
}

/** "a b" -> ["a", "b"]; byte-level symbols hold no space, so the first space separates. */
function splitMerge(merge: string): [string, string] | null {
  const at = merge.indexOf(' ', 1);
  return at < 0 ? null : [merge.slice(0, at), merge.slice(at + 1)];
}
