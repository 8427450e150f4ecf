/** Bad requests get OpenAI-style JSON errors with the right status; never a 500 for user input. */
import { connect } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { expectNoLeak, postJson, serveSimulated, type Served } from './helpers.js';

let s: Served;
beforeAll(async () => {
  s = await serveSimulated({}, { bodyLimit: 4096 });
});
afterAll(async () => {
  await s.close();
});

function expectError(r: { status: number; json: any }, status: number, param?: string | null): void {
  expect(r.status, JSON.stringify(r.json)).toBe(status);
  expect(Object.keys(r.json)).toEqual(['error']);
  expect(typeof r.json.error.message).toBe('string');
  expect(typeof r.json.error.type).toBe('string');
  expect(r.json.error).toHaveProperty('code');
  expect(r.json.error).toHaveProperty('param');
  if (param !== undefined) expect(r.json.error.param).toBe(param);
}

const completions = (body: unknown) => postJson(`${s.url}/v1/completions`, body);
const chat = (body: unknown) => postJson(`${s.url}/v1/chat/completions`, body);
const ok = { prompt: 'Hi', max_tokens: 2 };
const okChat = { messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2 };

describe('400: bodies that are not JSON objects', () => {
  test.each(['{bad', '{"prompt": "x",}', '[1, 2]', '"text"', 'null', '42'])('%s', async (body) => {
    const r = await completions(body);
    expectError(r, 400);
  });

  test('an empty JSON body', async () => {
    expectError(await completions(''), 400);
  });

  test('prototype poisoning is refused, as such (the JSON is valid), at any depth', async () => {
    for (const body of [
      '{"prompt": "x", "__proto__": {"polluted": true}}',
      '{"prompt": "x", "constructor": {"prototype": {"polluted": true}}}',
      // The HTTP fuzz's one failure (session 17): an unknown field whose value held "__proto__".
      '{"prompt": "x", "max_tokens": 1, "!zh": {"__proto__": 0}}',
      '{"prompt": "x", "max_tokens": 1, "!zh": [1, {"a": {"constructor": {"prototype": null}}}]}',
      `{"prompt": "x", "deep": ${'['.repeat(1900)}{"__proto__": 1}${']'.repeat(1900)}}`,  // deep (under the 4 KB limit); the fuzz nests 5,000
    ]) {
      const r = await completions(body);
      expectError(r, 400, null);
      expect(r.json.error.code, body).toBe('forbidden_property');
    }
  });
});

