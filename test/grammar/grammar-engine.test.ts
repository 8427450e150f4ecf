/** XGrammar behind GrammarEngine, on the default model's vocabulary: masks, acceptance, termination, refusals. */
import { beforeAll, describe, expect, test } from 'vitest';
import { InvalidRequestError } from '../../src/errors.js';
import { GrammarEngine } from '../../src/grammar/grammar-engine.js';
import type { GrammarState } from '../../src/grammar/grammar-state.js';
import type { ResponseFormat } from '../../src/grammar/response-format.js';
import { defaultModelDir } from '../../src/models/resolve.js';
import { loadTokenizerDir } from '../../src/tokenizer/load.js';
import type { HfTokenizer } from '../../src/tokenizer/hf-tokenizer.js';

let tokenizer: HfTokenizer;
let engine: GrammarEngine;
beforeAll(async () => {
  tokenizer = ((await loadTokenizerDir(defaultModelDir()!)) as HfTokenizer).withEosTokenIds([1023]);
  engine = await GrammarEngine.create(tokenizer, 1024);
});

function allowed(mask: Uint32Array): number[] {
  const ids: number[] = [];
  for (let t = 0; t < mask.length * 32; t++) if ((mask[t >> 5] >>> (t & 31)) & 1) ids.push(t);
  return ids;
}

/** Walks the grammar with a deterministic pseudo-random choice among allowed tokens; returns the text. */
async function walk(state: GrammarState, seed: number, maxSteps = 300): Promise<{ text: string; terminated: boolean }> {
  const tokens: number[] = [];
  let x = seed;
  for (let i = 0; i < maxSteps && !state.isTerminated; i++) {
    const ids = allowed(await state.nextMask());
    expect(ids.length).toBeGreaterThan(0);
    x = (x * 1103515245 + 12345) % 2 ** 31;
    // prefer the stop token once allowed, so walks end
    const token = ids.includes(1023) && i > 20 ? 1023 : ids[x % ids.length];
    expect(state.accept(token)).toBe(true);
    tokens.push(token);
  }
  return { text: tokenizer.decode(tokens.filter((t) => t !== 1023)), terminated: state.isTerminated };
}

describe('GrammarEngine', () => {
  test('json_schema: every walk through the mask is JSON of the schema, and ends at the stop token', async () => {
    const schema = { type: 'object', properties: { n: { type: 'integer' }, ok: { type: 'boolean' } }, required: ['n', 'ok'] };
    for (const seed of [1, 2, 3]) {
      const state = await engine.createState({ type: 'json_schema', schema, strict: true });
      const { text, terminated } = await walk(state, seed);
      state.dispose();
      expect(terminated).toBe(true);
      const value = JSON.parse(text);
      expect(Object.keys(value).sort()).toEqual(['n', 'ok']);
      expect(Number.isInteger(value.n)).toBe(true);
    }
  });

  test('regex and EBNF grammars', async () => {
    const regex = await engine.createState({ type: 'regex', pattern: '[0-9]{3}-(yes|no)' });
    expect((await walk(regex, 5)).text).toMatch(/^[0-9]{3}-(yes|no)$/);
    const ebnf = await engine.createState({ type: 'grammar', grammar: 'root ::= "amen" | "selah"' });
    expect(['amen', 'selah']).toContain((await walk(ebnf, 7)).text);
  });

  test('a token outside the mask is refused', async () => {
    const state = await engine.createState({ type: 'grammar', grammar: 'root ::= "a"' });
    expect(state.accept(tokenizer.encode('b')[0])).toBe(false);
  });

  test.each<[ResponseFormat, string]>([
    [{ type: 'grammar', grammar: 'root ::= "a" | ' }, 'responseFormat.grammar'],
    [{ type: 'json_schema', schema: { type: 'wat' } }, 'responseFormat.schema'],
    [{ type: 'regex', pattern: '(' }, 'responseFormat.pattern'],
  ])('refuses %j naming %s', async (format, param) => {
    const error = await engine.compile(format).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect((error as InvalidRequestError).param).toBe(param);
    expect((error as Error).message).toMatch(/cannot be compiled: \S/);
    // the engine keeps working after XGrammar aborted a call
    await engine.compile({ type: 'grammar', grammar: 'root ::= "ok"' });
  });
});
