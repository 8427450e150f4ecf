/**
 * The openai client against the real server on the default model (it writes scripture, not
 * JSON): .parse() with a zod schema, the stream helpers, tools with tool_choice required /
 * named, streamed tool_calls deltas, a tool round trip, n > 1, logit_bias, streamed logprobs.
 */
import OpenAI from 'openai';
import { zodFunction, zodResponseFormat } from 'openai/helpers/zod';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { z } from 'zod';
import { expectNoLeak, serve, type Served } from './helpers.js';

let s: Served;
beforeAll(async () => {
  s = await serve({ model: 'default', kvCachePages: 512 }, { modelName: 'nano' });
});
afterAll(async () => {
  await s.close();
});

const Person = z.object({ name: z.string().max(20), age: z.number().int().min(0).max(150), tribe: z.enum(['Judah', 'Levi', 'Dan']) });
const messages: OpenAI.ChatCompletionMessageParam[] = [
  { role: 'developer', content: 'Answer as JSON.' },
  { role: 'user', content: [{ type: 'text', text: 'Who went up to the mount?' }] },
];
const GetWeather = z.object({ city: z.string().max(16), days: z.number().int().min(1).max(7) });

describe('response_format', () => {
  test('.parse() with a zod schema returns a parsed, valid object', async () => {
    const completion = await s.client.chat.completions.parse({ model: 'nano', messages, max_tokens: 100, response_format: zodResponseFormat(Person, 'person') });
    const choice = completion.choices[0];
    expect(choice.finish_reason).toBe('stop');
    expect(Person.parse(choice.message.parsed)).toEqual(choice.message.parsed);
  });

  test('the stream helper: content deltas add up to JSON that parses to the schema', async () => {
    const stream = s.client.chat.completions.stream({ model: 'nano', messages, max_tokens: 100, temperature: 0.8, seed: 4, response_format: zodResponseFormat(Person, 'person') });
    let deltas = '';
    stream.on('content.delta', ({ delta }) => (deltas += delta));
    const final = await stream.finalChatCompletion();
    expect(deltas).toBe(final.choices[0].message.content);
    expect(Person.safeParse(final.choices[0].message.parsed).success).toBe(true);
  });

  test('json_object on /v1/completions, regex through vLLM\'s structured_outputs, a bad schema is a 400 naming response_format', async () => {
    const r = await s.client.completions.create({ model: 'nano', prompt: 'And Moses said, ', max_tokens: 60, response_format: { type: 'json_object' } } as never);
    if (r.choices[0].finish_reason === 'stop') expect(typeof JSON.parse(r.choices[0].text)).toBe('object');
    const date = await s.client.completions.create({ model: 'nano', prompt: 'In the year ', max_tokens: 12, structured_outputs: { regex: '[0-9]{3,4} AD' } } as never);
    expect(date.choices[0].text).toMatch(/^[0-9]{3,4} AD$/);
    const bad = s.client.chat.completions.create({ model: 'nano', messages, response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'wat' } } } });
    await expect(bad).rejects.toMatchObject({ status: 400, param: 'response_format' });
  });
});

