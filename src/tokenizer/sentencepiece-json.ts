/**
 * A SentencePiece-style BPE tokenizer.json (Llama 2, Mistral v1, TinyLlama): model BPE with
 * byte_fallback, spaces as '▁' through either the legacy normalizer (Prepend '▁' + Replace
 * ' ' -> '▁') or a Metaspace pre-tokenizer; decoders Replace/ByteFallback/Fuse/Strip or
 * Metaspace. Merges rank pairs; the BOS a TemplateProcessing post-processor adds is the
 * encoder's default BOS.
 */
import { UnsupportedTokenizerError } from './pre-tokenizer.js';
import { scorePairsByRank, SentencePieceTokenizer, SPACE, type SentencePieceSpec, type SpTokenType } from './sentencepiece.js';

type Spec = { type?: string; [key: string]: unknown } | null | undefined;

interface SpTokenizerJson {
  normalizer?: Spec;
  pre_tokenizer?: Spec;
  post_processor?: Spec;
  model?: { type?: string; vocab?: Record<string, number>; merges?: Array<string | [string, string]>; byte_fallback?: boolean; unk_token?: string | null };
  added_tokens?: Array<{ id: number; content: string; special?: boolean; single_word?: boolean; lstrip?: boolean; rstrip?: boolean }>;
}

/** Whether a tokenizer.json describes SentencePiece-style BPE (rather than byte-level BPE). */
export function isSentencePieceJson(json: unknown): boolean {
  const spec = json as SpTokenizerJson;
  if (spec?.model?.type !== 'BPE') return false;
  return spec.model.byte_fallback === true || hasStep(spec.pre_tokenizer, 'Metaspace') || hasStep(spec.normalizer, 'Prepend');
}

export function sentencePieceFromJson(json: unknown, options: { eosTokenIds?: number[] } = {}): SentencePieceTokenizer {
  const spec = json as SpTokenizerJson;
  const model = spec.model!;
  if (!model.vocab || typeof model.vocab !== 'object') throw new TypeError('model.vocab is missing');
  if (!Array.isArray(model.merges)) throw new TypeError('model.merges is missing');
  const { tokens, types } = vocabulary(spec);
  const merges = model.merges.map((m, i): [string, string] => {
    const pair = typeof m === 'string' ? m.split(' ') : m;
    if (!Array.isArray(pair) || pair.length !== 2) throw new TypeError(`merge ${i} is not a pair: ${JSON.stringify(m)}`);
    return [pair[0], pair[1]];
  });
  const unkId = model.unk_token != null ? tokens.indexOf(model.unk_token) : -1;
  const bosText = bosOfPostProcessor(spec.post_processor);
  const bosId = bosText !== undefined ? tokens.indexOf(bosText) : tokens.indexOf('<s>');
  const full: SentencePieceSpec = {
    tokens, types, pairScore: scorePairsByRank(merges),
    unkId: unkId >= 0 ? unkId : undefined, bosId: bosId >= 0 ? bosId : undefined,
    eosTokenIds: options.eosTokenIds ?? [], addBos: bosText !== undefined && bosId >= 0,
    ...spaces(spec),
    addedTokens: (spec.added_tokens ?? []).map((t) => ({
      id: t.id, content: t.content, special: t.special ?? false, singleWord: t.single_word ?? false, lstrip: t.lstrip ?? false, rstrip: t.rstrip ?? false,
    })),
  };
  return new SentencePieceTokenizer(full);
}

function vocabulary(spec: SpTokenizerJson): { tokens: string[]; types: SpTokenType[] } {
  const model = spec.model!;
  const added = spec.added_tokens ?? [];
  let size = 0;
  for (const id of Object.values(model.vocab!)) size = Math.max(size, id + 1);
  for (const t of added) size = Math.max(size, t.id + 1);
  const tokens = new Array<string>(size).fill('');
  const types = new Array<SpTokenType>(size).fill('unused');
  for (const [text, id] of Object.entries(model.vocab!)) {
    if (!Number.isSafeInteger(id) || id < 0) throw new TypeError(`token ${JSON.stringify(text)} has id ${id}`);
    tokens[id] = text;
    types[id] = model.byte_fallback && /^<0x[0-9A-F]{2}>$/.test(text) ? 'byte' : text === model.unk_token ? 'unknown' : 'normal';
  }
  for (const t of added) {
    tokens[t.id] = t.content;
    if (types[t.id] !== 'unknown') types[t.id] = t.special ? 'control' : 'user';
  }
  return { tokens, types };
}

/** Where '▁' is prepended, and whether words split at '▁'. */
function spaces(spec: SpTokenizerJson): Pick<SentencePieceSpec, 'prefix' | 'splitWords' | 'prefixUnlessSpaced'> {
  const normalizers = steps(spec.normalizer, 'normalizers');
  for (const n of normalizers) {
    const isSpaceReplace = n.type === 'Replace' && (n.pattern as { String?: string })?.String === ' ' && n.content === SPACE;
    const isPrepend = n.type === 'Prepend' && n.prepend === SPACE;
    if (!isSpaceReplace && !isPrepend) throw new UnsupportedTokenizerError(`unsupported normalizer ${JSON.stringify(n.type)} in a SentencePiece tokenizer`);
  }
  const metaspace = steps(spec.pre_tokenizer, 'pretokenizers');
  if (metaspace.length === 0) return { prefix: normalizers.some((n) => n.type === 'Prepend') ? 'always' : 'never' };
  const m = metaspace[0];
  if (metaspace.length > 1 || m.type !== 'Metaspace') throw new UnsupportedTokenizerError(`unsupported pre_tokenizer ${JSON.stringify(m.type)} in a SentencePiece tokenizer`);
  if (m.replacement !== undefined && m.replacement !== SPACE) throw new UnsupportedTokenizerError(`Metaspace replacement ${JSON.stringify(m.replacement)} is not '▁'`);
  const scheme = typeof m.prepend_scheme === 'string' ? m.prepend_scheme : m.add_prefix_space === false ? 'never' : 'always';
  if (scheme !== 'always' && scheme !== 'first' && scheme !== 'never') throw new UnsupportedTokenizerError(`Metaspace prepend_scheme ${JSON.stringify(scheme)}`);
  return { prefix: scheme, splitWords: m.split !== false, prefixUnlessSpaced: true };
}

function steps(spec: Spec, key: string): Array<NonNullable<Spec>> {
  if (!spec) return [];
  if (spec.type === 'Sequence') return ((spec[key] as Spec[]) ?? []).flatMap((s) => steps(s, key));
  return [spec];
}

function hasStep(spec: Spec, type: string): boolean {
  return steps(spec, 'normalizers').concat(steps(spec, 'pretokenizers')).some((s) => s.type === type);
}

/** The special token a TemplateProcessing post-processor puts first in a single sequence, if any. */
function bosOfPostProcessor(spec: Spec): string | undefined {
  if (spec?.type !== 'TemplateProcessing' || !Array.isArray(spec.single)) return undefined;
  const first = spec.single[0] as { SpecialToken?: { id?: string } } | undefined;
  return first?.SpecialToken?.id;
}
