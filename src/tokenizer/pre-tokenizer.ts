/**
 * Splits text into pre-tokens (the units BPE merges never cross), as described by a
 * tokenizer.json's `normalizer` and `pre_tokenizer`. Supported: ByteLevel (with or without
 * GPT-2's pattern), Split on a regex (behavior Isolated), and Sequences of those; Unicode
 * normalizers NFC/NFD/NFKC/NFKD.
 */

/** GPT-2's pattern, used by ByteLevel when use_regex is true. */
export const GPT2_PATTERN = String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`;

export type PreTokenize = (text: string) => string[];
export type Normalize = (text: string) => string;

/** Thrown for a description this module cannot follow; the caller names the file. */
export class UnsupportedTokenizerError extends Error {}

interface Spec {
  type?: string;
  [key: string]: unknown;
}

export function buildNormalizer(spec: Spec | null | undefined): Normalize {
  if (!spec) return (text) => text;
  if (spec.type === 'Sequence') {
    const steps = ((spec.normalizers as Spec[]) ?? []).map(buildNormalizer);
    return (text) => steps.reduce((t, step) => step(t), text);
  }
  if (spec.type === 'NFC' || spec.type === 'NFD' || spec.type === 'NFKC' || spec.type === 'NFKD') {
    const form = spec.type;
    return (text) => text.normalize(form);
  }
  throw new UnsupportedTokenizerError(`unsupported normalizer ${JSON.stringify(spec.type)}`);
}

/** Whether the pre-tokenizer maps bytes to characters (the model then is byte-level BPE). */
export function isByteLevel(spec: Spec | null | undefined): boolean {
  if (!spec) return false;
  if (spec.type === 'ByteLevel') return true;
  return spec.type === 'Sequence' && ((spec.pretokenizers as Spec[]) ?? []).some(isByteLevel);
}

/** Pre-tokens of `text`, before the byte-to-character mapping (done by the caller). */
export function buildPreTokenizer(spec: Spec | null | undefined): PreTokenize {
  if (!spec) return (text) => [text];
  switch (spec.type) {
    case 'ByteLevel': {
      const split = spec.use_regex === false ? (t: string) => [t] : splitter(GPT2_PATTERN);
      if (!spec.add_prefix_space) return split;
      return (text) => split(text.startsWith(' ') ? text : ' ' + text);
    }
    case 'Split': {
      const pattern = spec.pattern as { Regex?: string; String?: string };
      if (spec.behavior !== 'Isolated' || spec.invert) {
        throw new UnsupportedTokenizerError(`unsupported Split behavior ${JSON.stringify(spec.behavior)}`);
      }
      return splitter(pattern.Regex ?? escapeRegex(pattern.String ?? ''));
    }
    case 'Sequence': {
      const steps = ((spec.pretokenizers as Spec[]) ?? []).map(buildPreTokenizer);
      return (text) => steps.reduce<string[]>((pieces, step) => pieces.flatMap(step), [text]);
    }
    default:
      throw new UnsupportedTokenizerError(`unsupported pre_tokenizer ${JSON.stringify(spec.type)}`);
  }
}

/** Isolated split: every match is a piece, and so is the text between matches. */
function splitter(source: string): PreTokenize {
  const re = compile(source);
  return (text) => {
    const pieces: string[] = [];
    let last = 0;
    for (const m of text.matchAll(re)) {
      if (m.index > last) pieces.push(text.slice(last, m.index));
      if (m[0].length > 0) pieces.push(m[0]);
      last = m.index + m[0].length;
    }
    if (last < text.length) pieces.push(text.slice(last));
    return pieces;
  };
}

/** Compiles an Oniguruma pattern as a JS regex; scoped case-insensitive groups `(?i:...)` are spelled out. */
function compile(source: string): RegExp {
  const translated = source.replace(/\(\?i:((?:[^()\\]|\\.)*)\)/g, (_, body: string) => '(?:' + caseless(body) + ')');
  try {
    return new RegExp(translated, 'gu');
  } catch (err) {
    throw new UnsupportedTokenizerError(`unsupported pre-tokenizer regex ${JSON.stringify(source)}: ${(err as Error).message}`);
  }
}

/** Each ASCII letter matches both cases: `s` -> `[sS]`, and inside a class `[st]` -> `[sStT]`; escapes stay. */
function caseless(body: string): string {
  let out = '';
  let inClass = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === '\\') {
      out += c + (body[++i] ?? '');
      continue;
    }
    if (c === '[') inClass = true;
    else if (c === ']') inClass = false;
    const isLetter = /[a-zA-Z]/.test(c);
    if (!isLetter) out += c;
    else if (inClass) out += c.toLowerCase() + c.toUpperCase();
    else out += `[${c.toLowerCase()}${c.toUpperCase()}]`;
  }
  return out;
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
