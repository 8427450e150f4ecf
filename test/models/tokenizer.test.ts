import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HfTokenizer } from '../../src/tokenizer/hf-tokenizer.js';
import { loadTokenizer } from '../../src/tokenizer/load.js';
import { buildPreTokenizer } from '../../src/tokenizer/pre-tokenizer.js';
import { ModelLoadError } from '../../src/errors.js';

const root = join(import.meta.dirname, '..', '..');
const tokenizerFile = join(root, 'src', 'models', 'default', 'tokenizer.json');
const cases = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'tokenizer-cases.json'), 'utf8')) as Array<{ text: string; ids: number[] }>;

describe('HfTokenizer on the default tokenizer.json', async () => {
  const tok = await loadTokenizer(tokenizerFile, { eosTokenIds: [1023] });

  it('has 1024 ids, <|endoftext|> last and special', () => {
    expect(tok.vocabSize).toBe(1024);
    expect(tok.tokenToId('<|endoftext|>')).toBe(1023);
    expect(tok.isSpecial(1023)).toBe(true);
    expect(tok.eosTokenIds).toEqual([1023]);
  });

  it.each(cases.map((c) => [JSON.stringify(c.text).slice(0, 40), c] as const))('encodes %s as the Python trainer does', (_, c) => {
    expect(tok.encode(c.text)).toEqual(c.ids);
    expect(tok.decode(c.ids)).toBe(c.text);
  });

  it('treats <|endoftext|> as text when allowSpecial is false', () => {
    const ids = tok.encode('a<|endoftext|>b', { allowSpecial: false });
    expect(ids).not.toContain(1023);
    expect(tok.decode(ids)).toBe('a<|endoftext|>b');
  });

  it('skips special tokens on request, and by default when streaming', () => {
    const ids = tok.encode('<|endoftext|>Amen.');
    expect(tok.decode(ids, { skipSpecial: true })).toBe('Amen.');
    const decoder = tok.createDecoder();
    expect(ids.map((id) => decoder.push(id)).join('') + decoder.flush()).toBe('Amen.');
  });

  it('round-trips arbitrary Unicode, including astral characters and lone surrogates replaced', () => {
    const text = 'Ünïcödé: 日本語, emoji 🙂👍🏽, math ∑∫, tabs\t\tand\r\nCRLF, zero\u200bwidth.';
    expect(tok.decode(tok.encode(text))).toBe(text);
  });

  it('streams whole characters only: every multi-byte character is split over byte tokens', () => {
    const text = 'é日🙂x';
    const ids = tok.encode(text);
    expect(ids.length).toBeGreaterThan(text.length); // split into byte tokens
    const decoder = tok.createDecoder();
    const pieces = ids.map((id) => decoder.push(id));
    for (const piece of pieces) expect(piece).not.toMatch(/\uFFFD/);
    expect(pieces.filter((p) => p.length > 0)).toEqual(['é', '日', '🙂', 'x']);
    expect(decoder.flush()).toBe('');
  });

  it('ends an unfinished character with U+FFFD on flush, and ignores ids past the vocabulary', () => {
    const ids = tok.encode('🙂');
    const decoder = tok.createDecoder();
    expect(ids.slice(0, -1).map((id) => decoder.push(id)).join('')).toBe('');
    expect(decoder.flush()).toBe('\uFFFD');
    expect(tok.decode([4000, 97])).toBe('a');
  });
});

describe('HfTokenizer on other tokenizer.json shapes', () => {
  const spec = JSON.parse(readFileSync(tokenizerFile, 'utf8'));

  it('follows a Split regex with (?i:...) then ByteLevel without regex, and array merges (Llama 3 / Qwen2 style)', () => {
    const qwenLike = {
      ...spec,
      normalizer: { type: 'NFC' },
      pre_tokenizer: {
        type: 'Sequence',
        pretokenizers: [
          { type: 'Split', pattern: { Regex: String.raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+` }, behavior: 'Isolated', invert: false },
          { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
        ],
      },
      model: { ...spec.model, merges: spec.model.merges.map((m: string) => m.split(' ')) },
    };
    const tok = HfTokenizer.fromJson(qwenLike);
    const text = "IT'S 2024: the LORD'S day.\n\nAmen";
    const ids = tok.encode(text);
    expect(tok.decode(ids)).toBe(text);
    // The (?i:) group keeps 'S as one pre-token; \p{N} alone splits digits one by one.
    const split = buildPreTokenizer(qwenLike.pre_tokenizer);
    expect(split("IT'S 2024:\n\nAmen")).toEqual(['IT', "'S", ' ', '2', '0', '2', '4', ':\n\n', 'Amen']);
  });

  it('adds a prefix space when ByteLevel says so', () => {
    const tok = HfTokenizer.fromJson({ ...spec, pre_tokenizer: { ...spec.pre_tokenizer, add_prefix_space: true } });
    expect(tok.decode(tok.encode('And'))).toBe(' And');
  });

  it('rejects what it cannot follow', () => {
    expect(() => HfTokenizer.fromJson({ ...spec, model: { ...spec.model, type: 'Unigram' } })).toThrow(/BPE/);
    expect(() => HfTokenizer.fromJson({ ...spec, pre_tokenizer: { type: 'Metaspace' } })).toThrow(/byte-level/);
    expect(() => HfTokenizer.fromJson({ ...spec, normalizer: { type: 'Lowercase' } })).toThrow(/normalizer/);
  });

  it('wraps file problems in ModelLoadError naming the file', async () => {
    await expect(loadTokenizer('/nonexistent/tokenizer.json')).rejects.toThrow(ModelLoadError);
    await expect(loadTokenizer('/nonexistent/tokenizer.json')).rejects.toThrow(/\/nonexistent\/tokenizer\.json/);
  });
});
