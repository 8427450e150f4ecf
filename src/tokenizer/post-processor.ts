/**
 * The special tokens a tokenizer.json's post_processor puts around a single sequence
 * (what HF tokenizers' encode(text, add_special_tokens=True) adds): TemplateProcessing
 * (Llama 3's "<|begin_of_text|> $A"), alone or in a Sequence with ByteLevel (which changes
 * offsets only). tokenizer_config.json's add_bos_token / add_eos_token rebuild it the way
 * transformers' Llama / Gemma tokenizer classes do; its generic backend ignores them.
 */
import { UnsupportedTokenizerError } from './pre-tokenizer.js';

export interface SpecialAround {
  prefix: number[];
  suffix: number[];
}

type Spec = { type?: string; [key: string]: unknown } | null | undefined;
type Piece = { SpecialToken?: { id?: string }; Sequence?: { id?: string } };

export function specialsOfPostProcessor(spec: Spec): SpecialAround {
  const around: SpecialAround = { prefix: [], suffix: [] };
  if (!spec) return around;
  if (spec.type === 'Sequence') {
    for (const step of (spec.processors as Spec[]) ?? []) {
      const inner = specialsOfPostProcessor(step);
      around.prefix.push(...inner.prefix);
      around.suffix.push(...inner.suffix);
    }
    return around;
  }
  if (spec.type === 'ByteLevel') return around;
  if (spec.type !== 'TemplateProcessing') throw new UnsupportedTokenizerError(`unsupported post_processor ${JSON.stringify(spec.type)}`);
  const single = spec.single as Piece[] | undefined;
  const specials = (spec.special_tokens ?? {}) as Record<string, { ids?: number[] }>;
  if (!Array.isArray(single)) throw new UnsupportedTokenizerError('TemplateProcessing.single must be a list');
  let seenSequence = false;
  for (const piece of single) {
    if (piece.Sequence) {
      if (piece.Sequence.id !== 'A' || seenSequence) throw new UnsupportedTokenizerError('TemplateProcessing.single must hold the sequence $A once');
      seenSequence = true;
      continue;
    }
    const name = piece.SpecialToken?.id;
    const ids = name !== undefined ? specials[name]?.ids : undefined;
    if (!Array.isArray(ids)) throw new UnsupportedTokenizerError(`TemplateProcessing special token ${JSON.stringify(name)} has no ids`);
    (seenSequence ? around.suffix : around.prefix).push(...ids);
  }
  return around;
}

/** transformers tokenizer classes whose post-processor follows add_bos_token / add_eos_token. */
const REBUILT_BY_FLAGS = new Set(['LlamaTokenizer', 'LlamaTokenizerFast', 'CodeLlamaTokenizer', 'CodeLlamaTokenizerFast', 'GemmaTokenizer', 'GemmaTokenizerFast']);

export interface TokenizerConfigFlags {
  tokenizerClass?: string;
  addBosToken?: boolean;
  addEosToken?: boolean;
  bosId?: number;
  eosId?: number;
  /** bos_token / eos_token of tokenizer_config.json, resolved to ids when bosId / eosId are not given. */
  bosToken?: string;
  eosToken?: string;
}

/** The post-processor's specials, or those add_bos_token / add_eos_token ask for on the classes that read them. */
export function specialsFor(spec: Spec, flags: TokenizerConfigFlags): SpecialAround {
  const around = specialsOfPostProcessor(spec);
  if (!flags.tokenizerClass || !REBUILT_BY_FLAGS.has(flags.tokenizerClass)) return around;
  if (flags.addBosToken !== undefined) around.prefix = flags.addBosToken && flags.bosId !== undefined ? [flags.bosId] : [];
  if (flags.addEosToken !== undefined) around.suffix = flags.addEosToken && flags.eosId !== undefined ? [flags.eosId] : [];
  return around;
}
