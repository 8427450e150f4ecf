/** LangChain.js (@langchain/openai) against the real server on the default model: withStructuredOutput and bindTools. */
import { tool } from '@langchain/core/tools';
import { ChatOpenAI } from '@langchain/openai';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { z } from 'zod';
import { expectNoLeak, serve, type Served } from './helpers.js';

let s: Served;
let chat: ChatOpenAI;
beforeAll(async () => {
  s = await serve({ model: 'default', kvCachePages: 512 }, { modelName: 'nano' });
  chat = new ChatOpenAI({ model: 'nano', apiKey: 'x', configuration: { baseURL: `${s.url}/v1` }, maxRetries: 0, maxTokens: 100, temperature: 0 });
});
afterAll(async () => {
  await s.close();
});

const Tribe = z.object({ tribe: z.enum(['Judah', 'Levi', 'Dan']), men: z.number().int().min(1).max(99999) });

// (jsonMode asks for any JSON object: the default model then opens a string it never closes, so it is not tested here.)
test.each(['jsonSchema', 'functionCalling'] as const)('withStructuredOutput (%s) returns a valid object on the first try', async (method) => {
  const started = performance.now();
  const structured = chat.withStructuredOutput(Tribe, { method, name: 'tribe' });
  const value = await structured.invoke('Which tribe?');
  expect(Tribe.parse(value)).toEqual(value);
  expect(performance.now() - started).toBeLessThan(30_000);
});

test('bindTools: a forced call comes back as AIMessage.tool_calls with parsed args', async () => {
  const getVerse = tool(async ({ book }) => `${book} 1:1`, { name: 'get_verse', description: 'A verse of a book', schema: z.object({ book: z.string().max(12) }) });
  const message = await chat.bindTools([getVerse], { tool_choice: 'get_verse' }).invoke('Read me a verse.');
  expect(message.tool_calls).toHaveLength(1);
  expect(message.tool_calls![0]).toMatchObject({ name: 'get_verse', args: { book: expect.any(String) } });
  expect(message.tool_calls![0].id).toMatch(/^call_/);
  await expectNoLeak(s.engine);
});
