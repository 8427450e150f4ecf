/** Reads a tokenizer from disk; every failure is a ModelLoadError naming the file. */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelLoadError } from '../errors.js';
import { HfTokenizer } from './hf-tokenizer.js';
import type { TokenizerConfigFlags } from './post-processor.js';
import { isSentencePieceJson, sentencePieceFromJson } from './sentencepiece-json.js';
import type { SentencePieceTokenizer } from './sentencepiece.js';

export interface TokenizerLoadOptions {
  eosTokenIds?: number[];
  /** tokenizer_config.json, for its tokenizer_class, add_bos_token / add_eos_token, bos_token / eos_token. */
  tokenizerConfig?: Record<string, unknown>;
}

/** A tokenizer.json (Hugging Face tokenizers format). */
export async function loadTokenizer(file: string, options: TokenizerLoadOptions = {}): Promise<HfTokenizer> {
  const json = parseJson(await readText(file), file);
  return build(json, file, options);
}

/** A tokenizer.json of either kind: byte-level BPE, or SentencePiece-style BPE (Llama 2 style). */
export async function loadAnyTokenizer(file: string, options: TokenizerLoadOptions = {}): Promise<HfTokenizer | SentencePieceTokenizer> {
  const json = parseJson(await readText(file), file);
  if (!isSentencePieceJson(json)) return build(json, file, options);
  try {
    return sentencePieceFromJson(json, options);
  } catch (err) {
    throw new ModelLoadError(`${file}: ${(err as Error).message}`, file, { cause: err });
  }
}

/** A model folder's tokenizer: tokenizer.json (byte-level or SentencePiece-style BPE), or GPT-2's older vocab.json + merges.txt. */
export async function loadTokenizerDir(dir: string, options: TokenizerLoadOptions = {}): Promise<HfTokenizer | SentencePieceTokenizer> {
  const file = join(dir, 'tokenizer.json');
  const vocabFile = join(dir, 'vocab.json');
  const mergesFile = join(dir, 'merges.txt');
  if (existsSync(file) || !existsSync(vocabFile)) return loadAnyTokenizer(file, options);
  const vocab = parseJson(await readText(vocabFile), vocabFile) as Record<string, number>;
  const merges = (await readText(mergesFile)).split('\n').filter((line) => line.length > 0 && !line.startsWith('#version'));
  const added = '<|endoftext|>' in vocab ? [{ id: vocab['<|endoftext|>'], content: '<|endoftext|>', special: true }] : [];
  const json = {
    model: { type: 'BPE', vocab, merges },
    added_tokens: added,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, use_regex: true },
  };
  return build(json, vocabFile, options);
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (err as Error).message;
    throw new ModelLoadError(`${file}: ${reason}`, file, { cause: err });
  }
}

function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ModelLoadError(`${file}: corrupt JSON (${(err as Error).message})`, file, { cause: err });
  }
}

function build(json: unknown, file: string, options: TokenizerLoadOptions): HfTokenizer {
  try {
    return HfTokenizer.fromJson(json, { eosTokenIds: options.eosTokenIds, flags: flagsOf(options.tokenizerConfig) });
  } catch (err) {
    throw new ModelLoadError(`${file}: ${(err as Error).message}`, file, { cause: err });
  }
}

function flagsOf(config: Record<string, unknown> | undefined): TokenizerConfigFlags {
  if (!config) return {};
  const text = (value: unknown): string | undefined =>
    typeof value === 'string' ? value : typeof (value as { content?: unknown } | null)?.content === 'string' ? (value as { content: string }).content : undefined;
  const bool = (value: unknown): boolean | undefined => (typeof value === 'boolean' ? value : undefined);
  return {
    tokenizerClass: typeof config.tokenizer_class === 'string' ? config.tokenizer_class : undefined,
    addBosToken: bool(config.add_bos_token),
    addEosToken: bool(config.add_eos_token),
    bosToken: text(config.bos_token),
    eosToken: text(config.eos_token),
  };
}
