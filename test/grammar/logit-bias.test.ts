/** logitBias in the native sampler: +100 forces a token, -100 bans it, and bad entries are refused by name. */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { InvalidRequestError, NanoServingEngine } from '../../src/index.js';

let engine: NanoServingEngine;
beforeAll(async () => {
  engine = await NanoServingEngine.create({ model: 'default', threads: 1 });
});
afterAll(async () => {
  await engine.close();
});

const prompt = 'And the LORD said unto Moses, ';

test('+100 forces a token, -100 bans the greedy choice, batched with unbiased requests', async () => {
  const amen = engine.tokenizer.encode(' amen')[0];
  const [plain, forced] = await Promise.all([
    engine.submit(prompt, { maxTokens: 6 }).done,
    engine.submit(prompt, { maxTokens: 6, logitBias: { [amen]: 100 } }).done,
  ]);
  expect(forced.tokens).toEqual(new Array(6).fill(amen));
  const banned = await engine.submit(prompt, { maxTokens: 6, logitBias: { [plain.tokens[0]]: -100 } }).done;
  expect(banned.tokens[0]).not.toBe(plain.tokens[0]);
  expect((await engine.submit(prompt, { maxTokens: 6 }).done).tokens).toEqual(plain.tokens); // nothing leaks to later requests
});

test.each([
  [{ abc: 1 }, /not a token id/],
  [{ 5000: 1 }, /not a token id/],
  [{ 5: 101 }, /\[-100, 100\]/],
  [{ 5: 'x' }, /\[-100, 100\]/],
])('refuses %j', (logitBias, message) => {
  expect(() => engine.submit(prompt, { logitBias: logitBias as never })).toThrow(InvalidRequestError);
  expect(() => engine.submit(prompt, { logitBias: logitBias as never })).toThrow(message);
});