describe('400: wrong types and out-of-range values name the parameter', () => {
  test.each([
    [{ ...ok, max_tokens: '5' }, 'max_tokens'],
    [{ ...ok, max_tokens: 2.5 }, 'max_tokens'],
    [{ ...ok, max_tokens: 0 }, 'max_tokens'],
    [{ ...ok, max_tokens: -1 }, 'max_tokens'],
    [{ ...ok, max_tokens: 1e12 }, 'max_tokens'],
    [{ ...ok, temperature: 'hot' }, 'temperature'],
    [{ ...ok, temperature: -0.1 }, 'temperature'],
    [{ ...ok, top_p: 0 }, 'top_p'],
    [{ ...ok, top_p: 1.5 }, 'top_p'],
    [{ ...ok, top_k: -2 }, 'top_k'],
    [{ ...ok, min_p: 2 }, 'min_p'],
    [{ ...ok, seed: -1 }, 'seed'],
    [{ ...ok, seed: 2 ** 64 }, 'seed'],
    [{ ...ok, presence_penalty: 3 }, 'presence_penalty'],
    [{ ...ok, frequency_penalty: -2.5 }, 'frequency_penalty'],
    [{ ...ok, repetition_penalty: 0 }, 'repetition_penalty'],
    [{ ...ok, logprobs: 21 }, 'logprobs'],
    [{ ...ok, stream: 'yes' }, 'stream'],
    [{ ...ok, stop: 5 }, 'stop'],
    [{ ...ok, stop: [''] }, 'stop'],
    [{ ...ok, n: 17 }, 'n'],
    [{ ...ok, n: 0 }, 'n'],
    [{ ...ok, stop_token_ids: [1e9] }, 'stop_token_ids'],
    [{ ...ok, stream_options: { include_usage: 'yes' } }, 'stream_options.include_usage'],
    [{ max_tokens: 2 }, 'prompt'],
    [{ prompt: '' }, 'prompt'],
    [{ prompt: [] }, 'prompt'],
    [{ prompt: {} }, 'prompt'],
    [{ prompt: [1, 2, 256] }, 'prompt'],
    [{ prompt: [1, -1] }, 'prompt'],
    [{ prompt: ['a', ''] }, 'prompt'],
    [{ ...ok, best_of: 2 }, 'best_of'],
    [{ ...ok, suffix: 'x' }, 'suffix'],
    [{ ...ok, frobnicate: 1 }, 'frobnicate'],
    [{ ...ok, echo: true, logprobs: 1 }, 'echo'],
    [{ ...ok, logit_bias: { 5: 500 } }, 'logit_bias.5'],
    [{ ...ok, logit_bias: { abc: 1 } }, 'logit_bias'],
    [{ ...ok, response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'wat' } } } }, 'response_format'],
    [{ ...ok, response_format: { type: 'xml' } }, 'response_format.type'],
    [{ ...ok, guided_regex: '(', response_format: { type: 'json_object' } }, 'guided_regex'],
    [{ prompt: 'x'.repeat(600) }, 'prompt'],
    [{ prompt: 'x', max_tokens: 100000 }, 'max_tokens'],
  ])('%j', async (body, param) => {
    expectError(await completions(body), 400, param);
  });

  test.each([
    [{ ...okChat, messages: [] }, 'messages'],
    [{ ...okChat, messages: 'hi' }, 'messages'],
    [{ ...okChat, messages: [{ role: 'wizard', content: 'x' }] }, 'messages.0.role'],
    [{ ...okChat, messages: [{ content: 'x' }] }, 'role'],
    [{ ...okChat, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }, 'messages[0].content[0].type'],
    [{ ...okChat, messages: [{ role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{oops' } }] }] }, 'messages[0].tool_calls[0].function.arguments'],
    [{ ...okChat, messages: [{ role: 'tool', content: 'x' }] }, 'messages[0].tool_call_id'],
    [{ ...okChat, audio: { voice: 'alloy' } }, 'audio'],
    [{ ...okChat, functions: [] }, 'functions'],
    [{ ...okChat, store: true }, 'store'],
    [{ ...okChat, reasoning_effort: 'high' }, 'reasoning_effort'],
    [{ ...okChat, tool_choice: 'required' }, 'tool_choice'],
    [{ ...okChat, tools: [{ type: 'function', function: { name: 'f' } }], tool_choice: { type: 'function', function: { name: 'g' } } }, 'tool_choice'],
    [{ ...okChat, tools: [{ type: 'function', function: { name: 'f' } }], tool_choice: 'required', response_format: { type: 'json_object' } }, 'response_format'],
    [{ ...okChat, messages: [{ role: 'user', content: 'x'.repeat(600) }] }, 'messages'],
    [{ ...okChat, max_completion_tokens: 100000 }, 'max_completion_tokens'],
    [{ ...okChat, logprobs: 'yes' }, 'logprobs'],
    [{ ...okChat, top_logprobs: 2 }, 'top_logprobs'],
    [{ ...okChat, max_completion_tokens: 0 }, 'max_completion_tokens'],
    [{ ...okChat, n: 17 }, 'n'],
  ])('chat %j', async (body, param) => {
    expectError(await chat(body), 400, param);
  });

  test('the openai client sees a BadRequestError', async () => {
    const call = s.client.completions.create({ model: 'tiny', prompt: 'x', n: 17 });
    await expect(call).rejects.toBeInstanceOf(OpenAI.BadRequestError);
  });
});

describe('404, 413, 415', () => {
  test('an unknown model is 404 model_not_found; an omitted model is fine', async () => {
    const r = await completions({ ...ok, model: 'gpt-4' });
    expectError(r, 404, 'model');
    expect(r.json.error.code).toBe('model_not_found');
    expectError(await chat({ ...okChat, model: 'gpt-4' }), 404, 'model');
    expect((await completions(ok)).status).toBe(200);
    expect((await fetch(`${s.url}/v1/models/gpt-4`)).status).toBe(404);
  });

  test('unknown routes and methods are 404 JSON', async () => {
    const get = await fetch(`${s.url}/v1/nope`);
    expectError({ status: get.status, json: await get.json() }, 404);
    const wrongMethod = await fetch(`${s.url}/v1/completions`);
    expect(wrongMethod.status).toBe(404);
    expectError(await postJson(`${s.url}/v2/completions`, ok), 404);
  });

  test('a body over bodyLimit is 413', async () => {
    const r = await completions({ prompt: 'x'.repeat(5000) });
    expectError(r, 413);
    expect(r.json.error.code).toBe('body_too_large');
  });

  test('a body that is not JSON is 415', async () => {
    const r = await fetch(`${s.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' });
    expectError({ status: r.status, json: await r.json() }, 415);
  });

  test('after all that the engine still serves and holds no page', async () => {
    const r = await completions(ok);
    expect(r.status).toBe(200);
    await expectNoLeak(s.engine);
  });
});

/** Writes raw bytes on a fresh connection and returns everything the server sends until it closes. */
function rawExchange(bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(new URL(s.url).port), '127.0.0.1', () => socket.end(bytes));
    let received = '';
    socket.on('data', (chunk) => (received += chunk.toString('utf8')));
    socket.on('close', () => resolve(received));
    socket.on('error', reject);
  });
}

describe('bytes that are not HTTP', () => {
  test('garbage gets an OpenAI-shaped 400 and the connection closes', async () => {
    const reply = await rawExchange('HELLO THERE\r\n\r\n');
    expect(reply).toMatch(/^HTTP\/1\.1 400 /);
    expect(JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4)).error.code).toBe('malformed_request');
  });

  test('an unframed body after a DELETE: the DELETE still gets its 404 first', async () => {
    const reply = await rawExchange('DELETE /v1/chat/completions HTTP/1.1\r\nhost: x\r\n\r\n{}');
    expect(reply).toMatch(/^HTTP\/1\.1 404 /);
    expect(reply).toContain('"code":"unknown_url"');
  });
});

describe('429', () => {
  test('a full queue (ERR_QUEUE_FULL) is 429; the accepted requests complete', async () => {
    const small = await serveSimulated({ maxRunning: 1, maxWaiting: 1, delayMs: 1 });
    try {
      const body = { prompt: 'Queue', max_tokens: 300, ignore_eos: true };
      const results = await Promise.all(Array.from({ length: 6 }, () => postJson(`${small.url}/v1/completions`, body)));
      const statuses = results.map((r) => r.status);
      expect(statuses.filter((x) => x === 200).length).toBeGreaterThanOrEqual(2);
      const refused = results.filter((r) => r.status === 429);
      expect(refused.length).toBeGreaterThanOrEqual(1);
      for (const r of refused) expect(r.json.error.code).toBe('queue_full');
      for (const r of refused) expect(r.headers.get('retry-after')).toBe('1');
      expect(statuses.every((x) => x === 200 || x === 429)).toBe(true);
      await expectNoLeak(small.engine);
    } finally {
      await small.close();
    }
  });
});