describe('tools', () => {
  const tools = [zodFunction({ name: 'get_weather', parameters: GetWeather }), zodFunction({ name: 'get_verse', parameters: z.object({ book: z.string().max(12) }) })];

  test('tool_choice required: the grammar forces a call; finish_reason tool_calls; arguments validate', async () => {
    const completion = await s.client.chat.completions.parse({ model: 'nano', messages: [{ role: 'user', content: 'Weather in Zion?' }], tools, tool_choice: 'required', max_tokens: 120, parallel_tool_calls: false });
    const choice = completion.choices[0];
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message.tool_calls).toHaveLength(1);
    const call = choice.message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall & { function: { parsed_arguments: unknown } };
    expect(call.id).toMatch(/^call_/);
    expect(['get_weather', 'get_verse']).toContain(call.function.name);
    expect(call.function.parsed_arguments).toEqual(JSON.parse(call.function.arguments));
    if (call.function.name === 'get_weather') GetWeather.parse(call.function.parsed_arguments);
  });

  test('a named tool, streamed: the first delta has index, id, type, name and empty arguments; fragments add up', async () => {
    const stream = await s.client.chat.completions.create({
      model: 'nano', messages: [{ role: 'user', content: 'Weather?' }], tools, tool_choice: { type: 'function', function: { name: 'get_weather' } }, max_tokens: 120, stream: true,
    });
    const deltas: OpenAI.ChatCompletionChunk.Choice.Delta.ToolCall[] = [];
    let finish: string | null = null;
    for await (const chunk of stream) {
      deltas.push(...(chunk.choices[0]?.delta.tool_calls ?? []));
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(finish).toBe('tool_calls');
    expect(deltas[0]).toMatchObject({ index: 0, type: 'function', function: { name: 'get_weather', arguments: '' } });
    expect(deltas[0].id).toMatch(/^call_/);
    expect(deltas.slice(1).every((d) => d.id === undefined && d.function?.name === undefined)).toBe(true);
    GetWeather.parse(JSON.parse(deltas.map((d) => d.function?.arguments ?? '').join('')));
  });

  test('a round trip: the tool call and its result reach the prompt, and the answer is text', async () => {
    const first = await s.client.chat.completions.create({ model: 'nano', messages: [{ role: 'user', content: 'Weather?' }], tools, tool_choice: { type: 'function', function: { name: 'get_weather' } }, max_tokens: 120 });
    const call = first.choices[0].message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall;
    const history: OpenAI.ChatCompletionMessageParam[] = [
      { role: 'user', content: 'Weather?' },
      { role: 'assistant', content: null, tool_calls: [call] },
      { role: 'tool', tool_call_id: call.id, content: '{"sky": "clear"}' },
    ];
    const second = await s.client.chat.completions.create({ model: 'nano', messages: history, tools, max_tokens: 16 });
    expect(second.choices[0].message.content).toEqual(expect.any(String));
    expect(second.choices[0].finish_reason).not.toBe('tool_calls');
    const withoutCalls = await s.client.chat.completions.create({ model: 'nano', messages: [history[0], { role: 'assistant', content: '' }, { role: 'user', content: '{"sky": "clear"}' }], tools, max_tokens: 1 });
    expect(second.usage!.prompt_tokens).toBeGreaterThan(withoutCalls.usage!.prompt_tokens + 10);
    const tokenized = (await (await fetch(`${s.url}/tokenize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages: history, tools }) })).json()) as { count: number };
    expect(tokenized.count).toBe(second.usage!.prompt_tokens);
  });
});

describe('the rest of the chat surface', () => {
  test('n = 3: three choices; the copies reuse the first one\'s prompt pages through the prefix cache', async () => {
    const longPrompt = 'And it came to pass in those days, that there went out a decree from Caesar Augustus, that all the world should be taxed. ';
    const before = s.engine.stats().cachedTokens;
    const r = await s.client.chat.completions.create({ model: 'nano', messages: [{ role: 'user', content: longPrompt }], n: 3, max_tokens: 8, temperature: 1, seed: 7 });
    expect(r.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    const prompt = r.usage!.prompt_tokens;
    expect(r.usage!.completion_tokens).toBe(r.choices.length * 8);
    expect(s.engine.stats().cachedTokens - before).toBeGreaterThanOrEqual(2 * Math.floor((prompt - 1) / 16) * 16);
    expect(new Set(r.choices.map((c) => c.message.content)).size).toBeGreaterThan(1);
  });

  test('logit_bias bans and forces tokens', async () => {
    const word = (await (await fetch(`${s.url}/tokenize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: ' amen', return_token_strs: true }) })).json()) as { tokens: number[]; token_strs: string[] };
    const r = await s.client.completions.create({ model: 'nano', prompt: 'Blessed', max_tokens: 3, logit_bias: { [word.tokens[0]]: 100 } });
    expect(r.choices[0].text).toBe(word.token_strs[0].repeat(3));
    const plain = await s.client.completions.create({ model: 'nano', prompt: 'Blessed', max_tokens: 1 });
    const first = (await (await fetch(`${s.url}/tokenize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: plain.choices[0].text }) })).json()) as { tokens: number[] };
    const banned = await s.client.completions.create({ model: 'nano', prompt: 'Blessed', max_tokens: 1, logit_bias: { [first.tokens[0]]: -100 } });
    expect(banned.choices[0].text).not.toBe(plain.choices[0].text);
  });

  test('streamed logprobs arrive with their own chunk\'s tokens', async () => {
    const stream = await s.client.chat.completions.create({ model: 'nano', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 12, logprobs: true, top_logprobs: 2, stream: true, stream_options: { include_usage: true } });
    let count = 0;
    let withText = 0;
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      usage = chunk.usage ?? usage;
      const choice = chunk.choices[0];
      if (!choice) continue;
      if (choice.delta.content) {
        withText++;
        expect(choice.logprobs?.content?.length).toBeGreaterThan(0);
        expect(choice.logprobs!.content!.map((l) => l.token).join('')).toBe(choice.delta.content);
      }
      count += choice.logprobs?.content?.length ?? 0;
    }
    expect(withText).toBeGreaterThan(1);
    expect(count).toBe(usage!.completion_tokens);
  });

  test('/tokenize and /detokenize round trip (vLLM shapes)', async () => {
    const post = async (path: string, body: object) => (await fetch(`${s.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json() as Promise<Record<string, unknown>>;
    const t = await post('/tokenize', { model: 'nano', prompt: 'In the beginning', return_token_strs: true });
    expect(t).toMatchObject({ count: (t.tokens as number[]).length, max_model_len: 512 });
    expect((t.token_strs as string[]).join('')).toBe('In the beginning');
    expect(await post('/detokenize', { tokens: t.tokens })).toEqual({ prompt: 'In the beginning' });
    expect(await post('/detokenize', { tokens: [99999] })).toMatchObject({ error: { param: 'tokens[0]' } });
    await expectNoLeak(s.engine);
  });
});
