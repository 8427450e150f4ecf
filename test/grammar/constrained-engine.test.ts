/** Constrained decoding end to end on the default model (which writes scripture, not JSON): the grammar makes the output valid. */
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { InvalidRequestError, NanoServingEngine, SimulatedExecutor, type SamplingParams } from '../../src/index.js';

let engine: NanoServingEngine;
beforeAll(async () => {
  engine = await NanoServingEngine.create({ model: 'default', threads: 1, kvCachePages: 256 });
});
afterAll(async () => {
  await engine.close();
});

const person = {
  type: 'object',
  properties: { name: { type: 'string', maxLength: 24 }, age: { type: 'integer', minimum: 0, maximum: 150 }, tribe: { enum: ['Judah', 'Levi', 'Dan'] } },
  required: ['name', 'age', 'tribe'],
  additionalProperties: false,
};
const prompt = 'And the LORD spake unto Moses, saying, ';

describe('responseFormat on the default model', () => {
  test('json_schema: greedy output validates and ends with stop', async () => {
    const [r] = await engine.generate([prompt], { maxTokens: 120, responseFormat: { type: 'json_schema', schema: person, strict: true } });
    expect(r.finishReason).toBe('stop');
    const value = JSON.parse(r.text);
    expect(new Ajv().validate(person, value)).toBe(true);
    const plain = (await engine.generate([prompt], { maxTokens: 16 }))[0].text;
    expect(plain.trimStart().startsWith('{')).toBe(false); // without the grammar, it writes scripture
    engine.checkIntegrity();
  });

  test('json_object, regex and an EBNF grammar', async () => {
    const [obj, date, word] = await Promise.all([
      engine.submit(prompt, { maxTokens: 200, temperature: 0.8, seed: 3, responseFormat: { type: 'json_object' } }).done,
      engine.submit(prompt, { maxTokens: 30, responseFormat: { type: 'regex', pattern: '[0-9]{4}-[0-9]{2}-[0-9]{2}' } }).done,
      engine.submit(prompt, { maxTokens: 30, responseFormat: { type: 'grammar', grammar: 'root ::= ("yea" | "nay") ", " [a-z]+ "."' } }).done,
    ]);
    if (obj.finishReason === 'stop') expect(typeof JSON.parse(obj.text)).toBe('object');
    else expect(obj.finishReason).toBe('length');
    expect(date.text).toMatch(/^[0-9]{4}-[0-9]{2}-[0-9]{2}$/);
    expect(date.finishReason).toBe('stop');
    expect(word.text).toMatch(/^(yea|nay), [a-z]+\.$/);
  });

  test('batch invariance: a constrained request decodes the same alone and among others', async () => {
    const params: SamplingParams = { maxTokens: 60, temperature: 0.9, seed: 11, responseFormat: { type: 'json_schema', schema: person } };
    const alone = await engine.submit(prompt, params).done;
    const crowd = await Promise.all([
      engine.submit('In the beginning', { maxTokens: 40 }).done,
      engine.submit(prompt, params).done,
      engine.submit('Blessed are', { maxTokens: 30, responseFormat: { type: 'json_object' } }).done,
      engine.submit('And it came to pass', { maxTokens: 50, temperature: 1, seed: 2 }).done,
    ]);
    expect(crowd[1].tokens).toEqual(alone.tokens);
  });

  test('a grammar that cannot compile fails its request with InvalidRequestError; the others go on', async () => {
    await expect(engine.prepareResponseFormat({ type: 'grammar', grammar: 'root ::= ' })).rejects.toBeInstanceOf(InvalidRequestError);
    const bad = engine.submit(prompt, { responseFormat: { type: 'regex', pattern: '([a-z' } });
    const good = engine.submit(prompt, { maxTokens: 8 });
    await expect(bad.done).rejects.toMatchObject({ param: 'responseFormat.pattern' });
    expect((await good.done).outputTokens).toBe(8);
    expect(() => engine.submit(prompt, { responseFormat: { type: 'xml' } as never })).toThrow(/responseFormat.type/);
    await engine.whenIdle();
    engine.checkIntegrity();
    const { pages } = engine.stats();
    expect(pages.free + pages.evictable).toBe(pages.total);
  });

  test('aborting a request while its grammar compiles ends it cleanly', async () => {
    const handle = engine.submit(prompt, { maxTokens: 20, responseFormat: { type: 'json_schema', schema: { type: 'array', items: { type: 'number' }, maxItems: 3 } } });
    handle.abort();
    expect((await handle.done).finishReason).toBe('abort');
    await engine.whenIdle();
  });
});

test('the simulator honours token masks too', async () => {
  const sim = await NanoServingEngine.create({ executor: new SimulatedExecutor({ vocabSize: 256, numPages: 64, pageSize: 16 }) });
  const r = await sim.submit('x', { maxTokens: 40, responseFormat: { type: 'regex', pattern: 'a{3}(b|d)c' } }).done;
  expect(r.text).toMatch(/^aaa[bd]c$/);
  expect(r.finishReason).toBe('stop');
  await sim.close();
});
