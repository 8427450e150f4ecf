/**
 * Tokenizers as the Hub ships them, against HF tokenizers 0.23 / transformers 5.17 on the
 * fixtures of tools/hf-fixtures/make.py: GPT-2 style (ByteLevel with its regex, NFC) and
 * Llama 3 style (Split regex + ByteLevel, ignore_merges, TemplateProcessing BOS) tokenizers
 * with added tokens carrying every flag (special, normalized, lstrip, rstrip, single_word).
 * encode(text) equals AutoTokenizer's ids (add_special_tokens=True, what a completion prompt
 * gets), encode(text, { addSpecialTokens: false }) its ids without them (what a rendered chat gets).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTokenizerDir } from '../../src/tokenizer/load.js';
import type { HfTokenizer } from '../../src/tokenizer/hf-tokenizer.js';
import { SentencePieceTokenizer } from '../../src/tokenizer/sentencepiece.js';

const root = join(import.meta.dirname, 'fixtures', 'hf', 'tokenizers');

interface Case { text: string; ids: number[]; idsNoSpecial: number[]; autoIds: number[]; autoIdsNoSpecial: number[]; autoDecoded: string }

describe('tokenizers agree with HF tokenizers / transformers', () => {
  for (const name of readdirSync(root).sort()) {
    const dir = join(root, name);
    const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as { encode: Case[] };
    it(name, async () => {
      const tokenizerConfig = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8'));
      const tokenizer = (await loadTokenizerDir(dir, { tokenizerConfig })) as HfTokenizer;
      const isSentencePiece = tokenizer instanceof SentencePieceTokenizer;
      expect(isSentencePiece).toBe(name.startsWith('sp-'));
      for (const c of expected.encode) {
        expect(tokenizer.encode(c.text), JSON.stringify(c.text)).toEqual(c.autoIds);
        expect(tokenizer.encode(c.text, { addSpecialTokens: false }), JSON.stringify(c.text)).toEqual(c.autoIdsNoSpecial);
        // SentencePiece-style tokenizers decode control tokens (<s>) to nothing, as llama.cpp does (HF writes them).
        if (!isSentencePiece) expect(tokenizer.decode(c.autoIds), JSON.stringify(c.text)).toBe(c.autoDecoded);
      }
    });
  }
});

describe('add_bos_token / add_eos_token', () => {
  const dir = join(root, 'gpt2-add-bos-eos');
  const flags = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8'));

  it('are ignored by the generic class, as transformers 5.17 ignores them (the fixture above)', async () => {
    const tokenizer = (await loadTokenizerDir(dir, { tokenizerConfig: flags })) as HfTokenizer;
    expect(tokenizer.encode('Hello world')).toEqual(tokenizer.encode('Hello world', { addSpecialTokens: false }));
  });

  it('rebuild the specials on the Llama / Gemma classes, whose post-processor follows them', async () => {
    const llama = { ...flags, tokenizer_class: 'LlamaTokenizerFast' };
    const tokenizer = (await loadTokenizerDir(dir, { tokenizerConfig: llama })) as HfTokenizer;
    const plain = tokenizer.encode('Hello world', { addSpecialTokens: false });
    const bos = tokenizer.tokenToId('<|endoftext|>')!;
    const eos = tokenizer.tokenToId('<|im_end|>')!;
    expect(tokenizer.encode('Hello world')).toEqual([bos, ...plain, eos]);
    const noBos = (await loadTokenizerDir(join(root, 'llama3'), { tokenizerConfig: { tokenizer_class: 'LlamaTokenizerFast', add_bos_token: false, bos_token: '<|begin_of_text|>' } })) as HfTokenizer;
    expect(noBos.encode('Hello world')).toEqual(noBos.encode('Hello world', { addSpecialTokens: false }));
  });
});
