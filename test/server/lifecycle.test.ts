/** Endings the client does not choose: the request deadline (finish_reason 'length') and the server closing mid-stream ('abort'). */
import { describe, expect, test } from 'vitest';
import { expectNoLeak, parseSse, postJson, serve } from './helpers.js';

describe('endings', () => {
  test("a request past the engine's deadline ends with finish_reason 'length' and fewer tokens", async () => {
    const s = await serve({ requestTimeoutMs: 15 });
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

  test("closing the server mid-stream ends the stream with finish_reason 'abort' and [DONE]", async () => {
    const s = await serve();
    try {
      const response = await fetch(`${s.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ messages: [{ role: 'user', content: 'long' }], max_tokens: 450, ignore_eos: true, stream: true }),
      });
      const reader = response.body!.getReader();
      const decoder = new TextDecoder();
      let text = decoder.decode((await reader.read()).value, { stream: true });
      const closed = s.server.close();
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += decoder.decode(chunk.value, { stream: true });
      await closed;
      const { events, isDone } = parseSse(text);
      expect(isDone).toBe(true);
      expect(events.at(-1).choices[0].finish_reason).toBe('abort');
      await expectNoLeak(s.engine);
    } finally {
      await s.engine.close();
    }
  });
});
