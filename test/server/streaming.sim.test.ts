/**
 * The server's streaming and failure behaviour on the simulated executor (no addon): SSE
 * framing, usage, n choices, streamed = whole, and an executor fault becoming an OpenAI
 * 500 (whole) or an error event (streamed) while the engine keeps serving.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { expectNoLeak, parseSse, postJson, serveSimulated, type Served } from './helpers.js';

let s: Served;
let failing = false;
beforeAll(async () => {
  s = await serveSimulated({ failStep: () => failing });
});
afterAll(async () => {
  await s.close();
});

async function streamed(path: string, body: object): Promise<{ status: number; type: string | null; text: string }> {
  const r = await fetch(`${s.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, stream: true }) });
  return { status: r.status, type: r.headers.get('content-type'), text: await r.text() };
}

describe('streaming on the simulator', () => {
  test('completions: data: frames, text deltas adding up to the whole answer, usage last, then [DONE]', async () => {
    const body = { prompt: 'Hello', max_tokens: 12, ignore_eos: true, temperature: 0.8, seed: 5 };
    const whole = await postJson(`${s.url}/v1/completions`, body);
    expect(whole.status).toBe(200);
    const r = await streamed('/v1/completions', { ...body, stream_options: { include_usage: true } });
    expect(r.status).toBe(200);
    expect(r.type).toMatch(/^text\/event-stream/);
    expect(r.text.split('\n\n').filter((b) => b.length > 0).every((b) => b.startsWith('data: '))).toBe(true);
    const { events, isDone } = parseSse(r.text);
    expect(isDone).toBe(true);
    const usage = events.at(-1);
    expect(usage.choices).toEqual([]);
    expect(usage.usage).toEqual(whole.json.usage);
    expect(usage.usage).toMatchObject({ prompt_tokens: 5, completion_tokens: 12 });
    const text = events.slice(0, -1).map((e) => e.choices[0].text).join('');
    expect(text).toBe(whole.json.choices[0].text);
    expect(events.at(-2).choices[0].finish_reason).toBe('length');
  });

  test('n = 3: each choice index streams its own tokens to its own finish', async () => {
    const { events, isDone } = parseSse((await streamed('/v1/completions', { prompt: [10, 20, 30], max_tokens: 6, ignore_eos: true, n: 3, temperature: 1, seed: 9 })).text);
    expect(isDone).toBe(true);
    const finishes = events.filter((e) => e.choices[0]?.finish_reason).map((e) => e.choices[0].index).sort();
    expect(finishes).toEqual([0, 1, 2]);
  });

  test('chat: a role chunk first, content deltas, a finish chunk', async () => {
    const { events, isDone } = parseSse((await streamed('/v1/chat/completions', { messages: [{ role: 'user', content: 'Hi' }], max_tokens: 5, ignore_eos: true })).text);
    expect(isDone).toBe(true);
    expect(events[0].choices[0].delta).toMatchObject({ role: 'assistant' });
    expect(events.at(-1).choices[0].finish_reason).toBe('length');
  });
});

describe('executor faults', () => {
  test('a failing step is a 500 server_error for a whole answer and an error event in a stream; then the engine serves again', async () => {
    failing = true;
    try {
      const whole = await postJson(`${s.url}/v1/completions`, { prompt: 'x', max_tokens: 4 });
      expect(whole.status).toBe(500);
      expect(whole.json.error).toMatchObject({ type: 'server_error' });
      const stream = parseSse((await streamed('/v1/completions', { prompt: 'y', max_tokens: 4 })).text);
      expect(stream.isDone).toBe(true);
      expect(stream.events.at(-1).error).toMatchObject({ type: 'server_error' });
    } finally {
      failing = false;
    }
    expect((await postJson(`${s.url}/v1/completions`, { prompt: 'z', max_tokens: 4 })).status).toBe(200);
    expect(s.engine.stats().requests.failed).toBe(2);
    await expectNoLeak(s.engine);
  });
});
