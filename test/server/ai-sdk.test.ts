/** The Vercel AI SDK (ai + @ai-sdk/openai-compatible) against the real server on the default model. */
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { generateObject, generateText, stepCountIs, streamObject, tool } from 'ai';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { z } from 'zod';
import { expectNoLeak, serve, type Served } from './helpers.js';

let s: Served;
let model: ReturnType<ReturnType<typeof createOpenAICompatible>['chatModel']>;
beforeAll(async () => {
  s = await serve({ model: 'default', kvCachePages: 512 }, { modelName: 'nano' });
  model = createOpenAICompatible({ name: 'nano', baseURL: `${s.url}/v1`, supportsStructuredOutputs: true }).chatModel('nano');
});
afterAll(async () => {
  await s.close();
});

const Verse = z.object({ book: z.enum(['Genesis', 'Exodus', 'Psalms']), chapter: z.number().int().min(1).max(150), text: z.string().max(40) });

test('generateObject returns an object of the schema', async () => {
  const { object, finishReason } = await generateObject({ model, schema: Verse, prompt: 'Quote a verse.', maxOutputTokens: 120, maxRetries: 0 });
  expect(finishReason).toBe('stop');
  expect(Verse.parse(object)).toEqual(object);
});

test('streamObject streams partial objects that end in a valid one', async () => {
  const result = streamObject({ model, schema: Verse, prompt: 'Quote a verse.', maxOutputTokens: 120, temperature: 0.7, seed: 3, maxRetries: 0 });
  const partials: unknown[] = [];
  for await (const partial of result.partialObjectStream) partials.push(partial);
  expect(partials.length).toBeGreaterThan(1);
  expect(Verse.parse(await result.object)).toEqual(partials.at(-1));
});

test('a tool round trip: a forced call, its result sent back, a text answer', async () => {
  const calls: unknown[] = [];
  const result = await generateText({
    model,
    prompt: 'What is the weather in Zion?',
    tools: {
      getWeather: tool({
        description: 'The weather in a city',
        inputSchema: z.object({ city: z.string().max(16) }),
        execute: async (input) => {
          calls.push(input);
          return { sky: 'clear', city: input.city };
        },
      }),
    },
    prepareStep: ({ stepNumber }) => ({ toolChoice: stepNumber === 0 ? 'required' : 'none' }),
    stopWhen: stepCountIs(2),
    maxOutputTokens: 150,
    maxRetries: 0,
  });
  expect(result.steps).toHaveLength(2);
  expect(result.steps[0].finishReason).toBe('tool-calls');
  expect(result.steps[0].toolCalls[0]).toMatchObject({ toolName: 'getWeather' });
  expect(calls.length).toBeGreaterThanOrEqual(1); // parallel tool calls are allowed by default
  expect(result.steps[0].toolResults).toHaveLength(calls.length);
  expect(result.steps[0].toolResults[0]).toMatchObject({ output: { sky: 'clear' } });
  expect(typeof result.text).toBe('string');
  expect(result.steps[1].request.body).toBeDefined();
  await expectNoLeak(s.engine);
});
