/** Endings the client does not choose: the request deadline (finish_reason 'length') and the server closing mid-stream ('abort'). */
import { describe, expect, test } from 'vitest';
import { expectNoLeak, parseSse, postJson, serveSimulated } from './helpers.js';

describe('endings', () => {
  test("a request past the engine's deadline ends with finish_reason 'length' and fewer tokens", async () => {
    const s = await serveSimulated({ requestTimeoutMs: 15, delayMs: 1 });
    try {
      const r = await postJson(`${s.url}/v1/completions`, { prompt: 'slow', max_tokens: 500, ignore_eos: true });
      expect(r.status).toBe(200);
      expect(r.json.choices[0].finish_reason).toBe('length');
      expect(r.json.usage.completion_tokens).toBeLessThan(500);
      expect(s.engine.stats().requests.timedOut).toBe(1);
      await expectNoLeak(s.engine);
    } finally {
      await s.close();
    }
  });

  test('closing the server: running streams drain within the grace period, new requests get an OpenAI 503 with Retry-After', async () => {
    const s = await serveSimulated({ delayMs: 1 });
    try {
      const body = (extra: object) => JSON.stringify({ messages: [{ role: 'user', content: 'long' }], max_tokens: 40, ignore_eos: true, ...extra });
      const response = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body({ stream: true }) });
      const reader = response.body!.getReader();
      const decoder = new TextDecoder();
      let text = decoder.decode((await reader.read()).value, { stream: true });
      const closed = s.server.close({ graceMs: 30_000 });
      const late = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body({}) });
      expect(late.status).toBe(503);
      expect(late.headers.get('retry-after')).toBe('5');
      expect(((await late.json()) as { error: unknown }).error).toMatchObject({ type: 'service_unavailable', code: 'shutting_down' });
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += decoder.decode(chunk.value, { stream: true });
      await closed;
      const { events, isDone } = parseSse(text);
      expect(isDone).toBe(true);
      expect(events.at(-1).choices[0].finish_reason).toBe('length'); // drained: it ran to its end
      await expectNoLeak(s.engine);
    } finally {
      await s.engine.close();
    }
  });

  test('past the grace period a stream ends with an OpenAI error event and a waiting request gets a 503, never "abort" or an empty 200', async () => {
    const s = await serveSimulated({ maxRunning: 1, delayMs: 1 });
    try {
      const body = (extra: object) => JSON.stringify({ messages: [{ role: 'user', content: 'long' }], max_tokens: 400, ignore_eos: true, ...extra });
      const streamed = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body({ stream: true }) });
      const reader = streamed.body!.getReader();
      const decoder = new TextDecoder();
      let text = decoder.decode((await reader.read()).value, { stream: true });
      const queued = fetch(`${s.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body({}) });
      await new Promise((resolve) => setTimeout(resolve, 50));
      const closed = s.server.close({ graceMs: 0 });
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += decoder.decode(chunk.value, { stream: true });
      const waiting = await queued;
      await closed;
      expect(waiting.status).toBe(503);
      expect(waiting.headers.get('retry-after')).toBe('5');
      const { events, isDone } = parseSse(text);
      expect(isDone).toBe(true);
      expect(events.at(-1)).toMatchObject({ error: { type: 'service_unavailable', code: 'shutting_down' } });
      expect(text).not.toContain('"abort"');
      await expectNoLeak(s.engine);
    } finally {
      await s.engine.close();
    }
  });
});
